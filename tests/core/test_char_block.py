"""The character n-gram block: fitted for the tag model within its size limit, never read
by the section model, saved and checked like every other part of a bundle."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tagger.api import Tagger, TrainConfig
from tagger.classify import without_columns
from tagger.features import FeatureConfig, fitted_config
from tests.configs import assert_config_refused


def test_the_block_is_fitted_only_for_a_tag_model_within_its_size_limit() -> None:
    config = FeatureConfig(char_ngrams=(3, 5), char_max_cells=1_000)
    assert fitted_config(config, 100, 10).char_ngrams == (3, 5)  # 1,000 cells
    assert fitted_config(config, 101, 10).char_ngrams is None  # beyond the limit
    assert fitted_config(config, 500, 0).char_ngrams is None  # no tag model: no reader
    unlimited = replace(config, char_max_cells=0)
    assert fitted_config(unlimited, 10**6, 10**4).char_ngrams == (3, 5)
    off = FeatureConfig(char_ngrams=None)
    assert fitted_config(off, 10, 10) is off


def test_dropping_a_block_gives_the_rows_of_a_featurizer_without_it(load_sample: Any) -> None:
    from tagger.features import Featurizer

    articles = load_sample()[:120]
    with_chars = Featurizer(FeatureConfig(char_ngrams=(3, 5)))
    x = with_chars.fit_transform(articles)
    words = Featurizer(FeatureConfig(char_ngrams=None)).fit_transform(articles)
    start, stop = with_chars.char_columns()  # type: ignore[misc]
    assert start == words.shape[1] and stop == x.shape[1]
    assert np.allclose(without_columns(x, (start, stop)).toarray(), words.toarray(), atol=1e-6)
    assert without_columns(x, None) is x


@pytest.fixture(scope="module")
def two_models(load_sample: Any) -> tuple[Tagger, Tagger, list]:
    articles = load_sample()
    train, test = articles[::2], articles[1::2][:40]
    chars = Tagger.train(train, TrainConfig(features=FeatureConfig(char_ngrams=(3, 5))))
    words = Tagger.train(train, TrainConfig(features=FeatureConfig(char_ngrams=None)))
    return chars, words, test


def test_tags_read_the_block_and_sections_do_not(two_models: tuple) -> None:
    chars, words, test = two_models
    start, stop = chars.featurizer.char_columns()
    assert stop > start  # the sample corpus is within the default limit
    assert chars.tag_model.coef.shape[1] == chars.featurizer.n_features  # type: ignore[union-attr]
    assert chars.section_model.skip == (start, stop)  # type: ignore[union-attr]
    assert words.section_model.skip is None  # type: ignore[union-attr]
    x_chars = chars.featurizer.transform(test)
    x_words = words.featurizer.transform(test)
    titles = [a.title for a in test]
    p_chars = chars.section_model.predict_proba(x_chars, titles)  # type: ignore[union-attr]
    p_words = words.section_model.predict_proba(x_words, titles)  # type: ignore[union-attr]
    assert np.allclose(p_chars, p_words, atol=1e-4)
    assert (p_chars.argmax(axis=1) == p_words.argmax(axis=1)).all()


def test_section_evidence_is_the_word_models_evidence(two_models: tuple) -> None:
    chars, words, test = two_models
    for with_chars, without in zip(chars.predict(test), words.predict(test), strict=True):
        assert with_chars.section.label == without.section.label
        terms = [e.value for e in with_chars.section.evidence]
        assert terms == [e.value for e in without.section.evidence]
        assert "<char>" not in terms
        for tag in with_chars.tags:
            assert all(e.value != "<char>" for e in tag.evidence)


def test_the_skipped_columns_are_saved_and_checked(two_models: tuple, tmp_path: Path) -> None:
    import json

    chars, _words, test = two_models
    chars.save(tmp_path / "m")
    loaded = Tagger.load(tmp_path / "m")
    assert loaded.section_model.skip == chars.section_model.skip  # type: ignore[union-attr]
    assert [s.to_dict() for s in loaded.predict(test[:10])] == [
        s.to_dict() for s in chars.predict(test[:10])
    ]
    from tagger.classify import SectionModel

    meta, arrays = chars.section_model.to_state()  # type: ignore[union-attr]
    n = chars.featurizer.n_features
    for bad in ([0, n + 1], [5, 5], ["a", 3], [1]):
        with pytest.raises(ValueError, match=r"sections\.skip"):
            SectionModel.from_state(json.loads(json.dumps(meta | {"skip": bad})), arrays, n)
    with pytest.raises(ValueError):  # the weights no longer fit the columns read
        SectionModel.from_state(meta | {"skip": [0, 1]}, arrays, n)


def test_the_block_switches_off_in_toml_and_json(tmp_path: Path) -> None:
    toml = tmp_path / "off.toml"
    toml.write_text("[features]\nchar_ngrams = []\n", encoding="utf-8")
    json_file = tmp_path / "off.json"
    json_file.write_text('{"features": {"char_ngrams": null}}', encoding="utf-8")
    for path in (toml, json_file):
        assert TrainConfig.from_file(path).features.char_ngrams is None
    limit = tmp_path / "limit.toml"
    limit.write_text("[features]\nchar_max_cells = 0\n", encoding="utf-8")
    assert TrainConfig.from_file(limit).features.char_max_cells == 0
    assert_config_refused(tmp_path, "[features]\nchar_max_cells = -1\n", "features.char_max_cells")


def _document_frequency(block: Any, texts: list[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for text in texts:
        for gram in set(block.analyze(text)):
            counts[gram] = counts.get(gram, 0) + 1
    return counts


def test_char_max_df_drops_the_frequent_grams(load_sample: Any) -> None:
    from tagger.features import Featurizer, article_features_text

    articles = load_sample()[:60]
    texts = [article_features_text(a, 2) for a in articles]
    base = FeatureConfig(char_ngrams=(4, 4), char_min_df=1, char_max_df=1.0)
    every = Featurizer(base)
    every.fit_transform(articles)
    capped = Featurizer(replace(base, char_max_df=0.3))
    x = capped.fit_transform(articles)
    df = _document_frequency(every.char, texts)
    frequent = {gram for gram, n in df.items() if n > 0.3 * len(articles)}
    assert frequent and frequent <= set(every.char.terms)  # type: ignore[union-attr]
    kept = set(capped.char.terms)  # type: ignore[union-attr]
    assert kept == set(every.char.terms) - frequent  # type: ignore[union-attr]
    assert capped.word.terms == every.word.terms  # type: ignore[union-attr]
    start, stop = capped.char_columns()  # type: ignore[misc]
    assert x[:, start:stop].nnz < every.transform(articles)[:, start:stop].nnz
    assert np.allclose(capped.transform(articles).toarray(), x.toarray(), atol=1e-6)


def test_char_max_df_is_saved_and_old_bundles_load_without_it(load_sample: Any) -> None:
    from tagger.features import Featurizer

    articles = load_sample()[:40]
    featurizer = Featurizer(FeatureConfig(char_ngrams=(4, 4), char_max_df=0.5))
    x = featurizer.fit_transform(articles)
    meta, arrays = featurizer.to_state()
    assert meta["config"]["char_max_df"] == 0.5
    loaded = Featurizer.from_state(meta, arrays)
    assert loaded.config.char_max_df == 0.5
    assert np.allclose(loaded.transform(articles).toarray(), x.toarray(), atol=1e-6)
    old = {k: v for k, v in meta["config"].items() if k != "char_max_df"}  # an older bundle
    assert Featurizer.from_state(meta | {"config": old}, arrays).config.char_max_df == 1.0


def test_char_max_df_is_validated(tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text("[features]\nchar_ngrams = [4, 4]\nchar_max_df = 0.1\n", encoding="utf-8")
    assert TrainConfig.from_file(good).features.char_max_df == 0.1
    assert FeatureConfig().char_max_df == 0.3  # the default block's (chars-4-4.toml's)
    for bad in ("0", "-0.2", "1.5", '"x"'):
        text = f"[features]\nchar_max_df = {bad}\n"
        assert_config_refused(tmp_path, text, "features.char_max_df")


def test_remembered_words_change_no_row(load_sample: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The char block looks each distinct word up once (`_char_wb_columns`); its rows are
    the same cold, warm, with the memory full and cleared, and in a copy sent to a worker."""
    import pickle

    from tagger import features
    from tagger.features import Featurizer

    articles = load_sample()[:60]
    featurizer = Featurizer(FeatureConfig(char_ngrams=(3, 5), char_max_cells=0))
    featurizer.fit_transform(articles)
    block = featurizer.char
    assert block is not None
    docs = [f"{a.title} {a.body}" for a in articles] + ["", "a\u00a0bc\u2003déjà  vu\tx", "é"]
    cold = block.transform(docs)
    assert block.__dict__["_word_columns"]  # remembered
    warm = block.transform(docs)
    monkeypatch.setattr(features, "WORD_CACHE_SIZE", 3)
    del block.__dict__["_word_columns"]
    full = block.transform(docs)  # cleared whenever 3 words are held
    copy = pickle.loads(pickle.dumps(block))
    assert "_word_columns" not in copy.__dict__
    for x in (warm, full, copy.transform(docs)):
        assert (x.indptr == cold.indptr).all() and (x.indices == cold.indices).all()
        assert np.array_equal(x.data, cold.data)
    assert len(block.__dict__["_word_columns"]) <= 3
    grams = features.char_wb_ngrams(block._prepared(docs[-2]), block.ngram_range)
    row = cold[len(docs) - 2]
    assert row.nnz == len({g for g in grams if g in set(block.terms)})
