"""A controlled vocabulary: concepts with ids, labels, aliases, hierarchy and retirement."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from tagger.errors import InputError
from tagger.vocab.normalise import label_key

LIST_FIELDS = (
    "alt_labels",
    "hidden_labels",
    "broader",
    "narrower",
    "related",
    "exact_match",
    "close_match",
    "broad_match",
)


class VocabError(InputError):
    """A vocabulary that cannot be read or would be inconsistent (exit 2)."""


@dataclass
class Concept:
    """One concept: a stable id (a qcode such as 'medtop:20000002', or a URI), labels,
    links to other concepts by id, mappings to other schemes by URI, and retirement."""

    id: str
    label: str = ""
    uri: str | None = None
    alt_labels: list[str] = field(default_factory=list)
    hidden_labels: list[str] = field(default_factory=list)
    definition: str | None = None
    broader: list[str] = field(default_factory=list)
    narrower: list[str] = field(default_factory=list)
    related: list[str] = field(default_factory=list)
    exact_match: list[str] = field(default_factory=list)
    close_match: list[str] = field(default_factory=list)
    broad_match: list[str] = field(default_factory=list)
    retired: str | None = None
    replaced_by: str | None = None
    top: bool = False
    note: str | None = None

    @property
    def aliases(self) -> list[str]:
        return [*self.alt_labels, *self.hidden_labels]

    @property
    def wikidata(self) -> list[str]:
        """Wikidata ids (Q...) this concept maps to exactly or closely."""
        return [
            uri.rsplit("/", 1)[-1]
            for uri in [*self.exact_match, *self.close_match]
            if "wikidata.org/" in uri
        ]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        return {k: v for k, v in data.items() if v not in (None, [], False) or k in ("id", "label")}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Concept:
        return cls(**data)

    def merge(self, other: Concept) -> None:
        """Add what `other` (the same id from a later file) says: lists are united,
        set scalars of `other` win."""
        for name in LIST_FIELDS:
            mine = getattr(self, name)
            for value in getattr(other, name):
                if value not in mine:
                    mine.append(value)
        for name in ("label", "uri", "definition", "retired", "replaced_by", "note"):
            value = getattr(other, name)
            if value:
                setattr(self, name, value)
        self.top = self.top or other.top


@dataclass
class Vocabulary:
    """Concepts by id with label indexes; built by the importers, kept in a store."""

    concepts: dict[str, Concept] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._index: dict[str, str] | None = None
        self._alias_index: dict[str, list[str]] | None = None
        self._depth: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self.concepts)

    def __iter__(self) -> Iterator[Concept]:
        return iter(self.concepts.values())

    def __contains__(self, concept_id: object) -> bool:
        return concept_id in self.concepts

    def get(self, concept_id: str) -> Concept | None:
        return self.concepts.get(concept_id)

    @property
    def release(self) -> str | None:
        return self.meta.get("release")

    @property
    def name(self) -> str:
        return str(self.meta.get("name") or self.meta.get("scheme") or "vocabulary")

    def current(self) -> list[Concept]:
        return [c for c in self.concepts.values() if not c.retired]

    # -- hierarchy ----------------------------------------------------------------------

    def parents(self, concept_id: str) -> list[Concept]:
        concept = self.concepts.get(concept_id)
        return [self.concepts[b] for b in concept.broader if b in self.concepts] if concept else []

    def ancestors(self, concept_id: str) -> list[Concept]:
        """Every broader concept, nearest first (each once)."""
        seen: dict[str, Concept] = {}
        frontier = [concept_id]
        while frontier:
            nxt = []
            for cid in frontier:
                for parent in self.parents(cid):
                    if parent.id not in seen and parent.id != concept_id:
                        seen[parent.id] = parent
                        nxt.append(parent.id)
            frontier = nxt
        return list(seen.values())

    def depth(self, concept_id: str) -> int:
        """1 for a top concept (or one with no broader), parent's depth + 1 below."""
        if concept_id not in self._depth:
            parents = self.concepts[concept_id].broader if concept_id in self.concepts else []
            self._depth[concept_id] = 1 + min((self.depth(p) for p in parents), default=0)
        return self._depth[concept_id]

    def top_concepts(self) -> list[Concept]:
        tops = [c for c in self.concepts.values() if c.top]
        return tops or [c for c in self.concepts.values() if not c.broader]

    def replacement(self, concept_id: str) -> Concept | None:
        """A concept itself when current; a retired one's final current replacement, or
        None when it has none."""
        seen = set()
        concept = self.concepts.get(concept_id)
        while concept is not None and concept.retired:
            if concept.id in seen or not concept.replaced_by:
                return None
            seen.add(concept.id)
            concept = self.concepts.get(concept.replaced_by)
        return concept

    # -- labels -------------------------------------------------------------------------

    def _build_index(self) -> None:
        index: dict[str, str] = {}
        aliases: dict[str, list[str]] = {}
        # Current concepts first: a retired concept never shadows a current one's label.
        ordered = sorted(self.concepts.values(), key=lambda c: (bool(c.retired), c.id))
        for concept in ordered:
            for key in (label_key(concept.id), label_key(concept.uri or "")):
                if key:
                    index.setdefault(key, concept.id)
            index.setdefault(label_key(concept.label), concept.id)
        for concept in ordered:
            for alias in concept.aliases:
                key = label_key(alias)
                if key:
                    aliases.setdefault(key, []).append(concept.id)
        self._index, self._alias_index = index, aliases

    def lookup(self, text: str) -> Concept | None:
        """The concept whose id, URI, preferred label or (unambiguous) alias is `text`
        after normalisation; retired concepts as they are (see `replacement`)."""
        if self._index is None:
            self._build_index()
        assert self._index is not None and self._alias_index is not None
        key = label_key(text)
        cid = self._index.get(key)
        if cid is None:
            ids = self._alias_index.get(key, [])
            if len(set(ids)) == 1:
                cid = ids[0]
        if cid is None and text in self.concepts:
            cid = text
        return self.concepts.get(cid) if cid else None

    def label_keys(self) -> dict[str, str]:
        """label key -> concept id, preferred labels and ids (aliases excluded)."""
        if self._index is None:
            self._build_index()
        assert self._index is not None
        return dict(self._index)

    def alias_keys(self) -> dict[str, list[str]]:
        if self._alias_index is None:
            self._build_index()
        assert self._alias_index is not None
        return dict(self._alias_index)

    # -- integrity ----------------------------------------------------------------------

    def fingerprint(self) -> str:
        """sha256 of the concepts (order-independent): the vocabulary's identity."""
        payload = json.dumps(
            [self.concepts[k].to_dict() for k in sorted(self.concepts)],
            sort_keys=True,
            ensure_ascii=False,
        )
        return hashlib.sha256(payload.encode()).hexdigest()

    def finish(self, source: str) -> None:
        """Make broader/narrower inverse, then refuse what would make the vocabulary
        inconsistent (VocabError naming `source`)."""
        for concept in self.concepts.values():
            for parent in concept.broader:
                if parent not in self.concepts:
                    raise VocabError(
                        f"{source}: concept {concept.id} has broader {parent}, "
                        "which is not in the vocabulary"
                    )
        for concept in self.concepts.values():
            for child in list(concept.narrower):
                if child not in self.concepts:
                    raise VocabError(
                        f"{source}: concept {concept.id} has narrower {child}, "
                        "which is not in the vocabulary"
                    )
                if concept.id not in self.concepts[child].broader:
                    self.concepts[child].broader.append(concept.id)
            for parent in concept.broader:
                if concept.id not in self.concepts[parent].narrower:
                    self.concepts[parent].narrower.append(concept.id)
        for concept in self.concepts.values():
            if not concept.label.strip():
                raise VocabError(f"{source}: concept {concept.id} has no preferred label")
            if concept.replaced_by and concept.replaced_by not in self.concepts:
                raise VocabError(
                    f"{source}: concept {concept.id} is replaced by {concept.replaced_by}, "
                    "which is not in the vocabulary"
                )
        check_cycles(self.concepts.values(), source)
        check_replacements(self.concepts, source)
        check_duplicate_labels(self.concepts.values(), source)
        self._index = self._alias_index = None
        self._depth = {}


def check_cycles(concepts: Iterable[Concept], source: str) -> None:
    """Refuse a cycle in broader links, naming it ('a > b > a')."""
    by_id = {c.id: c for c in concepts}
    state: dict[str, int] = {}  # 1 on the path, 2 done
    for start in by_id:
        if state.get(start):
            continue
        stack: list[tuple[str, Iterator[str]]] = [(start, iter(by_id[start].broader))]
        path = [start]
        state[start] = 1
        while stack:
            node, links = stack[-1]
            nxt = next(links, None)
            if nxt is None:
                state[node] = 2
                stack.pop()
                path.pop()
                continue
            if state.get(nxt) == 1:
                cycle = [*path[path.index(nxt) :], nxt]
                raise VocabError(f"{source}: cycle in broader links: {' > '.join(cycle)}")
            if not state.get(nxt) and nxt in by_id:
                state[nxt] = 1
                path.append(nxt)
                stack.append((nxt, iter(by_id[nxt].broader)))


def check_replacements(concepts: dict[str, Concept], source: str) -> None:
    """Refuse a replacement chain that loops (a replaced by b replaced by a)."""
    for concept in concepts.values():
        seen = [concept.id]
        current = concept
        while current.replaced_by:
            nxt = current.replaced_by
            if nxt in seen:
                chain = " -> ".join([*seen[seen.index(nxt) :], nxt])
                raise VocabError(f"{source}: replacement chain loops: {chain}")
            seen.append(nxt)
            current = concepts[nxt]


def check_duplicate_labels(concepts: Iterable[Concept], source: str) -> None:
    """Refuse two current concepts with one preferred label (after normalisation):
    a tag with that label could not be told apart. Retired concepts may share labels."""
    seen: dict[str, str] = {}
    for concept in sorted(concepts, key=lambda c: c.id):
        if concept.retired:
            continue
        key = label_key(concept.label)
        if key in seen:
            raise VocabError(
                f"{source}: concepts {seen[key]} and {concept.id} have the same preferred "
                f"label {concept.label!r}"
            )
        seen[key] = concept.id
