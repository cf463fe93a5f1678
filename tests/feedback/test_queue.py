"""The review queue: order, leases and their expiry (a fake clock), counts, concurrency."""

from __future__ import annotations

import threading
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tagger.corpus.article import Article
from tagger.feedback.queue import LeaseError, ReviewQueue
from tagger.feedback.store import SQLiteStore


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def _article(i: int, day: int = 1) -> Article:
    return Article(
        f"a{i}",
        f"Title {i}",
        f"Body of article {i}.",
        published=datetime(2026, 11, day, tzinfo=timezone.utc),
    )


@pytest.fixture
def queue(tmp_path: Path) -> ReviewQueue:
    store = SQLiteStore(tmp_path / "q.db")
    return ReviewQueue(store, lease_seconds=60, clock=Clock())


def test_articles_come_in_the_chosen_order(queue: ReviewQueue) -> None:
    articles = [_article(1, day=3), _article(2, day=1), _article(3, day=2)]
    scores = {"a1": 0.2, "a2": 0.9, "a3": 0.5}
    added = queue.add(articles, by="cms", uncertainty=lambda b: [scores[a.id] for a in b])
    assert added.added == ["a1", "a2", "a3"] and queue.store.article("a2").title == "Title 2"
    firsts = {}
    for order, editor in (("uncertain", "ann"), ("newest", "bob"), ("oldest", "cy")):
        firsts[order] = queue.lease(editor, order).article_id
    assert firsts == {"uncertain": "a2", "newest": "a1", "oldest": "a3"}
    with pytest.raises(Exception, match="unknown order"):
        queue.lease("dee", "random")


def test_adding_again_keeps_the_queue_and_refuses_a_changed_text(queue: ReviewQueue) -> None:
    queue.add([_article(1)])
    again = queue.add([_article(1), Article("a1", "Other title", "Other body")])
    assert again.added == [] and again.queued_before == ["a1"]
    assert [r["id"] for r in again.refused] == ["a1"] and queue.counts()["waiting"] == 1


def test_a_lease_keeps_others_away_until_it_expires(queue: ReviewQueue) -> None:
    clock = queue.clock
    queue.add([_article(1)])
    first = queue.lease("ann")
    assert first.article_id == "a1" and first.until == clock.now + 60
    assert queue.lease("bob") is None  # the only article is leased
    again = queue.lease("ann")  # ann reloads her page: the same article, renewed
    assert again.article_id == "a1" and again.renewed
    counts = queue.counts()
    assert (counts["waiting"], counts["leased"]) == (0, 1)
    assert counts["editors"] == {"ann": {"leased": 1, "done": 0}}
    clock.now += 59.9
    assert queue.lease("bob") is None
    clock.now += 0.2  # ann walked away: the lease ran out
    assert queue.counts()["waiting"] == 1
    taken = queue.lease("bob")
    assert taken.article_id == "a1" and taken.leased_at >= first.until
    with pytest.raises(LeaseError, match="not leased to ann"):
        queue.complete("a1", "ann")  # ann's late save is refused: bob has it now
    with pytest.raises(LeaseError, match="not leased to ann"):
        queue.renew("a1", "ann")
    queue.complete("a1", "bob")
    with pytest.raises(LeaseError, match="already reviewed by bob"):
        queue.complete("a1", "bob")
    assert queue.lease("ann") is None
    counts = queue.counts()
    assert (counts["waiting"], counts["leased"], counts["done"]) == (0, 0, 1)
    assert counts["editors"] == {"bob": {"leased": 0, "done": 1}}


def test_renew_release_skip_and_an_expired_lease_nobody_took(queue: ReviewQueue) -> None:
    clock = queue.clock
    queue.add([_article(1), _article(2)], uncertainty=lambda b: [0.9, 0.1])
    lease = queue.lease("ann")
    clock.now += 50
    assert queue.renew("a1", "ann").until == clock.now + 60
    clock.now += 100  # expired, but nobody took it: ann may still finish
    queue.renew("a1", "ann")
    skipped = queue.lease("ann", skip=["a1"])  # skip gives a1 back and takes the next
    assert skipped.article_id == "a2" and lease.article_id == "a1"
    assert queue.lease("bob").article_id == "a1"
    assert queue.release("a2", "ann") and not queue.release("a2", "ann")
    assert queue.counts()["waiting"] == 1
    with pytest.raises(LeaseError, match="not in the review queue"):
        queue.complete("zz", "ann")


def test_check_writer_refuses_decisions_from_another_editor(queue: ReviewQueue) -> None:
    queue.add([_article(1)])
    queue.lease("ann")
    queue.check_writer("a1", "ann")
    with pytest.raises(LeaseError, match="being reviewed by ann"):
        queue.check_writer("a1", "bob")
    queue.clock.now += 61
    queue.check_writer("a1", "bob")  # ann's lease is over
    queue.check_writer("not-queued", "bob")


def test_an_older_store_gets_the_queue_table(tmp_path: Path) -> None:
    import sqlite3

    db = tmp_path / "old.db"
    SQLiteStore(db).close()
    with sqlite3.connect(db) as conn:  # as a schema-3 store would be: no queue table
        conn.execute("DROP TABLE queue")
        conn.execute("UPDATE meta SET value = '3' WHERE key = 'schema_version'")
    store = SQLiteStore(db)
    ReviewQueue(store).add([_article(1)])
    assert ReviewQueue(store).counts()["waiting"] == 1


def test_editors_in_threads_never_share_an_article(tmp_path: Path) -> None:
    """Eight editors on separate connections lease and finish concurrently: every article
    is done exactly once."""
    db = tmp_path / "q.db"
    store = SQLiteStore(db)
    queue = ReviewQueue(store, lease_seconds=30)
    queue.add([_article(i) for i in range(120)])
    done: dict[str, list[str]] = {}
    lock = threading.Lock()

    def editor(name: str) -> None:
        own = ReviewQueue(SQLiteStore(db), lease_seconds=30)
        while (lease := own.lease(name, "oldest")) is not None:
            own.complete(lease.article_id, name)
            with lock:
                done.setdefault(lease.article_id, []).append(name)

    threads = [threading.Thread(target=editor, args=(f"ed{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(done) == 120 and all(len(v) == 1 for v in done.values())
    assert queue.counts()["done"] == 120


def test_queue_add_and_stats_commands(tmp_path: Path, tiny_model: Path, load_sample) -> None:
    import json

    from typer.testing import CliRunner

    from tagger.cli import app

    corpus = tmp_path / "new.jsonl"
    corpus.write_text("".join(json.dumps(a.to_dict()) + "\n" for a in load_sample()[:5]))
    db = tmp_path / "q.db"
    runner = CliRunner()
    args = ["queue", "add", str(corpus), "--db", str(db), "--model", str(tiny_model)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0 and "queued 5 article(s)" in result.output, result.output
    result = runner.invoke(app, args)
    assert "queued 0 article(s), 5 already queued" in result.output
    rows = ReviewQueue(SQLiteStore(db)).rows()
    assert len(rows) == 5 and all(0 <= r["uncertainty"] <= 1 for r in rows)
    stats = json.loads(runner.invoke(app, ["queue", "stats", "--db", str(db), "--json"]).stdout)
    assert (stats["waiting"], stats["leased"], stats["done"]) == (5, 0, 0)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    result = runner.invoke(app, ["queue", "add", str(empty), "--db", str(db)])
    assert result.exit_code == 2 and "no article to queue" in result.output
