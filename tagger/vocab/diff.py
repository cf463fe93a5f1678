"""What changed between two releases of a vocabulary."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tagger.vocab.model import Vocabulary


@dataclass
class VocabDiff:
    """Concept ids (with labels) by kind of change from OLD to NEW."""

    added: list[dict[str, Any]] = field(default_factory=list)  # not in OLD
    removed: list[dict[str, Any]] = field(default_factory=list)  # in OLD, gone from NEW
    retired: list[dict[str, Any]] = field(default_factory=list)  # current in OLD, retired in NEW
    reinstated: list[dict[str, Any]] = field(default_factory=list)
    relabelled: list[dict[str, Any]] = field(default_factory=list)
    moved: list[dict[str, Any]] = field(default_factory=list)  # broader changed
    old_release: str | None = None
    new_release: str | None = None

    @property
    def changed(self) -> bool:
        return any(
            (self.added, self.removed, self.retired, self.reinstated, self.relabelled, self.moved)
        )

    def summary(self) -> str:
        parts = [
            f"{len(items)} {name}"
            for name, items in (
                ("added", self.added),
                ("retired", self.retired),
                ("removed", self.removed),
                ("reinstated", self.reinstated),
                ("relabelled", self.relabelled),
                ("moved", self.moved),
            )
            if items
        ]
        return ", ".join(parts) if parts else "no change"

    def to_dict(self) -> dict[str, Any]:
        return {
            "old_release": self.old_release,
            "new_release": self.new_release,
            "summary": self.summary(),
            "added": self.added,
            "retired": self.retired,
            "removed": self.removed,
            "reinstated": self.reinstated,
            "relabelled": self.relabelled,
            "moved": self.moved,
        }


def diff_vocabularies(old: Vocabulary, new: Vocabulary) -> VocabDiff:
    """Added (with whether already retired), retired, removed, reinstated, relabelled and
    moved concepts; matched by id."""
    result = VocabDiff(old_release=old.release, new_release=new.release)
    for cid in sorted(set(new.concepts) - set(old.concepts)):
        c = new.concepts[cid]
        result.added.append({"id": cid, "label": c.label, "retired": c.retired})
    for cid in sorted(set(old.concepts) - set(new.concepts)):
        result.removed.append({"id": cid, "label": old.concepts[cid].label})
    for cid in sorted(set(old.concepts) & set(new.concepts)):
        a, b = old.concepts[cid], new.concepts[cid]
        if not a.retired and b.retired:
            result.retired.append(
                {"id": cid, "label": b.label, "retired": b.retired, "replaced_by": b.replaced_by}
            )
        elif a.retired and not b.retired:
            result.reinstated.append({"id": cid, "label": b.label})
        if a.label != b.label:
            result.relabelled.append({"id": cid, "old": a.label, "new": b.label})
        if sorted(a.broader) != sorted(b.broader):
            result.moved.append(
                {
                    "id": cid,
                    "label": b.label,
                    "old_broader": sorted(a.broader),
                    "new_broader": sorted(b.broader),
                }
            )
    return result
