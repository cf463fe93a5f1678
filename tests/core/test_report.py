"""HTML reports: self-contained (no address of anything), with the plots, figures as JSON."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tagger.cli import app
from tagger.report import ScoreHistograms

pytest.importorskip("matplotlib")
SAMPLE = Path(__file__).resolve().parents[2] / "corpus" / "sample.jsonl"


def _offline(page: str) -> None:
    assert "http://" not in page and "https://" not in page
    assert "<script" not in page and "<link" not in page and "<img" not in page
    assert not re.search(r"url\(\s*['\"]?(?!#)", page)  # CSS urls: only in-page ids


def test_evaluate_report_is_self_contained_and_has_the_plots(
    tiny_model: Path, tmp_path: Path
) -> None:
    page_path, json_path = tmp_path / "report.html", tmp_path / "report.json"
    result = CliRunner().invoke(
        app,
        [
            "evaluate",
            "--model",
            str(tiny_model),
            str(SAMPLE),
            "--report",
            str(page_path),
            "--report",
            str(json_path),
            "-q",
        ],
    )
    assert result.exit_code == 0, result.output
    page = page_path.read_text()
    _offline(page)
    for heading in (
        "Reliability diagram",
        "Precision-recall curves",
        "Per-tag F1 against support",
        "Section confusion matrix",
    ):
        assert f"<h2>{heading}</h2>" in page
    assert page.count("<svg") == 4
    figures = json.loads(json_path.read_text())["figures"]
    assert set(figures) == {"reliability", "pr_curves", "tag_f1_support", "section_confusion"}
    # the micro curve and at most 12 per-tag curves, each with its tag's threshold
    assert figures["pr_curves"][0]["label"] == "all tags (micro)"
    assert 1 < len(figures["pr_curves"]) <= 13
    assert all(c["threshold"] is not None for c in figures["pr_curves"][1:])
    assert sum(r["count"] for r in figures["reliability"]) > 0
    assert len(page) < 2_000_000


def test_histograms_give_exact_curve_points() -> None:
    h = ScoreHistograms(["a", "b"], bins=10)
    probs = np.array([[0.95, 0.1], [0.55, 0.2], [0.35, 0.8], [0.05, 0.9]])
    truth = np.array([[1, 0], [0, 0], [1, 1], [0, 1]])
    h.add(truth, probs)
    cut, precision, recall = h.curve(0)
    assert cut[3] == pytest.approx(0.3)
    # tag a at cut-off 0.3: three articles scored >= 0.3, two of them true
    assert precision[3] == pytest.approx(2 / 3) and recall[3] == 1.0
    assert precision[9] == 1.0 and recall[9] == 0.5
    rows = h.reliability(n=2)
    assert [r["count"] for r in rows] == [4, 4]
    assert rows[1]["observed"] == pytest.approx(3 / 4)
    assert rows[1]["mean_predicted"] == pytest.approx((0.95 + 0.55 + 0.8 + 0.9) / 4)


def test_replay_report_builds_offline(tmp_path: Path, tiny_model: Path, load_sample) -> None:
    from tagger.api import Tagger
    from tagger.corpus.article import Article
    from tagger.feedback.store import Decision, SQLiteStore, shown_from_suggestions

    model = Tagger.load(tiny_model)
    db = tmp_path / "f.db"
    with SQLiteStore(db) as store:
        for a in load_sample()[1::2][:6]:
            s = model.predict(a, explain=False)
            store.add_article(Article(a.id, a.title, a.body))
            shown = shown_from_suggestions(s)
            store.add_suggestions(a.id, shown)
            store.add_decisions(
                [
                    Decision(
                        a.id,
                        "ann",
                        "accept" if i.label in a.tags else "reject",
                        i.label,
                        suggestion_id=i.id,
                    )
                    for i in shown
                    if i.kind == "tag" and i.selected
                ]
                + [Decision(a.id, "ann", "add", t) for t in a.tags[:1]]
            )
    page_path = tmp_path / "replay.html"
    result = CliRunner().invoke(
        app, ["replay", "--model", str(tiny_model), "--db", str(db), "--report", str(page_path)]
    )
    assert result.exit_code == 0, result.output
    page = page_path.read_text()
    _offline(page)
    for heading in ("Acceptance per week", "Acceptance per model version", "Acceptance per tag"):
        assert f"<h2>{heading}</h2>" in page
    assert page.count("<svg") >= 5


def test_browser_opens_the_report_without_a_request(tiny_model: Path, tmp_path: Path) -> None:
    from tests.browser import browser_page

    page_path = tmp_path / "report.html"
    result = CliRunner().invoke(
        app,
        ["evaluate", "--model", str(tiny_model), str(SAMPLE), "--report", str(page_path), "-q"],
    )
    assert result.exit_code == 0, result.output
    requests: list[str] = []
    with browser_page() as tab:
        tab.on("request", lambda r: requests.append(r.url))
        tab.goto(page_path.resolve().as_uri(), wait_until="load")
        sizes = tab.eval_on_selector_all(
            "svg",
            "els => els.map(e => [e.getBoundingClientRect().width, "
            "e.getBoundingClientRect().height])",
        )
        texts = tab.eval_on_selector_all("svg text", "els => els.map(e => e.textContent)")
    assert requests == [page_path.resolve().as_uri()]  # the page itself, nothing else
    assert len(sizes) == 4 and all(w > 100 and h > 100 for w, h in sizes)
    assert any("Reliability" in t for t in texts)
