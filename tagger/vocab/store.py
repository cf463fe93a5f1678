"""The on-disk vocabulary: one SQLite file, written under a temporary name and renamed."""

from __future__ import annotations

import json
import os
import sqlite3
import tempfile
from contextlib import closing
from pathlib import Path
from typing import Any

from tagger.vocab.model import Concept, VocabError, Vocabulary
from tagger.vocab.normalise import label_key

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE concepts (
    id TEXT PRIMARY KEY, uri TEXT, label TEXT NOT NULL, retired TEXT, replaced_by TEXT,
    depth INTEGER NOT NULL, data TEXT NOT NULL
);
CREATE TABLE labels (key TEXT NOT NULL, concept_id TEXT NOT NULL, kind TEXT NOT NULL);
CREATE INDEX labels_key ON labels (key);
CREATE INDEX concepts_uri ON concepts (uri);
"""


def write_vocabulary(vocab: Vocabulary, out: Path) -> str:
    """Write `vocab` to `out` atomically (an existing file stays until the new one is
    complete); returns the fingerprint."""
    out = Path(out)
    fingerprint = vocab.fingerprint()
    meta = {
        **{k: v for k, v in vocab.meta.items() if v is not None},
        "fingerprint": fingerprint,
        "schema_version": SCHEMA_VERSION,
        "concepts": len(vocab),
    }
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        with sqlite3.connect(tmp) as db:
            db.executescript(_SCHEMA)
            db.executemany(
                "INSERT INTO meta VALUES (?, ?)",
                [(k, json.dumps(v, ensure_ascii=False)) for k, v in sorted(meta.items())],
            )
            db.executemany(
                "INSERT INTO concepts VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        c.id,
                        c.uri,
                        c.label,
                        c.retired,
                        c.replaced_by,
                        vocab.depth(c.id),
                        json.dumps(c.to_dict(), ensure_ascii=False),
                    )
                    for c in vocab
                ],
            )
            rows = []
            for c in vocab:
                rows.append((label_key(c.label), c.id, "pref"))
                rows.append((label_key(c.id), c.id, "id"))
                rows += [(label_key(a), c.id, "alt") for a in c.alt_labels]
                rows += [(label_key(a), c.id, "hidden") for a in c.hidden_labels]
                rows += [(q.casefold(), c.id, "wikidata") for q in c.wikidata]
            db.executemany("INSERT INTO labels VALUES (?, ?, ?)", rows)
        db.close()
        tmp.chmod(0o644)
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
    return fingerprint


def read_vocabulary(path: Path) -> Vocabulary:
    """Load a vocabulary file written by `write_vocabulary` (all concepts in memory)."""
    with closing(_connect(path)) as db:
        meta = {k: json.loads(v) for k, v in db.execute("SELECT key, value FROM meta")}
        concepts = {
            row[0]: Concept.from_dict(json.loads(row[1]))
            for row in db.execute("SELECT id, data FROM concepts ORDER BY id")
        }
    return Vocabulary(concepts=concepts, meta=meta)


def read_meta(path: Path) -> dict[str, Any]:
    with closing(_connect(path)) as db:
        return {k: json.loads(v) for k, v in db.execute("SELECT key, value FROM meta")}


class VocabularyStore:
    """Lookups straight from the SQLite file (no full load): for the server and review."""

    def __init__(self, path: Path, threads: bool = False) -> None:
        """`threads`: the connection may be used from other threads (the caller locks)."""
        self.path = Path(path)
        self.db = _connect(self.path, threads)

    def meta(self) -> dict[str, Any]:
        return {k: json.loads(v) for k, v in self.db.execute("SELECT key, value FROM meta")}

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> VocabularyStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def concept(self, concept_id: str) -> Concept | None:
        row = self.db.execute("SELECT data FROM concepts WHERE id = ?", (concept_id,)).fetchone()
        return Concept.from_dict(json.loads(row[0])) if row else None

    def lookup(self, text: str) -> Concept | None:
        """By id, preferred label, then an unambiguous alias or Wikidata id; current
        concepts before retired ones."""
        rows = self.db.execute(
            "SELECT l.concept_id, l.kind, c.retired FROM labels l JOIN concepts c "
            "ON c.id = l.concept_id WHERE l.key = ?",
            (label_key(text),),
        ).fetchall()
        if not rows:
            rows = self.db.execute(
                "SELECT concept_id, kind, NULL FROM labels WHERE key = ? AND kind = 'wikidata'",
                (text.strip().casefold(),),
            ).fetchall()
        rank = {"id": 0, "pref": 1, "alt": 2, "hidden": 2, "wikidata": 3}
        rows.sort(key=lambda r: (rank[r[1]], r[2] is not None))
        if not rows:
            return None
        best = [
            r
            for r in rows
            if rank[r[1]] == rank[rows[0][1]] and (r[2] is None) == (rows[0][2] is None)
        ]
        if len({r[0] for r in best}) > 1:
            return None  # an alias two concepts share decides nothing
        return self.concept(rows[0][0])

    def complete(self, prefix: str, limit: int = 10) -> list[dict[str, Any]]:
        """Current concepts whose preferred label or alias starts with `prefix`
        (normalised), preferred labels first: what an editor's tag box offers."""
        key = label_key(prefix)
        if not key:
            return []
        rows = self.db.execute(
            "SELECT DISTINCT c.id, c.label, l.kind, c.data FROM labels l JOIN concepts c "
            "ON c.id = l.concept_id WHERE l.key >= ? AND l.key < ? AND c.retired IS NULL "
            "AND l.kind IN ('pref', 'alt', 'hidden') ORDER BY l.kind != 'pref', c.depth, c.label "
            "LIMIT ?",
            (key, key + "\uffff", limit * 3),
        ).fetchall()
        out: dict[str, dict[str, Any]] = {}
        for cid, label, _kind, data in rows:
            if cid in out:
                continue
            concept = Concept.from_dict(json.loads(data))
            parent = self.concept(concept.broader[0]) if concept.broader else None
            out[cid] = {
                "id": cid,
                "uri": concept.uri,
                "label": label,
                "aliases": concept.aliases,
                "parent": {"id": parent.id, "label": parent.label} if parent else None,
            }
            if len(out) >= limit:
                break
        return list(out.values())


def _connect(path: Path, threads: bool = False) -> sqlite3.Connection:
    path = Path(path)
    if not path.is_file():
        raise VocabError(f"{path}: no such vocabulary file (make one with tagger vocab import)")
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=not threads)
        db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    except sqlite3.DatabaseError as exc:
        raise VocabError(f"{path}: not a tagger vocabulary ({exc})") from exc
    return db
