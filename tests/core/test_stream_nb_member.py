"""The NB-weighted member out of core (`tagger.stream_train`, `tags.nb_weighted`): per tag
a second SGD model on the features scaled by the tag's log-count ratio, averaged with the
plain one, kept per tag only where its out-of-fold F1 gains (`tags.nb_min_gain`)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from tagger.api import Tagger, TrainConfig
from tagger.classify import nb_ratio, nb_scaled
from tagger.corpus.article import Article
from tagger.stream_train import (
    CalibrationSample,
    Rows,
    StreamConfig,
    _mixed,
    _sgd,
    block_bytes_per_tag,
    block_ratios,
    fold_of,
    tags_per_block,
    train_streaming,
)

from .test_stream_train import generated, micro_f1, stream_config


def tags(**changes: object) -> TrainConfig:
    """The default config with these `tags` settings."""
    config = TrainConfig()
    return replace(config, tags=replace(config.tags, **changes))


def noisy(n: int, seed: int = 0) -> list[Article]:
    """Articles whose four topic tags are only partly told by their words (a tag's words in
    70% of its articles, and in 10% of the others), so thresholds and the member matter,
    and a fifth tag, "sport", always told by its word "goalkeeper"."""
    rng = np.random.default_rng(seed)
    names = sorted({"farming", "law", "finance", "weather"})
    words = {
        "farming": "farm crops harvest wheat tractor",
        "law": "court judge ruling appeal lawyer",
        "finance": "bank rates money loan market",
        "weather": "rain storm flood wind forecast",
    }
    filler = [f"w{i}" for i in range(300)]
    out = []
    for i in range(n):
        chosen = [t for t in names if rng.random() < 0.3] or [names[int(rng.integers(4))]]
        text = list(rng.choice(filler, size=20))
        for t in names:
            if rng.random() < (0.7 if t in chosen else 0.1):
                text += list(rng.choice(words[t].split(), size=2))
        if rng.random() < 0.2:
            chosen.append("sport")
            text += ["goalkeeper"] * 3
        rng.shuffle(text)
        out.append(Article(id=f"n{i}", title=" ".join(text[:4]), body=" ".join(text), tags=chosen))
    return out


def rows_of(x: np.ndarray, y: np.ndarray, start: int) -> Rows:
    n = len(x)
    return Rows(
        sp.csr_matrix(x.astype(np.float32)),
        np.arange(start, start + n),
        sp.csr_matrix(y),
        np.full(n, -1),
    )


def test_block_ratios_are_the_in_memory_ratios_of_each_models_rows() -> None:
    rng = np.random.default_rng(0)
    x = rng.random((120, 9)) * (rng.random((120, 9)) < 0.4)
    y = rng.random((120, 5)) < 0.3
    parts = [rows_of(x[i : i + 25], y[i : i + 25], i) for i in range(0, 120, 25)]
    got = block_ratios(parts, 1, 3, 4, 7, 0.03, 9)
    assert got.shape == (5, 3, 9)
    fold = fold_of(np.arange(120), 4, 7)
    x32 = x.astype(np.float32).astype(np.float64)  # the rows are stored as float32
    for m in range(5):
        seen = np.ones(120, bool) if m == 0 else fold != m - 1  # fold model m - 1 never sees it
        totals = x32[seen].sum(axis=0)
        for j in range(3):
            inside = x32[seen & y[:, 1 + j]].sum(axis=0)
            assert np.allclose(got[m, j], nb_ratio(inside, totals, 0.03))
    # without folds: one model, from every row
    alone = block_ratios(parts, 0, 2, 0, 7, 1.0, 9)
    assert alone.shape == (1, 2, 9)
    assert np.allclose(alone[0, 1], nb_ratio(x32[y[:, 1]].sum(axis=0), x32.sum(axis=0), 1.0))


def test_the_mix_is_the_average_of_the_plain_and_the_scaled_models_decisions() -> None:
    rng = np.random.default_rng(1)
    x = sp.csr_matrix(rng.random((60, 6)) * (rng.random((60, 6)) < 0.5))
    target = (x[:, 0].toarray().ravel() > 0.3).astype(np.int8)
    ratio = rng.normal(size=6)
    xb = sp.hstack([x, np.ones((60, 1))], format="csr")  # the bias column, bias 1
    scaled = nb_scaled(xb, ratio)
    assert np.allclose(scaled.toarray()[:, :6], x.toarray() * ratio)
    assert np.array_equal(scaled.toarray()[:, 6], np.ones(60))  # the bias is not scaled
    plain, member = (_sgd(StreamConfig(), 1e-3, 0, 1.0) for _ in range(2))
    plain.partial_fit(xb, target, classes=np.array([0, 1]))
    member.partial_fit(scaled, target, classes=np.array([0, 1]))
    w, b = _mixed(plain, member, ratio, 1.0)
    expected = 0.5 * (plain.decision_function(xb) + member.decision_function(scaled))
    assert np.allclose(x @ w + b, expected)
    assert _mixed(_sgd(StreamConfig(), 1e-3, 0), member, ratio, 1.0) is None  # never fitted


def test_calibration_sample_carries_the_mixed_scores_at_the_same_entries() -> None:
    rng = np.random.default_rng(2)
    n = 5000
    scores, positive = rng.normal(size=n), rng.random(n) < 0.1
    mixed = scores * 2.0 + 1.0
    sample = CalibrationSample(positives=100, top=50, sample=100, salt=3)
    for start in range(0, n, 250):
        r = np.arange(start, start + 250)
        sample.add(r, scores[r], positive[r], mixed[r])
    rows, kept, weights, flags, carried = sample.result_carried()
    assert len(rows) <= 250 and np.array_equal(carried, mixed[rows])
    for got, expected in zip(sample.result(), (rows, kept, weights, flags), strict=True):
        assert np.array_equal(got, expected)
    plain = CalibrationSample(positives=100, top=50, sample=100, salt=3)
    for start in range(0, n, 250):
        r = np.arange(start, start + 250)
        plain.add(r, scores[r], positive[r])
    assert np.array_equal(plain.result()[0], rows)  # the same entries with or without it
    assert len(plain.result_carried()[4]) == 0


def test_the_member_changes_weights_only_for_the_tags_it_helps() -> None:
    train = noisy(600)  # at this size sport (told by one word) does not take the mix
    settings = stream_config(epochs=2)
    off = train_streaming(lambda: iter(train), tags(nb_weighted=False), settings)
    assert "nb_member_tags" not in off.tag_model.cv_metrics
    every = train_streaming(lambda: iter(train), tags(nb_min_gain=None), settings)
    none = train_streaming(lambda: iter(train), tags(nb_min_gain=0.99), settings)
    guarded = train_streaming(lambda: iter(train), tags(), settings)  # gain > 0.01
    n_tags = len(off.tag_model.labels)
    assert every.tag_model.cv_metrics["nb_member_tags"] == n_tags
    assert none.tag_model.cv_metrics["nb_member_tags"] == 0

    def changed(model: Tagger) -> np.ndarray:
        diff = (model.tag_model.coef != off.tag_model.coef).tocsr()
        moved = np.diff(diff.indptr) > 0
        return moved | (model.tag_model.intercept != off.tag_model.intercept)

    assert changed(every).all()
    # no tag gains 0.99 F1: every weight, sigmoid and threshold is the plain model's
    assert not changed(none).any()
    assert np.array_equal(none.tag_model.platt_a, off.tag_model.platt_a)
    # with the guard, exactly the tags that took the mix moved, the others are exact
    switched = changed(guarded)
    assert switched.sum() == guarded.tag_model.cv_metrics["nb_member_tags"]
    assert 0 < switched.sum() < n_tags
    stay = ~switched
    assert np.array_equal(guarded.tag_model.platt_a[stay], off.tag_model.platt_a[stay])
    kept = [t for t, s in zip(guarded.tag_model.thresholds, stay, strict=True) if s]
    plain = [t for t, s in zip(off.tag_model.thresholds, stay, strict=True) if s]
    assert [t.value for t in kept] == [t.value for t in plain]


def test_the_member_trains_within_the_memory_settings() -> None:
    # the member doubles a tag's SGD state and adds a ratio per model: fewer tags a block
    f, models = 1000, 6
    assert block_bytes_per_tag(f, models, True) == models * (2 * 24 * (f + 1) + 8 * f)
    settings = StreamConfig(weights_mb=1)
    plain, member = (
        tags_per_block(settings, f, models, False),
        tags_per_block(settings, f, models, True),
    )
    assert (plain, member) == (7, 3)
    assert member * block_bytes_per_tag(f, models, True) <= 1 << 20
    assert tags_per_block(StreamConfig(weights_mb=1, tags_per_pass=5), f, models, True) == 5
    assert tags_per_block(StreamConfig(weights_mb=0), f, models, True) == 1
    # one tag a block (no room for more): one ratio pass a block, and a working model
    stages: list[str] = []
    train = generated(500)
    model = train_streaming(
        lambda: iter(train),
        tags(nb_min_gain=None),
        stream_config(epochs=2, weights_mb=0),
        progress=lambda stage, _done, _total: stages.append(stage),
    )
    assert stages.count("stream: log-count ratios") == len(model.tag_model.labels) == 4
    assert model.tag_model.cv_metrics["nb_member_tags"] == 4
    assert micro_f1(model, generated(200, seed=1)) > 0.85


def test_a_member_model_is_deterministic_and_saves_and_loads(tmp_path: Path) -> None:
    train, test = noisy(600), noisy(100, seed=5)
    config, settings = tags(nb_min_gain=None), stream_config(epochs=2)
    first = train_streaming(lambda: iter(train), config, settings)
    again = train_streaming(lambda: iter(train), config, settings)
    a, b = first.tag_model, again.tag_model
    assert (a.coef != b.coef).nnz == 0 and np.array_equal(a.intercept, b.intercept)
    assert np.array_equal(a.platt_a, b.platt_a) and np.array_equal(a.platt_b, b.platt_b)
    first.save(tmp_path / "m")
    loaded = Tagger.load(tmp_path / "m")
    assert [s.to_dict() for s in loaded.predict(test)] == [s.to_dict() for s in first.predict(test)]
    assert loaded.manifest["config"]["tags"]["nb_weighted"] is True
    evidence = [e.value for s in loaded.predict(test[:20]) for t in s.tags for e in t.evidence]
    assert evidence  # the mixed weights are ordinary weights: evidence reads them


def test_the_member_decides_on_the_held_out_reservoir_without_folds() -> None:
    train, test = noisy(900), noisy(200, seed=1)
    settings = stream_config(folds=0, epochs=2)
    off = train_streaming(lambda: iter(train), tags(nb_weighted=False), settings)
    every = train_streaming(lambda: iter(train), tags(nb_min_gain=None), settings)
    none = train_streaming(lambda: iter(train), tags(nb_min_gain=0.99), settings)
    assert every.tag_model.cv_metrics["nb_member_tags"] == len(every.tag_model.labels)
    assert (every.tag_model.coef != off.tag_model.coef).nnz > 0
    assert (none.tag_model.coef != off.tag_model.coef).nnz == 0
    assert every.manifest["corpus"]["held_out_for_calibration"] == 150
    assert micro_f1(every, test) > micro_f1(off, test) - 0.05


def test_the_mixed_tags_take_their_reservoir_decisions_from_the_mix() -> None:
    from tagger.stream_train import _columns_from

    plain = sp.csr_matrix(np.array([[1.0, 0.0, 2.0], [0.0, 3.0, 4.0]]))
    mixed = sp.csr_matrix(np.array([[5.0, 6.0, 0.0], [7.0, 0.0, 8.0]]))
    both = _columns_from(plain, mixed, np.array([False, True, True]))
    assert np.array_equal(both.toarray(), [[1.0, 6.0, 0.0], [0.0, 0.0, 8.0]])
    assert both.nnz == 3  # an absent decision stays absent (it ranks last)
