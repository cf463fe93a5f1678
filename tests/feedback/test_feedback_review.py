"""The terminal review driven by scripted keys (no terminal involved)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tagger.api import Tagger
from tagger.errors import InputError
from tagger.feedback.export import reviewed_articles
from tagger.feedback.review import (
    BACKSPACE,
    DOWN,
    ENTER,
    ESC,
    TAB,
    UP,
    ReviewSession,
    parse_keys,
    render,
    run_review,
    uncertainty,
)
from tagger.feedback.stats import feedback_stats
from tagger.feedback.store import SQLiteStore


@pytest.fixture(scope="module")
def model(tiny_model: Path) -> Tagger:
    return Tagger.load(tiny_model)


@pytest.fixture
def store(tmp_path: Path):
    s = SQLiteStore(tmp_path / "f.db")
    yield s
    s.close()


def _keys(text: str) -> list[str]:
    return list(text)


def _session(model, store, load_sample, n: int = 4, **kwargs) -> ReviewSession:
    return ReviewSession(model, load_sample()[1 : 2 * n : 2], store, "ann", **kwargs)


def test_accept_reject_move_add_and_finish(model, store, load_sample) -> None:
    session = _session(model, store, load_sample)
    first = session.article
    section, tag1, tag2 = session.items[0], session.items[1], session.items[2]
    assert section.kind == "section" and tag1.kind == "tag"
    session.handle("a")  # accept the section; the cursor moves on
    assert session.cursor == 1
    session.handle("a")  # accept tag1
    session.handle("r")  # reject tag2
    session.handle(UP)
    session.handle(UP)
    session.handle(DOWN)
    assert session.cursor == 2
    for key in ["+", *"shutdown watch", ENTER]:
        session.handle(key)
    assert session.items[-1].label == "shutdown watch" and session.items[-1].state == "add"
    session.handle(ENTER)  # done: next article
    assert session.article is not first
    [exported] = reviewed_articles(store)
    assert exported.id == first.id
    assert exported.section == section.label
    assert sorted(exported.tags) == sorted([tag1.label, "shutdown watch"])
    assert exported.meta["negative_tags"] == [tag2.label]
    assert store.done("ann") == {first.id}
    decisions = store.decisions(first.id)
    assert [d.action for d in decisions] == ["accept", "accept", "reject", "add"]
    assert decisions[1].suggestion_id is not None and decisions[1].model_id
    assert decisions[3].suggestion_id is None


def test_undo_takes_back_decisions_in_order(model, store, load_sample) -> None:
    session = _session(model, store, load_sample)
    article = session.article
    tag = session.items[1]
    session.handle(DOWN)
    session.handle("a")
    for key in ["+", *"brand new", ENTER]:
        session.handle(key)
    session.handle("u")  # undo the add: the row goes
    assert "brand new" not in [i.label for i in session.items]
    session.handle("u")  # undo the accept
    assert tag.state is None
    session.handle("u")
    assert "nothing to undo" in session.message
    resolved = reviewed_articles(store)
    assert resolved == []  # nothing stands, though every keystroke is stored
    assert [d.action for d in store.decisions(article.id)] == ["accept", "add", "undo", "undo"]
    assert session.decided == 4 == feedback_stats(store)["decisions"]  # the summary's count


def test_changed_mind_is_a_new_decision(model, store, load_sample) -> None:
    session = _session(model, store, load_sample)
    session.handle(DOWN)
    session.handle("a")
    session.handle(UP)
    session.handle("r")  # same tag: reject after accept
    session.handle("q")
    [exported] = reviewed_articles(store)
    assert exported.tags == [] and exported.meta["negative_tags"] == [session.items[1].label]
    assert len(store.decisions()) == 2


def test_change_section_with_completion_and_undo(model, store, load_sample) -> None:
    session = _session(model, store, load_sample)
    suggested = session.items[0].label
    target = next(s for s in model.section_model.labels if s != suggested)
    session.handle("c")
    for key in target[:2]:
        session.handle(key)
    session.handle(TAB)
    assert session.buffer.casefold().startswith(target[:2].casefold())
    session.buffer = ""
    for key in target.lower():
        session.handle(key)
    session.handle(BACKSPACE)
    session.handle(target.lower()[-1])
    session.handle(TAB)  # completes the case-folded text to the label
    assert session.buffer == target
    session.handle(ENTER)
    assert session.items[0].label == target and session.items[0].state == "section"
    assert reviewed_articles(store)[0].section == target
    session.handle("u")
    assert session.items[0].label == suggested and session.items[0].state is None
    session.handle("c")
    for key in "No Such Section":
        session.handle(key)
    session.handle(ENTER)
    assert "unknown section" in session.message
    session.handle("c")
    session.handle("x")
    session.handle(ESC)
    assert session.mode == "browse" and session.message == "cancelled"


def test_add_completes_from_the_model_vocabulary(model, store, load_sample) -> None:
    session = _session(model, store, load_sample)
    session.handle("+")
    for key in "catholic":
        session.handle(key)
    assert "Catholic Church" in session.completions()
    session.handle(TAB)
    assert session.buffer == "Catholic Church"
    session.handle(ENTER)
    row = next(i for i in session.items if i.label == "Catholic Church")
    assert row.state in ("add", "accept")


def test_resume_skips_finished_articles_and_restores_decisions(model, store, load_sample) -> None:
    session = _session(model, store, load_sample)
    first = session.article
    session.handle(ENTER)  # finish the first, no decision
    second = session.article
    session.handle(DOWN)
    session.handle("r")
    rejected = session.items[1].label
    session.handle("q")
    assert "left for next time" in session.summary()

    again = _session(model, store, load_sample)
    assert again.article.id == second.id  # the finished one is never shown again
    assert first.id not in [a.id for a, _ in again.queue]
    assert again.already_done == 1
    assert next(i for i in again.items if i.label == rejected).state == "reject"
    assert "resumed" in again.message
    # another editor still sees everything
    bob = ReviewSession(model, load_sample()[1:8:2], store, "bob")
    assert bob.article.id == first.id


def test_skip_keeps_the_article_for_later(model, store, load_sample) -> None:
    session = _session(model, store, load_sample, n=2)
    first = session.article
    session.handle("s")
    session.handle(" ")
    assert session.over and store.done("ann") - {first.id} == store.done("ann")
    assert _session(model, store, load_sample, n=2).article.id == first.id


def test_uncertain_order_puts_the_least_sure_first(model, store, load_sample) -> None:
    session = _session(model, store, load_sample, n=10, order="uncertain")
    scores = [uncertainty(s) for _, s in session.queue]
    assert scores == sorted(scores, reverse=True)
    plain = _session(model, store, load_sample, n=10)
    assert [a.id for a, _ in plain.queue] == [a.id for a in load_sample()[1:20:2]]
    with pytest.raises(InputError, match="unknown order"):
        _session(model, store, load_sample, order="random")


def test_run_review_with_scripted_keys_draws_every_step(model, store, load_sample) -> None:
    from rich.console import Console

    session = _session(model, store, load_sample, n=2)
    screens = []
    console = Console(width=100, record=True)

    def draw(s: ReviewSession) -> None:
        console.print(render(s))
        screens.append(console.export_text(clear=True))

    summary = run_review(session, iter(["a", "j", "r", ENTER, "x", "q", "a"]), draw)
    assert "3 decision(s) saved" in summary
    assert "1 article(s) finished" in summary
    assert "tagger review · ann" in screens[0] and "evidence for" in screens[0]
    assert load_sample()[1].title[:30] in screens[0]
    assert "✓ accepted" in screens[1] and "✗ rejected" in screens[3]
    assert len(screens) == 7  # the trailing key after quit is not read


def test_review_command_refuses_without_a_terminal(tiny_model: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from tagger.cli import app

    corpus = Path(__file__).resolve().parents[2] / "corpus" / "sample.jsonl"
    result = CliRunner().invoke(
        app,
        [
            "review",
            str(corpus),
            "--model",
            str(tiny_model),
            "--db",
            str(tmp_path / "f.db"),
            "--editor",
            "ann",
        ],
    )
    assert result.exit_code == 2 and "interactive terminal" in result.output
    # refused before the model is loaded or the input read (the store is checked first)
    unread = [str(tmp_path / "no-such-input.jsonl"), "--model", str(tmp_path / "no-model")]
    args = ["review", *unread, "--db", str(tmp_path / "f.db"), "--editor", "ann"]
    early = CliRunner().invoke(app, args)
    assert early.exit_code == 2
    assert early.output.splitlines() == ["error: tagger review needs an interactive terminal"]


def test_terminal_input_is_split_into_keys() -> None:
    assert parse_keys("ar+Cath\t\r") == ["a", "r", "+", "C", "a", "t", "h", TAB, ENTER]
    assert parse_keys("\x1b[A\x1b[Bj\x1bOB") == [UP, DOWN, "j", DOWN]
    assert parse_keys("\x1b") == [ESC]
    assert parse_keys("\x1b[C\x1b[3~x\x7f") == ["x", BACKSPACE]  # right, delete: ignored
    with pytest.raises(KeyboardInterrupt):
        parse_keys("a\x03")


def test_tags_added_earlier_complete_in_later_sessions(model, store, load_sample) -> None:
    session = _session(model, store, load_sample)
    for key in ["+", *"Local Zoning Board", ENTER]:
        session.handle(key)
    later = _session(model, store, load_sample)
    later.handle("+")
    for key in "zoning":
        later.handle(key)
    assert later.completions() == ["Local Zoning Board"]


def test_changed_section_shows_its_own_score_and_answers_its_suggestion(
    model, store, load_sample
) -> None:
    session = _session(model, store, load_sample)
    row = session.items[0]
    suggested, suggested_score = row.label, row.score
    shown = {s.label: s for s in store.suggestions(session.article.id) if s.kind == "section"}
    target = next(label for label in shown if label != suggested)
    session.handle("c")
    for key in target:
        session.handle(key)
    session.handle(ENTER)
    assert row.label == target and row.state == "section"
    # the row shows the chosen section's score, not the one it replaced
    assert row.score == pytest.approx(shown[target].score)
    assert row.score != pytest.approx(suggested_score)
    from rich.console import Console

    console = Console(width=100, record=True)
    console.print(render(session))
    line = next(ln for ln in console.export_text().splitlines() if target in ln)
    assert f"{shown[target].score:.2f}" in line
    assert f"{suggested_score:.2f}" not in line or shown[target].score == suggested_score
    [decision] = store.decisions()
    assert decision.action == "section" and decision.suggestion_id == shown[target].id
    session.handle("u")  # back to the model's suggestion, with its score
    assert row.label == suggested and row.score == pytest.approx(suggested_score)
    session.handle("c")
    for key in suggested:
        session.handle(key)
    session.handle(ENTER)  # typing the suggested section back is an accept of it
    last = store.decisions()[-1]
    assert last.action == "accept" and last.suggestion_id == shown[suggested].id


def test_the_review_screen_shows_a_label_that_looks_like_markup_as_written(
    model, store, load_sample
) -> None:
    from rich.console import Console

    session = _session(model, store, load_sample, n=1)
    session.items[0].label = "[bold]odd[/bold] tag"
    console = Console(width=100, record=True)
    console.print(render(session))
    row = next(line for line in console.export_text().splitlines() if "›" in line)
    assert "[bold]odd[/bold] tag" in row
