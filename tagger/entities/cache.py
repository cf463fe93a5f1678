"""The analysis cache: analyses in SQLite, keyed by text hash and pipeline identity.

A value is any JSON document; analyze.py stores {"entities": [...]}.

The cache has a size limit (the bytes of the stored analyses; default DEFAULT_MAX_MB,
`$TAGGER_CACHE_MAX_MB` to change it, 0 for no limit): when a write takes it over the
limit, the analyses used least recently are evicted down to EVICT_TO of the limit. A
read marks its hits as used. `tagger cache stats|clear` inspect and empty it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from tagger.errors import ConfigError

CACHE_ENV = "TAGGER_CACHE_DIR"
CACHE_FILE = "entities.sqlite"
LIMIT_ENV = "TAGGER_CACHE_MAX_MB"
DEFAULT_MAX_MB = 512.0
EVICT_TO = 0.9  # evict down to this share of the limit (not one entry per write)


def default_cache_dir() -> Path:
    """$TAGGER_CACHE_DIR, else ~/.cache/tagger."""
    configured = os.environ.get(CACHE_ENV)
    return Path(configured) if configured else Path.home() / ".cache" / "tagger"


def default_max_bytes() -> int:
    """$TAGGER_CACHE_MAX_MB in bytes (0: no limit), else DEFAULT_MAX_MB."""
    configured = os.environ.get(LIMIT_ENV, "").strip()
    if not configured:
        return int(DEFAULT_MAX_MB * 1_000_000)
    try:
        megabytes = float(configured)
    except ValueError:
        megabytes = -1.0
    if not megabytes >= 0 or megabytes == float("inf"):
        raise ConfigError(f"{LIMIT_ENV}={configured!r}: expected a number of megabytes (0: none)")
    return int(megabytes * 1_000_000)


def cache_key(identity: str, text: str) -> str:
    return hashlib.sha256(f"{identity}\x00{text}".encode("utf-8", "surrogatepass")).hexdigest()


class AnalysisCache:
    """A SQLite file of analyses; any failure turns the cache off with one warning."""

    def __init__(
        self,
        folder: Path,
        warn: Callable[[str], None] | None = None,
        *,
        max_bytes: int | None = None,
    ) -> None:
        self.path = Path(folder) / CACHE_FILE
        self._warn = warn
        self._db: sqlite3.Connection | None = None
        self.max_bytes = default_max_bytes() if max_bytes is None else max_bytes
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=30)
            self._db.execute("PRAGMA journal_mode=WAL")
            with self._db:
                self._db.execute(
                    "CREATE TABLE IF NOT EXISTS analyses "
                    "(key TEXT PRIMARY KEY, entities TEXT NOT NULL)"
                )
                columns = {r[1] for r in self._db.execute("PRAGMA table_info(analyses)")}
                if "size" not in columns:  # a cache from before the limit: sizes filled in
                    self._db.execute("ALTER TABLE analyses ADD COLUMN size INTEGER")
                    self._db.execute("ALTER TABLE analyses ADD COLUMN used REAL")
                    self._db.execute(
                        "UPDATE analyses SET size = length(CAST(entities AS BLOB)), used = 0"
                    )
                self._db.execute("CREATE INDEX IF NOT EXISTS analyses_used ON analyses (used)")
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
            self._touch(list(found))
        except sqlite3.Error as exc:
            self._disable(f"entity cache {self.path} cannot be read ({exc}): running without it")
        return found

    def _touch(self, keys: list[str]) -> None:
        """Mark analyses as used now (eviction takes the least recently used first)."""
        if not keys or self._db is None:
            return
        now = time.time()
        try:
            with self._db:
                for i in range(0, len(keys), 500):
                    chunk = keys[i : i + 500]
                    marks = ",".join("?" * len(chunk))
                    self._db.execute(
                        f"UPDATE analyses SET used = ? WHERE key IN ({marks})", [now, *chunk]
                    )
        except sqlite3.OperationalError:
            pass  # busy or read-only: the hits are still good, only their order is older

    def put_many(self, items: Iterable[tuple[str, Any]]) -> None:
        if self._db is None:
            return
        now = time.time()
        rows = []
        for key, value in items:
            data = json.dumps(value, ensure_ascii=False)
            rows.append((key, data, len(data.encode("utf-8", "surrogatepass")), now))
        try:
            with self._db:
                self._db.executemany(
                    "INSERT OR REPLACE INTO analyses (key, entities, size, used) "
                    "VALUES (?, ?, ?, ?)",
                    rows,
                )
                self._evict()
        except sqlite3.Error as exc:
            self._disable(f"entity cache {self.path} cannot be written ({exc}): not caching")

    def _evict(self) -> None:
        """Drop the least recently used analyses while the cache is over its limit."""
        assert self._db is not None
        if self.max_bytes <= 0:
            return
        total = int(self._db.execute("SELECT COALESCE(SUM(size), 0) FROM analyses").fetchone()[0])
        if total <= self.max_bytes:
            return
        target = int(self.max_bytes * EVICT_TO)
        drop: list[str] = []
        for key, size in self._db.execute("SELECT key, size FROM analyses ORDER BY used, key"):
            if total <= target:
                break
            drop.append(key)
            total -= int(size or 0)
        for i in range(0, len(drop), 500):
            chunk = drop[i : i + 500]
            self._db.execute(
                f"DELETE FROM analyses WHERE key IN ({','.join('?' * len(chunk))})", chunk
            )

    def stats(self) -> dict[str, Any]:
        """Location, limit, entries and bytes of the cache."""
        entries, size, oldest, newest = 0, 0, None, None
        if self._db is not None:
            row = self._db.execute(
                "SELECT COUNT(*), COALESCE(SUM(size), 0), MIN(used), MAX(used) FROM analyses"
            ).fetchone()
            entries, size, oldest, newest = int(row[0]), int(row[1]), row[2], row[3]
        file_bytes = sum(
            p.stat().st_size
            for p in (self.path, Path(f"{self.path}-wal"), Path(f"{self.path}-shm"))
            if p.exists()
        )
        return {
            "path": str(self.path),
            "entries": entries,
            "bytes": size,
            "file_bytes": file_bytes,
            "max_bytes": self.max_bytes,
            "least_recently_used": oldest,
            "most_recently_used": newest,
        }

    def clear(self) -> int:
        """Remove every analysis and give the space back; returns how many there were."""
        if self._db is None:
            return 0
        with self._db:
            count = int(self._db.execute("SELECT COUNT(*) FROM analyses").fetchone()[0])
            self._db.execute("DELETE FROM analyses")
        self._db.execute("VACUUM")
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return count

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
