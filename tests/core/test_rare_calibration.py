"""The rare tags' shared calibration (`ModelConfig.rare_calibration`, `RarePool`)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from tagger.classify import (
    RARE_POOLED,
    ModelConfig,
    OutOfFold,
    RarePool,
    calibrate_tags,
    nb_member_choice,
    platt_apply,
)

# min_support 5: without the pool, the rare tags (3 positives) take the all-tag pool.
CONFIG = ModelConfig(rare_calibration=10, rare_pool_positives=5, min_support=5)


def scores_with_rare_tags(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-fold scores of 3 frequent tags (scores around +1 / -1) and 8 rare ones (3
    positives each) whose scores sit far lower, each on a scale of its own, as a linear
    model fitted on a handful of positives gives them: positives above the tag's own
    negatives, yet below where a frequent tag's negatives are."""
    rng = np.random.default_rng(seed)
    n, frequent, rare = 2000, 3, 8
    y = np.zeros((n, frequent + rare), dtype=bool)
    for j in range(frequent):
        y[rng.choice(n, 300, replace=False), j] = True
    for j in range(frequent, frequent + rare):
        y[rng.choice(n, 3, replace=False), j] = True
    oof = np.where(y, 1.0, -1.0) + rng.normal(0, 0.6, y.shape)
    for k, j in enumerate(range(frequent, frequent + rare)):
        scale, shift = 0.05 * (k + 1), -1.5 - 0.2 * k
        oof[:, j] = shift + scale * (rng.normal(0, 1, n) + np.where(y[:, j], 4.0, 0.0))
    return oof, y


def test_rare_tags_reach_their_positives_with_the_pool_and_not_without() -> None:
    oof, y = scores_with_rare_tags()
    rare = np.arange(3, y.shape[1])
    a, b, thresholds = calibrate_tags(oof, y, CONFIG)
    a0, b0, old = calibrate_tags(oof, y, replace(CONFIG, rare_calibration=0))
    assert {thresholds[j].method for j in rare} == {"rare-pooled"}
    assert {old[j].method for j in rare} == {"pooled"}
    values = np.array([t.value for t in thresholds])
    chosen = platt_apply(oof, a, b) >= values
    before = platt_apply(oof, a0, b0) >= np.array([t.value for t in old])
    found = (chosen & y)[:, rare].sum() / y[:, rare].sum()
    assert found > 0.8
    assert (before & y)[:, rare].sum() == 0  # below the all-tag pool's cut-off
    hits, made = (chosen & y)[:, rare].sum(), chosen[:, rare].sum()
    f1 = 2 * hits / (made + y[:, rare].sum())
    assert f1 > 0.7  # the pool's cut-off is the best F1 over the rare tags, not "all"
    # Frequent tags keep their own calibration, exactly.
    for j in range(3):
        assert thresholds[j] == old[j]
        assert (a[j], b[j]) == (a0[j], b0[j])


def test_the_pools_sigmoid_is_a_tags_own_sigmoid_on_raw_scores() -> None:
    oof, y = scores_with_rare_tags(1)
    kept = OutOfFold.from_dense(oof, y)
    support = y.sum(axis=0)
    pool = RarePool.fit(kept, support, CONFIG)
    assert pool is not None
    for j in range(3, y.shape[1]):
        assert pool.usable[j]
        a, b = pool.sigmoid(j)
        z = (oof[:, j] - pool.mean[j]) / pool.spread[j]
        assert np.allclose(platt_apply(oof[:, j], a, b), platt_apply(z, pool.a, pool.b))
    # The frequent tags are not standardised: they are not calibrated on the pool.
    assert not pool.usable[:3].any()


def test_no_pool_without_enough_rare_positives() -> None:
    oof, y = scores_with_rare_tags(2)
    keep = [0, 1, 2, 3]  # one rare tag: 3 positives, below RarePool.MIN_POSITIVES
    _a, _b, thresholds = calibrate_tags(oof[:, keep], y[:, keep], CONFIG)
    assert thresholds[3].method == "pooled"
    kept = OutOfFold.from_dense(oof[:, keep], y[:, keep])
    assert RarePool.fit(kept, y[:, keep].sum(axis=0), CONFIG) is None


def test_tags_with_one_positive_are_served_by_the_pool_but_do_not_fit_it() -> None:
    oof, y = scores_with_rare_tags(5)
    rng = np.random.default_rng(5)
    ones = np.zeros((len(y), 6), dtype=bool)  # one positive each, scored as a constant
    ones[rng.choice(len(y), 6, replace=False), np.arange(6)] = True
    oof_ones = np.where(ones, -1.0, rng.normal(-1.0, 0.05, ones.shape))
    only_ones = OutOfFold.from_dense(np.c_[oof[:, :3], oof_ones], np.c_[y[:, :3], ones])
    support = np.r_[y[:, :3].sum(axis=0), ones.sum(axis=0)]
    assert RarePool.fit(only_ones, support, CONFIG) is None  # nothing to fit on
    both = np.c_[oof, oof_ones], np.c_[y, ones]
    pool = RarePool.fit(OutOfFold.from_dense(*both), np.r_[y.sum(axis=0), ones.sum(axis=0)], CONFIG)
    assert pool is not None and pool.usable[-6:].all()  # they take it
    without = RarePool.fit(OutOfFold.from_dense(oof, y), y.sum(axis=0), CONFIG)
    assert without is not None and (pool.a, pool.b) == (without.a, without.b)


def test_a_tag_whose_negatives_do_not_spread_keeps_the_old_path() -> None:
    oof, y = scores_with_rare_tags(3)
    oof[~y[:, 4], 4] = -2.0  # every negative the same score: no scale to standardise by
    _a, _b, thresholds = calibrate_tags(oof, y, replace(CONFIG, min_support=2))
    assert thresholds[4].method == "best-f1"
    assert thresholds[5].method == "rare-pooled"


def test_rare_tags_take_the_nb_member_together_on_the_pools_evidence() -> None:
    oof, y = scores_with_rare_tags(4)
    rng = np.random.default_rng(4)
    rare = np.arange(3, y.shape[1])
    kept = OutOfFold.from_dense(oof, y)
    config = replace(CONFIG, nb_weighted=True, nb_min_gain=0.01)

    def choice(mixed: np.ndarray) -> np.ndarray:
        with_member = replace(kept, member=[mixed[:, j] for j in range(y.shape[1])])
        a, b, thresholds = calibrate_tags(with_member, None, config)
        _kept, chosen, after = nb_member_choice(with_member, a, b, thresholds, config)
        assert {after[j].method for j in rare} == {RARE_POOLED}
        return chosen

    sharper = oof.copy()  # the mix separates every rare tag's positives further
    sharper[:, rare] += np.where(y[:, rare], 3.0, 0.0) * oof[:, rare].std(axis=0)
    assert choice(sharper)[rare].all()
    noisier = oof.copy()  # ... or blurs them: none of them takes it
    noisier[:, rare] += rng.normal(0, 3.0, (len(y), len(rare))) * oof[:, rare].std(axis=0)
    assert not choice(noisier)[rare].any()


@pytest.mark.parametrize("key, value", [("rare_calibration", -1), ("rare_pool_positives", 0)])
def test_config_refuses_out_of_range_rare_settings(key: str, value: int) -> None:
    from tagger.config_schema import validate_train_config
    from tagger.errors import ConfigError

    with pytest.raises(ConfigError, match=key):
        validate_train_config({"tags": {key: value}}, "train.toml")
