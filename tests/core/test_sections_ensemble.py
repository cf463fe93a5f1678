"""Sections: a second linear model on NB-weighted features, averaged with the first."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from tagger.classify import (
    ModelConfig,
    SectionModel,
    _fit_nb_weighted,
    softmax,
    train_section_model,
)
from tagger.corpus.article import Article


def _data(seed: int = 0) -> tuple[sp.csr_matrix, list[str]]:
    """Three sections, each with its own words over shared noise."""
    rng = np.random.default_rng(seed)
    rows, labels = [], []
    for i in range(90):
        label = i % 3
        row = rng.random(12) * 0.3
        row[label * 3 : label * 3 + 3] += rng.random(3) + 0.5
        rows.append(row / np.linalg.norm(row))
        labels.append("abc"[label])
    return sp.csr_matrix(np.array(rows)), labels


def test_nb_weighted_model_learns_each_sections_own_words() -> None:
    x, labels = _data()
    y = np.array(["abc".index(s) for s in labels])
    coef, intercept = _fit_nb_weighted(x, y, 3, ModelConfig(), 0)
    assert coef.shape == (3, 12)
    predicted = np.asarray(x @ coef.T + intercept).argmax(axis=1)
    assert (predicted == y).mean() == 1.0
    for j in range(3):  # a section's own words weigh most for it
        assert set(np.argsort(-coef[j])[:3]) == {3 * j, 3 * j + 1, 3 * j + 2}


def test_section_probabilities_average_both_models() -> None:
    x, labels = _data()
    names = ["a", "b", "c"]
    model = train_section_model(x, labels, names, ModelConfig(cv_folds=3, nb_weighted=True))
    assert model.nb_coef is not None and model.nb_intercept is not None
    first = softmax(model.decision(x) / model.temperature)
    second = softmax((np.asarray(x @ model.nb_coef.T) + model.nb_intercept) / model.nb_temperature)
    probs = model.predict_proba(x)
    assert probs == pytest.approx((first + second) / 2)
    assert probs.sum(axis=1) == pytest.approx(np.ones(x.shape[0]))
    assert model.cv_metrics["accuracy"] > 0.9
    plain = train_section_model(x, labels, names, ModelConfig(cv_folds=3))
    assert plain.nb_coef is None
    assert plain.predict_proba(x) == pytest.approx(softmax(plain.decision(x) / plain.temperature))


def test_state_round_trip_and_checks() -> None:
    x, labels = _data()
    model = train_section_model(x, labels, ["a", "b", "c"], ModelConfig(nb_weighted=True))
    meta, arrays = model.to_state()
    again = SectionModel.from_state(meta, arrays, x.shape[1])
    assert again.predict_proba(x) == pytest.approx(model.predict_proba(x))
    # a bundle from before the second model loads as a single model
    old_meta = {k: v for k, v in meta.items() if k != "nb_temperature"}
    old = SectionModel.from_state(old_meta, {"coef": model.coef, "intercept": model.intercept}, 12)
    assert old.nb_coef is None
    with pytest.raises(ValueError, match="nb_coef"):
        SectionModel.from_state(meta, {**arrays, "nb_coef": arrays["nb_coef"][:, :5]}, 12)
    with pytest.raises(ValueError, match="nb_temperature"):
        SectionModel.from_state({**meta, "nb_temperature": -1}, arrays, 12)


def test_trained_bundle_uses_the_second_model_by_default(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tagger.api import Tagger, TrainConfig
    from tagger.features import FeatureConfig

    words = {"sport": "match goal team league", "politics": "vote senate law minister"}
    articles = [
        Article(
            id=f"{s}{i}", title=f"{s} story {i}", body=f"{w} {w.split()[i % 4]} day {i}", section=s
        )
        for s, w in words.items()
        for i in range(12)
    ]
    config = TrainConfig(features=FeatureConfig(char_ngrams=None, word_min_df=1))
    assert config.sections.nb_weighted and config.tags.nb_weighted
    model = Tagger.train(articles, config)
    assert model.section_model.nb_coef is not None
    model.save(tmp_path / "m")
    loaded = Tagger.load(tmp_path / "m")
    test = Article(id="t", title="A goal", body="The team won the league match.")
    assert loaded.predict(test).section.label == "sport"
    assert loaded.predict(test).section.score == pytest.approx(model.predict(test).section.score)
