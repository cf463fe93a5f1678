"""Thresholds, calibration and evidence of the classifiers, on data whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from tagger.classify import (
    ModelConfig,
    calibrate_tags,
    fit_temperature,
    platt_apply,
    platt_fit,
    softmax,
    top_evidence,
    tune_threshold,
)

# -- thresholds --------------------------------------------------------------------------


def test_threshold_for_best_f1_by_hand() -> None:
    probs = np.array([0.9, 0.8, 0.7, 0.6, 0.2])
    y = np.array([1, 0, 1, 0, 0])
    # Cut after rank k: F1 = .667, .5, .8, .667, .571 -> best after the third (0.7).
    t = tune_threshold(probs, y)
    assert t.method == "best-f1"
    assert t.value == pytest.approx((0.7 + 0.6) / 2)  # halfway to the next score
    assert (t.f1, t.precision, t.recall, t.support) == pytest.approx((0.8, 2 / 3, 1.0, 2))
    selected = probs >= t.value
    assert selected.tolist() == [True, True, True, False, False]


def test_threshold_for_a_precision_target() -> None:
    probs = np.array([0.9, 0.8, 0.7, 0.6, 0.2])
    y = np.array([1, 0, 1, 0, 0])
    t = tune_threshold(probs, y, min_precision=1.0)
    assert t.value == pytest.approx((0.9 + 0.8) / 2)
    assert (t.precision, t.recall) == pytest.approx((1.0, 0.5))
    assert t.method.startswith("precision>=")
    looser = tune_threshold(probs, y, min_precision=0.6)
    assert looser.value == pytest.approx(0.65) and looser.recall == pytest.approx(1.0)


def test_threshold_never_splits_tied_scores() -> None:
    t = tune_threshold(np.array([0.5, 0.5, 0.2]), np.array([1, 0, 0]))
    assert t.value == pytest.approx(0.35)
    assert t.precision == pytest.approx(0.5)


def test_unreachable_precision_and_no_positives_fall_back_to_a_high_threshold() -> None:
    unreachable = tune_threshold(np.array([0.9, 0.1]), np.array([0, 1]), min_precision=1.0)
    assert unreachable.method == "precision-unreachable"
    assert unreachable.value >= 0.999
    none = tune_threshold(np.array([0.9, 0.1]), np.array([0, 0]))
    assert none.method == "no-positives" and none.value >= 0.999 and none.support == 0


def test_low_f1_falls_back_to_the_configured_threshold() -> None:
    probs = np.array([0.9, 0.8, 0.7, 0.1])
    y = np.array([0, 0, 0, 1])
    t = tune_threshold(probs, y, min_f1=0.9, fallback=0.6)
    assert t.method == "fallback" and t.value == 0.6


# -- calibration --------------------------------------------------------------------------


def test_platt_scaling_is_calibrated_on_synthetic_data() -> None:
    rng = np.random.default_rng(0)
    scores = rng.normal(0.0, 1.5, 8000)
    true_p = 1.0 / (1.0 + np.exp(-(2.0 * scores - 0.5)))
    y = rng.random(8000) < true_p
    a, b = platt_fit(scores, y)
    assert a == pytest.approx(-2.0, abs=0.2)
    assert b == pytest.approx(0.5, abs=0.15)
    p = platt_apply(scores, a, b)
    assert np.all((p >= 0) & (p <= 1))
    order = np.argsort(scores)
    assert np.all(np.diff(p[order]) >= 0)  # higher score, higher probability
    # Reliability: in each decile of predicted probability, the observed rate is close.
    bins = np.quantile(p, np.linspace(0, 1, 11))
    which = np.clip(np.searchsorted(bins, p, side="right") - 1, 0, 9)
    for k in range(10):
        in_bin = which == k
        assert abs(p[in_bin].mean() - y[in_bin].mean()) < 0.06


def test_platt_probabilities_stay_finite_on_extreme_scores() -> None:
    p = platt_apply(np.array([-1e6, -5.0, 0.0, 5.0, 1e6]), -3.0, 0.0)
    assert np.all(np.isfinite(p))
    assert np.all((p >= 0) & (p <= 1))
    assert np.all(np.diff(p) >= 0)


def test_platt_with_one_class_only() -> None:
    s = np.array([-1.0, 0.0, 1.0])
    p_none = platt_apply(s, *platt_fit(s, np.zeros(3)))
    p_all = platt_apply(s, *platt_fit(s, np.ones(3)))
    assert np.all(p_none < 0.01)
    assert np.all(p_all > 0.99)


def test_rare_tags_share_a_pooled_calibration_and_threshold() -> None:
    rng = np.random.default_rng(1)
    n = 300
    y = np.zeros((n, 3), dtype=bool)
    y[rng.choice(n, 60, replace=False), 0] = True
    y[rng.choice(n, 40, replace=False), 1] = True
    y[rng.choice(n, 3, replace=False), 2] = True  # below min_support
    oof = np.where(y, 1.0, -1.0) + rng.normal(0, 0.8, y.shape)
    a, b, thresholds = calibrate_tags(oof, y, ModelConfig(min_support=5))
    assert [t.method for t in thresholds] == ["best-f1", "best-f1", "pooled"]
    assert thresholds[2].support == 3
    assert np.all(a < 0)  # every calibration increases with the score
    assert a[0] != a[2]  # frequent tags get their own fit
    for j in range(3):
        assert 0.0 < thresholds[j].value < 1.0
    probs = platt_apply(oof, a, b)
    assert np.all((probs >= 0) & (probs <= 1))


def test_temperature_scaling_recovers_a_known_temperature() -> None:
    rng = np.random.default_rng(2)
    logits = rng.normal(0, 3.0, (4000, 4))
    p_true = softmax(logits / 2.0)
    y = np.array([rng.choice(4, p=row) for row in p_true])
    t = fit_temperature(logits, y)
    assert t == pytest.approx(2.0, rel=0.15)


def test_softmax_rows_are_distributions() -> None:
    p = softmax(np.array([[1000.0, 0.0, -1000.0], [1.0, 1.0, 1.0]]))
    assert np.allclose(p.sum(axis=1), 1.0)
    assert np.all(np.isfinite(p))
    assert p[1].tolist() == pytest.approx([1 / 3] * 3)


# -- evidence --------------------------------------------------------------------------------


def test_top_evidence_lists_positive_contributions_best_first() -> None:
    names = np.array(["budget", "senate", "<char>", "weather", "vote"], dtype=object)
    weights = np.array([2.0, 1.0, 5.0, -3.0, 0.5])
    row = sp.csr_matrix(np.array([[0.5, 0.5, 0.5, 0.5, 0.0]]))
    evidence = top_evidence(row, weights, names, k=5)
    # Character n-grams are not readable evidence; negative and absent terms never count.
    assert [name for name, _ in evidence] == ["budget", "senate"]
    assert [w for _, w in evidence] == pytest.approx([1.0, 0.5])
    assert top_evidence(row, weights, names, k=1) == [("budget", 1.0)]
    assert top_evidence(sp.csr_matrix((1, 5)), weights, names) == []
