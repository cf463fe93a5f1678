"""Editor replay: figures on a crafted store, trained-on articles left out, comparison."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tagger.api import Tagger
from tagger.cli import app
from tagger.corpus.article import Article
from tagger.feedback.replay import (
    ReplayArticle,
    compare,
    load_replay_articles,
    replay,
    score_model,
)
from tagger.feedback.store import Decision, SQLiteStore, shown_from_suggestions


def _item(**kw) -> ReplayArticle:
    base = dict(
        title="t",
        body="b",
        accepted=set(),
        added=set(),
        rejected=set(),
        finished=False,
        shown_selected=set(),
    )
    base.update(kw)
    base["positives"] = base["accepted"] | base["added"]
    return ReplayArticle(**base)


def test_score_model_counts_by_hand() -> None:
    a1 = _item(
        article_id="a1",
        accepted={"x"},
        added={"y"},
        rejected={"z"},
        finished=True,
        shown_selected={"x", "z"},
        section_truth="World",
        shown_section="Sport",
    )
    a2 = _item(
        article_id="a2",
        accepted={"x"},
        shown_selected={"x", "w"},
        section_rejected="Sport",
        shown_section="Sport",
    )
    out = score_model([a1, a2], [{"x", "y", "q"}, {"w"}], ["World", "Sport"])
    t = out["tags"]
    # a1: x kept (tp), y now suggested (tp, fixed), z dropped (fixed), q not kept on a
    # finished article (implicit fp); a2: x dropped (fn, broken), w undecided
    assert (t["true_positives"], t["false_positives"], t["undecided"]) == (2, 1, 1)
    assert (t["accepted"], t["added"], t["rejected"], t["decisions"]) == (2, 1, 1, 4)
    assert t["precision"] == pytest.approx(2 / 3)
    assert t["precision_decided"] == 1.0
    assert t["recall"] == pytest.approx(2 / 3)
    assert t["recall_added"] == 1.0
    assert (t["changed"], t["fixed"], t["broken"]) == (3, 2, 1)
    assert t["changed_share"] == pytest.approx(3 / 4)
    per = {r["label"]: r for r in out["per_tag"]}
    assert per["x"]["precision"] == 1.0 and per["x"]["recall"] == 0.5 and per["x"]["broken"] == 1
    assert per["q"]["precision"] == 0.0 and per["q"]["decisions"] == 0
    s = out["sections"]
    assert (s["decided"], s["right"], s["wrong"], s["accuracy"]) == (2, 1, 1, 0.5)
    assert (s["changed"], s["fixed"], s["broken"]) == (1, 1, 0)


def test_policy_precision_groups_tags() -> None:
    a = _item(article_id="a", accepted={"crime"}, rejected={"law"}, finished=True)
    out = score_model(
        [a],
        [{"crime", "law", "sport"}],
        [None],
        {
            "crime": ("legal", 0.95),
            "law": ("legal", 0.95),
            "sport": ("default", None),
        },
    )
    rows = {p["policy"]: p for p in out["policies"]}
    assert rows["legal"]["precision"] == 0.5 and rows["legal"]["meets_target"] is False
    assert rows["legal"]["tags"] == 2
    assert rows["default"]["precision"] == 0.0 and rows["default"]["meets_target"] is None


def _record(store: SQLiteStore, model: Tagger, article: Article, editor: str, done: bool) -> None:
    """Show the model's suggestions and decide as an editor who knows the true tags."""
    s = model.predict(article, explain=False)
    store.add_article(Article(article.id, article.title, article.body))
    shown = shown_from_suggestions(s)
    store.add_suggestions(article.id, shown)
    truth = set(article.tags)
    decisions = []
    for item in shown:
        if item.kind != "tag":
            continue
        if item.label in truth:
            decisions.append(
                Decision(article.id, editor, "accept", item.label, suggestion_id=item.id)
            )
        elif item.selected:
            decisions.append(
                Decision(article.id, editor, "reject", item.label, suggestion_id=item.id)
            )
    seen = {i.label for i in shown}
    decisions += [Decision(article.id, editor, "add", t) for t in truth if t not in seen]
    if article.section:
        decisions.append(Decision(article.id, editor, "section", article.section, kind="section"))
    store.add_decisions(decisions)
    if done:
        store.mark_done(article.id, editor)


@pytest.fixture(scope="module")
def crafted(tiny_model: Path, load_sample, tmp_path_factory) -> Path:
    """A store with 12 articles the tiny model never saw and 3 it was trained on."""
    articles = load_sample()
    model = Tagger.load(tiny_model)
    db = tmp_path_factory.mktemp("replay") / "f.db"
    with SQLiteStore(db) as store:
        for i, a in enumerate(articles[1::2][:12]):
            _record(store, model, a, "ann", done=i % 3 != 0)
        for a in articles[::2][:3]:  # trained on: replay must leave them out
            _record(store, model, a, "bob", done=True)
    return db


def test_replay_leaves_out_trained_articles_and_matches_truth(
    crafted: Path, tiny_model: Path, load_sample
) -> None:
    model = Tagger.load(tiny_model)
    assert model.training_filter is not None
    with SQLiteStore(crafted) as store:
        result = replay([("tiny", model)], store)
    a = result.articles
    assert a["decided"] == 15 and a["trained_on"] == {"tiny": 3} and a["replayed"] == 12
    m = result.models[0]
    # the model that showed the suggestions changes nothing the editors decided
    assert m["tags"]["changed"] == 0
    # its precision is the one on the true tags of the replayed articles
    truth = {x.id: set(x.tags) for x in load_sample()}
    with SQLiteStore(crafted) as store:
        items, _ = load_replay_articles(store)
    kept = [i for i in items if i not in model.training_filter]
    predicted = model.predict([Article(i.article_id, i.title, i.body) for i in kept], explain=False)
    tp = fp = 0
    for item, s in zip(kept, predicted, strict=True):
        for t in s.tags:
            if t.label in truth[item.article_id]:
                tp += 1
            elif item.finished or t.label in item.rejected:
                fp += 1
    assert m["tags"]["precision"] == pytest.approx(tp / (tp + fp))
    assert m["sections"]["decided"] == 12


def test_replay_since_and_nothing_left(crafted: Path, tiny_model: Path) -> None:
    from datetime import datetime, timezone

    model = Tagger.load(tiny_model)
    with SQLiteStore(crafted) as store:
        later = datetime(2999, 1, 1, tzinfo=timezone.utc)
        with pytest.raises(Exception, match="no decided article to replay"):
            replay([("tiny", model)], store, since=later)


def test_replay_cli_json_and_against(crafted: Path, tiny_model: Path, tmp_path: Path) -> None:
    out = tmp_path / "replay.json"
    result = CliRunner().invoke(
        app,
        [
            "replay",
            "--model",
            str(tiny_model),
            "--db",
            str(crafted),
            "--against",
            str(tiny_model),
            "--report",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert [m["name"] for m in data["models"]] == ["current tiny", "candidate tiny"]
    assert data["comparison"]["worse"] is False
    assert "acceptance_by_week" in data["figures"]
    assert "candidate is not worse" in result.stdout
    printed = CliRunner().invoke(
        app, ["replay", "--model", str(tiny_model), "--db", str(crafted), "--json"]
    )
    assert printed.exit_code == 0 and json.loads(printed.stdout)["articles"]["replayed"] == 12
    bad = CliRunner().invoke(
        app, ["replay", "--model", str(tiny_model), "--db", str(tmp_path / "none.db")]
    )
    assert bad.exit_code == 2 and "no such feedback database" in bad.stderr


def test_compare_flags_a_worse_candidate() -> None:
    def block(f1: float, acc: float, meets: bool | None = None) -> dict:
        out = {
            "tags": {"f1": f1, "precision": f1, "recall": f1},
            "sections": {"accuracy": acc},
        }
        if meets is not None:
            out["policies"] = [
                {
                    "policy": "legal",
                    "target": 0.95,
                    "precision": 0.9 if not meets else 0.97,
                    "meets_target": meets,
                }
            ]
        return out

    assert not compare(block(0.8, 0.9), block(0.82, 0.9))["worse"]
    verdict = compare(block(0.8, 0.9), block(0.78, 0.9))
    assert verdict["worse"] and "tag F1" in verdict["reasons"][0]
    assert not compare(block(0.8, 0.9), block(0.795, 0.9), tolerance=0.01)["worse"]
    assert compare(block(0.8, 0.9), block(0.8, 0.85))["worse"]
    worse = compare(block(0.8, 0.9, meets=True), block(0.85, 0.9, meets=False))
    assert worse["worse"] and "policy legal" in worse["reasons"][0]


class _Registry:
    """What promotion_check needs from tagger's model registry: resolve(version)."""

    def __init__(self, versions: dict[str, Path]) -> None:
        self.versions = versions

    def resolve(self, version: str) -> tuple[str, Path]:
        return version, self.versions[version]


def test_promotion_check_refuses_a_worse_candidate(
    crafted: Path, tiny_model: Path, tmp_path: Path
) -> None:
    from tagger.feedback.replay import PromotionRefused, promotion_check

    damaged = Tagger.load(tiny_model)
    for t in damaged.tag_model.thresholds:
        t.value = 0.0  # every tag suggested on every article
    damaged.save(tmp_path / "damaged")
    registry = _Registry({"v1": tiny_model, "v2": tmp_path / "damaged"})
    shown: list[str] = []
    with pytest.raises(PromotionRefused, match="v2 replays worse than v1"):
        promotion_check(crafted, echo=shown.append)(registry, "v2", "v1")
    assert "candidate v2" in shown[0] and "current v1" in shown[0]
    shown.clear()
    promotion_check(crafted, force=True, echo=shown.append)(registry, "v2", "v1")
    assert "promoted anyway (--force)" in shown[-1]
    promotion_check(crafted, echo=shown.append)(registry, "v1", "v2")  # better: passes
    assert "v1 is not worse than v2" in shown[-1]


def test_models_promote_replays_and_refuses_a_worse_version(
    crafted: Path, tiny_model: Path, tmp_path: Path
) -> None:
    from tagger.registry import Registry

    reg = Registry.init(tmp_path / "news")
    Tagger.load(tiny_model).save(reg.path)  # v1
    damaged = Tagger.load(tiny_model)
    for t in damaged.tag_model.thresholds:
        t.value = 0.0
    damaged.save(reg.path)  # v2

    def run(*args: str):
        return CliRunner().invoke(app, ["models", "promote", str(reg.path), *args])

    first = run("v1", "--db", str(crafted))
    assert first.exit_code == 0, first.output
    assert "no current version" in first.stdout and reg.current() == "v1"
    refused = run("v2", "--db", str(crafted))
    assert refused.exit_code == 2
    assert "v2 replays worse than v1" in refused.stderr and "tag F1" in refused.stderr
    assert "candidate v2" in refused.stdout  # the replay is shown
    assert reg.current() == "v1"
    forced = run("v2", "--db", str(crafted), "--force")
    assert forced.exit_code == 0 and "promoted anyway (--force)" in forced.stdout
    assert reg.current() == "v2"


def test_replay_refuses_a_report_path_that_is_its_feedback_database(
    crafted: Path, tiny_model: Path
) -> None:
    before = crafted.read_bytes()
    args = ["replay", "--model", str(tiny_model), "--db", str(crafted), "--report", str(crafted)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert "--report would overwrite an input" in result.output
    assert crafted.read_bytes() == before
