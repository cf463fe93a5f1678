"""Threshold and second-stage variants on cached first stages (Reuters development folds).

    python bench/reuters_tags_cache.py ../shared/data/reuters21578 /tmp/rtags/cache
    python bench/reuters_tags_study.py /tmp/rtags/cache --study fbr|stack|guard|gain|knn|micro \
        [--folds 0,1,2,3,4]
    python bench/reuters_tags_cache.py ../shared/data/reuters21578 /tmp/calib/cache --scales
    python bench/reuters_tags_study.py /tmp/calib/cache --study scale

No refit of the first stage: each variant recalibrates, or fits a second stage on, the
out-of-fold first-stage scores the cache holds, and is scored on the fold's test part as
`reuters_dev_cv.py` scores it (micro/macro-F1 pooled over the folds, over the 90 topics,
then per fold). The second stage here is a prototype in scikit-learn (logistic regression
or LinearSVC on the top-k out-of-fold probabilities and the tag's own log-odds), the one
`tagger.stacking` was built from; `reuters_dev_cv.py --variant` measures the built one.
The ModApte test set is not read.
"""

from __future__ import annotations

import argparse
import pickle
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

import tagger.classify as C
from tagger.evaluate import TagCounts
from tagger.stacking import log_odds, top_probabilities


def widen(d: dict, chosen: np.ndarray, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Columns of the fold's tags placed among all 90 topics."""
    column = {t: i for i, t in enumerate(d["all_labels"])}
    where = [column[t] for t in d["labels"]]
    c = np.zeros((chosen.shape[0], len(d["all_labels"])), bool)
    s = np.zeros(c.shape)
    c[:, where], s[:, where] = chosen, probs
    return c, s


def with_calibration(tm: Any, a: np.ndarray, b: np.ndarray, thresholds: list) -> Any:
    model = replace(tm, platt_a=a, platt_b=b, thresholds=thresholds)
    for cached in ("_threshold_values", "_rules_allowed"):
        model.__dict__.pop(cached, None)
    return model


def base(d: dict) -> tuple[np.ndarray, np.ndarray]:
    tm = d["model"]
    probs = C.platt_apply(d["test_decision"], tm.platt_a, tm.platt_b)
    return tm.choose(probs, d["test_titles"], d["test_bodies"]), probs


def fbr(d: dict, level: float = 0.3, rule: str = "rank") -> tuple[np.ndarray, np.ndarray]:
    """SCutFBR: a tag whose tuned out-of-fold F1 is below `level` falls back to the rank
    rule (its threshold raised to its highest out-of-fold negative probability: no
    out-of-fold false positive) or ("half") to at least 0.5."""
    kept = d["kept"]
    a, b, thresholds = C.calibrate_tags(kept, None, C.ModelConfig())
    thresholds = [replace(t) for t in thresholds]
    for j, t in enumerate(thresholds):
        if t.support == 0 or t.f1 >= level:
            continue
        p = C.platt_apply(kept.scores[j], a[j], b[j])
        negatives = p[~kept.positive[j]]
        top = float(negatives.max()) if len(negatives) else 0.5
        t.value = float(max(top if rule == "rank" else 0.5, t.value))
    model = with_calibration(d["model"], a, b, thresholds)
    probs = C.platt_apply(d["test_decision"], a, b)
    return model.choose(probs, d["test_titles"], d["test_bodies"]), probs


def dense_oof(kept: Any) -> np.ndarray:
    out = np.full((kept.n, len(kept.rows)), -5.0)
    for j in range(len(kept.rows)):
        out[kept.rows[j], j] = kept.scores[j]
    return out


def stack(
    d: dict,
    k: int = 10,
    c: float = 1.0,
    loss: str = "lr",
    min_pos: int = 2,
    keep_first: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Second stage per tag on the top-k out-of-fold probabilities and its own log-odds,
    cross-validated on the inner folds for its calibration; `keep_first`: tags under
    `min_pos` keep their first-stage sigmoid and threshold exactly."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import LinearSVC

    tm, kept = d["model"], d["kept"]
    y = d["y_train"].toarray().astype(bool)
    p_train = C.platt_apply(dense_oof(kept), tm.platt_a, tm.platt_b)
    p_test = C.platt_apply(d["test_decision"], tm.platt_a, tm.platt_b)
    f_train, f_test = top_probabilities(p_train, k), top_probabilities(p_test, k)
    own_train, own_test = log_odds(p_train), log_odds(p_test)
    oof2, dec2 = own_train.copy(), own_test.copy()

    def model() -> Any:
        if loss == "lr":
            return LogisticRegression(C=c, solver="liblinear")
        return LinearSVC(C=c, dual=True, max_iter=5000)

    for j in range(y.shape[1]):
        yj = y[:, j]
        if yj.sum() < min_pos:
            continue
        x_train = sp.hstack([f_train, sp.csr_matrix(own_train[:, [j]])]).tocsr()
        x_test = sp.hstack([f_test, sp.csr_matrix(own_test[:, [j]])]).tocsr()
        for test in d["inner_folds"]:
            train = np.setdiff1d(np.arange(len(yj)), test)
            if yj[train].sum() == 0:
                oof2[test, j] = -10
                continue
            oof2[test, j] = model().fit(x_train[train], yj[train]).decision_function(x_train[test])
        dec2[:, j] = model().fit(x_train, yj).decision_function(x_test)
    a2, b2, thresholds = C.calibrate_tags(oof2, y, C.ModelConfig())
    if keep_first:
        for j in np.flatnonzero(y.sum(axis=0) < min_pos):
            a2[j], b2[j], thresholds[j] = tm.platt_a[j], tm.platt_b[j], tm.thresholds[j]
            dec2[:, j] = d["test_decision"][:, j]
    model2 = with_calibration(tm, a2, b2, thresholds)
    probs = C.platt_apply(dec2, a2, b2)
    hits = tm.rule_hits(d["test_titles"]) | tm.lead_hits(d["test_bodies"], len(probs))
    return model2.select(probs) | (hits & model2.rules_allowed), probs


def built(d: dict, **settings: Any) -> tuple[np.ndarray, np.ndarray]:
    """The built second stage (`classify.second_stage`, as `train_tag_model` runs it) on
    the cached first stage with these `ModelConfig` settings; the name rules are fitted
    again on its out-of-fold probabilities, as training does."""
    tm, kept = d["model"], d["kept"]
    config = replace(C.ModelConfig(), **settings)
    folds = d["inner_folds"]
    a, b, thresholds = C.calibrate_tags(kept, None, config)
    stage, rescored, thresholds = C.second_stage(kept, a, b, thresholds, folds, config, 0)
    model = with_calibration(tm, a, b, thresholds)
    model.stack = stage
    decision = d["test_decision"] if stage is None else stage.apply(d["test_decision"])
    y_rows = C._cross_validated_labels(sp.csc_matrix(d["y_train"]), folds, config)
    probs = rescored.matrix([C.platt_apply(s, a[j], b[j]) for j, s in enumerate(rescored.scores)])
    C.select_out_of_fold(
        model, probs, y_rows, d["train_titles"], d["train_bodies"], config.lead_chars
    )
    test = C.platt_apply(decision, a, b)
    return model.choose(test, d["test_titles"], d["test_bodies"]), test


def defaults_chain(d: dict) -> tuple[Any, np.ndarray, np.ndarray, list]:
    """The defaults' calibration chain on the cached first stage (`train_tag_model`'s):
    calibration, the NB-weighted member's choice, the second stage; the out-of-fold
    scores then used, the sigmoids and the thresholds (the same as the cached model's)."""
    from tagger.train import TrainConfig

    config = TrainConfig().tags
    kept = d["kept"]
    a, b, thresholds = C.calibrate_tags(kept, None, config)
    kept, _members, thresholds = C.nb_member_choice(kept, a, b, thresholds, config)
    if config.stack_top > 0 and kept.whole():
        _stage, kept, thresholds = C.second_stage(
            kept, a, b, thresholds, d["inner_folds"], config, 0
        )
    return kept, a, b, thresholds


def nearest_positive(x: sp.csr_matrix, positives: sp.csr_matrix, rows: Any = None) -> np.ndarray:
    """Each row's highest cosine similarity to a tag's positives (rows L2-normalised);
    with `rows` (the positives' own rows in `x`), a positive is not its own neighbour."""
    sims = (x @ positives.T).toarray()
    if rows is not None:
        sims[rows, np.arange(len(rows))] = -1.0
    return sims.max(axis=1) if sims.shape[1] else np.zeros(x.shape[0])


def knn(d: dict, mode: str = "lr", under: int = 5, pool: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """The rare-pooled tags (under `under` training positives) with a nearest-neighbour
    score besides their own: the highest cosine similarity of the article to one of the
    tag's training positives (leave-one-out in training). "lr": one logistic regression
    on (log-odds, similarity) fitted on the out-of-fold entries of the tags with 2 to
    `pool` positives, with its best-F1 threshold; "or": the tag also suggested where the
    similarity reaches a cut-off tuned on the same entries."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import normalize

    kept, a, b, thresholds = defaults_chain(d)
    x_train, x_test = normalize(d["x_train"]), normalize(d["x_test"])
    y = sp.csc_matrix(d["y_train"])
    support = np.diff(y.indptr)
    chosen, probs = base(d)
    rare = [j for j, t in enumerate(thresholds) if t.method == C.RARE_POOLED]
    fitted = [j for j in rare if 2 <= support[j] <= pool]
    odds, sims, positive, weights = [], [], [], []
    for j in fitted:
        own = y[:, j].indices
        sim = nearest_positive(x_train, x_train[own], own)[kept.rows[j]]
        odds.append(-(a[j] * kept.scores[j] + b[j]))  # tagger's sigmoid is 1/(1+exp(a s + b))
        sims.append(sim)
        positive.append(kept.positive[j])
        weights.append(kept.weights[j])
    z, s, yy, w = (np.concatenate(v) for v in (odds, sims, positive, weights))
    config = C.ModelConfig()
    if mode == "lr":
        lr = LogisticRegression(C=1e4, max_iter=1000).fit(np.c_[z, s], yy, sample_weight=w)
        cut = C.tune_threshold(
            lr.predict_proba(np.c_[z, s])[:, 1],
            yy,
            min_precision=config.min_precision,
            fallback=config.fallback_threshold,
            weights=w,
        ).value
        print(f"  knn lr weights (log-odds, similarity) {lr.coef_.round(3).tolist()}")
    else:
        at = np.log(thresholds[fitted[0]].value / (1 - thresholds[fitted[0]].value))

        def f1(cut: float) -> float:
            pred = (z >= at) | (s >= cut)
            tp, fp, fn = w[pred & yy].sum(), w[pred & ~yy].sum(), w[~pred & yy].sum()
            return 2 * tp / (2 * tp + fp + fn)

        cut = max(np.arange(0.2, 0.95, 0.01), key=f1)
        print(f"  knn similarity cut-off {cut:.2f}")
    new = chosen.copy()
    for j in (j for j in rare if support[j] < under):
        sim = nearest_positive(x_test, x_train[y[:, j].indices])
        if mode == "lr":
            odds_j = np.log(np.clip(probs[:, j], 1e-12, 1) / np.clip(1 - probs[:, j], 1e-12, 1))
            by_rules = chosen[:, j] & (probs[:, j] < thresholds[j].value)
            new[:, j] = (lr.predict_proba(np.c_[odds_j, sim])[:, 1] >= cut) | by_rules
        else:
            new[:, j] = chosen[:, j] | (sim >= cut)
    return new, probs


def micro_thresholds(d: dict, min_support: int = 50) -> tuple[np.ndarray, np.ndarray]:
    """The thresholds of the tags with their own best-F1 threshold and at least
    `min_support` positives moved, tag by tag (two sweeps), to the value (0.05-0.94 by
    0.01) that maximises the out-of-fold micro-F1 of all tags together instead of the
    tag's own F1 (Lipton et al. 2014: the two optima differ)."""
    tm = d["model"]
    kept, a, b, thresholds = defaults_chain(d)
    p = np.zeros((kept.n, len(kept.rows)))
    y = np.zeros(p.shape, dtype=bool)
    for j in range(len(kept.rows)):
        p[kept.rows[j], j] = C.platt_apply(kept.scores[j], a[j], b[j])
        y[kept.rows[j], j] = kept.positive[j]
    values = np.array([t.value for t in thresholds])
    chosen = p >= values
    movable = (y.sum(axis=0) >= min_support) & np.array(
        [t.method.startswith("best") for t in thresholds]
    )
    for _sweep in range(2):
        for j in np.flatnonzero(movable):
            others = chosen.copy()
            others[:, j] = False
            tp0, fp0 = (others & y).sum(), (others & ~y).sum()
            fn0 = (~others & y).sum() - y[:, j].sum()

            def micro(
                cut: float, j: int = j, tp0: int = tp0, fp0: int = fp0, fn0: int = fn0
            ) -> float:
                s = p[:, j] >= cut
                tp = tp0 + (s & y[:, j]).sum()
                fp = fp0 + (s & ~y[:, j]).sum()
                fn = fn0 + (~s & y[:, j]).sum()
                return 2 * tp / (2 * tp + fp + fn)

            values[j] = max([values[j], *np.arange(0.05, 0.95, 0.01)], key=micro)
            chosen[:, j] = p[:, j] >= values[j]
    moved = [replace(t, value=float(v)) for t, v in zip(tm.thresholds, values, strict=True)]
    model = with_calibration(tm, tm.platt_a, tm.platt_b, moved)
    probs = base(d)[1]
    return model.choose(probs, d["test_titles"], d["test_bodies"]), probs


# -- the scale of the final model's decision values (docs/tags.md, eleventh pass) -----------
#
# Calibration (Platt and the threshold) is fitted on out-of-fold decision values of the
# inner cross-validation models, each trained on 4/5 of the articles, and applied to the
# decision values of the final model trained on all of them, whose weights may be larger.
# Platt's sigmoid is affine-invariant, so multiplying a tag's out-of-fold scores by r
# before calibration is the same (up to the all-tag pooled fit of tags under `min_support`)
# as dividing the final model's first-stage decision values by r at prediction, before the
# second stage (which reads first-stage probabilities) and the sigmoid. The variants below
# do the latter on the cached final model; `scale_oof` does the former once, as a check.
#
# Candidates, written down before any was run (cache: `reuters_tags_cache.py --scales`):
#   (a) "norm": per tag t, r_t = ||w_final,t|| / mean over inner folds f of ||w_f,t||, the
#       weights the tag uses (plain SVM, or averaged with its NB member where the tag took
#       it), before pruning (the fold models are not pruned); 1 where a tag has no fit.
#   (b) "norm-median" / "norm-median-50": one ratio for every tag, the median of (a) over
#       all tags, or over the tags with at least 50 training positives.
#   (d) "sd": r_t = sd of x @ w_final,t / mean over f of sd of x @ w_f,t, x the fold's whole
#       training part (the same articles for every model): the spread of the decision
#       values on articles like the ones scored, not the norm of weights on features the
#       articles rarely hold.
#   (c) fixed r = 1.05 / 1.1 for every tag (the old hack, out-of-fold scores times r), and
#       the final model's decision values times 1.05 / 1.1 (the other reading of "scaled
#       before Platt"): a measure of what a scale change is worth, not candidates.
# Added after fold 0's run of the above (every candidate lost there; its diagnosis, on
# fold 0's test part: the final model's negatives sit where the out-of-fold negatives do,
# near the hinge's margin -1, their spread 1.12x the out-of-fold one, the positives higher;
# so the weights' growth acts on the distance from the negatives, not from 0), written
# down before folds 1-4 were run:
#   (e) "anchored": d' = m_t + (d - m_t) / r_t, r_t of (a), m_t the mean of the tag's
#       out-of-fold negatives' scores (weighted as calibration weighs them; the scores the
#       tag uses, plain or mixed); "anchored-median": one r, the median of (a) over tags.
# Rule (fixed before): a candidate is kept only if pooled micro-F1 and macro-F1 are both at
# least the defaults' (`base`), micro-F1 is above the defaults' on at least 4 of 5 folds,
# and `bench/sample_tags.py corpus/sample.jsonl` seeds 0-2 lower neither figure.


def scale_kind(d: dict, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """Per tag: the final fit's and the inner folds' `kind` ("norm" or "sd") of the
    weights the tag uses (mixed with its NB member where the final model is)."""
    sc = d["scales"]
    mixed = np.isfinite(sc[f"final_mixed_{kind}"])
    final = np.where(mixed, sc[f"final_mixed_{kind}"], sc[f"final_plain_{kind}"])
    folds = np.where(mixed[:, None], sc[f"fold_mixed_{kind}"], sc[f"fold_plain_{kind}"])
    return final, folds


def tag_ratios(d: dict, kind: str = "norm") -> np.ndarray:
    """r_t = final / mean over the inner folds (candidates a and d); 1 without a value."""
    final, folds = scale_kind(d, kind)
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        r = final / np.nanmean(folds, axis=1)
    return np.where(np.isfinite(r) & (r > 0), r, 1.0)


def first_stage(d: dict) -> np.ndarray:
    """The cached final model's first-stage decision values on the fold's test part."""
    tm = d["model"]
    return tm._split().product(d["x_test"]) + tm.intercept


def negative_means(d: dict) -> np.ndarray:
    """Per tag, the weighted mean of its out-of-fold negatives' scores (plain, or mixed
    where the final model is mixed), as calibration keeps them."""
    kept = d["kept"]
    mixed = np.isfinite(d["scales"]["final_mixed_norm"])
    out = np.zeros(len(kept.rows))
    for j in range(len(kept.rows)):
        s = kept.member[j] if mixed[j] and kept.member is not None else kept.scores[j]
        negative = ~kept.positive[j]
        if negative.any():
            out[j] = np.average(s[negative], weights=kept.weights[j][negative])
    return out


def divided(
    d: dict, r: np.ndarray | float, anchor: np.ndarray | float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """The cached model with its first-stage decision values' distance from `anchor`
    divided by r (per tag or one number) before the second stage and the sigmoid;
    everything else as trained."""
    tm = d["model"]
    decision = anchor + (first_stage(d) - anchor) / r
    if tm.stack is not None:
        decision = tm.stack.apply(decision)
    probs = C.platt_apply(decision, tm.platt_a, tm.platt_b)
    return tm.choose(probs, d["test_titles"], d["test_bodies"]), probs


def scale(d: dict, ratio: str = "norm", fixed: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Candidate `ratio`: "norm" (a), "norm-median" / "norm-median-50" (b), "sd" (d),
    "anchored" / "anchored-median" (e); "fixed": the final decision values divided by
    `fixed` (c)."""
    if ratio == "fixed":
        return divided(d, fixed)
    if ratio.startswith("anchored"):
        r = tag_ratios(d, "norm")
        if ratio.endswith("-median"):
            r = float(np.median(r[np.isfinite(scale_kind(d, "norm")[0])]))
        return divided(d, r, negative_means(d))
    if ratio.startswith("norm-median"):
        r = tag_ratios(d, "norm")
        has = np.isfinite(scale_kind(d, "norm")[0])
        if ratio.endswith("-50"):
            has &= np.diff(sp.csc_matrix(d["y_train"]).indptr) >= 50
        return divided(d, float(np.median(r[has])))
    return divided(d, tag_ratios(d, ratio))


def scale_oof(d: dict, ratio: str = "norm") -> tuple[np.ndarray, np.ndarray]:
    """Candidate (a) the other way round: every tag's out-of-fold scores (plain and mixed)
    times its r_t (plain and mixed weights' own ratios), then the defaults' chain
    (calibration, NB member choice, second stage, name rules fitted again) applied to the
    final model's decision values as they are."""
    from tagger.train import TrainConfig

    sc = d["scales"]

    def r_of(kind: str) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            fold = np.nanmean(sc[f"fold_{kind}_{ratio}"], axis=1)
            r = sc[f"final_{kind}_{ratio}"] / fold
        # A tag whose final model has no member: its mixed ratio is the plain one's (its
        # mixed out-of-fold scores are only read if it takes the member, which it did not).
        return np.where(np.isfinite(r) & (r > 0), r, np.nan)

    plain = np.nan_to_num(r_of("plain"), nan=1.0)
    mixed = np.where(np.isnan(r_of("mixed")), plain, r_of("mixed"))
    kept = d["kept"]
    kept = replace(
        kept,
        scores=[s * plain[j] for j, s in enumerate(kept.scores)],
        member=None if kept.member is None else [s * mixed[j] for j, s in enumerate(kept.member)],
    )
    config = TrainConfig().tags
    folds = d["inner_folds"]
    a, b, thresholds = C.calibrate_tags(kept, None, config)
    kept, _members, thresholds = C.nb_member_choice(kept, a, b, thresholds, config)
    stage = None
    if config.stack_top > 0 and kept.whole():
        stage, kept, thresholds = C.second_stage(kept, a, b, thresholds, folds, config, 0)
    tm = with_calibration(d["model"], a, b, thresholds)
    tm.stack = stage
    y_rows = C._cross_validated_labels(sp.csc_matrix(d["y_train"]), folds, config)
    probs = kept.matrix([C.platt_apply(s, a[j], b[j]) for j, s in enumerate(kept.scores)])
    C.select_out_of_fold(tm, probs, y_rows, d["train_titles"], d["train_bodies"], config.lead_chars)
    decision = first_stage(d)
    if stage is not None:
        decision = stage.apply(decision)
    test = C.platt_apply(decision, a, b)
    return tm.choose(test, d["test_titles"], d["test_bodies"]), test


def describe_scales(cache: dict[int, dict]) -> None:
    """The ratios per fold (by support), and on each fold's test part the spread of the
    final model's first-stage decision values against that of the out-of-fold scores
    over the training part (a check of the premise, read only, nothing chosen on it)."""
    for i, d in cache.items():
        support = np.diff(sp.csc_matrix(d["y_train"]).indptr)
        norm, sd = tag_ratios(d, "norm"), tag_ratios(d, "sd")
        mixed = np.isfinite(d["scales"]["final_mixed_norm"])
        first = first_stage(d)
        kept0 = d["kept"]
        seen = []
        for j in range(len(kept0.rows)):
            if support[j] < 2 or not kept0.whole():
                continue
            oof = kept0.member[j] if mixed[j] and kept0.member is not None else kept0.scores[j]
            seen.append(np.std(first[:, j]) / max(np.std(oof), 1e-12))
        print(
            f"  fold {i}: r norm median {np.median(norm):.3f} "
            f"[{np.percentile(norm, 10):.3f}, {np.percentile(norm, 90):.3f}]"
            f" (>=50 positives {np.median(norm[support >= 50]):.3f}, <10 "
            f"{np.median(norm[support < 10]):.3f}); r sd median {np.median(sd):.3f} "
            f"[{np.percentile(sd, 10):.3f}, {np.percentile(sd, 90):.3f}]; "
            f"test sd / oof sd median {np.median(seen):.3f}",
            flush=True,
        )


GUARD = {"stack_top": 10, "stack_c": 0.1}
STUDIES: dict[str, list[tuple[Any, dict[str, Any]]]] = {
    "fbr": [(fbr, {"level": v}) for v in (0.2, 0.3, 0.4, 0.5)] + [(fbr, {"rule": "half"})],
    "stack": [
        (stack, {"k": 5}),
        (stack, {"k": 10}),
        (stack, {"k": 5, "c": 0.1}),
        (stack, {"k": 5, "c": 10.0}),
        (stack, {"k": 10, "min_pos": 20}),
        (stack, {"k": 10, "min_pos": 50}),
        (stack, {"k": 10, "c": 0.1, "min_pos": 20}),
        (stack, {"k": 10, "min_pos": 20, "keep_first": True}),
        (stack, {"k": 10, "min_pos": 50, "keep_first": True}),
        (stack, {"k": 10, "min_pos": 20, "keep_first": True, "loss": "svm", "c": 0.1}),
    ],
    "guard": [
        (built, GUARD | {"stack_min_gain": None}),
        (built, GUARD),
        (built, GUARD | {"stack_min_positives": 20}),
        (built, GUARD | {"stack_min_positives": 10}),
        (built, GUARD | {"stack_min_positives": 20, "stack_c": 1.0}),
    ],
    "gain": [(built, GUARD | {"stack_min_gain": g}) for g in (0.005, 0.01, 0.02)],
    "micro": [(micro_thresholds, {"min_support": m}) for m in (10, 50, 200)],
    "knn": [(knn, {"mode": "lr"}), (knn, {"mode": "or"}), (knn, {"mode": "lr", "under": 10})],
    "scale": [
        (scale, {"ratio": "norm"}),
        (scale, {"ratio": "norm-median"}),
        (scale, {"ratio": "norm-median-50"}),
        (scale, {"ratio": "sd"}),
        (scale_oof, {"ratio": "norm"}),
        (scale, {"ratio": "anchored"}),
        (scale, {"ratio": "anchored-median"}),
        (scale, {"ratio": "fixed", "fixed": 1.05}),
        (scale, {"ratio": "fixed", "fixed": 1.1}),
        (scale, {"ratio": "fixed", "fixed": 1 / 1.05}),
        (scale, {"ratio": "fixed", "fixed": 1 / 1.1}),
    ],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("cache", type=Path)
    parser.add_argument("--study", choices=sorted(STUDIES), default="fbr")
    parser.add_argument("--folds", default="0,1,2,3,4")
    args = parser.parse_args()
    folds = [int(f) for f in args.folds.split(",")]
    cache = {}
    for i in folds:
        with open(args.cache / f"fold{i}.pkl", "rb") as handle:
            cache[i] = pickle.load(handle)
    if args.study == "scale":
        describe_scales(cache)
    for variant, kwargs in [(base, {}), *STUDIES[args.study]]:
        pooled = TagCounts(cache[folds[0]]["all_labels"])
        per_fold = []
        for i in folds:
            d = cache[i]
            c, s = widen(d, *variant(d, **kwargs))
            pooled.add(d["y_test_all"], c, s)
            one = TagCounts(d["all_labels"])
            one.add(d["y_test_all"], c, s)
            m = one.metrics()
            per_fold.append(f"{m['micro_f1']:.4f}/{m['macro_f1']:.4f}")
        m = pooled.metrics()
        name = f"{variant.__name__} {kwargs}" if kwargs else variant.__name__
        figures = f"pooled {m['micro_f1']:.4f} / {m['macro_f1']:.4f}"
        print(f"{name:60s} {figures}  folds {' '.join(per_fold)}", flush=True)


if __name__ == "__main__":
    main()
