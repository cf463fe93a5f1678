"""A vocabulary in a model's life: recorded in the bundle at training, applied to every
prediction (ids, URIs, replacements of retired concepts, ancestors), checked for change."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tagger.vocab.model import Concept, Vocabulary
from tagger.vocab.normalise import label_key


def vocabulary_manifest(
    vocab: Vocabulary, path: Path | None, labels: Sequence[str], report: Any = None
) -> dict[str, Any]:
    """The bundle's record of the vocabulary: identity, and a snapshot of the concepts the
    model's labels stand for (id, URI, ancestors), so predictions need no vocabulary file."""
    concepts: dict[str, Any] = {}
    for label in labels:
        concept = vocab.lookup(label)
        if concept is None or concept.label != label or concept.retired:
            continue
        concepts[label] = {
            "id": concept.id,
            "uri": concept.uri,
            "aliases": concept.aliases,
            "wikidata": concept.wikidata,
            "ancestors": [
                {"id": a.id, "label": a.label, "uri": a.uri}
                for a in vocab.ancestors(concept.id)
                if not a.retired
            ],
        }
    return {
        "name": vocab.name,
        "release": vocab.release,
        "fingerprint": vocab.fingerprint(),
        "path": str(Path(path).resolve()) if path else None,
        "concepts": concepts,
        "mapping": report.to_dict() if report is not None else None,
    }


def tag_names(labels: Sequence[str], vocab: Vocabulary) -> list[list[str]]:
    """Per tag label, the other names its concept (`vocab.lookup`: by id, URI, label or
    unambiguous alias; retired concepts left out) is known by: the preferred label and
    the aliases, the tag's own label excluded. The tag name rules search them
    (tagger.name_rules)."""
    names: list[list[str]] = []
    for label in labels:
        concept = vocab.lookup(label)
        if concept is None or concept.retired:
            names.append([])
            continue
        own = label_key(label)
        found = [concept.label, *concept.aliases]
        names.append(list(dict.fromkeys(n for n in found if n and label_key(n) != own)))
    return names


def snapshot_vocabulary(record: dict[str, Any]) -> Vocabulary:
    """The model's concepts (and their ancestors) as a small Vocabulary, for diffs."""
    vocab = Vocabulary(meta={"release": record.get("release")})
    for label, info in record.get("concepts", {}).items():
        chain = info.get("ancestors", [])
        vocab.concepts[info["id"]] = Concept(
            id=info["id"],
            label=label,
            uri=info.get("uri"),
            alt_labels=list(info.get("aliases", [])),
            broader=[chain[0]["id"]] if chain else [],
        )
        for i, anc in enumerate(chain):
            vocab.concepts.setdefault(
                anc["id"],
                Concept(
                    id=anc["id"],
                    label=anc["label"],
                    uri=anc.get("uri"),
                    broader=[chain[i + 1]["id"]] if i + 1 < len(chain) else [],
                ),
            )
    return vocab


def vocabulary_change(record: dict[str, Any], current: Vocabulary) -> str | None:
    """None when `current` is the vocabulary the model was trained with, else one line:
    the release change and what happened to the model's own concepts."""
    if current.fingerprint() == record.get("fingerprint"):
        return None
    from tagger.vocab.diff import diff_vocabularies

    old = snapshot_vocabulary(record)
    mine = Vocabulary({k: v for k, v in current.concepts.items() if k in old.concepts})
    diff = diff_vocabularies(old, mine)
    release = f"{record.get('release') or '?'} -> {current.release or '?'}"
    return (
        f"the vocabulary changed since the model was trained (release {release}); "
        f"the model's concepts: {diff.summary()}"
    )


class VocabularyState:
    """What prediction needs, loaded once per model: the current vocabulary if its file
    is at hand (to drop or replace concepts retired since training) and the renames."""

    def __init__(self, manifest: dict[str, Any], vocab: Vocabulary | None = None) -> None:
        self.record: dict[str, Any] = manifest.get("vocabulary") or {}
        from tagger.vocab.renames import RenameMap

        self.renames = RenameMap(manifest.get("renames") or {})
        self.current = vocab
        self.warning: str | None = None
        if self.current is None and self.record.get("path") and Path(self.record["path"]).is_file():
            from tagger.vocab.store import read_vocabulary

            try:
                self.current = read_vocabulary(Path(self.record["path"]))
            except Exception as exc:  # a broken file must not stop predictions
                self.warning = f"cannot read the model's vocabulary {self.record['path']}: {exc}"
        if self.current is not None and self.record:
            self.warning = vocabulary_change(self.record, self.current)

    def concept(self, label: str) -> dict[str, Any] | None:
        return self.record.get("concepts", {}).get(label)

    def current_label(self, label: str) -> str | None:
        """The label to suggest for a model label: itself, a rename, the replacement of a
        concept retired since training, or None (retired with no replacement)."""
        label = self.renames.resolve(label)
        info = self.concept(label)
        if info is None or self.current is None:
            return label
        concept = self.current.get(info["id"])
        if concept is None or not concept.retired:
            return concept.label if concept else label
        replacement = self.current.replacement(concept.id)
        return replacement.label if replacement else None

    def ids(self, label: str) -> tuple[str | None, str | None]:
        info = self.concept(label)
        if info is not None:
            return info["id"], info.get("uri")
        if self.current is not None:
            concept = self.current.lookup(label)
            if concept is not None and concept.label == label and not concept.retired:
                return concept.id, concept.uri
        return None, None


def apply_vocabulary(
    state: VocabularyState, results: Sequence[Any], warn: Callable[[str], None] | None = None
) -> None:
    """Give every suggested tag and section its concept id and URI; rename merged tags,
    replace or drop concepts retired since training (one suggestion per concept)."""
    if state.warning and warn:
        warn(state.warning)
        state.warning = None
    for s in results:
        annotate_entities(state, s.entities)
        s.tags = _relabel(state, s.tags)
        s.tag_candidates = _relabel(state, s.tag_candidates)
        s.section_candidates = _relabel(state, s.section_candidates)
        if s.section is not None:
            s.section = s.section_candidates[0] if s.section_candidates else None


def _relabel(state: VocabularyState, suggestions: list[Any]) -> list[Any]:
    out: dict[str, Any] = {}
    for suggestion in suggestions:
        label = state.current_label(suggestion.label)
        if label is None:
            continue
        suggestion.label = label
        suggestion.id, suggestion.uri = state.ids(label)
        kept = out.get(label)
        if kept is None:
            out[label] = suggestion
        elif suggestion.score > kept.score:
            suggestion.selected = suggestion.selected or kept.selected
            out[label] = suggestion
        else:
            kept.selected = kept.selected or suggestion.selected
    return list(out.values())


def expand_broader(state: VocabularyState, results: Sequence[Any]) -> None:
    """Add each selected tag's ancestors as selected tags (source 'broader'), scored as
    their best descendant, never higher; an ancestor the model selected itself stays."""
    from tagger.suggestions import Evidence, LabelSuggestion

    for s in results:
        present = {t.label: t for t in s.tags}
        added: dict[str, LabelSuggestion] = {}
        for tag in list(s.tags):
            info = state.concept(tag.label)
            if info is None:
                continue
            for anc in info.get("ancestors", []):
                if anc["label"] in present:
                    continue
                if state.current is not None:
                    now = state.current.get(anc["id"])
                    if now is None or now.retired:
                        continue
                best = added.get(anc["label"])
                if best is None:
                    added[anc["label"]] = LabelSuggestion(
                        anc["label"],
                        tag.score,
                        selected=True,
                        evidence=[Evidence("broader", tag.label, tag.score)],
                        source="broader",
                        id=anc["id"],
                        uri=anc.get("uri"),
                    )
                elif tag.score > best.score:
                    best.score = tag.score
                    best.evidence = [Evidence("broader", tag.label, tag.score)]
        s.tags = sorted([*s.tags, *added.values()], key=lambda t: -t.score)


def state_for(model: Any, vocab: Vocabulary | None = None) -> VocabularyState:
    """The model's VocabularyState, made once (or again with a given vocabulary)."""
    state = getattr(model, "_vocabulary_state", None)
    if state is None or vocab is not None:
        state = VocabularyState(model.manifest, vocab)
        model._vocabulary_state = state
    return state


def entity_aliases(manifest: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """(name, model label) pairs by which an entity names one of the model's concepts:
    the concepts' aliases and Wikidata ids ('wikidata:Q324546')."""
    pairs: list[tuple[str, str]] = []
    for label, info in ((manifest.get("vocabulary") or {}).get("concepts") or {}).items():
        pairs += [(alias, label) for alias in info.get("aliases", [])]
        pairs += [(f"wikidata:{q}", label) for q in info.get("wikidata", [])]
    return tuple(pairs)


def annotate_entities(state: VocabularyState, entities: list[dict[str, Any]]) -> None:
    """Give each entity the concept its canonical name (or an alias, or its Wikidata id)
    resolves to, as `concept: {id, label}`."""
    by_alias: dict[str, str] = {}
    for alias, label in entity_aliases({"vocabulary": state.record}):
        by_alias.setdefault(label_key(alias), label)
    for entity in entities:
        names = [entity.get("name", "")]
        if entity.get("wikidata"):
            names.append(f"wikidata:{entity['wikidata']}")
        for name in names:
            label = name if state.concept(name) else by_alias.get(label_key(name))
            cid = state.concept(label)["id"] if label and state.concept(label) else None
            if cid is None and state.current is not None:
                concept = state.current.lookup(name)
                if concept is not None and not concept.retired:
                    cid, label = concept.id, concept.label
            if cid is not None:
                entity["concept"] = {"id": cid, "label": label}
                break
