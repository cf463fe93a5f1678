"""The tag model's NB-weighted member without the character block (`ModelConfig.nb_chars`
False): the plain SVM reads every block, the member the word columns only, as the
word-only defaults' member did."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp

from tagger.api import Tagger, TrainConfig
from tagger.classify import ModelConfig, member_view, nb_scaled, train_tag_model
from tagger.evaluate import binarize
from tagger.features import FeatureConfig, Featurizer
from tests.configs import assert_config_refused

CHARS = FeatureConfig(char_ngrams=(4, 4), char_max_df=0.3)
PLAIN = ModelConfig(n_jobs=1, name_rule=False, stack_top=0, prune_tolerance=0.0, cv_folds=3)
# Every tag takes the mix, so that the final weights show what the member read.
MIXED = dataclasses.replace(PLAIN, nb_weighted=True, nb_min_gain=None)


@pytest.fixture(scope="module")
def stacked(load_sample: Any) -> tuple[Featurizer, sp.csr_matrix, np.ndarray, list[str]]:
    articles = load_sample()[:150]
    featurizer = Featurizer(CHARS)
    x = featurizer.fit_transform(articles).astype(np.float64)
    labels = sorted({t for a in articles for t in a.tags})
    counts = np.asarray(binarize([a.tags for a in articles], labels).sum(axis=0)).ravel()
    labels = [t for t, c in zip(labels, counts, strict=True) if c >= 8][:4]
    assert len(labels) >= 2
    y = binarize([a.tags for a in articles], labels)
    return featurizer, x, y, labels


def test_the_view_is_the_word_rows(stacked: tuple, load_sample: Any) -> None:
    featurizer, x, _y, _labels = stacked
    skip = featurizer.char_columns()
    view = member_view(x, skip)
    words = Featurizer(dataclasses.replace(CHARS, char_ngrams=None))
    rows = words.fit_transform(load_sample()[:150])
    # Every article has characters: its word part is 1/sqrt(2) long in the stack.
    assert view.scale == pytest.approx(np.sqrt(2.0), rel=1e-5)
    assert view.x.shape == rows.shape
    assert np.allclose(view.x.toarray() * view.scale, rows.toarray(), atol=1e-6)
    assert np.allclose(view.totals, np.asarray(view.x.sum(axis=0)).ravel())
    # Weights of the view go back to the full columns, zero on the skipped ones.
    w = np.arange(1.0, view.x.shape[1] + 1)
    ratio = np.full(view.x.shape[1], 0.5)
    full = view.weights(ratio, w, x.shape[1])
    start, stop = skip
    assert not full[start:stop].any()
    assert np.allclose(x @ full, (view.x @ (ratio * view.scale * w)))
    every = member_view(x, None)
    assert every.x is x and every.scale == 1.0 and every.columns is None


def test_an_empty_row_and_a_row_of_characters_only_keep_their_place() -> None:
    x = sp.csr_matrix(np.array([[0.6, 0.0, 0.8, 0.0], [0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]]))
    view = member_view(x, (2, 3))
    assert view.x.toarray().tolist() == [[0.6, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]
    assert view.scale == pytest.approx(1 / 0.6)  # the mean over the rows that keep something


def test_the_member_leaves_the_character_columns_to_the_plain_svm(stacked: tuple) -> None:
    featurizer, x, y, labels = stacked
    skip = featurizer.char_columns()
    start, stop = skip
    plain = train_tag_model(x, y, labels, PLAIN, char_columns=skip)
    words = train_tag_model(x, y, labels, MIXED, char_columns=skip)
    both = dataclasses.replace(MIXED, nb_chars=True)
    every = train_tag_model(x, y, labels, both, char_columns=skip)
    assert words.cv_metrics["nb_member_tags"] == len(labels)
    half = 0.5 * plain.coef[:, start:stop].toarray()
    # Mixed: (plain + member) / 2, the member zero on the character columns.
    assert np.allclose(words.coef[:, start:stop].toarray(), half, rtol=2e-3, atol=1e-6)
    assert not np.allclose(every.coef[:, start:stop].toarray(), half, rtol=2e-3, atol=1e-6)
    assert not np.allclose(words.coef[:, :start].toarray(), 0.5 * plain.coef[:, :start].toarray())
    # Without the column range (a matrix that is not a featurizer's), every column is read.
    unknown = train_tag_model(x, y, labels, MIXED)
    assert np.array_equal(unknown.coef.toarray(), every.coef.toarray())


def test_nb_scaled_without_a_bias_column_is_the_masked_product() -> None:
    rng = np.random.default_rng(0)
    x = sp.csr_matrix(rng.random((30, 8)) * (rng.random((30, 8)) < 0.4))
    ratio = rng.normal(size=8)
    assert np.array_equal(nb_scaled(x, ratio).toarray(), x.toarray() * ratio)
    assert np.array_equal(x.toarray(), sp.csr_matrix(x).toarray())  # x itself unchanged


def test_nb_chars_is_a_validated_tags_setting(tmp_path: Path) -> None:
    assert ModelConfig().nb_chars is False and TrainConfig().tags.nb_chars is False
    # The tag model's looser liblinear tolerance comes with it (TAG_DEFAULTS).
    assert TrainConfig().tags.fit_tolerance == 0.3 and ModelConfig().fit_tolerance == 0.1
    path = tmp_path / "on.toml"
    path.write_text("[tags]\nnb_chars = true\n", encoding="utf-8")
    assert TrainConfig.from_file(path).tags.nb_chars is True
    assert_config_refused(tmp_path, '[tags]\nnb_chars = "x"\n', "tags.nb_chars")


def test_the_defaults_train_the_block_and_a_tiny_corpus_goes_without_it(load_sample: Any) -> None:
    assert FeatureConfig().char_ngrams == (4, 4) and FeatureConfig().char_max_df == 0.3
    articles = load_sample()
    # Nine articles: 30% of them is fewer than char_min_df's 3.
    featurizer = Featurizer(FeatureConfig(word_min_df=1))
    featurizer.fit_transform(articles[:9])
    assert featurizer.char is None and featurizer.config.char_ngrams is None
    meta, arrays = featurizer.to_state()  # the configuration says what was fitted
    assert Featurizer.from_state(meta, arrays).char is None
    model = Tagger.train(articles[:9], TrainConfig(tags=ModelConfig(cv_folds=2)))
    assert model.featurizer.char is None


def test_old_settings_are_kept_when_a_model_is_retrained() -> None:
    from tagger.train import settings_as_trained

    old = {"features": {"char_ngrams": [3, 5]}, "tags": {"c": 1.0}, "seed": 3}
    config = TrainConfig.from_dict(settings_as_trained(old))
    assert config.features.char_max_df == 1.0 and config.tags.nb_chars is True
    assert config.tags.rare_calibration == 0  # the rare tags' pool came later too
    assert config.seed == 3
    new = TrainConfig().to_dict()
    assert TrainConfig.from_dict(settings_as_trained(new)).to_dict() == new
