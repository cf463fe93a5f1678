"""The feedback store: articles, the suggestions shown, and every editor decision.

Append-only: a decision is never updated or deleted. A changed mind is a new row;
an undo is a row too (action "undo"), which takes back that editor's latest decision
on the same label. `FeedbackStore` is the storage interface; `SQLiteStore` (WAL
mode, synchronous=FULL: an acknowledged decision survives a power cut) is the default
implementation.

Every text is sanitized on the way in (`tagger.hygiene`: NFC, no control characters or
lone surrogates) and labels are validated. A write may carry a client's idempotency key:
the key and the response are stored in the same transaction as the decisions, so a
retried request finds its first answer and stores nothing new. A suggestion's model id
is flagged as verified only when the caller vouches that the model was served.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

from tagger.corpus.article import Article
from tagger.errors import EXIT_FAILED, ConfigError, InputError
from tagger.hygiene import clean_label, sanitize_article, sanitize_text, sanitize_value

ACTIONS = ("accept", "reject", "add", "section", "undo")
KINDS = ("tag", "section")
# 2: idempotency keys (table requests) and suggestions.model_verified
# 3: decisions.concept_id (vocabulary concepts)
# 4: the review queue (table queue: waiting, leased, done; tagger.feedback.queue)
SCHEMA_VERSION = 4
MAX_KEY_CHARS = 200
MAX_NOTE_CHARS = 2000


class StoreError(InputError):
    """The feedback database cannot be used (read-only, corrupt, not a database)."""


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


@dataclass
class ShownSuggestion:
    """A section or tag candidate as an editor saw it."""

    kind: str  # "tag" or "section"
    label: str
    score: float | None = None
    selected: bool = False
    threshold: float | None = None
    evidence: list[dict[str, Any]] = field(default_factory=list)
    model_id: str | None = None
    model_name: str | None = None
    model_version: str | None = None
    id: int | None = None
    article_id: str | None = None
    # True: the model was served by this service; False: a client's claim nobody checked;
    # None: recorded before the flag existed (schema 1).
    model_verified: bool | None = None


@dataclass
class Decision:
    """One editor action on one label of one article.

    Actions: accept or reject a suggested tag or section; add a tag the model missed;
    section (choose a section other than the suggested one); undo (take back the
    latest decision of this editor on this label).
    """

    article_id: str
    editor: str
    action: str
    label: str
    kind: str = "tag"
    suggestion_id: int | None = None
    at: str = field(default_factory=utc_now)
    note: str | None = None
    id: int | None = None
    concept_id: str | None = None  # the vocabulary concept of the label (tagger.vocab)
    # Filled when read back: the answered suggestion's model and score.
    model_id: str | None = None
    model_version: str | None = None
    score: float | None = None

    def validate(self) -> None:
        """Refuse a malformed decision; sanitize its texts and validate its label."""
        if self.action not in ACTIONS:
            raise InputError(
                f"unknown action {self.action!r}; expected one of {', '.join(ACTIONS)}"
            )
        if self.kind not in KINDS:
            raise InputError(f"unknown kind {self.kind!r}; expected tag or section")
        if not self.article_id or not self.editor:
            raise InputError("a decision needs an article id and an editor")
        if not isinstance(self.label, str) or not self.label.strip():
            raise InputError("a decision needs a label")
        self.label = clean_label(self.label, what="a decision's label")
        self.article_id = sanitize_text(self.article_id, newlines=False)
        self.editor = sanitize_text(self.editor, newlines=False)
        if self.note is not None:
            self.note = sanitize_text(self.note)[:MAX_NOTE_CHARS]
        if self.concept_id is not None:
            self.concept_id = clean_label(self.concept_id, what="a decision's concept id")
        if self.action == "add" and self.kind != "tag":
            raise InputError("'add' is for tags; choose a section with action 'section'")
        if self.action == "section" and self.kind != "section":
            raise InputError("action 'section' needs kind 'section'")

    def key(self) -> tuple[str, str, str]:
        # One section per article: every section decision shares one key.
        return (self.article_id, self.kind, self.label if self.kind == "tag" else "")


class FeedbackStore(Protocol):
    """What the review, the server, export, stats and learn need from storage."""

    def add_article(self, article: Article) -> None: ...

    def add_suggestions(self, article_id: str, shown: Sequence[ShownSuggestion]) -> list[int]: ...

    def add_decisions(self, decisions: Sequence[Decision]) -> list[int]: ...

    def mark_done(self, article_id: str, editor: str) -> None: ...

    def transaction(self) -> AbstractContextManager[Any]: ...

    def article(self, article_id: str) -> Article | None: ...

    def article_ids(self) -> list[str]: ...

    def decisions(self, article_id: str | None = None) -> list[Decision]: ...

    def suggestions(self, article_id: str | None = None) -> list[ShownSuggestion]: ...

    def done(self, editor: str | None = None) -> set[str]: ...

    def count_decisions(self) -> int: ...

    def close(self) -> None: ...


_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS articles (
    id TEXT PRIMARY KEY,
    data TEXT NOT NULL,
    added_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS suggestions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    article_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    label TEXT NOT NULL,
    score REAL,
    selected INTEGER NOT NULL DEFAULT 0,
    threshold REAL,
    evidence TEXT NOT NULL DEFAULT '[]',
    model_id TEXT,
    model_name TEXT,
    model_version TEXT,
    shown_at TEXT NOT NULL,
    model_verified INTEGER
);
CREATE INDEX IF NOT EXISTS suggestions_article ON suggestions (article_id);
CREATE TABLE IF NOT EXISTS decisions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    article_id TEXT NOT NULL,
    editor TEXT NOT NULL,
    at TEXT NOT NULL,
    action TEXT NOT NULL,
    kind TEXT NOT NULL,
    label TEXT NOT NULL,
    suggestion_id INTEGER REFERENCES suggestions (id),
    note TEXT,
    concept_id TEXT
);
CREATE INDEX IF NOT EXISTS decisions_article ON decisions (article_id);
CREATE TABLE IF NOT EXISTS reviews (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    article_id TEXT NOT NULL,
    editor TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS reviews_editor ON reviews (editor);
CREATE TABLE IF NOT EXISTS requests (
    editor TEXT NOT NULL,
    key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    response TEXT NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (editor, key)
);
CREATE TABLE IF NOT EXISTS queue (
    article_id TEXT PRIMARY KEY,
    added_at TEXT NOT NULL,
    added_by TEXT,
    published TEXT,
    uncertainty REAL,
    lease_editor TEXT,
    leased_at REAL,
    lease_until REAL,
    leases INTEGER NOT NULL DEFAULT 0,
    done_by TEXT,
    done_at TEXT
);
CREATE INDEX IF NOT EXISTS queue_open ON queue (done_at, lease_until);
CREATE TRIGGER IF NOT EXISTS decisions_no_update BEFORE UPDATE ON decisions
BEGIN SELECT RAISE(ABORT, 'decisions are append-only'); END;
CREATE TRIGGER IF NOT EXISTS decisions_no_delete BEFORE DELETE ON decisions
BEGIN SELECT RAISE(ABORT, 'decisions are append-only'); END;
CREATE TRIGGER IF NOT EXISTS suggestions_no_update BEFORE UPDATE ON suggestions
BEGIN SELECT RAISE(ABORT, 'suggestions are append-only'); END;
CREATE TRIGGER IF NOT EXISTS suggestions_no_delete BEFORE DELETE ON suggestions
BEGIN SELECT RAISE(ABORT, 'suggestions are append-only'); END;
CREATE TRIGGER IF NOT EXISTS reviews_no_update BEFORE UPDATE ON reviews
BEGIN SELECT RAISE(ABORT, 'reviews are append-only'); END;
CREATE TRIGGER IF NOT EXISTS reviews_no_delete BEFORE DELETE ON reviews
BEGIN SELECT RAISE(ABORT, 'reviews are append-only'); END;
"""


class SQLiteStore:
    """A FeedbackStore in one SQLite file (WAL mode; one connection per thread)."""

    def __init__(self, path: str | Path, *, timeout: float = 60.0, create: bool = True) -> None:
        self.path = Path(path)
        self.timeout = timeout
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        # "ok" once verify() passed; the reason after a failed check or write
        self.state = "unchecked"
        if self.path.parent and not self.path.parent.exists():
            raise InputError(f"{self.path}: folder {self.path.parent} does not exist")
        if self.path.is_dir():
            raise StoreError(f"{self.path}: is a folder, not a feedback database")
        # Only a new or empty file becomes a store: anything else must already be one
        # (another program's SQLite, a text file given by mistake, are left untouched).
        if not create or (self.path.exists() and self.path.stat().st_size > 0):
            self._check_is_store()
        self._init_schema()

    def _check_is_store(self) -> None:
        """Refuse, without writing a byte (no journal mode, no tables), a file that is not
        already a tagger feedback database: an empty file, another program's SQLite."""
        not_ours = StoreError(f"{self.path}: not a tagger feedback database")
        try:
            with self.path.open("rb") as handle:
                header = handle.read(16)
        except OSError as exc:
            raise StoreError(f"{self.path}: cannot read ({exc.strerror})") from exc
        if header != b"SQLite format 3\x00":
            raise not_ours
        try:
            conn = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True)
            try:
                found = conn.execute(
                    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'"
                ).fetchone()
            finally:
                conn.close()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: not a usable feedback database ({exc})") from exc
        if not found:
            raise not_ours

    # -- connections -------------------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = sqlite3.connect(
                    self.path, timeout=self.timeout, isolation_level=None, check_same_thread=False
                )
                conn.execute("PRAGMA journal_mode=WAL")
                # FULL: a commit is on disk when it returns (NORMAL may lose the latest
                # acknowledged decisions in a power cut); see docs/feedback.md for the cost
                conn.execute("PRAGMA synchronous=FULL")
                conn.execute(f"PRAGMA busy_timeout={int(self.timeout * 1000)}")
                conn.execute("PRAGMA foreign_keys=ON")
            except sqlite3.DatabaseError as exc:
                raise StoreError(f"{self.path}: not a usable feedback database ({exc})") from exc
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    @contextmanager
    def transaction(self) -> Iterator[SQLiteStore]:
        """Group writes into one transaction: all of them are kept, or none."""
        with self._write():
            yield self

    def execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        """One statement on this thread's connection (inside `transaction()` for writes)."""
        try:
            return self._conn().execute(sql, params)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: cannot use the feedback database ({exc})") from exc

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taking the write lock up front (no upgrade deadlocks).

        Inside `transaction()` the writes join the open transaction.
        """
        conn = self._conn()
        if conn.in_transaction:
            yield conn
            return
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.DatabaseError as exc:
            raise self._failed("cannot write to the feedback database", exc) from exc
        try:
            yield conn
        except sqlite3.DatabaseError as exc:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise self._failed("cannot write to the feedback database", exc) from exc
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise
        else:
            try:
                conn.execute("COMMIT")
            except sqlite3.DatabaseError as exc:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                raise self._failed("cannot write to the feedback database", exc) from exc

    def _failed(self, what: str, exc: Exception) -> StoreError:
        self.state = f"{what} ({exc})"
        error = StoreError(f"{self.path}: {what} ({exc})")
        code = getattr(exc, "sqlite_errorcode", 0) & 0xFF  # the primary code of an extended one
        if code in (sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR):
            error.exit_code = EXIT_FAILED  # a full or failing disk: ran, could not finish
        return error

    def verify(self) -> None:
        """Prove the database usable before serving: it passes `PRAGMA quick_check` and a
        write goes through (rolled back). Raises StoreError (exit 2) with one line."""
        try:
            conn = self._conn()
            rows = [r[0] for r in conn.execute("PRAGMA quick_check").fetchall()]
        except sqlite3.DatabaseError as exc:
            raise self._failed("damaged feedback database", exc) from exc
        if rows != ["ok"]:
            problem = "; ".join(str(r) for r in rows[:3])
            self.state = f"damaged: {problem}"
            raise StoreError(f"{self.path}: damaged feedback database (quick_check: {problem})")
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES ('write_check', ?)",
                    (utc_now(),),
                )
            finally:
                conn.execute("ROLLBACK")
        except sqlite3.DatabaseError as exc:
            raise self._failed("cannot write to the feedback database", exc) from exc
        self.state = "ok"

    def _init_schema(self) -> None:
        conn = self._conn()
        try:
            row = None
            if conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'"
            ).fetchone():
                row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            if row is not None and int(row[0]) > SCHEMA_VERSION:
                raise StoreError(
                    f"{self.path}: feedback database schema {row[0]} is newer than this "
                    f"tagger understands ({SCHEMA_VERSION})"
                )
            if row is not None and int(row[0]) == SCHEMA_VERSION:
                return  # nothing to create or migrate (and nothing written)
            with self._write() as conn:
                for statement in _SCHEMA.split(";\n"):
                    if statement.strip():
                        conn.execute(statement)
                columns = {r[1] for r in conn.execute("PRAGMA table_info(suggestions)")}
                if "model_verified" not in columns:  # schema 1 -> 2
                    conn.execute("ALTER TABLE suggestions ADD COLUMN model_verified INTEGER")
                columns = {r[1] for r in conn.execute("PRAGMA table_info(decisions)")}
                if "concept_id" not in columns:  # schema 2 -> 3: vocabulary concepts
                    conn.execute("ALTER TABLE decisions ADD COLUMN concept_id TEXT")
                conn.execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)",
                    (str(SCHEMA_VERSION),),
                )
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: not a usable feedback database ({exc})") from exc

    def close(self) -> None:
        with self._lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
        self._local = threading.local()

    def __enter__(self) -> SQLiteStore:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- writes ------------------------------------------------------------------------

    def add_article(self, article: Article) -> None:
        """Record an article (its latest text wins; decisions are what is append-only)."""
        sanitize_article(article)
        data = json.dumps(article.to_dict(), ensure_ascii=False)
        now = utc_now()
        with self._write() as conn:
            conn.execute(
                "INSERT INTO articles (id, data, added_at, updated_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET data = excluded.data, "
                "updated_at = excluded.updated_at WHERE articles.data != excluded.data",
                (article.id, data, now, now),
            )

    def add_suggestions(self, article_id: str, shown: Sequence[ShownSuggestion]) -> list[int]:
        """Record suggestions shown for an article; one shown again keeps its first row."""
        ids: list[int] = []
        now = utc_now()
        article_id = sanitize_text(article_id, newlines=False)
        for s in shown:
            s.label = clean_label(s.label, what="a suggestion's label")
            s.evidence = sanitize_value(s.evidence)
            s.model_id, s.model_name, s.model_version = (
                None if v is None else sanitize_text(v, newlines=False)[:MAX_KEY_CHARS]
                for v in (s.model_id, s.model_name, s.model_version)
            )
        with self._write() as conn:
            for s in shown:
                row = conn.execute(
                    "SELECT id FROM suggestions WHERE article_id = ? AND kind = ? AND label = ? "
                    "AND model_id IS ? AND score IS ? AND model_verified IS ? ORDER BY id LIMIT 1",
                    (
                        article_id,
                        s.kind,
                        s.label,
                        s.model_id,
                        _round(s.score),
                        None if s.model_verified is None else int(s.model_verified),
                    ),
                ).fetchone()
                if row is None:
                    cur = conn.execute(
                        "INSERT INTO suggestions (article_id, kind, label, score, selected, "
                        "threshold, evidence, model_id, model_name, model_version, shown_at, "
                        "model_verified) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (
                            article_id,
                            s.kind,
                            s.label,
                            _round(s.score),
                            int(s.selected),
                            _round(s.threshold),
                            json.dumps(s.evidence, ensure_ascii=False),
                            s.model_id,
                            s.model_name,
                            s.model_version,
                            now,
                            None if s.model_verified is None else int(s.model_verified),
                        ),
                    )
                    s.id = int(cur.lastrowid or 0)
                else:
                    s.id = int(row[0])
                ids.append(s.id)
        return ids

    def add_decisions(self, decisions: Sequence[Decision]) -> list[int]:
        """Append decisions in one transaction; returns their ids."""
        for d in decisions:
            d.validate()
        ids = []
        with self._write() as conn:
            for d in decisions:
                cur = conn.execute(
                    "INSERT INTO decisions (article_id, editor, at, action, kind, label, "
                    "suggestion_id, note, concept_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        d.article_id,
                        d.editor,
                        d.at,
                        d.action,
                        d.kind,
                        d.label.strip(),
                        d.suggestion_id,
                        d.note,
                        d.concept_id,
                    ),
                )
                d.id = int(cur.lastrowid or 0)
                ids.append(d.id)
        return ids

    def add_decision(self, decision: Decision) -> int:
        return self.add_decisions([decision])[0]

    def mark_done(self, article_id: str, editor: str) -> None:
        """Record that an editor finished reviewing an article."""
        with self._write() as conn:
            conn.execute(
                "INSERT INTO reviews (article_id, editor, at) VALUES (?, ?, ?)",
                (
                    sanitize_text(article_id, newlines=False),
                    sanitize_text(editor, newlines=False),
                    utc_now(),
                ),
            )

    # -- idempotent requests ---------------------------------------------------------------

    def replayed(self, editor: str, key: str, fingerprint: str) -> Any | None:
        """The response first given to this editor's request `key`, else None.

        Call it inside `transaction()` with `remember()` after the writes: the write lock
        makes a concurrent retry wait for the first and then find its answer. The same
        key on a different request is refused (InputError).
        """
        row = (
            self._conn()
            .execute(
                "SELECT fingerprint, response FROM requests WHERE editor = ? AND key = ?",
                (editor, check_key(key)),
            )
            .fetchone()
        )
        if row is None:
            return None
        if row[0] != fingerprint:
            raise InputError(
                f"idempotency key {escape_key(key)!r} was already used for a different request"
            )
        return json.loads(row[1])

    def remember(self, editor: str, key: str, fingerprint: str, response: Any) -> None:
        """Store the response to request `key` (in the caller's transaction)."""
        with self._write() as conn:
            conn.execute(
                "INSERT INTO requests (editor, key, fingerprint, response, at) "
                "VALUES (?, ?, ?, ?, ?)",
                (editor, check_key(key), fingerprint, json.dumps(response), utc_now()),
            )

    # -- reads -------------------------------------------------------------------------

    def article(self, article_id: str) -> Article | None:
        row = (
            self._conn().execute("SELECT data FROM articles WHERE id = ?", (article_id,)).fetchone()
        )
        return Article.from_dict(json.loads(row[0])) if row else None

    def article_ids(self) -> list[str]:
        return [r[0] for r in self._conn().execute("SELECT id FROM articles ORDER BY added_at, id")]

    def decisions(self, article_id: str | None = None) -> list[Decision]:
        """Decisions in the order they were made (with the answered suggestion's model)."""
        sql = (
            "SELECT d.id, d.article_id, d.editor, d.at, d.action, d.kind, d.label, "
            "d.suggestion_id, d.note, s.model_id, s.model_version, s.score, d.concept_id "
            "FROM decisions d LEFT JOIN suggestions s ON s.id = d.suggestion_id"
        )
        params: tuple[Any, ...] = ()
        if article_id is not None:
            sql += " WHERE d.article_id = ?"
            params = (article_id,)
        rows = self._conn().execute(sql + " ORDER BY d.id", params).fetchall()
        return [
            Decision(
                id=r[0],
                article_id=r[1],
                editor=r[2],
                at=r[3],
                action=r[4],
                kind=r[5],
                label=r[6],
                suggestion_id=r[7],
                note=r[8],
                model_id=r[9],
                model_version=r[10],
                score=r[11],
                concept_id=r[12],
            )
            for r in rows
        ]

    def suggestions(self, article_id: str | None = None) -> list[ShownSuggestion]:
        sql = (
            "SELECT id, kind, label, score, selected, threshold, evidence, model_id, "
            "model_name, model_version, article_id, model_verified FROM suggestions"
        )
        params: tuple[Any, ...] = ()
        if article_id is not None:
            sql += " WHERE article_id = ?"
            params = (article_id,)
        return [
            ShownSuggestion(
                id=r[0],
                kind=r[1],
                label=r[2],
                score=r[3],
                selected=bool(r[4]),
                threshold=r[5],
                evidence=json.loads(r[6]),
                model_id=r[7],
                model_name=r[8],
                model_version=r[9],
                article_id=r[10],
                model_verified=None if r[11] is None else bool(r[11]),
            )
            for r in self._conn().execute(sql + " ORDER BY id", params)
        ]

    def done(self, editor: str | None = None) -> set[str]:
        """Articles finished (by one editor, or by anyone)."""
        if editor is None:
            rows = self._conn().execute("SELECT DISTINCT article_id FROM reviews")
        else:
            rows = self._conn().execute(
                "SELECT DISTINCT article_id FROM reviews WHERE editor = ?", (editor,)
            )
        return {r[0] for r in rows}

    def count_decisions(self) -> int:
        return int(self._conn().execute("SELECT COUNT(*) FROM decisions").fetchone()[0])


def check_key(key: str) -> str:
    """An idempotency key as stored: printable, 1 to MAX_KEY_CHARS characters."""
    if not key or len(key) > MAX_KEY_CHARS or not key.isprintable() or not key.isascii():
        raise InputError(f"an idempotency key is 1 to {MAX_KEY_CHARS} printable ASCII characters")
    return key


def escape_key(key: str) -> str:
    return key[:60].encode("ascii", "backslashreplace").decode("ascii")


def fingerprint(payload: Any) -> str:
    """A digest of a request's content, to tell a retry from a reuse of its key."""
    data = json.dumps(payload, sort_keys=True, ensure_ascii=True, default=str)
    return hashlib.sha256(data.encode("ascii")).hexdigest()


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), 6)


def store_path(location: str | Path) -> Path:
    """The database file of a feedback store location: a path or sqlite:///path."""
    text = str(location)
    if "://" in text:
        scheme, _, rest = text.partition("://")
        if scheme != "sqlite":
            raise ConfigError(f"unsupported feedback store {scheme!r}: only sqlite:///PATH")
        text = rest[1:] if rest.startswith("/") and not rest.startswith("//") else rest
    return Path(text)


def open_store(location: str | Path, *, create: bool = True) -> SQLiteStore:
    """Open a feedback store: a path or sqlite:///path (other back ends can follow).

    With `create=False` a missing database is an error rather than a new empty one.
    """
    path = store_path(location)
    if not create and not path.exists():
        raise InputError(f"{path}: no such feedback database")
    return SQLiteStore(path, create=create)


# -- resolving decisions ------------------------------------------------------------------


@dataclass
class Resolved:
    """Where an article stands after all decisions: the effective one per label."""

    article_id: str
    section: Decision | None = None  # accept/section (chosen) or reject (rejected)
    tags: dict[str, Decision] = field(default_factory=dict)

    @property
    def accepted_tags(self) -> list[str]:
        return [t for t, d in self.tags.items() if d.action in ("accept", "add")]

    @property
    def rejected_tags(self) -> list[str]:
        return [t for t, d in self.tags.items() if d.action == "reject"]

    @property
    def chosen_section(self) -> str | None:
        if self.section is not None and self.section.action in ("accept", "section"):
            return self.section.label
        return None

    @property
    def rejected_section(self) -> str | None:
        if self.section is not None and self.section.action == "reject":
            return self.section.label
        return None

    def __bool__(self) -> bool:
        return self.section is not None or bool(self.tags)


def resolve(decisions: Iterable[Decision]) -> dict[str, Resolved]:
    """The latest effective decision per article and label.

    Decisions are applied in order; an undo takes back the latest still-standing
    decision of the same editor on the same label (so the one before it stands again).
    """
    stacks: dict[tuple[str, str, str], list[Decision]] = {}
    for d in decisions:
        stack = stacks.setdefault(d.key(), [])
        if d.action == "undo":
            for i in range(len(stack) - 1, -1, -1):
                if stack[i].editor == d.editor:
                    del stack[i]
                    break
        else:
            stack.append(d)
    out: dict[str, Resolved] = {}
    for (article_id, kind, label), stack in stacks.items():
        resolved = out.setdefault(article_id, Resolved(article_id))
        if not stack:
            continue
        if kind == "section":
            resolved.section = stack[-1]
        else:
            resolved.tags[label] = stack[-1]
    return out


def shown_from_suggestions(
    suggestions: Any, served: Iterable[str | None] | None = None
) -> list[ShownSuggestion]:
    """The candidates of a `Suggestions` (or its dict form) as rows to record.

    `served`: the model ids this process served; the suggestions' model id is then
    flagged verified when it is one of them, unverified otherwise (a client's claim).
    Without `served` (the terminal review, which made the suggestions itself) it is
    verified.
    """
    data = suggestions if isinstance(suggestions, dict) else suggestions.to_dict()
    try:
        return _shown(data, None if served is None else {s for s in served if s})
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise InputError(f"malformed suggestions object ({type(exc).__name__}: {exc})") from exc


def _shown(data: dict[str, Any], served: set[str] | None) -> list[ShownSuggestion]:
    model = data.get("model") or {}
    model_id = _text_or_none(model.get("id"))
    common: dict[str, Any] = {
        "model_id": model_id,
        "model_name": _text_or_none(model.get("name")),
        "model_version": _text_or_none(model.get("created_at")),
        "model_verified": served is None or model_id in served,
    }

    def row(kind: str, s: dict[str, Any]) -> ShownSuggestion:
        label = s["label"]
        if not isinstance(label, str) or not label.strip():
            raise ValueError("a suggestion's label must be a non-empty string")
        evidence = s.get("evidence") or []
        if not isinstance(evidence, list):
            raise ValueError("'evidence' must be a list")
        return ShownSuggestion(
            kind,
            label,
            _number_or_none(s.get("score")),
            bool(s.get("selected")),
            _number_or_none(s.get("threshold")) if kind == "tag" else None,
            evidence,
            **common,
        )

    shown = [row("section", s) for s in data.get("section_candidates") or []]
    seen = set()
    for s in [*(data.get("tags") or []), *(data.get("tag_candidates") or [])]:
        if s["label"] not in seen:
            seen.add(s["label"])
            shown.append(row("tag", s))
    return shown


def _number_or_none(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"expected a number, got {value!r}")
    return float(value)


def _text_or_none(value: Any) -> str | None:
    return None if value is None else str(value)
