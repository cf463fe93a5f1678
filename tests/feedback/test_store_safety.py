"""The store proves itself: start-up checks, synchronous=FULL, idempotent retries,
verified model ids, the migration of schema 1 databases (issue 9, points 4 and 5)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from tagger.cli import app as cli_app
from tagger.feedback.stats import feedback_stats
from tagger.feedback.store import (
    SCHEMA_VERSION,
    Decision,
    SQLiteStore,
    StoreError,
    open_store,
    resolve,
)

ANN = {"Authorization": "Bearer ann-token-0123456789abcdef"}
ARTICLE = {"id": "a1", "title": "Senate passes bill", "body": "The Senate passed a bill."}
runner = CliRunner()


def _count(db: Path, table: str = "decisions") -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


# -- idempotent retries ---------------------------------------------------------------------


def test_a_retry_with_the_same_key_returns_the_first_response_and_stores_nothing(
    client: TestClient, tmp_path: Path
) -> None:
    body = {"article": ARTICLE, "decisions": [{"action": "add", "label": "Congress"}]}
    headers = {**ANN, "Idempotency-Key": "req-1"}
    first = client.post("/feedback", json=body, headers=headers)
    again = client.post("/feedback", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert _count(tmp_path / "f.db") == 1
    # another key is another request
    other = client.post("/feedback", json=body, headers={**ANN, "Idempotency-Key": "req-2"})
    assert other.json()["decisions"] != first.json()["decisions"]
    assert _count(tmp_path / "f.db") == 2


def test_an_undo_after_a_retried_accept_takes_the_label_back(
    client: TestClient, tmp_path: Path
) -> None:
    accept = {"article": ARTICLE, "decisions": [{"action": "add", "label": "Congress"}]}
    for _ in range(3):  # a client that lost the response twice
        client.post("/feedback", json=accept, headers={**ANN, "Idempotency-Key": "k-accept"})
    undo = {"article_id": "a1", "decisions": [{"action": "undo", "label": "Congress"}]}
    assert client.post("/feedback", json=undo, headers={**ANN, "Idempotency-Key": "k-undo"})
    with open_store(tmp_path / "f.db") as store:
        decisions = store.decisions()
    assert [d.action for d in decisions] == ["add", "undo"]
    assert "Congress" not in resolve(decisions)["a1"].accepted_tags


def test_the_same_key_for_another_request_is_refused(client: TestClient) -> None:
    headers = {**ANN, "Idempotency-Key": "reused"}
    body = {"article": ARTICLE, "decisions": [{"action": "add", "label": "Congress"}]}
    assert client.post("/feedback", json=body, headers=headers).status_code == 201
    body["decisions"][0]["label"] = "Budget"
    reused = client.post("/feedback", json=body, headers=headers)
    assert reused.status_code == 422 and "different request" in reused.json()["detail"]


def test_a_failed_request_does_not_keep_its_key(client: TestClient, tmp_path: Path) -> None:
    headers = {**ANN, "Idempotency-Key": "k"}
    changed = {**ARTICLE, "body": "Another text."}
    client.post("/feedback", json={"article": ARTICLE, "decisions": []}, headers=ANN)
    body = {"article": changed, "decisions": [{"action": "add", "label": "Congress"}]}
    assert client.post("/feedback", json=body, headers=headers).status_code == 409
    assert _count(tmp_path / "f.db", "requests") == 0


# -- model ids ------------------------------------------------------------------------------


def test_a_forged_model_id_is_recorded_as_unverified(client: TestClient, tmp_path: Path) -> None:
    served = client.post("/suggest", json={"article": ARTICLE}).json()["suggestions"][0]
    label = served["tag_candidates"][0]["label"]
    forged = {**served, "model": {**served["model"], "id": "never-existed"}}
    for suggestions, article_id in ((served, "a1"), (forged, "a2")):
        body = {
            "article": {**ARTICLE, "id": article_id},
            "suggestions": suggestions,
            "decisions": [{"action": "accept", "label": label}],
        }
        assert client.post("/feedback", json=body, headers=ANN).status_code == 201
    with open_store(tmp_path / "f.db") as store:
        shown = store.suggestions()
        stats = feedback_stats(store)
    verified = {(s.article_id, s.model_id): s.model_verified for s in shown}
    assert verified[("a1", served["model"]["id"])] is True
    assert verified[("a2", "never-existed")] is False
    labels = [row["label"] for row in stats["models"]]
    assert any(x.startswith("never-existed") and x.endswith("[unverified]") for x in labels)
    assert not any(x.startswith(served["model"]["id"]) and "unverified" in x for x in labels)


# -- durability and start-up ----------------------------------------------------------------


def test_commits_are_synchronous_full(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "f.db") as store:
        assert store._conn().execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert store._conn().execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def _damaged(tmp_path: Path) -> Path:
    path = tmp_path / "damaged.db"
    with SQLiteStore(path) as store:
        for i in range(400):
            store.add_decision(Decision(f"a{i}", "ann", "add", f"tag {i} " + "x" * 150))
        store._conn().execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray(path.read_bytes())
    page = 4096
    for offset in range(3 * page, len(data) - page, 5 * page):  # scramble whole pages
        data[offset : offset + page] = bytes((offset + i) % 251 for i in range(page))
    path.write_bytes(bytes(data))
    return path


def test_verify_finds_a_damaged_database(tmp_path: Path) -> None:
    path = _damaged(tmp_path)
    with pytest.raises(StoreError, match=r"damaged|not a usable|malformed"):
        store = open_store(path)
        store.verify()


@pytest.mark.parametrize("command", ["serve", "review", "learn"])
@pytest.mark.parametrize("problem", ["folder", "garbage", "damaged"])
def test_commands_refuse_an_unusable_store_at_start(
    tiny_model: Path, tmp_path: Path, command: str, problem: str
) -> None:
    if problem == "folder":
        db = tmp_path / "db"
        db.mkdir()
    elif problem == "garbage":
        db = tmp_path / "garbage.db"
        db.write_bytes(b"this is not a database" * 200)
    else:
        db = _damaged(tmp_path)
    args = {
        "serve": ["serve", "--model", str(tiny_model), "--db", str(db)],
        "review": ["review", str(tmp_path), "--model", str(tiny_model), "--db", str(db),
                   "--editor", "ann"],
        "learn": ["learn", "--model", str(tiny_model), "--db", str(db), "--out",
                  str(tmp_path / "new")],
    }[command]  # fmt: skip
    result = runner.invoke(cli_app, args)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and str(db) in lines[0]
    assert "internal error" not in result.output


@pytest.mark.skipif(
    hasattr(__import__("os"), "geteuid") and __import__("os").geteuid() == 0,
    reason="root can write a read-only file",
)
def test_a_read_only_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ro.db"
    SQLiteStore(path).close()
    path.chmod(0o444)
    with pytest.raises(StoreError, match="cannot write"):
        open_store(path).verify()


def test_health_reports_the_store(client: TestClient) -> None:
    health = client.get("/health")
    assert health.status_code == 200
    assert health.json()["store"] == {"state": "ok", "decisions": 0}
    store = client.app.state.store  # type: ignore[attr-defined]

    def broken() -> int:
        raise StoreError("f.db: database disk image is malformed")

    store.count_decisions = broken
    degraded = client.get("/health")
    assert degraded.status_code == 503 and degraded.json()["status"] == "degraded"
    assert "malformed" in degraded.json()["store"]["state"]


def test_a_write_that_fails_is_503_not_500(client: TestClient) -> None:
    store = client.app.state.store  # type: ignore[attr-defined]

    def broken(_decisions: object) -> list[int]:
        raise StoreError("f.db: attempt to write a readonly database")

    store.add_decisions = broken
    body = {"article": ARTICLE, "decisions": [{"action": "add", "label": "Congress"}]}
    response = client.post("/feedback", json=body, headers=ANN)
    assert response.status_code == 503 and "cannot be written" in response.json()["detail"]


# -- schema 1 databases -----------------------------------------------------------------------


def _v1_schema() -> str:
    """Schema 1: today's without the requests table and suggestions.model_verified."""
    from tagger.feedback.store import _SCHEMA

    schema = _SCHEMA.replace(",\n    model_verified INTEGER", "")
    start = schema.index("CREATE TABLE IF NOT EXISTS requests")
    end = schema.index(");\n", start) + 3
    schema = schema[:start] + schema[end:]
    assert "model_verified" not in schema and "requests" not in schema
    return schema


def test_a_schema_1_database_is_migrated_in_place(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:
        conn.executescript(_v1_schema())
        conn.execute("INSERT INTO meta VALUES ('schema_version', '1')")
        conn.execute(
            "INSERT INTO suggestions (article_id, kind, label, score, model_id, shown_at) "
            "VALUES ('a1', 'tag', 'Congress', 0.9, 'm1', '2025-01-01')"
        )
        conn.execute(
            "INSERT INTO decisions (article_id, editor, at, action, kind, label, suggestion_id)"
            " VALUES ('a1', 'ann', '2025-01-01', 'accept', 'tag', 'Congress', 1)"
        )
    with open_store(path) as store:
        store.verify()
        [old] = store.suggestions()
        assert old.model_verified is None and old.label == "Congress"
        assert [d.label for d in store.decisions()] == ["Congress"]
        assert store.replayed("ann", "k", "f") is None
        with store.transaction():
            store.remember("ann", "k", "f", {"ok": True})
        assert store.replayed("ann", "k", "f") == {"ok": True}
    with sqlite3.connect(path) as conn:
        version = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    assert int(version[0]) == SCHEMA_VERSION


# -- reading commands never write into a file that is not a feedback store ------------------


def test_opening_for_reading_leaves_an_empty_file_untouched(tmp_path: Path) -> None:
    empty = tmp_path / "notes.txt"
    empty.write_bytes(b"")
    with pytest.raises(StoreError, match="not a tagger feedback database"):
        open_store(empty, create=False)
    assert empty.read_bytes() == b""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_opening_for_reading_leaves_another_sqlite_database_untouched(tmp_path: Path) -> None:
    other = tmp_path / "app.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE x (a)")
    before = other.read_bytes()
    with pytest.raises(StoreError, match="not a tagger feedback database"):
        open_store(other, create=False)
    assert other.read_bytes() == before
    with sqlite3.connect(other) as conn:
        assert [r[0] for r in conn.execute("SELECT name FROM sqlite_master")] == ["x"]


@pytest.mark.parametrize("command", [["replay", "--model", "M"], ["feedback", "stats"]])
def test_read_only_commands_refuse_a_foreign_file_without_changing_it(
    tmp_path: Path, tiny_model: Path, command: list[str]
) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    args = [str(tiny_model) if a == "M" else a for a in command]
    result = runner.invoke(cli_app, [*args, "--db", str(empty)])
    assert result.exit_code == 2
    assert "not a tagger feedback database" in result.output
    assert empty.read_bytes() == b""


def test_a_tagger_store_still_opens_for_reading(tmp_path: Path) -> None:
    db = tmp_path / "f.db"
    open_store(db).close()
    with open_store(db, create=False) as store:
        assert store.execute("SELECT COUNT(*) FROM decisions").fetchone()[0] == 0


def test_opening_to_write_takes_only_a_new_or_empty_file(tmp_path: Path) -> None:
    """serve, review and queue add open the store to write: another program's SQLite or a
    text file given by mistake is refused and left as it was; an empty file or a path that
    does not exist becomes a store, and a store opens again."""
    other = tmp_path / "app.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE x (a)")
    text = tmp_path / "notes.txt"
    text.write_text("an editor's notes\n", encoding="utf-8")
    for path in (other, text):
        before = path.read_bytes()
        with pytest.raises(StoreError, match="not a tagger feedback database"):
            open_store(path)
        assert path.read_bytes() == before
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    for path in (empty, tmp_path / "new.db"):
        open_store(path).close()
        with open_store(path) as store:
            assert store.execute("SELECT COUNT(*) FROM decisions").fetchone()[0] == 0


def test_a_full_database_disk_is_a_failure_exit_1_not_a_refusal(tmp_path: Path) -> None:
    from tagger.corpus.article import Article

    db = tmp_path / "full.db"
    with open_store(db) as store:
        store.add_article(Article(id="a0", title="First", body="x"))
        conn = store._conn()
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages}")  # SQLITE_FULL from the next page on
        with pytest.raises(StoreError) as caught:
            for i in range(1, 200):
                store.add_article(Article(id=f"a{i}", title="Story", body="word " * 500))
    assert "cannot write to the feedback database (database or disk is full)" in str(caught.value)
    assert str(db) in str(caught.value) and caught.value.exit_code == 1
    assert _count(db, "articles") >= 1  # what was committed before stays
    not_a_database = tmp_path / "notes.db"
    not_a_database.write_text("plain text, not SQLite " * 100)
    with pytest.raises(StoreError) as refused:
        open_store(not_a_database).close()
    assert refused.value.exit_code == 2  # a file that is not a database is still refused
