"""Export, stats and learn: from decisions to a labeled corpus and a better model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tagger.api import Tagger
from tagger.corpus.article import Article
from tagger.errors import ConfigError
from tagger.feedback.export import reviewed_articles
from tagger.feedback.learn import learn
from tagger.feedback.stats import feedback_stats
from tagger.feedback.store import Decision, SQLiteStore, shown_from_suggestions


def _review_like_an_editor(store: SQLiteStore, model: Tagger, articles: list[Article]) -> None:
    """Accept correct suggestions, reject wrong ones, add missing tags, pick the section."""
    for article, s in zip(articles, model.predict(articles, top_k=5), strict=True):
        store.add_article(Article(article.id, article.title, article.body))
        shown = shown_from_suggestions(s)
        store.add_suggestions(article.id, shown)
        decisions = []
        for item in shown:
            if item.kind == "tag" and item.label in article.tags:
                decisions.append(
                    Decision(article.id, "ann", "accept", item.label, suggestion_id=item.id)
                )
            elif item.kind == "tag" and item.selected:
                decisions.append(
                    Decision(article.id, "ann", "reject", item.label, suggestion_id=item.id)
                )
            elif item.kind == "section" and item.selected:
                if item.label == article.section:
                    decisions.append(
                        Decision(
                            article.id,
                            "ann",
                            "accept",
                            item.label,
                            kind="section",
                            suggestion_id=item.id,
                        )
                    )
                else:
                    decisions.append(
                        Decision(article.id, "ann", "section", article.section, kind="section")
                    )
        shown_tags = {i.label for i in shown if i.kind == "tag"}
        decisions += [
            Decision(article.id, "ann", "add", t) for t in article.tags if t not in shown_tags
        ]
        store.add_decisions(decisions)
        store.mark_done(article.id, "ann")


@pytest.fixture(scope="module")
def reviewed_db(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory, load_sample) -> Path:
    db = tmp_path_factory.mktemp("fb") / "feedback.db"
    store = SQLiteStore(db)
    # the tiny model was trained on the even articles; editors review the odd ones
    _review_like_an_editor(store, Tagger.load(tiny_model), load_sample()[1::2])
    store.close()
    return db


def test_export_turns_decisions_into_labels_and_negatives(reviewed_db: Path, load_sample) -> None:
    truth = {a.id: a for a in load_sample()[1::2]}
    store = SQLiteStore(reviewed_db)
    exported = reviewed_articles(store)
    assert len(exported) == len(truth)
    negatives = 0
    for article in exported:
        assert sorted(article.tags) == sorted(truth[article.id].tags)
        assert article.section == truth[article.id].section
        assert not set(article.meta["negative_tags"]) & set(article.tags)
        assert article.meta["feedback"]["editors"] == ["ann"]
        negatives += len(article.meta["negative_tags"])
    assert negatives > 0  # the tiny model makes mistakes, and they are kept as negatives


def test_a_changed_mind_changes_the_export(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "f.db")
    store.add_article(Article("a1", "T", "Body", tags=["old-label"]))
    store.add_decisions(
        [
            Decision("a1", "ann", "accept", "economy"),
            Decision("a1", "ann", "reject", "trade"),
            Decision("a1", "ann", "reject", "economy"),
            Decision("a1", "bob", "add", "labor"),
            Decision("ghost", "ann", "accept", "economy"),
        ]
    )
    [article] = reviewed_articles(store)
    assert article.tags == ["labor"]  # the label the article came with is replaced
    assert sorted(article.meta["negative_tags"]) == ["economy", "trade"]
    assert [a.tags for a in reviewed_articles(store, editors=["ann"])] == [[]]


def test_stats_count_acceptance_per_tag_section_and_model(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "f.db")
    for i in range(4):
        store.add_article(Article(f"a{i}", "T", "Body"))
        ids = store.add_suggestions(
            f"a{i}",
            shown_from_suggestions(
                {
                    "model": {"id": "m1", "name": "tiny", "created_at": "2026-01-01"},
                    "section_candidates": [{"label": "Business", "score": 0.7, "selected": True}],
                    "tags": [{"label": "economy", "score": 0.9, "selected": True}],
                    "tag_candidates": [{"label": "trade", "score": 0.3, "selected": False}],
                }
            ),
        )
        sec, economy, _trade = ids
        store.add_decisions(
            [
                Decision(
                    f"a{i}",
                    "ann",
                    "accept" if i < 3 else "reject",
                    "economy",
                    suggestion_id=economy,
                ),
                Decision(f"a{i}", "ann", "accept", "Business", kind="section", suggestion_id=sec)
                if i % 2 == 0
                else Decision(f"a{i}", "ann", "section", "Politics", kind="section"),
            ]
        )
    store.add_decision(Decision("a0", "ann", "add", "labor"))
    stats = feedback_stats(store)
    tags = {r["label"]: r for r in stats["tags"]}
    assert (tags["economy"]["accepted"], tags["economy"]["rejected"]) == (3, 1)
    assert tags["economy"]["acceptance"] == pytest.approx(0.75)
    assert tags["labor"]["added"] == 1 and tags["labor"]["acceptance"] is None
    sections = {r["label"]: r for r in stats["sections"]}
    assert (sections["Business"]["accepted"], sections["Business"]["rejected"]) == (2, 2)
    assert sections["Politics"]["chosen"] == 2
    [model] = stats["models"]
    assert model["label"] == "m1 (2026-01-01)"
    assert (model["accepted"], model["rejected"]) == (5, 3)


def test_learn_builds_a_better_model_and_keeps_the_old(
    tiny_model: Path, reviewed_db: Path, tmp_path: Path, load_sample
) -> None:
    before = sorted(p.name for p in tiny_model.iterdir())
    store = SQLiteStore(reviewed_db)
    original = load_sample()[::2]
    result = learn(tiny_model, store, tmp_path / "m2", corpus=original, holdout=0.3)
    assert (
        result.heldout >= 5
        and result.trained_on == len(original) + result.reviewed - result.heldout
    )
    assert result.new["tags"]["micro_f1"] > result.old["tags"]["micro_f1"]
    assert result.parent_id == Tagger.load(tiny_model).manifest["model_id"]
    manifest = json.loads((tmp_path / "m2" / "manifest.json").read_text())
    assert manifest["lineage"]["parent_model_id"] == result.parent_id
    assert manifest["lineage"]["negative_tags"] > 0
    assert sorted(p.name for p in tiny_model.iterdir()) == before
    with pytest.raises(ConfigError, match="overwrite"):
        learn(tiny_model, store, tiny_model, corpus=original)
    with pytest.raises(ConfigError, match="already exists"):
        learn(tiny_model, store, tmp_path / "m2", corpus=original)


def test_rejections_only_articles_teach_the_tag_model(tmp_path: Path) -> None:
    from tagger.api import TrainConfig
    from tagger.classify import ModelConfig
    from tagger.features import FeatureConfig

    config = TrainConfig(
        features=FeatureConfig(char_ngrams=None, word_min_df=1),
        tags=ModelConfig(cv_folds=2),
        sections=ModelConfig(cv_folds=2),
    )
    base = [
        Article(f"p{i}", "Stocks", f"stocks market shares rally {i}", tags=["markets"])
        for i in range(6)
    ] + [
        Article(f"n{i}", "Weather", f"rain storm weather cold {i}", tags=["weather"])
        for i in range(6)
    ]
    negatives = [
        Article(
            f"r{i}",
            "Stocks of grain",
            f"grain stocks silo harvest {i}",
            meta={"negative_tags": ["markets"]},
        )
        for i in range(6)
    ]
    plain = Tagger.train(base, config)
    taught = Tagger.train(base + negatives, config)
    probe = [Article("x", "Grain stocks", "grain stocks silo harvest")]
    j = plain.tag_model.labels.index("markets")
    p_plain = plain.tag_model.predict_proba(plain.featurizer.transform(probe))[0, j]
    p_taught = taught.tag_model.predict_proba(taught.featurizer.transform(probe))[0, j]
    assert taught.manifest["corpus"]["with_tags"] == 18
    assert p_taught < p_plain


def test_cli_export_stats_and_learn(
    tiny_model: Path, reviewed_db: Path, tmp_path: Path, load_sample
) -> None:
    from tagger.cli import app

    runner = CliRunner()
    out = tmp_path / "reviewed.jsonl"
    result = runner.invoke(app, ["feedback", "export", "--db", str(reviewed_db), "-o", str(out)])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 126 and all("negative_tags" in r["meta"] for r in rows)

    result = runner.invoke(app, ["feedback", "stats", "--db", str(reviewed_db), "--json"])
    assert result.exit_code == 0
    stats = json.loads(result.stdout)
    assert stats["articles"] == 126 and 0 < stats["tag_acceptance"] < 1
    result = runner.invoke(app, ["feedback", "stats", "--db", str(reviewed_db)])
    assert "tag acceptance" in result.stdout and "economy" in result.stdout

    corpus = tmp_path / "original.jsonl"
    corpus.write_text("".join(json.dumps(a.to_dict()) + "\n" for a in load_sample()[::2]))
    m2 = tmp_path / "m2"
    args = [
        "learn",
        "--model",
        str(tiny_model),
        "--db",
        str(reviewed_db),
        "--out",
        str(m2),
        "--corpus",
        str(corpus),
        "-q",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "tags micro_f1" in result.stdout and (m2 / "manifest.json").exists()
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and "already exists" in result.output

    result = runner.invoke(app, ["feedback", "stats", "--db", str(tmp_path / "nope.db")])
    assert result.exit_code == 2 and "no such feedback database" in result.output
    assert not (tmp_path / "nope.db").exists()


def test_reviewed_articles_replace_originals_and_holdout_is_stable() -> None:
    from tagger.feedback.learn import in_holdout, merge_corpus

    original = [Article("a", "T", "B", tags=["old"]), Article("b", "T", "B", tags=["x"])]
    reviewed = [Article("a", "T", "B", tags=["new"]), Article("c", "T", "B", tags=["y"])]
    merged = merge_corpus(original, reviewed)
    assert sorted((a.id, tuple(a.tags)) for a in merged) == [
        ("a", ("new",)),
        ("b", ("x",)),
        ("c", ("y",)),
    ]
    ids = [f"id-{i}" for i in range(2000)]
    share = sum(in_holdout(i, 0.2) for i in ids) / len(ids)
    assert 0.17 < share < 0.23
    assert [in_holdout(i, 0.2) for i in ids] == [in_holdout(i, 0.2) for i in ids]


def test_export_with_nothing_to_export_fails_clearly(reviewed_db: Path, tmp_path: Path) -> None:
    from tagger.cli import app

    out = tmp_path / "bob.jsonl"
    out.write_text("an earlier export\n")
    args = ["feedback", "export", "--db", str(reviewed_db), "--editor", "bob", "-o", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1
    assert "nothing to export: no reviewed article by bob" in result.output
    assert "exported 0" not in result.output
    assert out.read_text() == "an earlier export\n"  # not replaced by an empty file
    assert not list(tmp_path.glob(".bob.jsonl*"))


@pytest.fixture
def few_reviewed(tiny_model: Path, tmp_path: Path, load_sample) -> tuple[Path, list[Article]]:
    """A store where editors reviewed only four articles."""
    db = tmp_path / "few.db"
    reviewed = load_sample()[1:9:2]
    with SQLiteStore(db) as store:
        _review_like_an_editor(store, Tagger.load(tiny_model), reviewed)
    return db, reviewed


def test_learn_with_few_reviews_holds_out_part_of_the_original_corpus(
    tiny_model: Path, few_reviewed: tuple[Path, list[Article]], tmp_path: Path, load_sample
) -> None:
    from tagger.cli import app

    db, _reviewed = few_reviewed
    corpus = tmp_path / "original.jsonl"
    corpus.write_text("".join(json.dumps(a.to_dict()) + "\n" for a in load_sample()[::2]))
    args = ["learn", "--model", str(tiny_model), "--db", str(db), "--out", str(tmp_path / "m2")]
    result = CliRunner().invoke(app, [*args, "--corpus", str(corpus)])
    assert result.exit_code == 0, result.output
    assert "original" in result.output and "probably trained on" in result.output
    assert "tags micro_f1" in result.stdout
    # stable: the same hold-out on a rerun
    with SQLiteStore(db) as store:
        first = learn(tiny_model, store, tmp_path / "a", corpus=load_sample()[::2])
        again = learn(tiny_model, store, tmp_path / "b", corpus=load_sample()[::2])
    assert first.heldout == again.heldout >= 5 and first.old == again.old
    assert first.trained_on == len(load_sample()[::2]) + 4 - first.heldout
    # without the original corpus there is too little to hold out: a clear refusal
    result = CliRunner().invoke(app, [*args[:-1], str(tmp_path / "m3")])
    assert result.exit_code == 2 and "give --corpus" in result.output


def test_learn_says_when_nothing_reviewed_was_learned(
    tiny_model: Path, few_reviewed: tuple[Path, list[Article]], tmp_path: Path, load_sample
) -> None:
    from tagger.feedback.learn import format_learn_result

    db, reviewed = few_reviewed
    test = reviewed + load_sample()[9:30:2]
    with SQLiteStore(db) as store:
        result = learn(tiny_model, store, tmp_path / "m2", corpus=load_sample()[::2], test=test)
    assert result.learned == 0 and result.reviewed == 4
    assert any("nothing reviewed was learned" in w for w in result.warnings)
    text = format_learn_result(result)
    assert "0 of 4 reviewed" in text
    # trained on the same corpus with the same settings: the same id, and the reason why
    assert result.model_id == result.parent_id
    assert "the old model's id too: same corpus summary and settings" in text
    assert f"from {result.parent_id}" not in text


def test_learn_a_model_with_entity_features(tmp_path: Path, load_sample) -> None:
    from tagger.api import TrainConfig
    from tagger.classify import ModelConfig
    from tagger.entities import analyze_articles
    from tagger.features import FeatureConfig

    config = TrainConfig(
        features=FeatureConfig(char_ngrams=None, entity_weight=0.3),
        tags=ModelConfig(cv_folds=2),
        sections=ModelConfig(cv_folds=2),
        name="with-entities",
    )
    original = load_sample()[:80:2]
    model_path = tmp_path / "ent"
    old = Tagger.train(original, config, entities=analyze_articles(original))
    old.save(model_path)
    old = Tagger.load(model_path)
    assert old.featurizer.uses_entities
    db = tmp_path / "f.db"
    with SQLiteStore(db) as store:
        _review_like_an_editor(store, old, load_sample()[1:40:2])
        result = learn(model_path, store, tmp_path / "m2", corpus=original, holdout=0.3)
    assert result.learned > 0 and result.heldout >= 5
    assert result.new["tags"]["micro_f1"] > 0 and result.old["tags"]["micro_f1"] > 0
    new = Tagger.load(tmp_path / "m2")
    assert new.featurizer.uses_entities
    assert new.predict(load_sample()[41]).entities  # extracts entities itself


def test_learn_into_a_registry_adds_a_version_and_never_promotes(
    tiny_model: Path, reviewed_db: Path, tmp_path: Path, load_sample
) -> None:
    from tagger.cli import app
    from tagger.registry import Registry

    registry = Registry.init(tmp_path / "news")
    Tagger.load(tiny_model).save(registry.path)
    registry.promote("v1")
    corpus = tmp_path / "original.jsonl"
    corpus.write_text("".join(json.dumps(a.to_dict()) + "\n" for a in load_sample()[::2]))
    args = ["learn", "--model", str(registry.path), "--db", str(reviewed_db)]
    result = CliRunner().invoke(app, [*args, "--corpus", str(corpus), "-q"])
    assert result.exit_code == 0, result.output
    assert registry.versions() == ["v1", "v2"] and registry.current() == "v1"
    assert f"tagger models promote {registry.path} v2" in result.stdout
    lineage = registry.manifest("v2")["lineage"]
    assert lineage["parent_version"] == "v1"
    assert lineage["parent_model_id"] == registry.manifest("v1")["model_id"]
    result = CliRunner().invoke(
        app, ["learn", "--model", str(tiny_model), "--db", str(reviewed_db)]
    )
    assert result.exit_code == 2 and "--out" in result.output


def test_export_refuses_to_write_over_its_feedback_database(reviewed_db: Path) -> None:
    """`-o` naming the database (a slip of the shell) replaced every decision with the
    export; it is refused before anything is read."""
    from tagger.cli import app

    before = reviewed_db.read_bytes()
    args = ["feedback", "export", "--db", str(reviewed_db), "-o", str(reviewed_db)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert "--out would overwrite an input" in result.output
    assert reviewed_db.read_bytes() == before
