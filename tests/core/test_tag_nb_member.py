"""The tag model's NB-weighted member (`ModelConfig.nb_weighted` for tags): an SVM on
features scaled by the tag's log-count ratio, averaged with the plain SVM, kept per tag
only where its out-of-fold F1 gains (`nb_min_gain`)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import scipy.sparse as sp
from sklearn.preprocessing import normalize

from tagger.classify import (
    ModelConfig,
    OutOfFold,
    TagModel,
    Threshold,
    _FitJob,
    _folds,
    _liblinear,
    calibrate_tags,
    evidence_terms,
    nb_member_choice,
    nb_ratio,
    out_of_fold,
    platt_apply,
    train_tag_model,
)

PLAIN = ModelConfig(n_jobs=1, name_rule=False, stack_top=0, prune_tolerance=0.0)
MEMBER = dataclasses.replace(PLAIN, nb_weighted=True, nb_min_gain=None)


def corpus(n: int = 300, features: int = 40, seed: int = 0) -> tuple[sp.csr_matrix, np.ndarray]:
    """Tag 0 on a third of the articles (features 0-2), tag 1 on a fifth (feature 3 and
    noise), tag 2 on a quarter (features 4-6)."""
    rng = np.random.default_rng(seed)
    x = rng.random((n, features)) * (rng.random((n, features)) < 0.2)
    y = np.zeros((n, 3), dtype=bool)
    y[: n // 3, 0] = True
    x[: n // 3, :3] += 0.6
    y[rng.choice(n, n // 5, replace=False), 1] = True
    x[y[:, 1], 3] += 0.3
    y[rng.choice(n, n // 4, replace=False), 2] = True
    x[y[:, 2], 4:7] += 0.6
    return normalize(sp.csr_matrix(x)).astype(np.float64), y


def test_nb_ratio_is_the_smoothed_log_count_ratio() -> None:
    inside = np.array([3.0, 0.0, 1.0])
    totals = np.array([4.0, 5.0, 1.0])
    r = nb_ratio(inside, totals, 1.0)
    p, q = np.array([4.0, 1.0, 2.0]), np.array([2.0, 6.0, 1.0])
    assert np.allclose(r, np.log(p / 7.0) - np.log(q / 9.0))
    assert r[0] > 0 > r[1]  # a feature of the tag's articles is weighted up, others down


def test_out_of_fold_member_scores_average_the_plain_and_the_nb_weighted_fit() -> None:
    x, y = corpus()
    folds = _folds(x.shape[0], 3, 0, None)
    plain = out_of_fold(x, sp.csc_matrix(y), folds, PLAIN, 0)
    both = out_of_fold(x, sp.csc_matrix(y), folds, MEMBER, 0)
    assert plain.member is None and both.member is not None
    for j in range(3):  # the plain scores do not move when the member is computed
        assert np.array_equal(plain.scores[j], both.scores[j])
    # Tag 0 in fold 0, by hand: the same liblinear fits on the training part.
    test = folds[0]
    train = np.setdiff1d(np.arange(x.shape[0]), test)
    job = _FitJob.of(MEMBER, 0)
    column = y[train, 0]
    w, b = _liblinear(x[train], column, 1.0, 0, None, None, 1.0, job.fit_tol)
    totals = np.asarray(x[train].sum(axis=0)).ravel()
    ratio = nb_ratio(np.asarray(x[train][column].sum(axis=0)).ravel(), totals, MEMBER.nb_alpha)
    scaled = x[train] @ sp.diags(ratio)
    w_nb, b_nb = _liblinear(sp.csr_matrix(scaled), column, 1.0, 0, None, None, 1.0, job.fit_tol)
    expected = 0.5 * ((x[test] @ w + b) + (x[test] @ (ratio * w_nb) + b_nb))
    at = np.searchsorted(both.rows[0], test)
    assert np.allclose(both.member[0][at], expected)
    assert not np.allclose(both.member[0][at], both.scores[0][at])


def kept_of(plain: list[np.ndarray], mixed: list[np.ndarray], y: np.ndarray) -> OutOfFold:
    n = y.shape[0]
    rows = np.arange(n)
    return OutOfFold(
        n,
        [rows] * len(plain),
        plain,
        [np.ones(n)] * len(plain),
        [y[:, j] for j in range(len(plain))],
        member=mixed,
    )


def test_a_tag_keeps_the_member_only_where_its_out_of_fold_f1_gains() -> None:
    rng = np.random.default_rng(1)
    y = rng.random((400, 2)) < 0.25
    signal = np.where(y, 1.0, -1.0)
    noisy = signal + rng.normal(0.0, 1.5, y.shape)  # F1 well below 1
    clean = signal + rng.normal(0.0, 0.3, y.shape)  # F1 near 1
    # Tag 0: the mix separates far better; tag 1: the mix is the noisy one.
    plain = [noisy[:, 0], clean[:, 1]]
    mixed = [clean[:, 0], noisy[:, 1]]
    config = dataclasses.replace(MEMBER, nb_min_gain=0.01)
    kept = kept_of(plain, mixed, y)
    a, b, thresholds = calibrate_tags(kept, None, config)
    before = (a.copy(), b.copy(), [dataclasses.replace(t) for t in thresholds])
    out, chosen, after = nb_member_choice(kept, a, b, thresholds, config)
    assert chosen.tolist() == [True, False]
    assert after[0].f1 > before[2][0].f1 + 0.01
    # Tag 1 keeps its plain scores, sigmoid and threshold exactly.
    assert out.scores[1] is plain[1] and out.scores[0] is mixed[0]
    assert (a[1], b[1]) == (before[0][1], before[1][1]) and after[1] == before[2][1]
    assert out.member is None
    # A gain nothing reaches: every tag stays plain.
    strict = dataclasses.replace(config, nb_min_gain=0.99)
    a3, b3, t3 = calibrate_tags(kept, None, strict)
    out3, chosen3, after3 = nb_member_choice(kept, a3, b3, t3, strict)
    assert not chosen3.any() and after3 == t3 and out3.scores == plain


def test_pooled_and_policy_tags_are_never_switched() -> None:
    rng = np.random.default_rng(2)
    y = np.zeros((200, 2), dtype=bool)
    y[:1, 0] = True  # one positive: below min_support, pooled calibration
    y[rng.choice(200, 50, replace=False), 1] = True
    signal = np.where(y, 1.0, -1.0)
    kept = kept_of([signal[:, 0] * 0.1, signal[:, 1] * 0.1 + rng.normal(0, 1, 200)],
                   [signal[:, 0], signal[:, 1]], y)  # fmt: skip
    config = dataclasses.replace(MEMBER, nb_min_gain=0.0)
    targets = [None, ("strict", 0.9)]
    a, b, thresholds = calibrate_tags(kept, None, config, targets)
    _out, chosen, _after = nb_member_choice(kept, a, b, thresholds, config, targets)
    assert thresholds[0].method == "pooled" and not chosen.any()


def test_off_by_default_and_a_member_no_tag_keeps_changes_nothing() -> None:
    assert not ModelConfig().nb_weighted
    x, y = corpus()
    labels = ["a", "b", "c"]
    plain = train_tag_model(x, y, labels, PLAIN)
    unused = train_tag_model(x, y, labels, dataclasses.replace(MEMBER, nb_min_gain=0.99))
    assert unused.cv_metrics["nb_member_tags"] == 0
    assert "nb_member_tags" not in plain.cv_metrics
    assert (plain.coef != unused.coef).nnz == 0
    assert np.array_equal(plain.intercept, unused.intercept)
    assert np.array_equal(plain.platt_a, unused.platt_a)
    assert plain.thresholds == unused.thresholds


def test_the_mix_is_one_linear_model_per_tag_with_correct_evidence() -> None:
    x, y = corpus()
    labels = ["a", "b", "c"]
    plain = train_tag_model(x, y, labels, PLAIN)
    mixed = train_tag_model(x, y, labels, MEMBER)
    assert mixed.cv_metrics["nb_member_tags"] == 3
    # The stored weights are the average of the plain fit and the NB-weighted fit.
    column = y[:, 1]
    ratio = nb_ratio(
        np.asarray(x[column].sum(axis=0)).ravel(),
        np.asarray(x.sum(axis=0)).ravel(),
        MEMBER.nb_alpha,
    )
    w_nb, b_nb = _liblinear(
        sp.csr_matrix(x @ sp.diags(ratio)), column, 1.0, 0, None, None, 1.0, 0.1
    )
    w = plain.coef[1].toarray().ravel()
    expected = 0.5 * (w + ratio * w_nb)
    assert np.allclose(mixed.coef[1].toarray().ravel(), expected, atol=1e-3)
    assert np.isclose(mixed.intercept[1], 0.5 * (plain.intercept[1] + b_nb), atol=1e-4)
    # Decision values and evidence read the same weights.
    decision = mixed.decision(x)
    assert np.allclose(decision, x @ mixed.coef.T.toarray() + mixed.intercept, atol=1e-6)
    row = x[0]
    names = np.array([f"term{i}" for i in range(x.shape[1])], dtype=object)
    terms = evidence_terms(row.indices, row.data, mixed.weight_row(0), names, k=3)
    contributions = row.toarray().ravel() * mixed.coef[0].toarray().ravel()
    best = np.argsort(-contributions)[: len(terms)]
    assert [t for t, _ in terms] == [f"term{i}" for i in best]


def test_a_model_with_the_member_survives_its_state() -> None:
    x, y = corpus()
    model = train_tag_model(x, y, ["a", "b", "c"], dataclasses.replace(MEMBER, nb_min_gain=0.0))
    meta, arrays = model.to_state()
    back = TagModel.from_state(json.loads(json.dumps(meta)), arrays, x.shape[1])
    assert np.array_equal(back.predict_proba(x), model.predict_proba(x))
    assert back.cv_metrics["nb_member_tags"] == model.cv_metrics["nb_member_tags"]
    probs = platt_apply(model.decision(x), model.platt_a, model.platt_b)
    assert np.array_equal(back.select(probs), model.select(probs))
    assert all(isinstance(t, Threshold) for t in back.thresholds)


def test_no_member_above_the_calibration_budget() -> None:
    x, y = corpus()
    labels = ["a", "b", "c"]
    small = dict(calibration_entries=3 * 300 - 1, calibration_min_negatives=0)
    plain = train_tag_model(x, y, labels, dataclasses.replace(PLAIN, **small))
    asked = train_tag_model(x, y, labels, dataclasses.replace(MEMBER, **small))
    assert "nb_member_tags" not in asked.cv_metrics
    assert (plain.coef != asked.coef).nnz == 0 and plain.thresholds == asked.thresholds
