"""The Python API: training behaviour, determinism, the prediction contract, evaluation."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tagger.api import Tagger, TrainConfig
from tagger.classify import TagModel, Threshold
from tagger.corpus.article import Article
from tagger.errors import ConfigError, InputError
from tagger.features import FeatureConfig, Featurizer
from tagger.suggestions import Suggestions

from .conftest import fast_config


def articles_of(records: list[dict[str, Any]]) -> list[Article]:
    return [Article.from_dict(r) for r in records]


def model_selection(tag_model: TagModel, probs: np.ndarray, articles: list[Article]) -> np.ndarray:
    """The tags a model selects: over their thresholds, plus `select`'s and the name rules'."""
    return tag_model.choose(probs, [a.title for a in articles], [a.body for a in articles])


def _words(text: str) -> set[str]:
    text = unicodedata.normalize("NFKD", text.lower())
    return set(re.findall(r"\w\w+", text))


# -- training ----------------------------------------------------------------------------------


def small_slice(records: list[dict[str, Any]], per_section: int = 8) -> list[dict[str, Any]]:
    counts: dict[str, int] = {}
    kept = []
    for record in records:
        counts[record["section"]] = counts.get(record["section"], 0) + 1
        if counts[record["section"]] <= per_section:
            kept.append(record)
    return kept


def test_training_is_deterministic_for_a_seed(sample_split: Any) -> None:
    train, test = sample_split
    train = small_slice(train)
    first = Tagger.train(articles_of(train), fast_config(seed=7))
    second = Tagger.train(articles_of(train), fast_config(seed=7))
    held_out = articles_of(test)
    a, b = first.predict(held_out), second.predict(held_out)
    assert [s.to_dict() for s in a] == [s.to_dict() for s in b]
    assert first.tag_model is not None and second.tag_model is not None
    assert first.tag_model.threshold_values.tolist() == second.tag_model.threshold_values.tolist()
    x = first.featurizer.transform(held_out)
    assert np.array_equal(first.tag_model.predict_proba(x), second.tag_model.predict_proba(x))
    assert first.manifest["metrics"] == second.manifest["metrics"]


def test_trained_model_has_both_models_and_a_manifest(fast_model: Tagger) -> None:
    assert fast_model.section_model is not None and fast_model.tag_model is not None
    manifest = fast_model.manifest
    assert manifest["corpus"]["articles"] == 90
    assert len(manifest["corpus"]["fingerprint"]) == 64
    assert len(manifest["labels"]["sections"]) == 6
    assert set(manifest["thresholds"]) == set(manifest["labels"]["tags"])
    assert all(0.0 < v <= 1.0 for v in manifest["thresholds"].values())
    for key in ("accuracy", "macro_f1"):
        assert 0.0 <= manifest["metrics"]["sections"][key] <= 1.0
    for key in ("micro_f1", "macro_f1", "p_at_1"):
        assert 0.0 <= manifest["metrics"]["tags"][key] <= 1.0


def test_label_variants_are_merged_and_reported() -> None:
    articles = [
        Article(
            id=str(i),
            title=f"Story {i}",
            body=f"{topic} news story number {i} today",
            section=section,
            tags=[tag],
        )
        for i, (topic, section, tag) in enumerate(
            [
                ("budget", "Politics", "economy"),
                ("budget", "Politics", "economy"),
                ("budget", "politics", "Economy"),
                ("storm", "Weather", "rain"),
                ("storm", "Weather", "rain"),
                ("storm", " Weather", "rain"),
            ]
            * 2
        )
    ]
    model = Tagger.train(articles, fast_config())
    assert model.section_model is not None and model.tag_model is not None
    assert model.section_model.labels == ["Politics", "Weather"]
    assert model.tag_model.labels == ["economy", "rain"]
    assert any("merged label variants" in w and "'politics'" in w for w in model.warnings)
    assert any("'Economy'" in w for w in model.warnings)
    assert model.manifest["warnings"] == model.warnings


def test_labels_seen_once_are_trained_with_a_warning() -> None:
    articles = [
        Article(id=str(i), body=f"{word} report number {i}", section=section, tags=tags)
        for i, (word, section, tags) in enumerate(
            [("farm", "Business", ["crops"])] * 4
            + [("court", "Politics", ["law"])] * 4
            + [("church", "Faith", ["law", "unique-tag"])]
        )
    ]
    model = Tagger.train(articles, fast_config())
    warnings = "\n".join(model.warnings)
    assert "section(s) seen once" in warnings and "Faith" in warnings
    assert "1 tag(s) seen once" in warnings and "unique-tag" in warnings
    assert model.section_model is not None and "Faith" in model.section_model.labels
    assert model.tag_model is not None and "unique-tag" in model.tag_model.labels


def test_one_section_only_trains_no_section_model() -> None:
    articles = [
        Article(id=str(i), body=f"text {i} words", section="Only", tags=["t"]) for i in range(4)
    ]
    articles += [Article(id="x", body="other words", section="Only", tags=["u"])]
    model = Tagger.train(articles, fast_config())
    assert model.section_model is None
    assert any("only one section" in w for w in model.warnings)


def test_empty_unlabelled_or_tiny_corpus_is_refused() -> None:
    with pytest.raises(InputError, match="empty"):
        Tagger.train([])
    with pytest.raises(InputError, match="no sections and no tags"):
        Tagger.train([Article(id="1", body="text"), Article(id="2", body="more text")])
    tiny = [
        Article(id="1", body="alpha words", section="A", tags=["x"]),
        Article(id="2", body="beta words", section="B", tags=["y"]),
    ]
    with pytest.raises(InputError, match=r"cannot learn features from 2 article\(s\)"):
        Tagger.train(tiny)


def test_precision_target_is_used_for_tag_thresholds(sample_split: Any) -> None:
    train, _ = sample_split
    config = fast_config()
    config.tags.min_precision = 0.9
    model = Tagger.train(articles_of(small_slice(train, 10)), config)
    assert model.tag_model is not None
    methods = {t.method for t in model.tag_model.thresholds}
    assert "precision>=0.9" in methods
    assert methods <= {"precision>=0.9", "pooled", "rare-pooled"}
    for t in model.tag_model.thresholds:
        if t.method == "precision>=0.9":
            assert t.precision >= 0.9
        if t.method == "rare-pooled":  # the rare tags' pool is held to the target too
            assert t.precision >= 0.9 or t.value >= 0.999
    assert model.manifest["config"]["tags"]["min_precision"] == 0.9


def test_train_config_from_dict_and_file(tmp_path: Path) -> None:
    config = TrainConfig.from_dict(
        {"seed": 3, "features": {"word_ngrams": [1, 3]}, "tags": {"c": 0.5}}
    )
    assert config.seed == 3
    assert config.features.word_ngrams == (1, 3)
    assert config.tags.c == 0.5
    assert config.sections.cv_folds == 5
    assert TrainConfig.from_dict(config.to_dict()).to_dict() == config.to_dict()
    with pytest.raises(ConfigError, match="unknown key 'colour'"):
        TrainConfig.from_dict({"colour": "blue"})
    # checked like a --config file: a typo inside a table, a wrong type
    with pytest.raises(ConfigError, match=r"unknown key 'tags\.cvfolds'"):
        TrainConfig.from_dict({"tags": {"cvfolds": 3}})
    with pytest.raises(ConfigError, match=r"tags\.c"):
        TrainConfig.from_dict({"tags": {"c": "x"}})
    # JSON's null for a checked setting is its default off (it ended in "internal error")
    assert TrainConfig.from_dict({"tags": {"min_precision": None}}).tags.min_precision is None
    # an older bundle's manifest may hold a setting removed since: read, not refused
    assert TrainConfig.from_dict({"tags": {"removed_knob": 1}}, checked=False).tags.c == 1.0
    good = tmp_path / "train.toml"
    good.write_text('seed = 5\nname = "m"\n[tags]\nmin_precision = 0.8\n')
    loaded = TrainConfig.from_file(good)
    assert (loaded.seed, loaded.name, loaded.tags.min_precision) == (5, "m", 0.8)
    bad = tmp_path / "bad.toml"
    bad.write_text("seed = = 5\n")
    with pytest.raises(ConfigError, match=re.escape(str(bad))):
        TrainConfig.from_file(bad)
    with pytest.raises(ConfigError, match="cannot read"):
        TrainConfig.from_file(tmp_path / "absent.toml")


# -- prediction contract --------------------------------------------------------------------


def test_predict_one_or_many(fast_model: Tagger, sample_split: Any) -> None:
    _, test = sample_split
    articles = articles_of(test)
    one = fast_model.predict(articles[0])
    assert isinstance(one, Suggestions) and one.article_id == articles[0].id
    many = fast_model.predict(articles)
    assert [s.article_id for s in many] == [a.id for a in articles]
    assert fast_model.predict([]) == []


def test_selected_tags_are_exactly_those_over_their_thresholds(
    fast_model: Tagger, sample_split: Any
) -> None:
    _, test = sample_split
    articles = articles_of(test)
    tag_model = fast_model.tag_model
    assert tag_model is not None
    probs = tag_model.predict_proba(fast_model.featurizer.transform(articles))
    over = probs >= tag_model.threshold_values
    chosen = model_selection(tag_model, probs, articles)
    for top_k in (1, 3, 10):
        predicted = fast_model.predict(articles, top_k=top_k)
        for s, row, passed, selected in zip(predicted, probs, over, chosen, strict=True):
            expected = {tag_model.labels[j] for j in np.flatnonzero(selected)}
            assert {t.label for t in s.tags} == expected
            assert {tag_model.labels[j] for j in np.flatnonzero(passed)} <= expected
            scores = [t.score for t in s.tags]
            assert scores == sorted(scores, reverse=True)
            for t in s.tags:
                assert t.selected and t.threshold is not None
                assert t.score == pytest.approx(row[tag_model.labels.index(t.label)])
            assert len(s.tag_candidates) == min(top_k, len(tag_model.labels))
            assert len(s.section_candidates) == min(top_k, 6)


def test_a_selected_tag_after_an_unselected_one_is_not_lost() -> None:
    """Thresholds differ per tag, so a lower score can pass where a higher one fails."""
    articles = [Article(id="1", body="alpha beta gamma"), Article(id="2", body="beta gamma delta")]
    featurizer = Featurizer(FeatureConfig(char_ngrams=None, word_min_df=1, word_max_df=1.0))
    x = featurizer.fit_transform(articles)

    def threshold(value: float) -> Threshold:
        return Threshold(value, 1.0, 1.0, 1.0, 5, "best-f1")

    # Zero weights: each tag's probability is sigmoid(intercept) = .88, .50, .38.
    tags = TagModel(
        labels=["high", "middle", "low"],
        coef=np.zeros((3, x.shape[1]), dtype=np.float32),
        intercept=np.array([2.0, 0.0, -0.5]),
        platt_a=np.full(3, -1.0),
        platt_b=np.zeros(3),
        thresholds=[threshold(0.5), threshold(0.6), threshold(0.3)],
    )
    model = Tagger(featurizer, None, tags)
    for top_k in (1, 2, 3):
        s = model.predict(articles[0], top_k=top_k)
        assert [t.label for t in s.tags] == ["high", "low"], top_k
        assert [t.label for t in s.tag_candidates] == ["high", "middle", "low"][:top_k]
        assert s.section is None


def test_section_probabilities_and_evidence(fast_model: Tagger, sample_split: Any) -> None:
    _, test = sample_split
    articles = articles_of(test)
    some_evidence = False
    for article, s in zip(articles, fast_model.predict(articles, top_k=6), strict=True):
        assert s.section is not None and s.section.selected
        total = sum(c.score for c in s.section_candidates)
        assert total == pytest.approx(1.0, abs=1e-6)
        assert s.section is s.section_candidates[0]
        assert s.section.score == max(c.score for c in s.section_candidates)
        words = _words(article.text)
        for suggestion in [s.section, *s.tags]:
            for evidence in suggestion.evidence:
                some_evidence = True
                if evidence.kind == "rule":  # chosen by a rule, not its threshold
                    assert suggestion.source in ("name", "best") and 0 < evidence.weight <= 1
                    assert suggestion.score < (suggestion.threshold or 0)
                    continue
                assert evidence.kind == "term" and evidence.weight > 0
                # Every word of an evidence n-gram is in the article.
                assert set(evidence.value.split()) <= words, evidence.value
    assert some_evidence


def test_explain_false_gives_no_evidence(fast_model: Tagger, sample_split: Any) -> None:
    _, test = sample_split
    s = fast_model.predict(articles_of(test)[0], explain=False)
    assert all(not t.evidence for t in [s.section, *s.tags, *s.tag_candidates] if t)


def test_model_predicts_held_out_sections_better_than_chance(
    fast_model: Tagger, sample_split: Any
) -> None:
    _, test = sample_split
    articles = articles_of(test)
    right = sum(
        s.section is not None and s.section.label == a.section
        for a, s in zip(articles, fast_model.predict(articles), strict=True)
    )
    assert right / len(articles) > 0.5  # chance is 1/6


# -- evaluation --------------------------------------------------------------------------------


def test_evaluate_agrees_with_predict(fast_model: Tagger, sample_split: Any) -> None:
    _, test = sample_split
    articles = articles_of(test)
    report = fast_model.evaluate(articles)
    assert report["articles"] == len(articles)
    predicted = fast_model.predict(articles)
    accuracy = np.mean(
        [s.section.label == a.section for a, s in zip(articles, predicted, strict=True)]
    )
    assert report["sections"]["accuracy"] == pytest.approx(accuracy)
    tags = report["tags"]
    for key in (
        "micro_precision",
        "micro_recall",
        "micro_f1",
        "macro_precision",
        "macro_recall",
        "macro_f1",
        "p_at_1",
        "p_at_3",
        "f1_at_5",
    ):
        assert 0.0 <= tags[key] <= 1.0, key
    tp = sum(
        len({t.label for t in s.tags} & set(a.tags))
        for a, s in zip(articles, predicted, strict=True)
    )
    n_selected = sum(len(s.tags) for a, s in zip(articles, predicted, strict=True) if a.tags)
    assert tags["micro_precision"] == pytest.approx(tp / n_selected if n_selected else 0.0)


def test_evaluate_reports_labels_the_model_does_not_know(fast_model: Tagger) -> None:
    articles = [
        Article(id="1", body="A new body about nothing.", section="Sport", tags=["cricket"])
    ]
    report = fast_model.evaluate(articles)
    assert report["sections"]["unknown_labels"] == ["Sport"]
    assert report["tags"]["unknown_labels"] == {"cricket": 1}
    with pytest.raises(InputError, match="empty"):
        fast_model.evaluate([])


def test_evaluate_maps_case_and_space_variants_onto_the_model_labels(
    fast_model: Tagger, sample_split: Any
) -> None:
    _, test = sample_split
    articles = articles_of(test)
    variants = articles_of(test)
    for article in variants:
        article.section = f" {article.section.upper()} "  # type: ignore[union-attr]
        article.tags = [t.lower().replace(" ", "  ") for t in article.tags]
    expected = fast_model.evaluate(articles)
    report = fast_model.evaluate(variants)
    assert "unknown_labels" not in report["sections"]
    assert report["sections"]["accuracy"] == expected["sections"]["accuracy"]
    assert report["tags"]["micro_f1"] == expected["tags"]["micro_f1"]
    unknown = report["tags"].get("unknown_labels", {})
    assert sum(unknown.values()) == sum(expected["tags"].get("unknown_labels", {}).values())


def test_sections_only_or_tags_only_corpus(sample_split: Any) -> None:
    train, test = sample_split
    records = small_slice(train, 4)
    sections_only = [Article.from_dict({**r, "tags": []}) for r in records]
    tags_only = [Article.from_dict({**r, "section": None}) for r in records]
    article = Article.from_dict(test[0])

    model = Tagger.train(sections_only, fast_config())
    assert model.section_model is not None and model.tag_model is None
    s = model.predict(article)
    assert s.section is not None and s.tags == [] and s.tag_candidates == []
    assert model.manifest["labels"]["tags"] == [] and model.manifest["metrics"]["tags"] is None

    model = Tagger.train(tags_only, fast_config())
    assert model.section_model is None and model.tag_model is not None
    s = model.predict(article)
    assert s.section is None and s.to_dict()["section"] is None
    assert s.tag_candidates
