"""The analysis cache: analyses in SQLite, keyed by text hash and pipeline identity.

A value is any JSON document; analyze.py stores {"entities": [...], "english": bool}."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

CACHE_ENV = "TAGGER_CACHE_DIR"
CACHE_FILE = "entities.sqlite"


def default_cache_dir() -> Path:
    """$TAGGER_CACHE_DIR, else ~/.cache/tagger."""
    configured = os.environ.get(CACHE_ENV)
    return Path(configured) if configured else Path.home() / ".cache" / "tagger"


def cache_key(identity: str, text: str) -> str:
    return hashlib.sha256(f"{identity}\x00{text}".encode("utf-8", "surrogatepass")).hexdigest()


class AnalysisCache:
    """A SQLite file of analyses; any failure turns the cache off with one warning."""

    def __init__(self, folder: Path, warn: Callable[[str], None] | None = None) -> None:
        self.path = Path(folder) / CACHE_FILE
        self._warn = warn
        self._db: sqlite3.Connection | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=30)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS analyses (key TEXT PRIMARY KEY, entities TEXT NOT NULL)"
            )
            self._db.commit()
        except (OSError, sqlite3.Error) as exc:
            self._disable(f"entity cache {self.path} is not usable ({exc}): running without it")

    @property
    def enabled(self) -> bool:
        return self._db is not None

    def _disable(self, message: str) -> None:
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
        self._db = None
        if self._warn is not None:
            self._warn(message)

    def get_many(self, keys: list[str]) -> dict[str, Any]:
        found: dict[str, Any] = {}
        if self._db is None:
            return found
        unique = list(dict.fromkeys(keys))
        try:
            for i in range(0, len(unique), 500):
                chunk = unique[i : i + 500]
                marks = ",".join("?" * len(chunk))
                rows = self._db.execute(
                    f"SELECT key, entities FROM analyses WHERE key IN ({marks})", chunk
                )
                for key, value in rows:
                    try:
                        found[key] = json.loads(value)
                    except ValueError:
                        continue  # a damaged row is recomputed and overwritten
        except sqlite3.Error as exc:
            self._disable(f"entity cache {self.path} cannot be read ({exc}): running without it")
        return found

    def put_many(self, items: Iterable[tuple[str, Any]]) -> None:
        if self._db is None:
            return
        rows = [(key, json.dumps(value, ensure_ascii=False)) for key, value in items]
        try:
            with self._db:
                self._db.executemany(
                    "INSERT OR REPLACE INTO analyses (key, entities) VALUES (?, ?)", rows
                )
        except sqlite3.Error as exc:
            self._disable(f"entity cache {self.path} cannot be written ({exc}): not caching")

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
