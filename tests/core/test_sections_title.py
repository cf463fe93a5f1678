"""Sections: a third model on the title's character n-grams, mixed in by out-of-fold log-loss."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from tagger.classify import (
    ModelConfig,
    SectionModel,
    choose_title_weight,
    softmax,
    train_section_model,
)
from tagger.train import TrainConfig
from tests.configs import assert_config_refused

# Section words appear only as parts of longer title words ("soyabeans", "wheatfield"):
# the body features (whole words) see noise; the title's character n-grams see the section.
STEMS = {"grain": ["wheat", "maize", "barley"], "metal": ["zinc", "copper", "nickel"]}


def _data(n: int = 80, seed: int = 0) -> tuple[sp.csr_matrix, list[str], list[str]]:
    rng = np.random.default_rng(seed)
    labels, titles = [], []
    for i in range(n):
        label = ("grain", "metal")[i % 2]
        stem = STEMS[label][rng.integers(3)]
        titles.append(f"{stem}{rng.choice(['field', 'land', 'trade', 'prices'])} news {i}")
        labels.append(label)
    x = sp.csr_matrix(rng.random((n, 10)))  # body features: no signal
    return x, labels, titles


def test_title_weight_is_chosen_by_out_of_fold_log_loss() -> None:
    y = np.array([0, 1, 0, 1])
    weak = np.full((4, 2), 0.5)
    sharp = np.array([[0.9, 0.1], [0.1, 0.9], [0.9, 0.1], [0.1, 0.9]])
    assert choose_title_weight(weak, sharp, y, (0.0, 0.2, 0.5)) == 0.5
    assert choose_title_weight(sharp, weak, y, (0.0, 0.2, 0.5)) == 0.0
    assert choose_title_weight(sharp, sharp, y, (0.0, 0.2, 0.5)) == 0.0  # ties: the smallest


def test_title_model_is_mixed_in_when_titles_carry_the_section() -> None:
    x, labels, titles = _data()
    config = ModelConfig(cv_folds=4, nb_weighted=True, title_chars=(2, 5))
    model = train_section_model(x, labels, ["grain", "metal"], config, titles=titles)
    assert model.title is not None and model.title.weight > 0
    assert model.cv_metrics["title_weight"] == model.title.weight
    probs = model.predict_proba(x, titles)
    assert (probs.argmax(axis=1) == [("grain", "metal").index(s) for s in labels]).mean() > 0.9
    without = train_section_model(x, labels, ["grain", "metal"], ModelConfig(cv_folds=4))
    assert without.title is None
    assert (without.predict_proba(x).argmax(axis=1) == probs.argmax(axis=1)).mean() < 0.9
    first = softmax(model.decision(x) / model.temperature)
    assert not np.allclose(first, probs)
    with pytest.raises(ValueError, match="titles"):
        model.predict_proba(x)


def test_title_model_left_out_when_it_does_not_help() -> None:
    _x, labels, _titles = _data()
    body = sp.csr_matrix(np.array([[1.0, 0.0] if s == "grain" else [0.0, 1.0] for s in labels]))
    noise = [f"story {i}" for i in range(len(labels))]
    config = ModelConfig(cv_folds=4, title_chars=(2, 5))
    model = train_section_model(body, labels, ["grain", "metal"], config, titles=noise)
    assert model.title is None
    assert model.predict_proba(body).shape == (len(labels), 2)


def test_title_model_state_round_trip() -> None:
    x, labels, titles = _data()
    config = ModelConfig(cv_folds=4, title_chars=(2, 5))
    model = train_section_model(x, labels, ["grain", "metal"], config, titles=titles)
    meta, arrays = model.to_state()
    again = SectionModel.from_state(meta, arrays, x.shape[1])
    assert again.predict_proba(x, titles) == pytest.approx(model.predict_proba(x, titles))
    bad = dict(meta, title=dict(meta["title"], weight=2.0))
    with pytest.raises(ValueError, match="weight"):
        SectionModel.from_state(bad, arrays, x.shape[1])


def test_sections_use_title_characters_by_default_tags_do_not() -> None:
    config = TrainConfig()
    assert config.sections.title_chars == (2, 5)
    assert config.tags.title_chars is None
    again = TrainConfig.from_dict(config.to_dict())
    assert again.sections.title_chars == (2, 5)
    assert TrainConfig.from_dict({"sections": {"title_chars": None}}).sections.title_chars is None


def test_title_weights_in_a_config_file_are_weights(tmp_path) -> None:  # type: ignore[no-untyped-def]
    good = tmp_path / "c.toml"
    good.write_text("[sections]\ntitle_weights = [0, 0.25, 1]\n", encoding="utf-8")
    assert TrainConfig.from_file(good).sections.title_weights == (0.0, 0.25, 1.0)
    for text, key in (
        ("[sections]\ntitle_weights = [0, 1.5]\n", "sections.title_weights.1"),
        ("[sections]\ntitle_weights = [-0.1]\n", "sections.title_weights.0"),
        ('[sections]\ntitle_weights = "x"\n', "sections.title_weights"),
    ):
        assert_config_refused(tmp_path, text, key)


def test_title_members_switch_off_in_toml_and_json(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """TOML has no null: an empty list turns a title member off, as null does in JSON."""

    toml = tmp_path / "off.toml"
    toml.write_text("[sections]\ntitle_chars = []\ntitle_cross_chars = []\n", encoding="utf-8")
    json_file = tmp_path / "off.json"
    json_file.write_text(
        '{"sections": {"title_chars": null, "title_cross_chars": null}}', encoding="utf-8"
    )
    for path in (toml, json_file):
        sections = TrainConfig.from_file(path).sections
        assert sections.title_chars is None and sections.title_cross_chars is None
    assert TrainConfig().sections.title_cross_chars == (2, 5)
    assert_config_refused(
        tmp_path, "[sections]\ntitle_cross_chars = [3]\n", "sections.title_cross_chars"
    )
