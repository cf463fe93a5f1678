"""What editors' tools (the web page, `tagger review`) need from a vocabulary: completion of
added tags from preferred labels and aliases (never retired concepts), each with its id and
parent, and the concept id to store with a decision."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from tagger.vocab.normalise import label_key


class EditorVocabulary:
    """Completion and concept ids for one model: from its vocabulary file (the one recorded
    at training, or `path`), else from the model's own labels (and their recorded ids)."""

    def __init__(self, model: Any, path: Path | None = None) -> None:
        manifest = getattr(model, "manifest", {}) or {}
        record = manifest.get("vocabulary") or {}
        self.concepts: dict[str, dict[str, Any]] = record.get("concepts") or {}
        tag_model = getattr(model, "tag_model", None)
        self.labels: list[str] = list(tag_model.labels) if tag_model is not None else []
        self.name: str | None = record.get("name")
        self.store: Any = None
        self._lock = threading.Lock()
        self._label_concepts: dict[str, dict[str, Any]] | None = None
        chosen = path or (Path(record["path"]) if record.get("path") else None)
        if chosen is not None and Path(chosen).is_file():
            from tagger.vocab.store import VocabularyStore

            self.store = VocabularyStore(Path(chosen), threads=True)
            self.name = self.name or str(self.store.meta().get("name") or Path(chosen).stem)
        elif path is not None:
            from tagger.vocab.model import VocabError

            raise VocabError(f"{path}: no such vocabulary file")
        self.label_concepts()  # here, not in a request on the event loop

    def if_any(self) -> EditorVocabulary | None:
        """Itself when there is a vocabulary (a file, or concepts recorded in the model)."""
        return self if self.store is not None or self.concepts else None

    def close(self) -> None:
        with self._lock:  # a completion in progress ends first; later ones use the labels
            if self.store is not None:
                self.store.close()
                self.store = None

    def label_concepts(self) -> dict[str, dict[str, Any]]:
        """{label: {id, parent}} for each of the model's tags that is a concept (once)."""
        if self._label_concepts is None:
            found: dict[str, dict[str, Any]] = {}
            for tag in self.labels:
                item = next((c for c in self.complete(tag, 5) if c["label"] == tag), None)
                if item is not None and item.get("id"):
                    found[tag] = {"id": item["id"], "parent": item["parent"]}
            self._label_concepts = found
        return self._label_concepts

    def _parent(self, label: str) -> dict[str, str] | None:
        ancestors = (self.concepts.get(label) or {}).get("ancestors") or []
        return {"id": ancestors[0]["id"], "label": ancestors[0]["label"]} if ancestors else None

    def complete(self, prefix: str, limit: int = 10) -> list[dict[str, Any]]:
        """Current concepts whose label or alias starts with `prefix` (the vocabulary's),
        then the model's labels that start with it (or contain it)."""
        out: dict[str, dict[str, Any]] = {}
        if self.store is not None:
            with self._lock:
                found = self.store.complete(prefix, limit) if self.store is not None else []
            for item in found:
                out[item["label"]] = item
        key = label_key(prefix)
        if key:
            starts = [x for x in self.labels if label_key(x).startswith(key)]
            inside = [x for x in self.labels if key in label_key(x) and x not in starts]
            for label in starts + inside:
                if len(out) >= limit:
                    break
                if label not in out:
                    info = self.concepts.get(label) or {}
                    out[label] = {
                        "id": info.get("id"),
                        "uri": info.get("uri"),
                        "label": label,
                        "aliases": info.get("aliases", []),
                        "parent": self._parent(label),
                    }
        return list(out.values())[:limit]

    def concept_id(self, label: str) -> str | None:
        """The id of the current concept whose preferred label is `label`, if any."""
        info = self.concepts.get(label)
        if info is not None:
            return info.get("id")
        if self.store is not None:
            with self._lock:
                concept = self.store.lookup(label) if self.store is not None else None
            if concept is not None and not concept.retired and concept.label == label:
                return concept.id
        return None

    def describe(self, label: str) -> str:
        """'id · in parent' for a label, or '' when it is no concept."""
        item = next((c for c in self.complete(label, 5) if c["label"] == label), None)
        if item is None or not item.get("id"):
            return ""
        parent = item.get("parent")
        return f"{item['id']}" + (f" · in {parent['label']}" if parent else "")
