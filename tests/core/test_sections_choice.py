"""Sections: C and the word models chosen by out-of-fold accuracy (`c_grid`), and a title
model on character n-grams across word boundaries (`title_cross_chars`)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer

from tagger.classify import ModelConfig, SectionModel, train_section_model
from tagger.features import TfidfBlock
from tagger.train import TrainConfig
from tests.configs import assert_config_refused

SECTIONS = ["results", "deals"]


def _cross_word_titles(n: int = 80, seed: int = 0) -> tuple[sp.csr_matrix, list[str], list[str]]:
    """The section is in the ORDER of two words ("qtr net" vs "net qtr"): every word and
    every in-word character n-gram is the same in both sections, only grams across the
    space between the two words tell them apart."""
    rng = np.random.default_rng(seed)
    labels, titles = [], []
    for i in range(n):
        label = SECTIONS[i % 2]
        pair = "qtr net" if label == "results" else "net qtr"
        name = rng.choice(["acme", "zenith", "borg", "kappa", "orion"])
        titles.append(f"{name} {pair} {rng.choice(['up', 'down', 'flat'])}")
        labels.append(label)
    x = sp.csr_matrix(rng.random((n, 10)))  # body features: no signal
    return x, labels, titles


def test_cross_word_title_model_sees_word_order_the_in_word_one_cannot() -> None:
    x, labels, titles = _cross_word_titles()
    truth = np.array([SECTIONS.index(s) for s in labels])
    inside = ModelConfig(cv_folds=4, title_chars=(2, 5))
    without = train_section_model(x, labels, SECTIONS, inside, titles=titles)
    assert without.cross is None
    assert without.cv_metrics["accuracy"] < 0.75
    config = ModelConfig(cv_folds=4, title_chars=(2, 5), title_cross_chars=(2, 5))
    model = train_section_model(x, labels, SECTIONS, config, titles=titles)
    assert model.cross is not None and model.cross.weight > 0
    assert model.cross.block.analyzer == "char"
    assert model.cv_metrics["title_cross_weight"] == model.cross.weight
    assert model.cv_metrics["accuracy"] > 0.95
    x_new, labels_new, titles_new = _cross_word_titles(40, seed=1)
    held = model.predict_proba(x_new, titles_new).argmax(axis=1)
    assert (held == [SECTIONS.index(s) for s in labels_new]).mean() > 0.95
    assert (model.predict_proba(x, titles).argmax(axis=1) == truth).mean() > 0.95
    with pytest.raises(ValueError, match="titles"):
        model.predict_proba(x)


def test_cross_word_title_model_state_round_trip() -> None:
    x, labels, titles = _cross_word_titles()
    config = ModelConfig(cv_folds=4, title_cross_chars=(2, 5))
    model = train_section_model(x, labels, SECTIONS, config, titles=titles)
    assert model.title is None and model.cross is not None
    meta, arrays = model.to_state()
    again = SectionModel.from_state(meta, arrays, x.shape[1])
    assert again.cross is not None and again.cross.block.analyzer == "char"
    assert again.predict_proba(x, titles) == pytest.approx(model.predict_proba(x, titles))
    bad = dict(meta, cross=dict(meta["cross"], temperature=-1.0))
    with pytest.raises(ValueError, match=r"cross\.temperature"):
        SectionModel.from_state(bad, arrays, x.shape[1])


def test_char_block_reproduces_scikit_learn() -> None:
    docs = ["BANK OF NEW YORK <BK> TO HAVE  GAIN", "Café  déjà\tvu", "a", "", "QTR NET qtr net"]
    for grams in ((2, 5), (1, 3)):
        vectorizer = TfidfVectorizer(
            analyzer="char", ngram_range=grams, sublinear_tf=True, strip_accents="unicode"
        )
        expected = vectorizer.fit_transform(docs).toarray()
        block = TfidfBlock.from_vectorizer("char", vectorizer)
        assert block.transform(docs).toarray() == pytest.approx(expected, abs=1e-6)


def _grid_data(n: int = 90, seed: int = 0) -> tuple[sp.csr_matrix, list[str]]:
    """Three sections, each marked by a weak feature among noise."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    dense = rng.random((n, 30)) * 0.5
    dense[np.arange(n), y] += 0.35
    return sp.csr_matrix(dense), [f"s{i}" for i in y]


def test_c_grid_chooses_c_and_models_by_out_of_fold_accuracy() -> None:
    x, labels = _grid_data()
    names = ["s0", "s1", "s2"]
    fixed = train_section_model(x, labels, names, ModelConfig(cv_folds=3, nb_weighted=True))
    config = ModelConfig(cv_folds=3, nb_weighted=True, c_grid=(0.01, 1.0, 100.0))
    chosen = train_section_model(x, labels, names, config)
    assert chosen.cv_metrics["c"] in (0.01, 1.0, 100.0)
    assert chosen.cv_metrics["word_models"] in (1, 2)
    assert (chosen.nb_coef is not None) == (chosen.cv_metrics["word_models"] == 2)
    # (C 1, both models) is one of the options: the chosen one is at least as accurate
    assert chosen.cv_metrics["accuracy"] >= fixed.cv_metrics["accuracy"]
    assert "c" not in fixed.cv_metrics
    # each option is scored: a grid of one C with the NB-weighted model off is the plain SVM
    one = train_section_model(x, labels, names, ModelConfig(cv_folds=3, c_grid=(1.0,)))
    plain = train_section_model(x, labels, names, ModelConfig(cv_folds=3))
    assert one.nb_coef is None
    assert np.allclose(one.coef, plain.coef)
    assert one.temperature == plain.temperature


def test_c_grid_picks_the_c_that_separates_the_sections() -> None:
    """A tiny C cannot fit a weak signal; the grid must not choose it."""
    x, labels = _grid_data(seed=2)
    config = ModelConfig(cv_folds=3, c_grid=(1e-4, 1.0))
    model = train_section_model(x, labels, ["s0", "s1", "s2"], config)
    assert model.cv_metrics["c"] == 1.0
    tiny = train_section_model(x, labels, ["s0", "s1", "s2"], ModelConfig(cv_folds=3, c=1e-4))
    assert model.cv_metrics["accuracy"] > tiny.cv_metrics["accuracy"]


def test_section_defaults_and_config_checks(tmp_path) -> None:  # type: ignore[no-untyped-def]
    config = TrainConfig()
    assert config.sections.c_grid == (0.3, 1.0, 3.0, 10.0)
    assert config.sections.title_cross_chars == (2, 5)
    assert config.tags.c_grid == () and config.tags.title_cross_chars is None
    again = TrainConfig.from_dict(config.to_dict())
    assert again.sections.c_grid == (0.3, 1.0, 3.0, 10.0)
    assert again.sections.title_cross_chars == (2, 5)
    off = TrainConfig.from_dict({"sections": {"c_grid": [], "title_cross_chars": None}})
    assert off.sections.c_grid == () and off.sections.title_cross_chars is None
    good = tmp_path / "c.toml"
    good.write_text("[sections]\nc_grid = [1, 4]\ntitle_cross_chars = [3, 4]\n", encoding="utf-8")
    loaded = TrainConfig.from_file(good)
    assert loaded.sections.c_grid == (1.0, 4.0)
    assert loaded.sections.title_cross_chars == (3, 4)
    for text, key in (
        ("[sections]\nc_grid = [1, 0]\n", "sections.c_grid.1"),
        ('[sections]\nc_grid = "x"\n', "sections.c_grid"),
        ("[sections]\ntitle_cross_chars = [5, 2]\n", "title_cross_chars"),
        ('[sections]\ntitle_cross_chars = "x"\n', "sections.title_cross_chars"),
    ):
        assert_config_refused(tmp_path, text, key)
