"""What a prediction returns: typed, serialisable suggestion objects."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Evidence:
    """One reason behind a suggestion: a term of the text, or an entity it names."""

    kind: str  # "term" or "entity"
    value: str
    weight: float

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "value": self.value, "weight": round(self.weight, 4)}


def evidence_text(items: Iterable[Evidence | dict[str, Any]]) -> str:
    """Evidence as editors see it, each item with its contribution: "rubio (0.0510), Marco
    Rubio (0.8200)". The table, the review screen and the web page (app.js, evidenceText)
    all show this text, from the weight rounded as in the JSON."""
    shown = []
    for item in items:
        data = item.to_dict() if isinstance(item, Evidence) else item
        shown.append(f"{data.get('value', '')} ({float(data.get('weight', 0.0)):.4f})")
    return ", ".join(shown)


@dataclass
class LabelSuggestion:
    """A candidate section or tag with its calibrated probability."""

    label: str
    score: float
    selected: bool = False
    threshold: float | None = None
    evidence: list[Evidence] = field(default_factory=list)
    source: str = "model"  # "model", "name", "best", "entity" or "broader"
    id: str | None = None  # the vocabulary concept's id and URI, when trained with one
    uri: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"label": self.label, "score": round(self.score, 4)}
        if self.id is not None:
            data["id"] = self.id
        if self.uri is not None:
            data["uri"] = self.uri
        if self.threshold is not None:
            data["threshold"] = round(self.threshold, 4)
        data["selected"] = self.selected
        data["source"] = self.source
        data["evidence"] = [e.to_dict() for e in self.evidence]
        return data


@dataclass
class Suggestions:
    """Everything suggested for one article."""

    article_id: str
    section: LabelSuggestion | None
    section_candidates: list[LabelSuggestion]
    tags: list[LabelSuggestion]  # the selected tags (over their thresholds), best first
    tag_candidates: list[LabelSuggestion]  # the top-k tags, selected or not
    entities: list[dict[str, Any]]
    model: dict[str, Any]
    title: str = ""
    language: dict[str, Any] | None = None  # {"code": "en", "confidence": 0.99} (tagger.language)

    def to_dict(self, *, explain: bool = True) -> dict[str, Any]:
        def label(s: LabelSuggestion) -> dict[str, Any]:
            data = s.to_dict()
            if not explain:
                data.pop("evidence", None)
            return data

        data: dict[str, Any] = {"id": self.article_id, "title": self.title}
        if self.language is not None:
            data["language"] = self.language
        return data | {
            "section": label(self.section) if self.section else None,
            "section_candidates": [label(s) for s in self.section_candidates],
            "tags": [label(s) for s in self.tags],
            "tag_candidates": [label(s) for s in self.tag_candidates],
            "entities": self.entities,
            "model": self.model,
        }
