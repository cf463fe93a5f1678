"""The review queue: articles waiting for an editor, leased to one at a time, then done.

Rows live in the feedback store (table `queue`), so every server worker, the terminal
and `tagger queue add` share one queue. Each operation is one `BEGIN IMMEDIATE`
transaction: two editors asking at the same moment are served one after the other, and
never get the same article. A lease lasts `lease_seconds`; an editor who walks away
loses it when it expires, and the article is offered again. An article is done once,
by the editor holding its lease, in the same transaction as the decisions.

Times are seconds from `clock` (time.time by default; tests pass a fake clock).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tagger.corpus.article import Article
from tagger.errors import InputError
from tagger.feedback.store import SQLiteStore, utc_now
from tagger.hygiene import sanitize_article, sanitize_text

ORDERS = ("uncertain", "newest", "oldest")
DEFAULT_LEASE_SECONDS = 600.0
_ORDER_SQL = {
    "uncertain": "uncertainty IS NULL, uncertainty DESC, added_at, article_id",
    "newest": "COALESCE(published, added_at) DESC, article_id",
    "oldest": "COALESCE(published, added_at), article_id",
}


class LeaseError(InputError):
    """The editor does not hold the article's lease (expired and taken, or never held),
    or the article is already done (HTTP 409)."""


@dataclass
class Lease:
    """An article leased to an editor until `until` (clock seconds)."""

    article_id: str
    editor: str
    leased_at: float
    until: float
    renewed: bool = False  # the editor already held it (a reload of the page)


@dataclass
class AddResult:
    added: list[str] = field(default_factory=list)
    queued_before: list[str] = field(default_factory=list)
    refused: list[dict[str, str]] = field(default_factory=list)  # {"id", "detail"}


class ReviewQueue:
    """The queue in a feedback store, with leases of `lease_seconds`."""

    def __init__(
        self,
        store: SQLiteStore,
        *,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if lease_seconds <= 0:
            raise InputError("a lease lasts more than 0 seconds")
        self.store = store
        self.lease_seconds = float(lease_seconds)
        self.clock = clock

    # -- filling ---------------------------------------------------------------------------

    def add(
        self,
        articles: Iterable[Article],
        *,
        by: str | None = None,
        uncertainty: Callable[[Sequence[Article]], Sequence[float | None]] | None = None,
    ) -> AddResult:
        """Queue articles (their text goes into the store). An id already queued is left
        as it is; an id stored with a different text is refused (give it a new id)."""
        result = AddResult()
        batch = [sanitize_article(a) for a in articles]
        scores = list(uncertainty(batch)) if uncertainty and batch else [None] * len(batch)
        now = utc_now()
        with self.store.transaction():
            for article, score in zip(batch, scores, strict=True):
                stored = self.store.article(article.id)
                if stored is not None and (stored.title, stored.body) != (
                    article.title,
                    article.body,
                ):
                    result.refused.append(
                        {"id": article.id, "detail": "stored with a different text; use a new id"}
                    )
                    continue
                if stored is None:
                    self.store.add_article(article)
                cursor = self.store.execute(
                    "INSERT OR IGNORE INTO queue (article_id, added_at, added_by, published, "
                    "uncertainty) VALUES (?, ?, ?, ?, ?)",
                    (
                        article.id,
                        now,
                        by,
                        article.published.isoformat() if article.published else None,
                        None if score is None else round(float(score), 6),
                    ),
                )
                (result.added if cursor.rowcount else result.queued_before).append(article.id)
        return result

    # -- leases ----------------------------------------------------------------------------

    def lease(
        self, editor: str, order: str = "uncertain", *, skip: Sequence[str] = ()
    ) -> Lease | None:
        """The editor's next article: the one they hold (renewed), else the first waiting
        one in `order` (not in `skip`), leased to them. None when nothing waits."""
        if order not in ORDERS:
            raise InputError(f"unknown order {order!r}: {', '.join(ORDERS)}")
        editor = _editor(editor)
        now = self.clock()
        until = now + self.lease_seconds
        with self.store.transaction():
            held = self.store.execute(
                "SELECT article_id, leased_at FROM queue WHERE done_at IS NULL "
                "AND lease_editor = ? AND lease_until > ? ORDER BY leased_at LIMIT 1",
                (editor, now),
            ).fetchone()
            if held is not None and held[0] not in skip:
                self.store.execute(
                    "UPDATE queue SET lease_until = ? WHERE article_id = ?", (until, held[0])
                )
                return Lease(held[0], editor, float(held[1]), until, renewed=True)
            if held is not None:  # skipped: given back
                self._release(held[0], editor)
            marks = ",".join("?" * len(skip))
            row = self.store.execute(
                "SELECT article_id FROM queue WHERE done_at IS NULL "
                "AND (lease_until IS NULL OR lease_until <= ?) "
                + (f"AND article_id NOT IN ({marks}) " if skip else "")
                + f"ORDER BY {_ORDER_SQL[order]} LIMIT 1",
                (now, *skip),
            ).fetchone()
            if row is None:
                return None
            self.store.execute(
                "UPDATE queue SET lease_editor = ?, leased_at = ?, lease_until = ?, "
                "leases = leases + 1 WHERE article_id = ?",
                (editor, now, until, row[0]),
            )
            return Lease(row[0], editor, now, until)

    def renew(self, article_id: str, editor: str) -> Lease:
        """Extend the editor's lease (also one that expired, if nobody took it since)."""
        editor = _editor(editor)
        now = self.clock()
        with self.store.transaction():
            row = self._held(article_id, editor)
            until = now + self.lease_seconds
            self.store.execute(
                "UPDATE queue SET lease_until = ? WHERE article_id = ?", (until, article_id)
            )
            return Lease(article_id, editor, float(row[0]), until, renewed=True)

    def release(self, article_id: str, editor: str) -> bool:
        """Give a leased article back to the queue at once; False if not held."""
        with self.store.transaction():
            return self._release(article_id, _editor(editor))

    def _release(self, article_id: str, editor: str) -> bool:
        cursor = self.store.execute(
            "UPDATE queue SET lease_editor = NULL, lease_until = NULL WHERE article_id = ? "
            "AND lease_editor = ? AND done_at IS NULL",
            (article_id, editor),
        )
        return bool(cursor.rowcount)

    def _held(self, article_id: str, editor: str) -> tuple[Any, ...]:
        row = self.store.execute(
            "SELECT leased_at, lease_editor, done_by FROM queue WHERE article_id = ?",
            (article_id,),
        ).fetchone()
        if row is None:
            raise LeaseError(f"article {article_id!r} is not in the review queue")
        if row[2] is not None:
            raise LeaseError(f"article {article_id!r} was already reviewed by {row[2]}")
        if row[1] != editor:
            raise LeaseError(
                f"article {article_id!r} is not leased to {editor}: the lease expired and "
                "another editor has it, or it was never leased to you"
            )
        return tuple(row)

    def is_queued(self, article_id: str) -> bool:
        return (
            self.store.execute("SELECT 1 FROM queue WHERE article_id = ?", (article_id,)).fetchone()
            is not None
        )

    def check_writer(self, article_id: str, editor: str) -> None:
        """Decisions on a queued article come from its lease holder: refuse anyone else
        while another editor's lease is live."""
        row = self.store.execute(
            "SELECT lease_editor, lease_until, done_by FROM queue WHERE article_id = ?",
            (article_id,),
        ).fetchone()
        if row is None or row[2] is not None:
            return
        if row[0] is not None and row[0] != editor and (row[1] or 0) > self.clock():
            raise LeaseError(f"article {article_id!r} is being reviewed by {row[0]}")

    def complete(self, article_id: str, editor: str) -> None:
        """Mark the article done by the editor holding its lease (call it inside the
        transaction that stores the decisions, so both happen or neither)."""
        editor = _editor(editor)
        with self.store.transaction():
            self._held(article_id, editor)
            self.store.execute(
                "UPDATE queue SET done_by = ?, done_at = ?, lease_until = NULL "
                "WHERE article_id = ?",
                (editor, utc_now(), article_id),
            )

    # -- counts ----------------------------------------------------------------------------

    def counts(self) -> dict[str, Any]:
        """Waiting, leased and done articles, and per editor what they hold and finished."""
        now = self.clock()
        waiting, leased, done = self.store.execute(
            "SELECT "
            "SUM(done_at IS NULL AND (lease_until IS NULL OR lease_until <= ?)), "
            "SUM(done_at IS NULL AND lease_until > ?), "
            "SUM(done_at IS NOT NULL) FROM queue",
            (now, now),
        ).fetchone()
        editors: dict[str, dict[str, int]] = {}
        for name, count in self.store.execute(
            "SELECT lease_editor, COUNT(*) FROM queue WHERE done_at IS NULL AND lease_until > ? "
            "GROUP BY lease_editor",
            (now,),
        ):
            editors.setdefault(name, {"leased": 0, "done": 0})["leased"] = count
        for name, count in self.store.execute(
            "SELECT done_by, COUNT(*) FROM queue WHERE done_by IS NOT NULL GROUP BY done_by"
        ):
            editors.setdefault(name, {"leased": 0, "done": 0})["done"] = count
        return {
            "waiting": waiting or 0,
            "leased": leased or 0,
            "done": done or 0,
            "editors": dict(sorted(editors.items())),
        }

    def rows(self) -> list[dict[str, Any]]:
        """Every queued article's state (for reports and the benchmark's checks)."""
        columns = (
            "article_id",
            "added_at",
            "added_by",
            "uncertainty",
            "lease_editor",
            "leased_at",
            "lease_until",
            "leases",
            "done_by",
            "done_at",
        )
        cursor = self.store.execute(f"SELECT {', '.join(columns)} FROM queue ORDER BY added_at")
        return [dict(zip(columns, row, strict=True)) for row in cursor]


def _editor(name: str) -> str:
    name = sanitize_text(name or "", newlines=False).strip()
    if not name:
        raise InputError("an editor name is needed")
    return name


def model_uncertainty(model: Any, top_k: int = 8) -> Callable[[Sequence[Article]], list[float]]:
    """Uncertainty scores from a model (`review.uncertainty`: the closest call decides)."""
    from tagger.feedback.review import uncertainty

    def score(articles: Sequence[Article]) -> list[float]:
        return [uncertainty(s) for s in model.predict(list(articles), top_k=top_k)]

    return score
