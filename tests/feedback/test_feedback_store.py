"""The feedback store: append-only, latest decision wins, concurrent writers lose nothing."""

from __future__ import annotations

import multiprocessing
import sqlite3
from pathlib import Path

import pytest

from tagger.corpus.article import Article
from tagger.errors import ConfigError, InputError
from tagger.feedback.store import (
    Decision,
    ShownSuggestion,
    SQLiteStore,
    open_store,
    resolve,
)


def _store(tmp_path: Path) -> SQLiteStore:
    return SQLiteStore(tmp_path / "feedback.db")


def test_wal_mode_and_round_trip(tmp_path: Path) -> None:
    with _store(tmp_path) as store:
        store.add_article(Article("a1", "Title", "Body text.", tags=["x"]))
        ids = store.add_suggestions(
            "a1",
            [
                ShownSuggestion(
                    "tag",
                    "economy",
                    0.8,
                    True,
                    0.4,
                    [{"kind": "term", "value": "gdp", "weight": 0.1}],
                    model_id="m1",
                    model_version="v1",
                ),
                ShownSuggestion("section", "Business", 0.9, True, model_id="m1"),
            ],
        )
        store.add_decision(Decision("a1", "ann", "accept", "economy", suggestion_id=ids[0]))
        mode = sqlite3.connect(tmp_path / "feedback.db").execute("PRAGMA journal_mode").fetchone()
        assert mode[0] == "wal"
        [d] = store.decisions("a1")
        assert (d.editor, d.action, d.label, d.model_id, d.score) == (
            "ann",
            "accept",
            "economy",
            "m1",
            0.8,
        )
        assert store.article("a1").title == "Title"
        assert store.suggestions("a1")[0].evidence[0]["value"] == "gdp"
        # the same suggestion shown again keeps its first row
        again = store.add_suggestions("a1", [ShownSuggestion("tag", "economy", 0.8, model_id="m1")])
        assert again == [ids[0]]


def test_decisions_are_append_only(tmp_path: Path) -> None:
    with _store(tmp_path) as store:
        store.add_decision(Decision("a1", "ann", "accept", "economy"))
        store.add_decision(Decision("a1", "ann", "reject", "economy"))
        assert [d.action for d in store.decisions("a1")] == ["accept", "reject"]
    raw = sqlite3.connect(tmp_path / "feedback.db")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        raw.execute("UPDATE decisions SET action = 'accept'")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        raw.execute("DELETE FROM decisions")
    assert raw.execute("SELECT COUNT(*) FROM decisions").fetchone()[0] == 2


def test_latest_decision_wins_and_undo_restores_the_previous(tmp_path: Path) -> None:
    with _store(tmp_path) as store:
        store.add_decisions(
            [
                Decision("a1", "ann", "accept", "economy"),
                Decision("a1", "ann", "reject", "economy"),  # changed mind
                Decision("a1", "ann", "add", "trade"),
                Decision("a1", "ann", "accept", "Business", kind="section"),
                Decision("a1", "bob", "section", "Politics", kind="section"),
                Decision("a1", "ann", "accept", "labor"),
                Decision("a1", "ann", "undo", "labor"),
                Decision("a2", "ann", "reject", "economy"),
            ]
        )
        resolved = resolve(store.decisions())
    a1 = resolved["a1"]
    assert a1.accepted_tags == ["trade"]
    assert a1.rejected_tags == ["economy"]
    assert a1.chosen_section == "Politics"
    assert "labor" not in a1.tags
    assert resolved["a2"].rejected_tags == ["economy"]


def test_undo_takes_back_only_the_same_editors_decision() -> None:
    decisions = [
        Decision("a", "ann", "accept", "x"),
        Decision("a", "bob", "reject", "x"),
        Decision("a", "ann", "undo", "x"),
    ]
    assert resolve(decisions)["a"].rejected_tags == ["x"]
    decisions.append(Decision("a", "bob", "undo", "x"))
    assert not resolve(decisions)["a"]


@pytest.mark.parametrize(
    ("decision", "message"),
    [
        (Decision("a", "ann", "like", "x"), "unknown action"),
        (Decision("a", "ann", "accept", " "), "needs a label"),
        (Decision("a", "", "accept", "x"), "editor"),
        (Decision("a", "ann", "add", "Politics", kind="section"), "for tags"),
    ],
)
def test_bad_decisions_are_refused(tmp_path: Path, decision: Decision, message: str) -> None:
    with _store(tmp_path) as store:
        with pytest.raises(InputError, match=message):
            store.add_decisions([Decision("a", "ann", "accept", "ok"), decision])
        assert store.count_decisions() == 0  # the whole batch is refused


def test_done_is_per_editor(tmp_path: Path) -> None:
    with _store(tmp_path) as store:
        store.mark_done("a1", "ann")
        store.mark_done("a2", "bob")
        assert store.done("ann") == {"a1"}
        assert store.done() == {"a1", "a2"}


def test_open_store_accepts_paths_and_sqlite_urls(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path}/x.db")
    store.add_decision(Decision("a", "ann", "accept", "x"))
    store.close()
    assert open_store(tmp_path / "x.db").count_decisions() == 1
    with pytest.raises(ConfigError, match="unsupported"):
        open_store("postgresql://db/feedback")


def test_the_cli_takes_sqlite_urls_for_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--db sqlite:///PATH from the command line (it was a Path option: 'sqlite:/PATH',
    no such database), absolute (four slashes) and relative; another scheme is refused."""
    import json

    from typer.testing import CliRunner

    from tagger.cli import app

    store = open_store(tmp_path / "x.db")
    store.add_decision(Decision("a", "ann", "accept", "x"))
    store.close()
    runner = CliRunner()
    for url in (f"sqlite:///{tmp_path}/x.db", "sqlite:///x.db"):
        monkeypatch.chdir(tmp_path)
        result = runner.invoke(app, ["feedback", "stats", "--db", url, "--json"])
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["decisions"] == 1
    result = runner.invoke(app, ["queue", "stats", "--db", "postgresql://db/feedback"])
    assert result.exit_code == 2 and "only sqlite:///PATH" in result.output
    assert "sqlite:///PATH" in runner.invoke(app, ["queue", "stats", "--help"]).output


def test_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(InputError, match=r"bad\.db"):
        SQLiteStore(bad)
    with pytest.raises(InputError, match="does not exist"):
        SQLiteStore(tmp_path / "missing" / "x.db")


def _writer(path: str, editor: str, n: int) -> None:
    store = SQLiteStore(path)
    for i in range(n):
        store.add_decision(Decision(f"art-{i % 7}", editor, "accept", f"tag-{i}"))
    store.close()


def test_concurrent_writers_in_several_processes_lose_nothing(tmp_path: Path) -> None:
    path = str(tmp_path / "feedback.db")
    SQLiteStore(path).close()
    ctx = multiprocessing.get_context("spawn")
    editors = [f"editor-{k}" for k in range(4)]
    procs = [ctx.Process(target=_writer, args=(path, e, 150)) for e in editors]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    store = SQLiteStore(path)
    decisions = store.decisions()
    assert len(decisions) == 600
    for e in editors:
        assert sorted(int(d.label.split("-")[1]) for d in decisions if d.editor == e) == list(
            range(150)
        )
    assert len({d.id for d in decisions}) == 600


def test_concurrent_threads_share_one_store(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    store = _store(tmp_path)

    def write(k: int) -> None:
        for i in range(50):
            store.add_decision(Decision(f"a{i}", f"t{k}", "reject", "x"))

    with ThreadPoolExecutor(6) as pool:
        list(pool.map(write, range(6)))
    assert store.count_decisions() == 300
    store.close()


def test_a_transaction_keeps_all_or_nothing(tmp_path: Path) -> None:
    with _store(tmp_path) as store:
        with pytest.raises(RuntimeError), store.transaction():
            store.add_article(Article("a1", "T", "Body"))
            store.add_decision(Decision("a1", "ann", "accept", "economy"))
            raise RuntimeError("the request failed half way")
        assert store.count_decisions() == 0 and store.article("a1") is None
        with store.transaction():
            store.add_article(Article("a1", "T", "Body"))
            store.add_decision(Decision("a1", "ann", "accept", "economy"))
            store.mark_done("a1", "ann")
        assert store.count_decisions() == 1 and store.done("ann") == {"a1"}


def test_suggestions_and_reviews_are_append_only_too(tmp_path: Path) -> None:
    import sqlite3

    from tagger.feedback.store import ShownSuggestion

    store = SQLiteStore(tmp_path / "f.db")
    [sid] = store.add_suggestions("a1", [ShownSuggestion("tag", "Congress", 0.7)])
    store.mark_done("a1", "ann")
    store.close()
    conn = sqlite3.connect(tmp_path / "f.db")
    for statement in (
        f"UPDATE suggestions SET score = 0.1 WHERE id = {sid}",
        f"DELETE FROM suggestions WHERE id = {sid}",
        "UPDATE reviews SET editor = 'bob'",
        "DELETE FROM reviews",
    ):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute(statement)
    assert conn.execute("SELECT score FROM suggestions").fetchall() == [(0.7,)]
    assert conn.execute("SELECT editor FROM reviews").fetchall() == [("ann",)]
    conn.close()
