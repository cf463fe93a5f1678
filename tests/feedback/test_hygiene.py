"""One text hygiene for every way in, and nothing raw on a terminal (issue 9, point 3)."""

from __future__ import annotations

import io
import json
import sqlite3
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from tagger.api import Tagger
from tagger.cli import app as cli_app
from tagger.console import Console, _data_console, escape_terminal, safe_console_class
from tagger.corpus.article import Article
from tagger.errors import InputError
from tagger.feedback.review import ENTER, ReviewSession, render
from tagger.feedback.stats import feedback_stats, render_feedback_stats
from tagger.feedback.store import Decision, SQLiteStore, open_store
from tagger.hygiene import MAX_LABEL_CHARS, clean_label, sanitize_article, sanitize_text

HOSTILE = "x\u001b]52;c;ZWNobyBwd25lZA==\u0007\u001b[2J\u202eevil\u009b31m"
ANN = {"Authorization": "Bearer ann-token-0123456789abcdef"}
ARTICLE = {"id": "a1", "title": "Senate passes bill", "body": "The Senate passed a bill."}
RAW = ("\x1b", "\x07", "\x9b", "\u202e")
runner = CliRunner()


def assert_no_raw_controls(text: str) -> None:
    for char in RAW:
        assert char not in text, f"{char!r} reached the output"


def _stored_strings(db: Path) -> str:
    with sqlite3.connect(db) as conn:
        rows = [
            *conn.execute("SELECT data FROM articles"),
            *conn.execute("SELECT label, note, editor, article_id FROM decisions"),
            *conn.execute("SELECT label, evidence, model_id FROM suggestions"),
        ]
    return json.dumps([list(r) for r in rows], ensure_ascii=False)


# -- the one normalisation ---------------------------------------------------------------


def test_sanitize_text_nfc_controls_surrogates_and_line_ends() -> None:
    assert sanitize_text("Cafe\u0301\r\nline\x00two\ud800") == "Café\nline two\ufffd"
    assert sanitize_text("\ud83d\ude00") == "😀"  # a pair is joined, not replaced
    assert sanitize_text("a\tb\nc", newlines=False) == "a b c"
    assert sanitize_text(HOSTILE).count("\x1b") == 0


def test_clean_label_refuses_controls_and_overlong_labels() -> None:
    assert clean_label("  Climate   change ") == "Climate change"
    for bad in (HOSTILE, "a\u0000b", "tab\there", "x\u202ey"):
        with pytest.raises(InputError, match="control character"):
            clean_label(bad)
    with pytest.raises(InputError, match="longer than"):
        clean_label("x" * (MAX_LABEL_CHARS + 1))
    with pytest.raises(InputError, match="empty"):
        clean_label("   ")


def test_file_readers_and_http_share_the_normalisation() -> None:
    from tagger.corpus.text import clean_text

    raw = "Cafe\u0301 \x00 \ud800"
    assert clean_text(raw) == "Café \ufffd"  # readers: the same hygiene, spaces collapsed
    article = sanitize_article(Article(id="i\x00d", title=raw, body=raw, tags=["a\x1bb"]))
    assert article.id == "i d" and article.title == sanitize_text(raw)
    assert article.tags == ["a b"]


# -- every way in: HTTP -------------------------------------------------------------------


def test_a_label_with_terminal_codes_posted_is_refused_and_not_stored(
    client: TestClient, tmp_path: Path
) -> None:
    body = {"article": ARTICLE, "decisions": [{"action": "add", "label": HOSTILE}]}
    response = client.post("/feedback", json=body, headers=ANN)
    assert response.status_code == 422 and "control character" in response.json()["detail"]
    assert_no_raw_controls(response.text)
    assert open_store(tmp_path / "f.db").count_decisions() == 0


def test_nul_and_controls_in_posted_text_are_never_stored(
    client: TestClient, tmp_path: Path
) -> None:
    article = {"id": "a\u0000x", "title": "Title\u0000 with NUL", "body": "Body\u001b[2J here"}
    body = {
        "article": article,
        "decisions": [{"action": "add", "label": "Congress", "note": "note\u0000\u009b"}],
    }
    response = client.post("/feedback", json=body, headers=ANN)
    assert response.status_code == 201
    stored = _stored_strings(tmp_path / "f.db")
    assert "\u0000" not in stored and "\\u0000" not in stored
    assert "\x1b" not in stored and "\x9b" not in stored
    assert "Title  with NUL" in stored


def test_a_lone_surrogate_in_a_title_is_never_a_500_nor_stored(
    client: TestClient, tmp_path: Path
) -> None:
    # The HTTP layer may refuse it (422 with a reason: strict JSON) or take it; the store
    # never keeps a lone surrogate (it cannot be encoded: that was the 500).
    article = {**ARTICLE, "title": "Senate\ud800 passes", "body": "Half an emoji \ud83d."}
    body = {"article": article, "decisions": [{"action": "add", "label": "Congress"}]}
    raw = json.dumps(body)  # "\ud800" as a JSON escape: valid JSON text, a lone surrogate
    response = client.post(
        "/feedback", content=raw, headers={**ANN, "Content-Type": "application/json"}
    )
    assert response.status_code in (201, 422), response.text
    stored = _stored_strings(tmp_path / "f.db")
    if response.status_code == 201:
        assert "Senate\ufffd passes" in stored
    else:
        assert "surrogate" in response.text and "Senate" not in stored


def test_the_store_replaces_lone_surrogates_whatever_the_way_in(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "f.db") as store:
        store.add_article(Article(id="a\ud800", title="T\ud83d", body="B\udc00"))
        store.add_decisions([Decision("a\ud800", "ann\ud800", "add", "Con\ud800gress")])
        [decision] = store.decisions()
        assert decision.label == "Con\ufffdgress" and decision.article_id == "a\ufffd"
        assert store.article("a\ufffd").title == "T\ufffd"  # type: ignore[union-attr]


# -- nothing raw on a terminal ------------------------------------------------------------


def _store_raw_label(db: Path) -> None:
    """A label stored raw (by a tagger without this hygiene, or by hand)."""
    SQLiteStore(db).close()
    with sqlite3.connect(db) as conn:
        conn.execute(
            "INSERT INTO decisions (article_id, editor, at, action, kind, label) "
            "VALUES ('a1', 'ev\u001b[2Jil', '2025-01-01', 'add', 'tag', ?)",
            (HOSTILE,),
        )


def test_feedback_stats_escapes_stored_labels(tmp_path: Path) -> None:
    db = tmp_path / "f.db"
    _store_raw_label(db)
    base = ["feedback", "stats", "--db", str(db)]
    for args in (base, [*base, "--json"]):
        result = runner.invoke(cli_app, args)
        assert result.exit_code == 0, result.output
        assert_no_raw_controls(result.output)
        assert "\\u001b]52;c;" in result.output  # shown, visibly
    data = json.loads(runner.invoke(cli_app, [*base, "--json"]).output)
    assert data["tags"][0]["label"] == HOSTILE  # the JSON still decodes to the same text


def test_rich_tables_on_a_terminal_are_escaped(tmp_path: Path) -> None:
    db = tmp_path / "f.db"
    _store_raw_label(db)
    console = Console()
    buffer = io.StringIO()
    console.out = _data_console(file=buffer, force_terminal=True, width=200)
    with open_store(db) as store:
        render_feedback_stats(feedback_stats(store), console)
    output = buffer.getvalue()
    assert "\x1b[" in output  # rich's own styles are kept...
    assert "\x1b]52" not in output and "\x1b[2J" not in output  # ...the label's codes not
    assert "\u202e" not in output and "\x9b" not in output


def test_predict_and_entities_tables_are_escaped(tiny_model: Path, tmp_path: Path) -> None:
    from tagger.entities.render import render_entities
    from tagger.render import render_suggestions

    model = Tagger.load(tiny_model)
    article = Article(id="id\u001b]52;c;QQ==\u0007", title=HOSTILE, body="The Senate voted.")
    console = Console()
    buffer = io.StringIO()
    console.out = _data_console(file=buffer, force_terminal=False, width=200)
    render_suggestions(model.predict([article]), "table", console)
    entity = {
        "name": HOSTILE,
        "type": "PERSON",
        "count": 1,
        "salience": 0.5,
        "in_title": True,
        "first_position": 0,
        "mentions": [],
    }
    render_entities([article], [[entity]], "table", console)
    assert_no_raw_controls(buffer.getvalue())
    assert "\\u001b]52" in buffer.getvalue()


def test_escape_terminal_keeps_json_valid_and_equal() -> None:
    line = json.dumps({"label": HOSTILE}, ensure_ascii=False)
    escaped = escape_terminal(line)
    assert_no_raw_controls(escaped)
    assert json.loads(escaped) == {"label": HOSTILE}


# -- the review: what is typed, what is drawn ---------------------------------------------


def test_review_refuses_a_typed_label_with_controls_and_draws_stored_ones_escaped(
    tiny_model: Path, tmp_path: Path, load_sample
) -> None:
    db = tmp_path / "f.db"
    _store_raw_label(db)
    store = SQLiteStore(db)
    session = ReviewSession(Tagger.load(tiny_model), load_sample()[:2], store, "ann")
    assert HOSTILE in session.tag_vocab  # another editor's raw label, offered to complete
    session.handle("+")
    session.buffer = "x\u202ey"  # a bidi override pasted into the label
    session.handle(ENTER)
    assert "control character" in session.message
    assert not [d for d in store.decisions() if d.editor == "ann"]
    session.handle("+")
    session.buffer = "x"
    buffer = io.StringIO()
    safe_console_class()(file=buffer, force_terminal=True, width=120).print(render(session))
    output = buffer.getvalue()
    assert "\x1b]52" not in output and "\x1b[2J" not in output and "\u202e" not in output
    store.add_decisions([Decision(session.article.id, "ann", "add", "Fine label")])
    store.close()
