"""Classifiers: one section per article, many tags per article.

Both are linear models on the sparse features. Out-of-fold decision values from
k-fold cross-validation give calibrated probabilities (Platt scaling for tags,
temperature-scaled softmax for sections) and each tag's threshold; the final
models are then fit on all the training data.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp

from tagger.features import TfidfBlock, normalize_rows
from tagger.name_rules import LEAD_SUPPORT_LIMITS, NameRule, fit_name_rule
from tagger.stacking import SecondStage, fit_second_stage
from tagger.stopwords import is_content_term

Progress = Callable[[str, int, int], None]


def _no_progress(_stage: str, _done: int, _total: int) -> None:
    return None


@dataclass
class ModelConfig:
    """Classifier settings shared by the section and the tag model."""

    c: float = 1.0
    cv_folds: int = 5
    min_precision: float | None = None
    # A tag whose out-of-fold F1 stays below this is only suggested when the model is
    # very sure: its threshold falls back to `fallback_threshold`.
    min_tag_f1: float = 0.0
    fallback_threshold: float = 0.5
    # Tags with fewer training articles share a pooled calibration and threshold.
    min_support: int = 2
    # Tags with fewer training positives than this are calibrated on a pool of rare tags
    # (`RarePool`): each tag's out-of-fold scores standardised by its own negatives' mean
    # and spread (thousands of negatives, even for a tag with two positives), one sigmoid
    # and one threshold fitted on the standardised scores of those of these tags with at
    # most `rare_pool_positives` positives (by default the tags with 2 to 4 positives fit
    # it; it serves those with 1 to 4). A rare tag's decision values sit far below a
    # frequent tag's, so the all-tag pool (and its own few positives) put its cut-off
    # where its best articles never reach (docs/tags.md, eighth pass); 10 gained more on
    # Reuters' rare tags but lost on a small corpus. 0: off.
    rare_calibration: int = 5
    rare_pool_positives: int = 5
    # Tags on fewer training articles are left out of the model, with a warning.
    # None: 1 (keep all) up to 1,000 distinct tags, 2 above (tagger.train.choose_tag_labels).
    min_tag_support: int | None = None
    # At most this many tags are learned: the most frequent (ties by name); the others are
    # left out with a warning. Bounds training time, memory and the bundle on label sets
    # no corpus supports (100,000 distinct tags on 39 articles). None: no limit.
    max_tags: int | None = 20_000
    # A tag's own threshold is pulled toward the pooled one as if the pooled one had
    # this many articles of evidence: thresholds tuned on a handful of positives overfit.
    threshold_shrinkage: float = 5.0
    # Every training article has a tag, so an article where no tag passes its threshold
    # still gets its best tag when that tag's probability reaches this floor (None: off).
    best_tag_floor: float | None = 0.1
    # Learn a rule that suggests a tag named in the title (tagger.name_rules).
    name_rule: bool = True
    # Learn a second such rule on the lead, the body's first this many characters (the
    # dateline and first sentence of a wire story), for the tags it helps on out-of-fold
    # results; 0: off. Needs `name_rule`.
    lead_chars: int = 300
    class_weight: str | None = None
    # Tags only: a tag with fewer training positives than this weighs each positive as
    # if it had this many (class weight rare_positives / positives on the positive
    # class; none above it), so a rare tag's few examples are not outvoted by thousands
    # of negatives. 0: off.
    rare_positives: int = 0
    # Processes fitting tags in parallel (-1: all cores). Results do not depend on it.
    n_jobs: int = -1
    # Small tag weights are dropped while no decision value moves by more than this.
    # `prune_rule` "articles" (`prune_on_articles`): bounded on every training article,
    # the dropped weights' mean contribution going into the intercept; "l2"
    # (`prune_weights`): bounded for any L2-normalised article (Cauchy-Schwarz), a far
    # looser rule. 0 keeps every non-zero weight.
    prune_tolerance: float = 0.08
    prune_rule: Literal["articles", "l2"] = "articles"
    # Out-of-fold scores kept for calibration, over all tags (see OutOfFold): a tag
    # keeps all of its negatives when this budget allows, else its top negatives and
    # a weighted sample of the rest, at least `calibration_min_negatives` in all.
    calibration_entries: int = 5_000_000
    calibration_min_negatives: int = 400
    # Sections: average in a second linear model on NB-weighted features
    # (`_fit_nb_weighted`); TrainConfig turns it on for sections. Tags: average in, per
    # tag, an SVM on the features scaled by the tag's log-count ratio (`nb_ratio`, Wang and
    # Manning 2012), decision values averaged with the plain SVM's; a tag keeps the mix
    # only where its out-of-fold F1 (own tuned threshold, same folds) beats the plain
    # model's by more than `nb_min_gain` (None: every tag mixed; `nb_member_choice`). The
    # mix is linear, so it is stored as the tag's weights: prediction, evidence and the
    # bundle do not change. Fitted only when articles x tags is within
    # `calibration_entries` (`nb_member_trained`): it doubles the first stage's fits.
    nb_weighted: bool = False
    nb_min_gain: float | None = 0.01
    # Tags: smoothing of the log-count ratio (added to each feature's sum over the
    # positives and over the negatives; the features are tf-idf values, not counts, and
    # 0.03 did better than 1 on the Reuters development folds). Sections use 1.
    nb_alpha: float = 0.03
    # Tags: does the NB-weighted member read the character block (`features.char_ngrams`)
    # too? False: the plain SVM reads every block, the member the word (and entity)
    # columns only, rows scaled by one factor to their usual length (`member_view`): the
    # member of the word-only defaults, for two thirds of the block's training cost with
    # the member reading it (docs/tags.md, ninth pass). No effect without the block.
    nb_chars: bool = False
    # Sections only: a third linear model on character n-grams of the title alone (this
    # range), mixed in with the weight among `title_weights` whose out-of-fold log-loss
    # is lowest (0 leaves it out). TrainConfig turns it on for sections; None: off.
    title_chars: tuple[int, int] | None = None
    title_weights: tuple[float, ...] = (0.0, 0.2, 0.35, 0.5)
    # Sections only: a fourth model on the title's character n-grams across word
    # boundaries (this range; "QTR NET", "SHR 1" are grams of their own), mixed in after
    # the title model the same way, by out-of-fold log-loss among `title_weights`. None: off.
    title_cross_chars: tuple[int, int] | None = None
    # Sections only: C of the word models (and whether the NB-weighted one is averaged in)
    # chosen among these by the out-of-fold accuracy of the whole mix (ties: the lower
    # log-loss, then the smaller C, then one model). Empty: `c` and `nb_weighted` as given.
    # The title models keep `c`.
    c_grid: tuple[float, ...] = ()
    # A precision policy (tagger.policy: rules mapping tags or vocabulary branches to a
    # precision target), as a dict; None: every tag by `min_precision` or best F1.
    policy: dict[str, Any] | None = None
    # Easy negatives are sampled: a tag's fit keeps every positive and at most
    # max(sample_negatives_min, negatives_per_positive x positives) negatives, the share
    # `hard_negative_share` of them the closest to the centroid of its positives, the
    # rest a uniform sample of the others, each weighing as many negatives as it stands
    # for (see `training_rows`). Chosen at 20,000 articles x 150 tags against 10,000 / 0.5
    # (held-out micro-F1 -0.003, a fit 2.5x cheaper) and on the Reuters development split
    # (docs/scale.md).
    sample_negatives_min: int = 3000
    negatives_per_positive: int = 20
    hard_negative_share: float = 0.75
    # A tag with more training positives than this is cross-validated on fewer folds,
    # enough for about this many out-of-fold positives (`folds_per_tag`).
    cv_positives: int = 3000
    # Stopping tolerance of a tag's liblinear fits (LinearSVC's `tol`; 0.1 is liblinear's
    # own default for this solver): a third fewer passes than LinearSVC's 1e-4 for the
    # same decisions within 0.001 F1 (docs/scale.md). Tags only. TrainConfig's tag model uses 0.3
    # (`TAG_DEFAULTS`: a fifth less training CPU with the character block, pooled
    # micro-F1 -0.001 on the Reuters development folds; docs/tags.md, ninth pass).
    fit_tolerance: float = 0.1
    # Tags only: a second stage rescoring each tag from the article's `stack_top` highest
    # first-stage probabilities and its own (tagger.stacking: tag co-occurrence), fitted
    # on out-of-fold scores for tags with at least `stack_min_positives` training
    # positives (the others keep their first stage exactly), with C `stack_c`. 0: off.
    # Trained only when calibration kept every out-of-fold score (`OutOfFold.whole`:
    # articles x tags within `calibration_entries`), so that its features are the ones
    # prediction computes. A tag keeps its rescoring only where its out-of-fold F1 (at
    # its own tuned threshold, on the same folds) beats the first stage's by more than
    # `stack_min_gain` (`second_stage`; None: no guard). Without the guard the stage
    # lost 0.01 F1 on the 10,000 x 475 keyword-tag corpus; with a gain of 0.01 it is
    # +0.0009 micro-F1 / +0.0007 macro-F1 on the Reuters development folds and
    # -0.0001 / 0.0000 on that corpus (docs/tags.md).
    stack_top: int = 10
    stack_min_positives: int = 50
    stack_c: float = 0.1
    stack_min_gain: float | None = 0.01

    def __post_init__(self) -> None:
        if not all(0.0 <= w <= 1.0 for w in self.title_weights):
            raise ValueError("title_weights: each weight must be between 0 and 1")
        if not all(c > 0 for c in self.c_grid):
            raise ValueError("c_grid: each C must be above 0")
        for key in ("title_chars", "title_cross_chars"):
            grams = getattr(self, key)
            if grams is not None and not (len(grams) == 2 and 1 <= grams[0] <= grams[1] <= 16):
                raise ValueError(f"{key}: expected [low, high] with 1 <= low <= high <= 16")
        if self.prune_rule not in PRUNE_RULES:
            raise ValueError(f"prune_rule: expected one of {', '.join(PRUNE_RULES)}")
        if not 0.0 <= self.hard_negative_share <= 1.0:
            raise ValueError("hard_negative_share: must be between 0 and 1")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        for key in ("title_chars", "title_weights", "title_cross_chars", "c_grid"):
            if isinstance(known.get(key), list):
                known[key] = tuple(known[key])
        for key in ("title_chars", "title_cross_chars"):  # [] in TOML: off, as null
            if known.get(key) == ():
                known[key] = None
        return cls(**known)


def _linear_svc(c: float, seed: int, class_weight: str | None = None, tol: float = 1e-4) -> Any:
    from sklearn.svm import LinearSVC

    return LinearSVC(
        C=c, random_state=seed, class_weight=class_weight, dual=True, max_iter=5000, tol=tol
    )


def _folds(n: int, k: int, seed: int, groups: Sequence[Any] | None) -> list[np.ndarray]:
    """Test indices of k folds; near-duplicate groups stay within one fold."""
    rng = np.random.default_rng(seed)
    if groups is None:
        order = rng.permutation(n)
        return [np.sort(order[i::k]) for i in range(k)]
    unique = sorted({str(g) for g in groups})
    shuffled = [unique[i] for i in rng.permutation(len(unique))]
    fold_of = {g: i % k for i, g in enumerate(shuffled)}
    assignment = np.array([fold_of[str(g)] for g in groups])
    return [np.flatnonzero(assignment == i) for i in range(k)]


def linear_scores(x: sp.csr_matrix, coef: np.ndarray, intercept: np.ndarray) -> np.ndarray:
    """x @ coef.T + intercept, for sparse rows and dense (n_labels, n_features) weights.

    scipy copies a transposed dense operand into C order on every product (for 90 tags
    over 100k features, ~100 ms per call); a few articles touch few columns, so
    multiply by those columns only.
    """
    columns = np.unique(x.indices)
    if len(columns) * 4 < coef.shape[1]:
        return np.asarray(x[:, columns] @ coef[:, columns].T) + intercept
    return np.asarray(x @ coef.T) + intercept


# -- calibration and thresholds --------------------------------------------------------


def platt_fit(
    scores: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None
) -> tuple[float, float]:
    """Platt's sigmoid P(y=1|s) = 1 / (1 + exp(a*s + b)), with his smoothed targets.

    Fitted by Newton's method with backtracking (Lin, Lin and Weng, 2007: the log-loss
    is convex in (a, b)), a few vectorised steps per tag. `weights` count each score
    that many times (a sampled negative stands for the negatives it was drawn from);
    None counts every score once.
    """
    y = y.astype(bool)
    w = np.ones(len(y)) if weights is None else np.asarray(weights, dtype=np.float64)
    n_pos, n_neg = float(w[y].sum()), float(w[~y].sum())
    if n_pos == 0:
        return 1.0, 10.0
    if n_neg == 0:
        return -1.0, -10.0
    # 1 - target: the loss is written in z = a*s + b, with P(y=1) = 1 / (1 + e^z).
    miss = 1.0 - np.where(y, (n_pos + 1.0) / (n_pos + 2.0), 1.0 / (n_neg + 2.0))
    s = np.asarray(scores, dtype=np.float64)
    # The pooled fit runs over millions of scores: the steps below work in a few reused
    # buffers (in place, the same operations in the same order, so the same numbers).
    z, t = np.empty_like(s), np.empty_like(s)

    def loss(a: float, b: float) -> float:
        np.multiply(a, s, out=z)
        np.add(z, b, out=z)
        np.logaddexp(0.0, z, out=t)
        np.multiply(z, miss, out=z)
        np.subtract(t, z, out=t)
        return float(np.dot(w, t))

    a, b = 0.0, float(np.log((n_neg + 1.0) / (n_pos + 1.0)))
    value = loss(a, b)
    p, g, h = np.empty_like(s), np.empty_like(s), np.empty_like(s)
    for _ in range(100):
        np.multiply(a, s, out=z)
        z += b
        np.multiply(0.5, z, out=p)  # sigmoid(z) = 0.5 * (1 + tanh(0.5 * z)), stable
        np.tanh(p, out=p)
        np.add(1.0, p, out=p)
        np.multiply(0.5, p, out=p)
        np.subtract(p, miss, out=g)
        g *= w
        np.multiply(w, p, out=h)
        np.subtract(1.0, p, out=t)
        h *= t
        grad = np.array([np.dot(g, s), g.sum()])
        if np.abs(grad).max() < 1e-7 * max(1.0, n_pos + n_neg):
            break
        hs = np.multiply(h, s, out=t)
        hessian = np.array([[np.dot(hs, s), hs.sum()], [hs.sum(), h.sum()]]) + 1e-12 * np.eye(2)
        try:
            step = np.linalg.solve(hessian, grad)
        except np.linalg.LinAlgError:
            break
        t_step = 1.0
        while t_step >= 1e-10:
            new_a, new_b = a - t_step * step[0], b - t_step * step[1]
            new_value = loss(new_a, new_b)
            if new_value < value + 1e-4 * t_step * np.dot(grad, -step):
                break
            t_step /= 2
        else:
            break
        decrease = value - new_value
        a, b, value = new_a, new_b, new_value
        if decrease < 1e-12 * max(1.0, abs(value)):
            break
    return float(a), float(b)


def platt_apply(scores: np.ndarray, a: np.ndarray | float, b: np.ndarray | float) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(np.clip(a * scores + b, -500, 500)))


@dataclass
class Threshold:
    """A tag's decision threshold on its calibrated probability, and how it was chosen."""

    value: float
    f1: float
    precision: float
    recall: float
    support: int
    method: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any, where: str) -> Threshold:
        numbers = ("value", "f1", "precision", "recall")
        if not isinstance(data, dict) or set(data) != {*numbers, "support", "method"}:
            raise ValueError(f"{where}: expected {{{', '.join((*numbers, 'support', 'method'))}}}")
        for key in numbers:
            if not _is_number(data[key]):
                raise ValueError(f"{where}.{key}: expected a number")
        if type(data["support"]) is not int or not isinstance(data["method"], str):
            raise ValueError(f"{where}: support must be an integer and method a string")
        return cls(**data)


def _is_number(value: Any) -> bool:
    return type(value) in (int, float) and np.isfinite(value)


State = tuple[dict[str, Any], dict[str, Any]]


def _labels_from_state(meta: dict[str, Any], where: str) -> list[str]:
    labels = meta.get("labels")
    if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
        raise ValueError(f"{where}.labels: expected a list of strings")
    if len(set(labels)) != len(labels):
        raise ValueError(f"{where}.labels: repeated labels")
    return labels


def _array_from_state(
    arrays: dict[str, Any], name: str, shape: tuple[int, ...], where: str, sparse: bool = False
) -> Any:
    """A float array (or, with `sparse`, optionally a CSR matrix) of the given shape."""
    value = arrays.get(name)
    ok_type = isinstance(value, np.ndarray) or (sparse and sp.issparse(value))
    if not ok_type or value.dtype.kind != "f" or value.shape != shape:
        raise ValueError(f"{where}: {name} must be a float array of shape {shape}")
    data = value.data if sp.issparse(value) else value
    if not np.isfinite(data).all():
        raise ValueError(f"{where}: {name} holds non-finite values")
    return value


def tune_threshold(
    probs: np.ndarray,
    y: np.ndarray,
    *,
    min_precision: float | None = None,
    min_f1: float = 0.0,
    fallback: float = 0.5,
    weights: np.ndarray | None = None,
) -> Threshold:
    """Threshold that maximises F1 (or recall at a precision target) on held-out scores.

    `weights` count each article that many times (see `platt_fit`); positives always
    weigh 1, so the support is their number.
    """
    y = y.astype(bool)
    support = int(y.sum())
    if support == 0:
        return Threshold(max(fallback, 0.999), 0.0, 0.0, 0.0, 0, "no-positives")
    order = np.argsort(-probs, kind="stable")
    sorted_probs = probs[order]
    if weights is None:
        hits = np.cumsum(y[order])
        predicted: np.ndarray | None = None  # the position + 1
        positives = float(support)
    else:
        w = np.asarray(weights, dtype=np.float64)[order]
        predicted = np.cumsum(w)
        w[~y[order]] = 0.0
        hits = np.cumsum(w)
        del w
        positives = float(hits[-1])
    del order
    # Only cut between distinct scores.
    candidates = np.flatnonzero(np.r_[sorted_probs[1:] != sorted_probs[:-1], True])

    def rates(at: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Precision, recall and F1 of the cuts after positions `at`."""
        made = at + 1.0 if predicted is None else predicted[at]
        precision = hits[at] / made
        recall = hits[at] / positives
        with np.errstate(invalid="ignore", divide="ignore"):
            f1 = np.where(
                precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0
            )
        return precision, recall, f1

    # Over millions of pooled scores, the candidates are scored a block at a time; the
    # first best in order wins, as one argmax over all of them would choose.
    best, best_value = -1, -np.inf
    for lo in range(0, len(candidates), 1 << 20):
        at = candidates[lo : lo + (1 << 20)]
        precision, recall, f1 = rates(at)
        if min_precision is not None:
            at, value = at[precision >= min_precision], recall[precision >= min_precision]
        else:
            value = f1
        if len(at) and value.max() > best_value:
            best, best_value = int(at[np.argmax(value)]), float(value.max())
    if min_precision is not None:
        if best < 0:
            return Threshold(max(fallback, 0.999), 0.0, 0.0, 0.0, support, "precision-unreachable")
        method = f"precision>={min_precision:g}"
    else:
        method = "best-f1"
    precision, recall, f1 = (float(v[0]) for v in rates(np.array([best])))
    if f1 < min_f1 or f1 == 0:
        return Threshold(fallback, f1, precision, recall, support, "fallback")
    # Cut halfway to the next lower score, so new articles near the boundary are treated alike.
    upper = sorted_probs[best]
    lower = sorted_probs[best + 1] if best + 1 < len(sorted_probs) else 0.0
    value = float((upper + lower) / 2)
    return Threshold(value, f1, precision, recall, support, method)


def top_evidence(
    row: sp.csr_matrix, weights: Weights, names: np.ndarray, k: int = 5
) -> list[tuple[str, float]]:
    """Features of one article that pushed a label's score up the most: (name, contribution)."""
    return evidence_terms(row.indices, row.data, weights, names, k)


Weights = np.ndarray | sp.spmatrix | tuple[np.ndarray, np.ndarray]


def weights_at(weights: Weights, indices: np.ndarray) -> np.ndarray:
    """A label's weights at the given feature columns, from a dense vector, a one-row
    sparse matrix or (sorted column indices, values) of its non-zero weights."""
    if isinstance(weights, tuple):
        columns, values = weights
    elif sp.issparse(weights):
        row = sp.csr_matrix(weights)
        row.sort_indices()
        columns, values = row.indices, row.data
    else:
        return np.asarray(weights)[indices]
    out = np.zeros(len(indices), dtype=np.float64)
    if len(columns) == 0 or len(indices) == 0:
        return out
    pos = np.minimum(np.searchsorted(columns, indices), len(columns) - 1)
    found = columns[pos] == indices
    out[found] = values[pos[found]]
    return out


def evidence_terms(
    indices: np.ndarray,
    values: np.ndarray,
    weights: Weights,
    names: np.ndarray,
    k: int = 5,
) -> list[tuple[str, float]]:
    """`top_evidence` on a row given as its column indices and values (no slicing cost).

    `weights` is the label's weight vector (see `weights_at`). Character n-grams, columns
    without a readable name and terms made only of function words ("it", "of the") are
    not evidence: editors are shown the content terms and entities that carried the score.
    """
    if len(indices) == 0:
        return []
    return terms_by_contribution(indices, values * weights_at(weights, indices), names, k)


def terms_by_contribution(
    indices: np.ndarray, contributions: np.ndarray, names: np.ndarray, k: int = 5
) -> list[tuple[str, float]]:
    """`evidence_terms` from each column's contribution (value x weight), computed by the
    caller: the `k` largest positive ones that are content terms, largest first."""
    positive = np.flatnonzero(contributions > 0)
    # ties by feature index: a stable sort of the positive columns, in column order
    order = positive[np.argsort(-contributions[positive], kind="stable")]
    out: list[tuple[str, float]] = []
    for i in order:
        if len(out) >= k:
            break
        name = names[indices[i]]
        if name == "<char>" or not name or not is_content_term(name):
            continue
        out.append((str(name), float(contributions[i])))
    return out


# -- sparse weights ------------------------------------------------------------------------


def prune_weights(w: np.ndarray, tolerance: float) -> np.ndarray:
    """Columns of the weights worth keeping: drop the smallest |w| while their L2 norm
    stays within `tolerance`.

    Feature rows are L2-normalised, so by Cauchy-Schwarz the dropped weights move any
    article's decision value by at most ||w_dropped|| <= tolerance: a decision changes
    only for an article whose score was already within `tolerance` of the cut.
    """
    nonzero = np.flatnonzero(w)
    if tolerance <= 0 or len(nonzero) == 0:
        return nonzero
    magnitude = np.abs(w[nonzero])
    order = np.argsort(magnitude, kind="stable")
    dropped = int(np.searchsorted(np.cumsum(magnitude[order] ** 2), tolerance**2, side="right"))
    return np.sort(nonzero[order[dropped:]])


PRUNE_RULES = ("articles", "l2")
# Cuts tried by `prune_on_articles`: |w| below one of them is dropped.
PRUNE_CUTS = np.geomspace(1e-4, 0.2, 40)


def prune_on_articles(
    x: sp.csr_matrix, w: np.ndarray, tolerance: float
) -> tuple[np.ndarray, float]:
    """Columns of the weights worth keeping, and the intercept shift that goes with them.

    The weights under a cut c (the largest of `PRUNE_CUTS` found by bisection) are
    dropped, where c is such that over the training articles `x` the dropped weights'
    contribution x . w_dropped stays within `tolerance` of its mean; the mean is added to
    the intercept. So no training article's decision value moves by more than
    `tolerance`. Most small weights are negative (the many negative support vectors'
    terms) and dropping them raises every score by about the same amount: the shift
    takes that back, which the L2 bound (`prune_weights`) cannot, and the bound holds on
    the articles a model sees rather than on the worst L2-normalised vector.
    """
    nonzero = np.flatnonzero(w)
    if tolerance <= 0 or len(nonzero) == 0 or x.shape[0] == 0:
        return nonzero, 0.0
    magnitude = np.abs(w)
    shifts: dict[int, float] = {}

    def within(i: int) -> bool:
        change = x @ np.where(magnitude < PRUNE_CUTS[i], w, 0.0)
        shifts[i] = float(change.mean())
        return float(np.abs(change - shifts[i]).max()) <= tolerance

    low, high = -1, len(PRUNE_CUTS)  # PRUNE_CUTS[low] is within (-1: none), [high] is not
    while high - low > 1:
        middle = (low + high) // 2
        if within(middle):
            low = middle
        else:
            high = middle
    if low < 0:
        return nonzero, 0.0
    return nonzero[magnitude[nonzero] >= PRUNE_CUTS[low]], shifts[low]


# Significant bits kept of each stored tag weight (float32 has 24): `round_weights`.
WEIGHT_BITS = 11


def round_weights(values: np.ndarray) -> np.ndarray:
    """float32 values rounded to `WEIGHT_BITS` significant bits (float16's precision, with
    float32's range): a relative change of at most 2^-11, far below what pruning moves,
    and the bytes compress (the bundle's deflate: about 2.4 bytes a weight instead of 3.7).
    Rounding a rounded value leaves it unchanged."""
    bits = np.ascontiguousarray(values, dtype=np.float32).view(np.uint32)
    low = np.uint32((1 << (24 - WEIGHT_BITS)) - 1)
    half = np.uint32(1 << (23 - WEIGHT_BITS))
    return ((bits + half) & ~low).view(np.float32)


def weights_rounded(values: np.ndarray, block: int = 1 << 20) -> bool:
    """Are these float32 values already rounded (`round_weights` would change none)?
    Checked block by block, without a copy of the values."""
    bits = np.ascontiguousarray(values, dtype=np.float32).view(np.uint32)
    low = np.uint32((1 << (24 - WEIGHT_BITS)) - 1)
    return not any(np.any(bits[i : i + block] & low) for i in range(0, len(bits), block))


def stored_weights(coef: Any) -> sp.csr_matrix:
    """Tag weights as the model holds them: float32 CSR with sorted indices and values
    rounded (`round_weights`); weights that already are so are taken as they are, not
    copied (the weights of thousands of tags are the model's largest arrays)."""
    if not sp.issparse(coef):
        coef = sp.csr_matrix(np.asarray(coef, dtype=np.float32))
    coef = sp.csr_matrix(coef, dtype=np.float32)
    coef.sort_indices()
    if not weights_rounded(coef.data):
        coef.data = round_weights(coef.data)
    return coef


def sparse_rows(rows: Sequence[tuple[np.ndarray, np.ndarray]], n_features: int) -> sp.csr_matrix:
    """A float32 CSR matrix from (column indices, values) per row."""
    indptr = np.zeros(len(rows) + 1, dtype=np.int64)
    indptr[1:] = np.cumsum([len(r[0]) for r in rows])
    index_dtype = np.int32 if max(n_features, indptr[-1]) < 2**31 else np.int64
    # Filled in place: concatenating and then converting held the weights three times.
    indices = np.empty(indptr[-1], dtype=index_dtype)
    data = np.empty(indptr[-1], dtype=np.float32)
    for (columns, values), start, end in zip(rows, indptr[:-1], indptr[1:], strict=True):
        indices[start:end] = columns
        data[start:end] = values
    return sp.csr_matrix((data, indices, indptr.astype(index_dtype)), shape=(len(rows), n_features))


@dataclass
class RowBlock:
    """Consecutive sparse rows as flat arrays: each row's length, then all the rows'
    column indices and values, row after row."""

    lengths: np.ndarray
    indices: np.ndarray
    values: np.ndarray


def stack_row_blocks(
    blocks: list[RowBlock], rows: np.ndarray | None, n_features: int
) -> sp.csr_matrix:
    """A float32 CSR matrix whose row i is row `rows[i]` of the blocks' rows (numbered
    across the blocks, in order; None: every row once, in order).

    The result's arrays are filled block by block and each block is dropped from
    `blocks` (emptied in place) once copied, so the rows are held about once, not as
    both the blocks and the matrix: with thousands of tags of tens of thousands of
    weights each, that was the largest part of training's peak memory.
    """
    lengths = np.concatenate([b.lengths for b in blocks]) if blocks else np.zeros(0, np.int64)
    rows = np.arange(len(lengths)) if rows is None else np.asarray(rows, dtype=np.int64)
    starts = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=starts[1:])
    indptr = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(lengths[rows], out=indptr[1:])
    index_dtype = np.int32 if max(n_features, int(indptr[-1])) < 2**31 else np.int64
    # np.empty: the pages are only taken as they are written, while the blocks go.
    indices = np.empty(indptr[-1], dtype=index_dtype)
    data = np.empty(indptr[-1], dtype=np.float32)
    order = np.argsort(rows, kind="stable")  # the output rows of each source row, grouped
    bounds = np.searchsorted(rows[order], np.arange(len(lengths) + 1))
    first = 0  # the first source row of the current block
    while blocks:
        block = blocks.pop(0)
        for r in range(first, first + len(block.lengths)):
            lo, hi = starts[r] - starts[first], starts[r + 1] - starts[first]
            for out in order[bounds[r] : bounds[r + 1]]:
                indices[indptr[out] : indptr[out + 1]] = block.indices[lo:hi]
                data[indptr[out] : indptr[out + 1]] = block.values[lo:hi]
        first += len(block.lengths)
        del block
    return sp.csr_matrix((data, indices, indptr.astype(index_dtype)), shape=(len(rows), n_features))


# -- tag model ---------------------------------------------------------------------------


@dataclass
class TagModel:
    """One linear classifier per tag, Platt-calibrated, with a tuned threshold per tag.

    `coef` is a sparse (n_labels, n_features) float32 CSR matrix: weights too small to
    change a decision are pruned (`prune_weights`), so memory, bundle size and
    prediction cost grow with the kept weights, not with tags x features.
    """

    labels: list[str]
    coef: sp.csr_matrix  # (n_labels, n_features) float32, sorted indices
    intercept: np.ndarray  # (n_labels,)
    platt_a: np.ndarray
    platt_b: np.ndarray
    thresholds: list[Threshold]
    cv_metrics: dict[str, Any] = field(default_factory=dict)
    best_tag_floor: float | None = None
    name_rule: NameRule | None = None
    lead_rule: NameRule | None = None  # the name rule on the lead (`lead_chars`)
    lead_chars: int = 0
    stack: SecondStage | None = None  # the second stage (tagger.stacking), or None

    def __post_init__(self) -> None:
        self.coef = stored_weights(self.coef)

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_")}

    def choose(
        self, probs: np.ndarray, titles: Sequence[str], bodies: Sequence[str] | None = None
    ) -> np.ndarray:
        """The tags suggested for each article: over their thresholds, by the best-tag
        floor, or by the name rules on the title and on the body's lead (never a tag
        under a precision policy: only its threshold may choose it)."""
        hits = self.rule_hits(titles) | self.lead_hits(bodies, len(titles))
        return self.select(probs) | (hits & self.rules_allowed)

    @property
    def rules_allowed(self) -> np.ndarray:
        """Per tag: may the best-tag floor and the name rule choose it (no policy target)."""
        cached = self.__dict__.get("_rules_allowed")
        if cached is None or len(cached) != len(self.thresholds):
            cached = np.array([not t.method.startswith(POLICY_METHOD) for t in self.thresholds])
            self.__dict__["_rules_allowed"] = cached
        return cached

    def rule_hits(self, titles: Sequence[str]) -> np.ndarray:
        """Tags suggested by the name rule (their name is in the title), per title."""
        if self.name_rule is None:
            return np.zeros((len(titles), len(self.labels)), dtype=bool)
        return self.name_rule.hits(titles)

    def leads(self, bodies: Sequence[str]) -> list[str]:
        return [(body or "")[: self.lead_chars] for body in bodies]

    def lead_hits(self, bodies: Sequence[str] | None, n: int) -> np.ndarray:
        """Tags suggested by the lead rule (their name is in the body's first
        `lead_chars` characters), per article; none without the bodies."""
        if self.lead_rule is None or bodies is None:
            return np.zeros((n, len(self.labels)), dtype=bool)
        return self.lead_rule.hits(self.leads(bodies))

    def select(self, probs: np.ndarray) -> np.ndarray:
        """Boolean matrix of the tags suggested for each row of probabilities."""
        selected = probs >= self.threshold_values
        if self.best_tag_floor is not None and probs.shape[1]:
            masked = np.where(self.rules_allowed, probs, -1.0)
            best = masked.argmax(axis=1)
            rows = np.flatnonzero(
                ~selected.any(axis=1) & (masked[np.arange(len(best)), best] >= self.best_tag_floor)
            )
            selected[rows, best[rows]] = True
        return selected

    def weight_row(self, j: int) -> tuple[np.ndarray, np.ndarray]:
        """Tag j's non-zero weights as (sorted column indices, values), without slicing."""
        start, end = self.coef.indptr[j], self.coef.indptr[j + 1]
        return self.coef.indices[start:end], self.coef.data[start:end]

    def _split(self) -> Any:
        """The weights split for the product (`tagger.scoring.SplitWeights`), made once
        per process from `coef` (not saved: a bundle stays data)."""
        from tagger.scoring import SplitWeights

        cached = self.__dict__.get("_split_weights")
        if cached is None or cached[0] is not self.coef:
            cached = (self.coef, SplitWeights.build(self.coef))
            self.__dict__["_split_weights"] = cached
        return cached[1]

    def decision(self, x: sp.csr_matrix) -> np.ndarray:
        """x @ coef.T + intercept (articles x tags, float64), the second stage's decision
        values where it rescored a tag (`tagger.stacking`)."""
        first = self._split().product(x) + self.intercept
        return first if self.stack is None else self.stack.apply(first)

    def predict_proba(self, x: sp.csr_matrix, shortlist: bool = False) -> np.ndarray:
        """Calibrated probabilities (articles x tags), every tag scored. With `shortlist`
        and above `SHORTLIST_ABOVE` tags, only the candidates of `tagger.shortlist` are
        scored (decisions are those of the full computation, tags that could not be
        suggested get 0); prediction does not ask for it: on real models its bounds kept
        over 90% of the (article, tag) pairs and the full product is faster
        (docs/scale.md)."""
        stage = self.shortlist() if shortlist else None
        x = sp.csr_matrix(x)
        if stage is not None and (x.nnz == 0 or x.data.min() >= 0):
            return stage.predict_proba(self, x)[0]
        return platt_apply(self.decision(x), self.platt_a, self.platt_b)

    def shortlist(self) -> Any:
        """The candidate stage (built once, not saved), or None up to SHORTLIST_ABOVE tags."""
        from tagger import shortlist

        if len(self.labels) <= shortlist.SHORTLIST_ABOVE or self.stack is not None:
            return None
        cached = self.__dict__.get("_shortlist")
        if cached is None:
            cached = shortlist.Shortlist.build(self)
            self.__dict__["_shortlist"] = cached
        return cached

    @property
    def threshold_values(self) -> np.ndarray:
        cached = self.__dict__.get("_threshold_values")
        if cached is None or len(cached) != len(self.thresholds):
            cached = np.array([t.value for t in self.thresholds])
            self.__dict__["_threshold_values"] = cached
        return cached

    # -- state: JSON (labels, thresholds, metrics, name rule) and arrays -------------------

    def to_state(self) -> State:
        meta: dict[str, Any] = {
            "labels": list(self.labels),
            "thresholds": [t.to_dict() for t in self.thresholds],
            "cv_metrics": self.cv_metrics,
            "best_tag_floor": self.best_tag_floor,
            "name_rule": None,
        }
        arrays = {
            "coef": self.coef,
            "intercept": self.intercept,
            "platt_a": self.platt_a,
            "platt_b": self.platt_b,
        }
        if self.name_rule is not None:
            meta["name_rule"], rule_arrays = self.name_rule.to_state()
            arrays.update({f"name_rule.{k}": v for k, v in rule_arrays.items()})
        if self.lead_rule is not None:
            meta["lead_chars"] = self.lead_chars
            meta["lead_rule"], rule_arrays = self.lead_rule.to_state()
            arrays.update({f"lead_rule.{k}": v for k, v in rule_arrays.items()})
        if self.stack is not None:
            meta["stack"], stack_arrays = self.stack.to_state()
            arrays.update({f"stack.{k}": v for k, v in stack_arrays.items()})
        return meta, arrays

    @classmethod
    def from_state(cls, meta: dict[str, Any], arrays: dict[str, Any], n_features: int) -> TagModel:
        """Rebuild from `to_state`'s output, checking shapes against the features."""
        where = "tags"
        labels = _labels_from_state(meta, where)
        n = len(labels)
        thresholds = meta.get("thresholds")
        if not isinstance(thresholds, list) or len(thresholds) != n:
            raise ValueError(f"{where}.thresholds: expected one threshold per label")
        floor = meta.get("best_tag_floor")
        if floor is not None and not _is_number(floor):
            raise ValueError(f"{where}.best_tag_floor: expected a number or null")
        metrics = meta.get("cv_metrics")
        if not isinstance(metrics, dict):
            raise ValueError(f"{where}.cv_metrics: expected an object")
        rule, lead_rule = (_rule_from_state(meta, arrays, key, labels) for key in _RULES)
        lead_chars = meta.get("lead_chars", 0)
        if type(lead_chars) is not int or lead_chars < 0:
            raise ValueError(f"{where}.lead_chars: expected a non-negative integer")
        stack = None
        if meta.get("stack") is not None:
            stack_arrays = {k[6:]: v for k, v in arrays.items() if k.startswith("stack.")}
            stack = SecondStage.from_state(meta["stack"], stack_arrays, n)
        return cls(
            labels=labels,
            coef=_array_from_state(arrays, "coef", (n, n_features), where, sparse=True),
            intercept=_array_from_state(arrays, "intercept", (n,), where),
            platt_a=_array_from_state(arrays, "platt_a", (n,), where),
            platt_b=_array_from_state(arrays, "platt_b", (n,), where),
            thresholds=[
                Threshold.from_dict(t, f"{where}.thresholds[{i}]") for i, t in enumerate(thresholds)
            ],
            cv_metrics=metrics,
            best_tag_floor=floor,
            name_rule=rule,
            lead_rule=lead_rule,
            lead_chars=lead_chars,
            stack=stack,
        )


_RULES = ("name_rule", "lead_rule")


def _rule_from_state(
    meta: dict[str, Any], arrays: dict[str, Any], key: str, labels: list[str]
) -> NameRule | None:
    """A tag model's name rule (title or lead) from its state, or None."""
    if meta.get(key) is None:
        return None
    prefix = f"{key}."
    rule_arrays = {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}
    return NameRule.from_state(meta[key], rule_arrays, labels)


# -- out-of-fold scores kept for calibration ------------------------------------------------


@dataclass
class OutOfFold:
    """Out-of-fold decision values of each tag, kept only where calibration needs them.

    Per tag: all its positives, its highest-scoring negatives (weight 1) and a uniform
    sample of its other negatives, each weighing as many negatives as it stands for.
    Every negative scoring above the lowest kept top negative is kept, so precision and
    recall above that score are exact; Platt's fit sees an unbiased weighted sample.
    With a budget larger than the negatives, everything is kept and the result is the
    full computation.
    """

    n: int
    rows: list[np.ndarray]
    scores: list[np.ndarray]
    weights: list[np.ndarray]
    positive: list[np.ndarray]
    # Per tag, the first tag with the same label column (`same_labels`): its entries are
    # that tag's, so its calibration is too. None: every tag its own.
    source: np.ndarray | None = None
    # Per tag, at the same entries: the plain model's score averaged with its NB-weighted
    # member's (`ModelConfig.nb_weighted`), or None when not computed.
    member: list[np.ndarray] | None = None

    @classmethod
    def from_dense(cls, oof: np.ndarray, y: np.ndarray | sp.spmatrix) -> OutOfFold:
        """Everything kept (weight 1): the full computation, for small problems and tests."""
        y = _dense_bool(y)
        n, t = oof.shape
        rows = np.arange(n)
        return cls(
            n,
            [rows] * t,
            [oof[:, j].astype(np.float64) for j in range(t)],
            [np.ones(n)] * t,
            [y[:, j] for j in range(t)],
        )

    def entries(self) -> int:
        return int(sum(len(r) for r in self.rows))

    def whole(self) -> bool:
        """Is every article's score kept for every tag (nothing sampled, all folds)?"""
        return all(len(r) == self.n for r in self.rows)

    def matrix(self, values: Sequence[np.ndarray]) -> sp.csr_matrix:
        """An (articles x tags) CSR matrix holding `values` at the kept entries."""
        t = len(self.rows)
        cols = np.repeat(np.arange(t), [len(r) for r in self.rows])
        rows = np.concatenate(self.rows) if t else np.zeros(0, dtype=np.int64)
        data = np.concatenate(values) if t else np.zeros(0)
        return sp.csr_matrix((data, (rows, cols)), shape=(self.n, t))


def _dense_bool(y: np.ndarray | sp.spmatrix) -> np.ndarray:
    return (y.toarray() if sp.issparse(y) else np.asarray(y)).astype(bool)


def keep_for_calibration(
    scores: np.ndarray, positive: np.ndarray, top: int, sample: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Indices and weights of the scores calibration needs (see `OutOfFold`)."""
    negatives = np.flatnonzero(~positive)
    if top + sample >= len(negatives):
        return np.arange(len(scores)), np.ones(len(scores))
    order = negatives[np.argsort(-scores[negatives], kind="stable")]
    rest = order[top:]
    picked = np.sort(rng.choice(rest, size=sample, replace=False)) if sample else rest[:0]
    keep = np.concatenate([np.flatnonzero(positive), order[:top], picked])
    weights = np.ones(len(keep))
    weights[len(keep) - len(picked) :] = len(rest) / max(sample, 1)
    order_back = np.argsort(keep, kind="stable")
    return keep[order_back], weights[order_back]


POLICY_METHOD = "policy "  # a threshold set by a precision policy: "policy NAME: ..."
Targets = Sequence[tuple[str, float | None] | None]


RARE_POOLED = "rare-pooled"


@dataclass
class RarePool:
    """The shared calibration of rare tags (`ModelConfig.rare_calibration`): per tag under
    `rare_calibration` positives the mean and spread of its out-of-fold negatives' scores
    (`usable` where there are enough negatives and they spread), and one sigmoid and
    threshold on the standardised scores of the usable tags with at most
    `rare_pool_positives` positives."""

    mean: np.ndarray
    spread: np.ndarray
    usable: np.ndarray
    a: float
    b: float
    threshold: Threshold

    MIN_NEGATIVES = 20
    MIN_POSITIVES = 5  # in the pool, over its tags

    @classmethod
    def fit(cls, kept: OutOfFold, support: np.ndarray, config: ModelConfig) -> RarePool | None:
        n_tags = len(kept.rows)
        mean, spread = np.zeros(n_tags), np.ones(n_tags)
        usable = np.zeros(n_tags, dtype=bool)
        for j in np.flatnonzero(support < config.rare_calibration):
            negative = ~kept.positive[j]
            if negative.sum() < cls.MIN_NEGATIVES:
                continue
            s, w = kept.scores[j][negative], kept.weights[j][negative]
            m = float(np.average(s, weights=w))
            sd = float(np.sqrt(np.average((s - m) ** 2, weights=w)))
            if sd > 1e-6:
                mean[j], spread[j], usable[j] = m, sd, True
        # A tag with one positive has no fold model that saw a positive when its positive
        # was scored (a constant score): that positive says nothing about the pool's scale.
        band = np.flatnonzero(usable & (support >= 2) & (support <= config.rare_pool_positives))
        if int(support[band].sum()) < cls.MIN_POSITIVES:
            return None
        z = np.concatenate([(kept.scores[j] - mean[j]) / spread[j] for j in band])
        y = np.concatenate([kept.positive[j] for j in band])
        w = np.concatenate([kept.weights[j] for j in band])
        weights = None if np.all(w == 1.0) else w
        a, b = platt_fit(z, y, weights)
        threshold = tune_threshold(
            platt_apply(z, a, b),
            y,
            min_precision=config.min_precision,
            fallback=config.fallback_threshold,
            weights=weights,
        )
        return cls(mean, spread, usable, a, b, threshold)

    def sigmoid(self, j: int) -> tuple[float, float]:
        """Tag j's Platt parameters on its raw scores: a*(s - mean)/spread + b."""
        a = self.a / self.spread[j]
        return a, self.b - a * self.mean[j]

    def threshold_for(self, support: int) -> Threshold:
        t = self.threshold
        return Threshold(t.value, t.f1, t.precision, t.recall, support, RARE_POOLED)


def calibrate_tags(
    oof: np.ndarray | OutOfFold,
    y: np.ndarray | sp.spmatrix | None,
    config: ModelConfig,
    targets: Targets | None = None,
) -> tuple[np.ndarray, np.ndarray, list[Threshold]]:
    """Platt parameters and a threshold per tag from out-of-fold decision values.

    `oof` is a dense (articles x tags) matrix with its labels `y`, or the kept entries
    (`OutOfFold`, y None). Tags with too few examples for their own estimate (fewer than
    `config.min_support`) share a pooled calibration and threshold fitted on all
    tags' out-of-fold scores at once: a rare tag's own few scores would give a
    sigmoid and a cut-off fitted to noise. Tags under `config.rare_calibration` positives
    use the rare tags' pool instead (`RarePool`) where it can be fitted. Other tags'
    thresholds are shrunk toward the pooled one in proportion to how few examples they
    have.

    `targets` (one per tag: (policy name, precision target) or None) sets a tag's own
    precision target (tagger.policy): its threshold is the one with the highest recall
    whose out-of-fold precision reaches the target; shrinkage may only raise it; a tag
    that cannot reach it (or has too few examples, on the pooled scores) is given a
    threshold nothing passes.
    """
    kept = oof if isinstance(oof, OutOfFold) else OutOfFold.from_dense(oof, y)  # type: ignore[arg-type]
    n_tags = len(kept.rows)
    support = np.array([int(p.sum()) for p in kept.positive], dtype=np.int64)
    all_scores = np.concatenate(kept.scores) if n_tags else np.zeros(0)
    all_y = np.concatenate(kept.positive) if n_tags else np.zeros(0, dtype=bool)
    all_w = np.concatenate(kept.weights) if n_tags else np.zeros(0)
    uniform = bool(np.all(all_w == 1.0))
    pooled_a, pooled_b = platt_fit(all_scores, all_y, None if uniform else all_w)
    pooled = tune_threshold(
        platt_apply(all_scores, pooled_a, pooled_b),
        all_y,
        min_precision=config.min_precision,
        fallback=config.fallback_threshold,
        weights=None if uniform else all_w,
    )
    a = np.full(n_tags, pooled_a)
    b = np.full(n_tags, pooled_b)
    thresholds: list[Threshold] = []
    pooled_for: dict[float, Threshold] = {}
    rare = RarePool.fit(kept, support, config) if config.rare_calibration > 0 else None
    for j in range(n_tags):
        shared = Threshold(
            pooled.value, pooled.f1, pooled.precision, pooled.recall, int(support[j]), "pooled"
        )
        policy = targets[j] if targets is not None else None
        same = j if kept.source is None else int(kept.source[j])
        if same != j and not _has_target(targets, j) and not _has_target(targets, same):
            a[j], b[j] = a[same], b[same]  # the same scores and labels as tag `same`
            thresholds.append(replace(thresholds[same]))
            continue
        if policy is not None and policy[1] is not None:
            name, target = policy
            if target not in pooled_for:
                pooled_for[target] = tune_threshold(
                    platt_apply(all_scores, pooled_a, pooled_b),
                    all_y,
                    min_precision=target,
                    weights=None if uniform else all_w,
                )
            thresholds.append(
                _policy_threshold(kept, j, a, b, config, name, target, pooled_for[target])
            )
            continue
        if rare is not None and support[j] < config.rare_calibration and rare.usable[j]:
            a[j], b[j] = rare.sigmoid(j)
            thresholds.append(rare.threshold_for(int(support[j])))
            continue
        if support[j] < config.min_support:
            thresholds.append(shared)
            continue
        s, yj = kept.scores[j], kept.positive[j]
        w = None if np.all(kept.weights[j] == 1.0) else kept.weights[j]
        a[j], b[j] = platt_fit(s, yj, w)
        own = tune_threshold(
            platt_apply(s, a[j], b[j]),
            yj,
            min_precision=config.min_precision,
            min_f1=config.min_tag_f1,
            fallback=config.fallback_threshold,
            weights=w,
        )
        if own.method in ("fallback", "precision-unreachable"):
            a[j], b[j] = pooled_a, pooled_b
            own = shared
        elif config.threshold_shrinkage > 0:
            n, k = float(support[j]), config.threshold_shrinkage
            own.value = (n * own.value + k * pooled.value) / (n + k)
        thresholds.append(own)
    return a, b, thresholds


def _has_target(targets: Targets | None, j: int) -> bool:
    """Has tag j a precision target of its own (a policy)?"""
    policy = targets[j] if targets is not None else None
    return policy is not None and policy[1] is not None


def _policy_threshold(
    kept: OutOfFold,
    j: int,
    a: np.ndarray,
    b: np.ndarray,
    config: ModelConfig,
    name: str,
    target: float,
    pooled: Threshold,
) -> Threshold:
    """Tag j's threshold for its policy's precision target (a and b updated in place)."""
    support = int(kept.positive[j].sum())
    method = f"{POLICY_METHOD}{name}: precision>={target:g}"
    never = Threshold(1.0, 0.0, 0.0, 0.0, support, f"{POLICY_METHOD}{name}: unreachable")
    if support < config.min_support:
        if pooled.method == "precision-unreachable":
            return never
        return Threshold(pooled.value, pooled.f1, pooled.precision, pooled.recall, support, method)
    s, yj = kept.scores[j], kept.positive[j]
    w = None if np.all(kept.weights[j] == 1.0) else kept.weights[j]
    a[j], b[j] = platt_fit(s, yj, w)
    own = tune_threshold(platt_apply(s, a[j], b[j]), yj, min_precision=target, weights=w)
    if own.method == "precision-unreachable":
        return never
    own.method = method
    if config.threshold_shrinkage > 0:  # toward the pooled cut-off, but never lower
        n, k = float(support), config.threshold_shrinkage
        own.value = max(own.value, (n * own.value + k * pooled.value) / (n + k))
    return own


# -- fitting --------------------------------------------------------------------------------


def _liblinear(
    x: sp.csr_matrix,
    column: np.ndarray,
    c: float,
    seed: int,
    class_weight: str | None,
    sample_weight: np.ndarray | None = None,
    positive_weight: float = 1.0,
    tol: float = 1e-4,
) -> tuple[np.ndarray, float]:
    """`_linear_svc(c, seed, class_weight, tol).fit(x, column)`: weights and intercept.
    `positive_weight` (with no `class_weight`): the positive class's weight (liblinear's
    C+ = positive_weight x C).

    Calls liblinear as LinearSVC does, with its arguments, so the result is the same
    (tested); the estimator's per-call validation, label encoding and random state cost
    more than the fit itself for a tag on a few hundred articles (10,000 tags x 6 fits).
    `x` must be CSR float64. Falls back to the estimator if
    scikit-learn's private helpers move.
    """
    call = _liblinear_call()
    if call is None or class_weight is not None:
        if class_weight is None and positive_weight != 1.0:
            class_weight = {False: 1.0, True: positive_weight}  # type: ignore[assignment]
        model = _linear_svc(c, seed, class_weight, tol)
        model.fit(x, column, sample_weight=sample_weight)
        return model.coef_[0], float(model.intercept_[0])
    train_wrap, quiet, solver = call
    if x.indices.dtype != np.int32 or x.indptr.dtype != np.int32:
        x = sp.csr_matrix(
            (x.data, x.indices.astype(np.int32), x.indptr.astype(np.int32)), shape=x.shape
        )
    y = np.require(np.asarray(column, dtype=np.float64), requirements=["C", "W"])
    if sample_weight is None:
        weights = np.ones(len(y))
    else:
        weights = np.require(np.asarray(sample_weight, dtype=np.float64), requirements="C")
    quiet(0)  # liblinear prints its progress unless told not to (a process-wide setting)
    raw, n_iter = train_wrap(
        x, y, True, solver, tol, 1.0, c, np.array([1.0, positive_weight]), 5000,
        _liblinear_seed(seed), 0.1, weights,
    )  # fmt: skip
    if max(n_iter) >= 5000:
        import warnings

        from sklearn.exceptions import ConvergenceWarning

        warnings.warn(
            "Liblinear failed to converge, increase the number of iterations.",
            ConvergenceWarning,
            stacklevel=2,
        )
    return raw[0, :-1], float(raw[0, -1])


@functools.cache
def _liblinear_call() -> tuple[Callable[..., Any], Callable[[int], None], int] | None:
    """liblinear's train_wrap, its verbosity setter and LinearSVC's solver (dual L2-loss
    SVM), or None."""
    try:
        from sklearn.svm import _liblinear
        from sklearn.svm._base import _get_liblinear_solver_type
    except ImportError:  # pragma: no cover - another scikit-learn layout
        return None
    solver = _get_liblinear_solver_type("ovr", "l2", "squared_hinge", True)
    return _liblinear.train_wrap, _liblinear.set_verbosity_wrap, solver


@functools.cache
def _liblinear_seed(seed: int) -> int:
    """The seed LinearSVC(random_state=seed) hands to liblinear."""
    return int(np.random.RandomState(seed).randint(np.iinfo("i").max))


def training_rows(
    x: sp.csr_matrix, column: np.ndarray, config: ModelConfig | _FitJob, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray] | None:
    """Rows and sample weights of a tag's fit with its easy negatives sampled, or None
    to fit on every row.

    Kept: every positive; the `hard_negative_share` of the budget of negatives closest to
    the centroid of the positives (the hard ones, near the boundary: weight 1); a uniform
    sample of the other negatives, each weighing as many as it stands for (the hinge loss
    over them is then an unbiased estimate of the full one). The budget is
    max(`sample_negatives_min`, `negatives_per_positive` x positives); a tag with fewer
    negatives keeps all.
    """
    positives = np.flatnonzero(column)
    n_neg = len(column) - len(positives)
    budget = max(config.sample_negatives_min, config.negatives_per_positive * len(positives))
    if n_neg <= budget:
        return None
    centroid = np.asarray(x[positives].sum(axis=0)).ravel()
    closeness = np.asarray(x @ centroid).ravel()
    closeness[positives] = -np.inf
    hard_count = min(budget - 1, max(0, int(budget * config.hard_negative_share)))
    order = np.argpartition(-closeness, hard_count)
    hard, rest = order[:hard_count], order[hard_count:]
    rest = rest[~column[rest]]
    sampled = rng.choice(rest, size=budget - hard_count, replace=False)
    rows = np.concatenate([positives, hard, sampled])
    weights = np.ones(len(rows))
    weights[len(positives) + hard_count :] = len(rest) / len(sampled)
    order = np.argsort(rows)
    return rows[order], weights[order]


def _fit_one(
    x: sp.csr_matrix, column: np.ndarray, job: _FitJob, rng: np.random.Generator
) -> tuple[np.ndarray | None, float]:
    """One binary model: (weights or None for a constant model, intercept)."""
    w, b, _member = _fit_with_member(x, column, job, rng, None)
    return w, b


Member = tuple[np.ndarray, float]


@dataclass
class MemberView:
    """What the NB-weighted member reads of a matrix `x` (`member_view`): its columns of
    the rows (`x` itself when `columns` is None), their sums over the rows, and the one
    factor the rows are scaled by."""

    x: sp.csr_matrix
    totals: np.ndarray
    columns: np.ndarray | None = None
    scale: float = 1.0

    def weights(self, ratio: np.ndarray, w: np.ndarray, n_features: int) -> np.ndarray:
        """The member's weights `w` (fitted on the view scaled by `ratio`) in the columns
        of the full matrix: zero on the columns it does not read."""
        own = ratio * self.scale * w
        if self.columns is None:
            return own
        full = np.zeros(n_features)
        full[self.columns] = own
        return full


def member_view(x: sp.csr_matrix, skip: tuple[int, int] | None) -> MemberView:
    """The NB-weighted member's view of `x`: every column (`skip` None), or all but the
    columns [start, stop) (the character block, `ModelConfig.nb_chars` False), the rows
    then scaled by one factor so that their mean L2 length over the rows that keep
    something is 1, as the full rows' is. One factor, not each row's own: the member stays
    a linear model of the full rows (`MemberView.weights`), so the mix is stored as
    weights as before. With the featurizer's word and character blocks (each normalised,
    then the stack) every row's word part has the same length, so the view is the word
    rows exactly."""
    if skip is None:
        return MemberView(x, feature_totals(x))
    start, stop = skip
    view = columns_dropped(x, skip)
    lengths = np.sqrt(np.asarray(view.multiply(view).sum(axis=1)).ravel())
    lengths = lengths[lengths > 0]
    scale = 1.0 / float(lengths.mean()) if len(lengths) else 1.0
    columns = np.r_[0:start, stop : x.shape[1]]
    return MemberView(view, feature_totals(view), columns, scale)


def _fit_with_member(
    x: sp.csr_matrix,
    column: np.ndarray,
    job: _FitJob,
    rng: np.random.Generator,
    view: MemberView | None,
) -> tuple[np.ndarray | None, float, Member | None]:
    """`_fit_one`, and with `view` (`member_view` of x) the NB-weighted member too: an
    SVM on the same rows (the same sampled negatives and weights) of the view with every
    feature scaled by the tag's log-count ratio (`nb_ratio`), returned in the original
    feature space (ratio x weights, intercept); None for a constant model."""
    positives = int(column.sum())
    if positives == 0:
        return None, -1.0, None
    if positives == len(column):
        return None, 1.0, None
    weight = positive_weight(positives, job.rare_positives)
    picked = training_rows(x, column, job, rng)
    rows, sample = (None, None) if picked is None else picked
    x_fit = x if rows is None else x[rows]
    y_fit = column if rows is None else column[rows]
    fit = (job.c, job.seed, job.class_weight, sample, weight, job.fit_tol)
    w, b = _liblinear(x_fit, y_fit, *fit)
    if view is None:
        return w, b, None
    ratio = nb_ratio(feature_totals(view.x[np.flatnonzero(column)]), view.totals, job.nb_alpha)
    v_fit = x_fit if view.x is x else view.x if rows is None else view.x[rows]
    w_nb, b_nb = _liblinear(nb_scaled(v_fit, ratio * view.scale), y_fit, *fit)
    return w, b, (view.weights(ratio, w_nb, x.shape[1]), b_nb)


def nb_ratio(inside: np.ndarray, totals: np.ndarray, alpha: float) -> np.ndarray:
    """The log-count ratio of NB-weighted features (Wang and Manning 2012): log(p/|p|) -
    log(q/|q|), p and q the features' sums over the label's articles (`inside`) and over
    the others (`totals` - `inside`), each smoothed by `alpha`."""
    p = inside + alpha
    q = np.maximum(totals - inside, 0.0) + alpha
    return np.log(p / p.sum()) - np.log(q / q.sum())


def nb_scaled(x: sp.csr_matrix, ratio: np.ndarray) -> sp.csr_matrix:
    """The rows with feature i times `ratio[i]` (the NB-weighted member's view); columns
    past the ratio (an appended bias column) as they are."""
    out = x.copy()
    if len(ratio) >= x.shape[1]:  # no column past the ratio: no mask to build
        out.data *= ratio[out.indices]
        return out
    inside = out.indices < len(ratio)
    out.data[inside] *= ratio[out.indices[inside]]
    return out


def mix_member(w: np.ndarray, b: float, member: Member) -> tuple[np.ndarray, float]:
    """The plain SVM and its NB-weighted member averaged: a linear model again."""
    return 0.5 * (w + member[0]), 0.5 * (b + member[1])


def positive_weight(positives: int, rare_positives: int) -> float:
    """The positive class's weight for a tag with this many training positives: as if it
    had `rare_positives` of them when it has fewer (see `ModelConfig.rare_positives`)."""
    if positives <= 0 or positives >= rare_positives:
        return 1.0
    return rare_positives / positives


@dataclass
class _FitJob:
    """What one worker needs besides the data: settings of the binary fits."""

    c: float
    seed: int
    class_weight: str | None
    tolerance: float
    sample_negatives_min: int
    negatives_per_positive: int
    rare_positives: int
    fit_tol: float
    hard_negative_share: float
    rule: str
    nb_alpha: float = 1.0
    member: bool = False  # fold fits: score the NB-weighted member too (`nb_weighted`)
    member_skip: tuple[int, int] | None = None  # columns the member leaves out (`member_view`)
    top: int = 0
    sample: int = 0
    fold: int = -1  # -1: the final fit

    @classmethod
    def of(cls, config: ModelConfig, seed: int, **changes: Any) -> _FitJob:
        return cls(
            config.c, seed, config.class_weight, config.prune_tolerance,
            config.sample_negatives_min, config.negatives_per_positive,
            config.rare_positives, config.fit_tolerance, config.hard_negative_share,
            config.prune_rule, config.nb_alpha, **changes,
        )  # fmt: skip

    def rng(self, tag: int) -> np.random.Generator:
        """Seeded by tag and fold, not by chunk: results do not depend on the chunking."""
        return np.random.default_rng([self.seed, self.fold + 1, tag])


def _column(y: sp.csc_matrix, j: int) -> np.ndarray:
    column = np.zeros(y.shape[0], dtype=bool)
    column[y.indices[y.indptr[j] : y.indptr[j + 1]]] = True
    return column


def _fit_final_chunk(
    x: sp.csr_matrix,
    y: sp.csc_matrix,
    tags: np.ndarray,
    job: _FitJob,
    members: np.ndarray | None = None,
) -> tuple[np.ndarray, ...]:
    """Final fits of a chunk of tags, as flat arrays (`RowBlock`: kept weights per tag,
    then their columns and values, tag after tag), the intercepts and the number of
    non-zero weights before pruning per tag. Each dense weight vector is pruned and
    dropped as soon as it is fitted. `members`: per tag of the chunk, is the NB-weighted
    member averaged in (`mix_member`)."""
    lengths = np.zeros(y.shape[1], dtype=np.int64)
    columns: list[np.ndarray] = []
    values: list[np.ndarray] = []
    intercepts = np.empty(y.shape[1])
    before = np.zeros(y.shape[1], dtype=np.int64)
    index = np.int32 if x.shape[1] < 2**31 else np.int64  # what the CSR matrix stores
    view = member_view(x, job.member_skip) if members is not None and members.any() else None
    for j in range(y.shape[1]):
        mixed = view if members is not None and members[j] else None
        w, intercepts[j], member = _fit_with_member(
            x, _column(y, j), job, job.rng(int(tags[j])), mixed
        )
        if w is None:
            continue
        if member is not None:
            w, intercepts[j] = mix_member(w, intercepts[j], member)
        before[j] = np.count_nonzero(w)
        if job.rule == "l2":
            keep = prune_weights(w, job.tolerance)
        else:
            keep, shift = prune_on_articles(x, w, job.tolerance)
            intercepts[j] += shift
        lengths[j] = len(keep)
        columns.append(keep.astype(index))
        values.append(round_weights(w[keep].astype(np.float32)))  # as the model stores them
    return (
        lengths,
        np.concatenate(columns) if columns else np.zeros(0, dtype=index),
        np.concatenate(values) if values else np.zeros(0, dtype=np.float32),
        intercepts,
        before,
    )


def _fit_fold_chunk(
    x_train: sp.csr_matrix,
    y_train: sp.csc_matrix,
    x_test: sp.csr_matrix,
    y_test: sp.csc_matrix,
    tags: np.ndarray,
    folds: np.ndarray,
    job: _FitJob,
) -> tuple[np.ndarray, ...]:
    """Fit a chunk of tags on a fold's training part; keep the test part's scores that
    calibration needs. Returns flat arrays (not a few small arrays per tag: with 100,000
    tags their overhead was most of the memory): entries per tag, then per entry the test
    row, score, weight and label, and with `job.member` the score of the plain model
    averaged with its NB-weighted member (`mix_member`) at the same entries (else
    nothing). A tag whose `folds` (folds it is cross-validated on) does not reach this
    fold keeps nothing."""
    counts = np.zeros(y_train.shape[1], dtype=np.int64)
    parts: list[tuple[np.ndarray, ...]] = []
    view = member_view(x_train, job.member_skip) if job.member else None
    for j in range(y_train.shape[1]):
        if job.fold >= folds[j]:
            continue
        rng = job.rng(int(tags[j]))
        w, b, member = _fit_with_member(x_train, _column(y_train, j), job, rng, view)
        scores = np.full(x_test.shape[0], b) if w is None else x_test @ w + b
        positive = _column(y_test, j)
        keep, weights = keep_for_calibration(scores, positive, job.top, job.sample, rng)
        counts[j] = len(keep)
        mixed = np.zeros(0)
        if job.member:
            mixed = (
                scores[keep]
                if member is None
                else 0.5 * (scores[keep] + x_test[keep] @ member[0] + member[1])
            )
        parts.append((keep, scores[keep], weights, positive[keep], mixed))
    empty = (np.zeros(0, np.int64), np.zeros(0), np.zeros(0), np.zeros(0, bool), np.zeros(0))
    return (counts, *(np.concatenate([p[i] for p in parts] or [empty[i]]) for i in range(5)))


def feature_totals(x: sp.csr_matrix) -> np.ndarray:
    """Each feature's sum over the rows of x (the NB-weighted member's log-count ratio)."""
    return np.asarray(x.sum(axis=0), dtype=np.float64).ravel()


def _workers(config: ModelConfig, n_labels: int) -> int:
    workers = config.n_jobs if config.n_jobs > 0 else (os.cpu_count() or 1)
    return max(1, min(workers, n_labels // 8))


def _run_chunks(function: Callable[..., Any], tasks: list[tuple], workers: int) -> list[Any]:
    """Run `function(*task)` for each task (a chunk of tags), in worker processes if more
    than one. Not threads: liblinear draws from the C library's global random state, so
    concurrent fits in one process would make training depend on thread timing instead
    of the seed. joblib memory-maps the large arrays (the feature matrix) once per call,
    so the workers share them instead of each receiving a copy.
    """
    if workers == 1:
        return [function(*task) for task in tasks]
    from joblib import Parallel, delayed

    return Parallel(n_jobs=workers, max_nbytes="1M")(delayed(function)(*task) for task in tasks)


# Final fits: at most this many tags a chunk, so that each chunk's kept weights (about
# 250 KB a tag at 32,000 articles x 400,000 features) come back in pieces of tens of MB.
FINAL_CHUNK_TAGS = 250


def _chunks(n_labels: int, workers: int, most: int | None = None) -> list[np.ndarray]:
    """Tags split into chunks: one in one process, else two per worker, and with `most`
    at most that many tags a chunk (a chunk's results travel back in one piece)."""
    count = 1 if workers == 1 else workers * 2
    if most is not None and workers > 1:
        count = max(count, -(-n_labels // most))
    return [c for c in np.array_split(np.arange(n_labels), min(count, max(n_labels, 1))) if len(c)]


def _fit_binary_columns(
    x: sp.csr_matrix, y: np.ndarray | sp.spmatrix, config: ModelConfig, seed: int
) -> tuple[sp.csr_matrix, np.ndarray]:
    """Fit one binary linear model per column of y: pruned sparse coef and intercepts."""
    y = sp.csc_matrix(y, dtype=bool)
    coef, intercept, _before = _final_fit(x.astype(np.float64), y, config, seed)
    return coef, intercept


def same_labels(y: sp.csc_matrix) -> np.ndarray:
    """For each tag, the first tag with the same label column (the same articles), or
    itself. Tags with the same articles get the same fits, so each column is fitted once:
    a small corpus carrying thousands of tags has few distinct columns (39 articles hold
    only 741 distinct pairs)."""
    y = sp.csc_matrix(y)
    y.sort_indices()
    first: dict[bytes, int] = {}
    source = np.empty(y.shape[1], dtype=np.int64)
    for j in range(y.shape[1]):
        key = y.indices[y.indptr[j] : y.indptr[j + 1]].tobytes()
        source[j] = first.setdefault(key, j)
    return source


def _final_fit(
    x: sp.csr_matrix,
    y: sp.csc_matrix,
    config: ModelConfig,
    seed: int,
    members: np.ndarray | None = None,
    member_skip: tuple[int, int] | None = None,
) -> tuple[sp.csr_matrix, np.ndarray, int]:
    """The final fits of every tag (pruned weights, intercepts, non-zero weights before
    pruning); `members`: per tag, is its NB-weighted member averaged in; `member_skip`:
    the columns the member does not read (`member_view`)."""
    source = same_labels(y)
    fitted = np.flatnonzero(source == np.arange(len(source)))
    workers = _workers(config, len(fitted))
    job = _FitJob.of(config, seed, member_skip=member_skip)
    chunks = [fitted[c] for c in _chunks(len(fitted), workers, FINAL_CHUNK_TAGS)]
    tasks = [(x, y[:, c], c, job, None if members is None else members[c]) for c in chunks]
    parts = _run_chunks(_fit_final_chunk, tasks, workers)
    position = np.zeros(len(source), dtype=np.int64)
    position[fitted] = np.arange(len(fitted))
    intercept = np.concatenate([part[3] for part in parts]) if parts else np.zeros(0)
    before = np.concatenate([part[4] for part in parts]) if parts else np.zeros(0, np.int64)
    at = position[source]  # every tag takes its column's fit
    blocks = [RowBlock(*part[:3]) for part in parts]
    del parts
    coef = stack_row_blocks(blocks, at, x.shape[1])
    return coef, intercept[at].astype(np.float32), int(before[at].sum())


def folds_per_tag(positives: np.ndarray, k: int, cv_positives: int) -> np.ndarray:
    """Folds each tag is cross-validated on: all k, or for a tag with more than
    `cv_positives` positives the first m folds, m = ceil(k x cv_positives / positives)
    (at least 1), which hold about `cv_positives` of its positives. A frequent tag's
    sigmoid and threshold are as well determined by those, and its k + 1 fits (the
    costliest: most support vectors) drop to m + 1."""
    positives = np.asarray(positives, dtype=np.float64)
    wanted = np.ceil(k * cv_positives / np.maximum(positives, 1.0))
    return np.where(positives > cv_positives, np.clip(wanted, 1, k), k).astype(np.int64)


def nb_member_trained(config: ModelConfig, n: int, n_labels: int) -> bool:
    """Is the NB-weighted member (`ModelConfig.nb_weighted`) fitted for tags: asked for,
    and articles x tags within `calibration_entries`, where calibration keeps every
    out-of-fold score (the member is compared with the plain model on all of them) and
    its doubled fits cost seconds, not the hours of a 10,000-tag corpus."""
    return config.nb_weighted and n * n_labels <= config.calibration_entries


def calibration_budget(config: ModelConfig, n_labels: int, k: int) -> tuple[int, int]:
    """Top negatives and sampled negatives kept per tag and fold (see `OutOfFold`)."""
    per_tag = max(config.calibration_min_negatives, config.calibration_entries // max(n_labels, 1))
    per_fold = -(-per_tag // k)
    top = -(-per_fold // 2)
    return top, per_fold - top


def out_of_fold(
    x: sp.csr_matrix,
    y: sp.csc_matrix,
    folds: list[np.ndarray],
    config: ModelConfig,
    seed: int,
    progress: Progress = _no_progress,
    total: int | None = None,
    member_skip: tuple[int, int] | None = None,
) -> OutOfFold:
    """Cross-validated decision values of every tag, keeping those calibration needs;
    `member_skip`: the columns the NB-weighted member does not read (`member_view`).

    One slice of the data per fold serves all tags; tags are fitted in chunks by
    worker processes sharing that slice.
    """
    n, n_labels = y.shape
    member = nb_member_trained(config, n, n_labels)
    top, sample = calibration_budget(config, n_labels, len(folds))
    per_tag_folds = folds_per_tag(np.diff(y.indptr), len(folds), config.cv_positives)
    source = same_labels(y)
    fitted = np.flatnonzero(source == np.arange(n_labels))
    workers = _workers(config, len(fitted))
    chunks = [fitted[c] for c in _chunks(len(fitted), workers)]
    pieces: list[tuple[np.ndarray, ...]] = []
    y_rows = y.tocsr()
    for i, test in enumerate(folds):
        progress("tags: cross-validation", i, total or len(folds) + 1)
        train = np.setdiff1d(np.arange(n), test, assume_unique=True)
        x_train, x_test = x[train], x[test]
        y_train, y_test = y_rows[train].tocsc(), y_rows[test].tocsc()
        job = _FitJob.of(
            config, seed, member=member, top=top, sample=sample, fold=i, member_skip=member_skip
        )
        tasks = [
            (x_train, y_train[:, c], x_test, y_test[:, c], c, per_tag_folds[c], job) for c in chunks
        ]
        parts = _run_chunks(_fit_fold_chunk, tasks, workers)
        index = np.int32 if max(n, n_labels) < 2**31 else np.int64
        for chunk, (counts, keep, scores, weights, positive, mixed) in zip(
            chunks, parts, strict=True
        ):
            tag = np.repeat(chunk, counts).astype(index)
            pieces.append((tag, test[keep].astype(index), scores, weights, positive, mixed))
        del x_train, x_test, tasks, parts
    # Gathered field by field, each field's pieces let go as soon as it is gathered and
    # sorted: the kept scores (millions of entries) are held about once, not three times.
    fields: list[Any] = list(zip(*pieces, strict=True)) if pieces else [()] * 6
    del pieces

    def gathered(i: int, dtype: Any) -> np.ndarray:
        values = np.concatenate(fields[i]) if fields[i] else np.zeros(0, dtype)
        fields[i] = None
        return values

    tag, rows = gathered(0, np.int64), gathered(1, np.int64)
    order = np.lexsort((rows, tag))  # by tag, then by article
    tag, rows = tag[order], rows[order]
    scores = gathered(2, np.float64)[order]
    weights = gathered(3, np.float64)[order]
    positive = gathered(4, bool)[order].astype(bool)
    mixed = gathered(5, np.float64)[order] if member else None
    del order
    bounds = np.searchsorted(tag, np.arange(n_labels + 1))
    kept = OutOfFold(n, [], [], [], [], source=source, member=None if mixed is None else [])
    for j in source:  # a tag with the same articles as an earlier one shares its scores
        lo, hi = bounds[j], bounds[j + 1]
        kept.rows.append(rows[lo:hi])
        kept.scores.append(scores[lo:hi])
        kept.weights.append(weights[lo:hi])
        kept.positive.append(positive[lo:hi])
        if kept.member is not None and mixed is not None:
            kept.member.append(mixed[lo:hi])
    return kept


def _cross_validated_labels(
    y: sp.csc_matrix, folds: list[np.ndarray], config: ModelConfig
) -> sp.csr_matrix:
    """The labels the out-of-fold scores can be compared with: a tag cross-validated on
    fewer folds (`folds_per_tag`) keeps its positives in those folds only."""
    per_tag = folds_per_tag(np.diff(y.indptr), len(folds), config.cv_positives)
    y_rows = y.tocsr()
    if (per_tag >= len(folds)).all():
        return y_rows
    fold_of = np.empty(y.shape[0], dtype=np.int64)
    for i, test in enumerate(folds):
        fold_of[test] = i
    coo = y_rows.tocoo()
    keep = fold_of[coo.row] < per_tag[coo.col]
    return sp.csr_matrix((coo.data[keep], (coo.row[keep], coo.col[keep])), shape=y.shape)


def select_sparse(
    probs: sp.csr_matrix,
    thresholds: np.ndarray,
    best_tag_floor: float | None,
    allowed: np.ndarray | None = None,
) -> sp.csr_matrix:
    """`TagModel.select` on a sparse matrix of probabilities (absent entries: not chosen);
    `allowed`: the tags the best-tag floor may choose (default: all)."""
    probs = sp.csr_matrix(probs)
    coo = probs.tocoo()
    chosen = coo.data >= thresholds[coo.col]
    if best_tag_floor is not None and probs.nnz:
        row_has = np.zeros(probs.shape[0], dtype=bool)
        row_has[coo.row[chosen]] = True
        # The best kept entry of each row: sort by row, then by descending probability.
        data = coo.data if allowed is None else np.where(allowed[coo.col], coo.data, -1.0)
        order = np.lexsort((-data, coo.row))
        first = order[np.r_[True, coo.row[order][1:] != coo.row[order][:-1]]]
        extra = first[~row_has[coo.row[first]] & (data[first] >= best_tag_floor)]
        chosen[extra] = True
    return sp.csr_matrix(
        (np.ones(int(chosen.sum()), dtype=bool), (coo.row[chosen], coo.col[chosen])),
        shape=probs.shape,
    )


def _with_hits(selected: sp.csr_matrix, hits: sp.csr_matrix, allowed: np.ndarray) -> sp.csr_matrix:
    """Selected tags plus a rule's hits on the tags rules may choose."""
    if not allowed.all():
        hits = hits.multiply(sp.csr_matrix(allowed.reshape(1, -1))).tocsr()
    return (selected + hits).astype(bool)


def select_out_of_fold(
    model: TagModel,
    probs: sp.csr_matrix,
    y: sp.spmatrix,
    titles: Sequence[str] | None,
    bodies: Sequence[str] | None = None,
    lead_chars: int = 0,
    names: Sequence[Sequence[str]] | None = None,
) -> sp.csr_matrix:
    """The tags chosen from out-of-fold probabilities (absent: not chosen) by thresholds and
    the best-tag floor; with `titles`, the name rule is fitted on them (`model.name_rule`)
    and its hits are added; then, with `bodies` and `lead_chars`, the lead rule on the
    bodies' first `lead_chars` characters (`model.lead_rule`), learned on top of the title
    rule: it serves the tags (by support) for which it still adds to the out-of-fold results.
    `names`: each tag's other names (a vocabulary's labels and aliases) both rules search."""
    allowed = model.rules_allowed
    selected = select_sparse(probs, model.threshold_values, model.best_tag_floor, allowed)
    if titles is None:
        return selected
    model.name_rule, _scores = fit_name_rule(titles, y, model.labels, selected, probs, names=names)
    selected = _with_hits(selected, model.name_rule.hits_sparse(titles), allowed)
    if bodies is not None and lead_chars > 0:
        model.lead_chars = lead_chars
        leads = model.leads(bodies)
        model.lead_rule, _scores = fit_name_rule(
            leads, y, model.labels, selected, probs, LEAD_SUPPORT_LIMITS, names
        )
        if model.lead_rule.serves_none():
            model.lead_rule, model.lead_chars = None, 0
        else:
            selected = _with_hits(selected, model.lead_rule.hits_sparse(leads), allowed)
    return selected


_OWN_THRESHOLD = ("best-f1", "precision>=")


def _comparable(mixed: Threshold, plain: Threshold) -> bool:
    """Do two calibrations of a tag's scores give F1 figures a choice may compare: both
    the tag's own thresholds, or both the rare tags' pool (whose F1 is the pool's, so
    the rare tags take a member together, on the evidence of all their positives)."""
    if mixed.method == plain.method == RARE_POOLED:
        return True
    return mixed.method.startswith(_OWN_THRESHOLD) and plain.method.startswith(_OWN_THRESHOLD)


def nb_member_choice(
    kept: OutOfFold,
    a: np.ndarray,
    b: np.ndarray,
    thresholds: list[Threshold],
    config: ModelConfig,
    targets: Targets | None = None,
) -> tuple[OutOfFold, np.ndarray, list[Threshold]]:
    """The tags that average in their NB-weighted member (`ModelConfig.nb_weighted`),
    from the out-of-fold scores `kept` (plain, and mixed in `kept.member`) and the plain
    model's sigmoids `a`, `b` (updated in place) and `thresholds`: the out-of-fold scores
    then used (mixed for the chosen tags), the choice per tag, and the thresholds.

    The mixed scores are calibrated like the plain ones (`calibrate_tags`); with
    `config.nb_min_gain` None every tag takes the mix and its calibration. Otherwise a tag
    takes it only where both its plain and its mixed out-of-fold F1 come from a threshold
    of its own (not pooled, no fallback, no precision policy), or both from the rare tags'
    pool (`_comparable`), and the mixed F1 beats the plain one by more than `nb_min_gain`
    (the best of two F1 figures on the same folds favours the second by chance); every
    other tag keeps its plain scores, sigmoid and threshold exactly."""
    n_tags = len(kept.rows)
    if kept.member is None:
        return kept, np.zeros(n_tags, dtype=bool), thresholds
    mixed = replace(kept, scores=kept.member, member=None)
    a2, b2, again = calibrate_tags(mixed, None, config, targets)
    if config.nb_min_gain is None:
        a[:], b[:] = a2, b2
        return mixed, np.ones(n_tags, dtype=bool), again
    gain = config.nb_min_gain
    chosen = np.array(
        [
            not _has_target(targets, j)
            and _comparable(again[j], thresholds[j])
            and again[j].f1 > thresholds[j].f1 + gain
            for j in range(n_tags)
        ],
        dtype=bool,
    )
    a[chosen], b[chosen] = a2[chosen], b2[chosen]
    scores = [
        m if chosen[j] else s for j, (s, m) in enumerate(zip(kept.scores, kept.member, strict=True))
    ]
    out = replace(kept, scores=scores, member=None)
    return out, chosen, [again[j] if chosen[j] else t for j, t in enumerate(thresholds)]


def second_stage(
    kept: OutOfFold,
    a: np.ndarray,
    b: np.ndarray,
    thresholds: list[Threshold],
    folds: list[np.ndarray],
    config: ModelConfig,
    seed: int,
    targets: Targets | None = None,
) -> tuple[SecondStage | None, OutOfFold, list[Threshold]]:
    """The second stage (tagger.stacking) on the first stage's out-of-fold scores `kept`,
    its sigmoids `a`, `b` (updated in place) and `thresholds`: the stage, the out-of-fold
    scores the rules and metrics then read, and the thresholds; the stage is None when
    it rescores no tag.

    Only the rescored tags are calibrated again; the others keep their first-stage
    sigmoid and threshold exactly (the pooled fit would otherwise move them). Unless
    `config.stack_min_gain` is None, a tag keeps its rescoring only where its out-of-fold
    F1 at its own tuned threshold beats the first stage's on the same folds by more than
    `stack_min_gain`; elsewhere the first stage stays, scores included.
    """
    stack, rescored = fit_second_stage(kept, a, b, folds, config, seed)
    a2, b2, again = calibrate_tags(rescored, None, config, targets)
    tags = stack.tags
    if config.stack_min_gain is not None:
        gain = config.stack_min_gain
        tags = np.array([j for j in tags if again[j].f1 > thresholds[j].f1 + gain], np.int64)
        stack = stack.keep_only(tags)
        scores = list(kept.scores)
        for j in tags:
            scores[j] = rescored.scores[j]
        rescored = replace(rescored, scores=scores)
    a[tags], b[tags] = a2[tags], b2[tags]
    chosen = set(tags.tolist())
    thresholds = [again[j] if j in chosen else t for j, t in enumerate(thresholds)]
    return (stack if len(tags) else None), rescored, thresholds


def train_tag_model(
    x: sp.csr_matrix,
    y: np.ndarray | sp.spmatrix,
    labels: list[str],
    config: ModelConfig,
    *,
    seed: int = 0,
    groups: Sequence[Any] | None = None,
    progress: Progress = _no_progress,
    titles: Sequence[str] | None = None,
    targets: Targets | None = None,
    bodies: Sequence[str] | None = None,
    names: Sequence[Sequence[str]] | None = None,
    char_columns: tuple[int, int] | None = None,
) -> TagModel:
    """Cross-validate for calibration and thresholds, then fit on everything.

    `y` is the (articles x tags) label matrix, sparse or dense. Nothing of size
    articles x tags is held dense: out-of-fold scores are kept per tag only where
    calibration needs them (`OutOfFold`). With `titles`, a name rule (tags named in
    the title) is learned as well, and with `bodies` a second one on their leads
    (`config.lead_chars`); `names` gives each tag's other names the rules search (a
    vocabulary's labels and aliases). `targets`: each tag's precision policy (see
    `calibrate_tags`). `char_columns`: the character block's columns [start, stop)
    (`Featurizer.char_columns`), which the NB-weighted member leaves out unless
    `config.nb_chars`.
    """
    y = sp.csc_matrix(y, dtype=bool)
    x = sp.csr_matrix(x).astype(np.float64)  # liblinear's dtype: convert once, not per tag
    n = x.shape[0]
    k = max(2, min(config.cv_folds, n))
    folds = _folds(n, k, seed, groups)
    total = k + 1
    member_skip = None if config.nb_chars else char_columns
    kept = out_of_fold(x, y, folds, config, seed, progress, total, member_skip)
    y_rows = _cross_validated_labels(y, folds, config)
    progress("tags: calibration", k, total)
    # Calibration, the rules and the out-of-fold metrics need only the out-of-fold scores,
    # so they run (and the scores are let go) before the final fits: the weights of
    # thousands of tags and the scores are never held at the same time (docs/scale.md).
    a, b, thresholds = calibrate_tags(kept, None, config, targets)
    kept, members, thresholds = nb_member_choice(kept, a, b, thresholds, config, targets)
    stack = None
    if config.stack_top > 0 and kept.whole():
        # Trained only on whole out-of-fold scores: its features are each article's top
        # tags, which prediction takes over every tag; where calibration kept a sample of
        # the negatives (or fewer folds for a frequent tag), an article's top tags among
        # the kept entries are not the ones prediction would see.
        stack, kept, thresholds = second_stage(kept, a, b, thresholds, folds, config, seed, targets)
    empty = sp.csr_matrix((len(labels), x.shape[1]), dtype=np.float32)
    model = TagModel(
        labels, empty, np.zeros(len(labels)), a, b, thresholds, {}, config.best_tag_floor
    )
    model.stack = stack
    from tagger.evaluate import multilabel_metrics

    probs = kept.matrix([platt_apply(s, a[j], b[j]) for j, s in enumerate(kept.scores)])
    entries = kept.entries()
    del kept
    rule_titles = titles if config.name_rule else None
    selected = select_out_of_fold(
        model, probs, y_rows, rule_titles, bodies, config.lead_chars, names
    )
    model.cv_metrics = multilabel_metrics(y_rows, selected, probs, labels)
    del probs, selected, y_rows
    model.cv_metrics["note"] = (
        f"{k}-fold out-of-fold predictions; thresholds were tuned on the same folds, "
        "so these figures are somewhat optimistic"
    )
    progress("tags: final fit", k, total)
    coef, intercept, before = _final_fit(
        x, y, config, seed, members if members.any() else None, member_skip
    )
    model.coef, model.intercept = stored_weights(coef), intercept
    progress("tags: final fit", total, total)
    model.cv_metrics["weights"] = {
        "nonzero_before_pruning": int(before),
        "nonzero": int(model.coef.nnz),
        "prune_tolerance": config.prune_tolerance,
        "prune_rule": config.prune_rule,
    }
    model.cv_metrics["second_stage_tags"] = 0 if stack is None else len(stack.tags)
    if nb_member_trained(config, n, len(labels)):
        model.cv_metrics["nb_member_tags"] = int(members.sum())
    model.cv_metrics["calibration_entries"] = entries
    model.cv_metrics["matrix_nonzeros"] = int(x.nnz)
    return model


# -- section model -------------------------------------------------------------------------


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def fit_temperature(decisions: np.ndarray, y_index: np.ndarray) -> float:
    """Temperature T minimising the log-loss of softmax(decisions / T) (temperature scaling)."""
    best_t, best_loss = 1.0, np.inf
    rows = np.arange(len(y_index))
    for t in np.geomspace(0.02, 5.0, 60):
        p = softmax(decisions / t)
        loss = -np.mean(np.log(np.clip(p[rows, y_index], 1e-12, 1.0)))
        if loss < best_loss:
            best_t, best_loss = float(t), loss
    return best_t


def columns_dropped(x: sp.csr_matrix, skip: tuple[int, int]) -> sp.csr_matrix:
    """`x` without columns [start, stop) (the character block), rows as they are."""
    start, stop = skip
    return sp.hstack([x[:, :start], x[:, stop:]], format="csr")


def without_columns(x: sp.csr_matrix, skip: tuple[int, int] | None) -> sp.csr_matrix:
    """`x` without columns [start, stop), rows L2-normalised again: the rows a featurizer
    without those columns gives (every block is normalised before the stack is)."""
    if skip is None:
        return x
    return normalize_rows(columns_dropped(x, skip).astype(np.float32))


@dataclass
class SectionModel:
    """A multi-class linear classifier with temperature-scaled probabilities, and optionally
    a second linear model on NB-weighted features (`nb_coef`): the section's probability is
    then the mean of both models' (each temperature-scaled)."""

    labels: list[str]
    coef: np.ndarray  # (n_labels, n_features)
    intercept: np.ndarray
    temperature: float
    cv_metrics: dict[str, Any] = field(default_factory=dict)
    nb_coef: np.ndarray | None = None  # (n_labels, n_features): NB ratios times SVM weights
    nb_intercept: np.ndarray | None = None
    nb_temperature: float = 1.0
    title: TitleModel | None = None
    cross: TitleModel | None = None  # title character n-grams across word boundaries
    # Columns [start, stop) of the shared features this model does not read: the character
    # block, which the tag model reads (`Featurizer.char_columns`). None: every column.
    skip: tuple[int, int] | None = None

    def view(self, x: sp.csr_matrix) -> sp.csr_matrix:
        """The rows this model reads (`without_columns`)."""
        return without_columns(x, self.skip)

    def view_names(self, names: np.ndarray) -> np.ndarray:
        """The feature names of `view`'s columns."""
        if self.skip is None:
            return names
        start, stop = self.skip
        return np.concatenate([names[:start], names[stop:]])

    def decision(self, x: sp.csr_matrix) -> np.ndarray:
        return linear_scores(self.view(x), self.coef, self.intercept)

    def predict_proba(self, x: sp.csr_matrix, titles: Sequence[str] | None = None) -> np.ndarray:
        """Section probabilities; with a title model, `titles` (one per row) are needed."""
        return self.proba_of_view(self.view(x), titles)

    def proba_of_view(self, x: sp.csr_matrix, titles: Sequence[str] | None = None) -> np.ndarray:
        """`predict_proba` of rows already in this model's view (`view`)."""
        probs = softmax(linear_scores(x, self.coef, self.intercept) / self.temperature)
        if self.nb_coef is not None and self.nb_intercept is not None:
            nb = linear_scores(x, self.nb_coef, self.nb_intercept)
            probs = (probs + softmax(nb / self.nb_temperature)) / 2
        members = [m for m in (self.title, self.cross) if m is not None]
        if members and (titles is None or len(titles) != x.shape[0]):
            raise ValueError("this section model needs the articles' titles")
        for member in members:
            w = member.weight
            probs = (1 - w) * probs + w * member.predict_proba(titles)  # type: ignore[arg-type]
        return probs

    def evidence_weights(self, j: int) -> np.ndarray:
        """What each feature adds to label j's score, over both models (the second one's
        weights brought to the first one's scale by the ratio of their temperatures)."""
        weights = np.asarray(self.coef[j], dtype=np.float64)
        if self.nb_coef is not None:
            scale = self.temperature / self.nb_temperature
            weights = weights + scale * np.asarray(self.nb_coef[j], dtype=np.float64)
        return weights

    def to_state(self) -> State:
        meta = {
            "labels": list(self.labels),
            "temperature": self.temperature,
            "cv_metrics": self.cv_metrics,
        }
        if self.skip is not None:
            meta["skip"] = list(self.skip)
        arrays = {"coef": self.coef, "intercept": self.intercept}
        if self.nb_coef is not None and self.nb_intercept is not None:
            meta["nb_temperature"] = self.nb_temperature
            arrays["nb_coef"], arrays["nb_intercept"] = self.nb_coef, self.nb_intercept
        for key, member in (("title", self.title), ("cross", self.cross)):
            if member is not None:
                meta[key], member_arrays = member.to_state()
                arrays.update({f"{key}.{k}": v for k, v in member_arrays.items()})
        return meta, arrays

    @classmethod
    def from_state(
        cls, meta: dict[str, Any], arrays: dict[str, Any], n_features: int
    ) -> SectionModel:
        where = "sections"
        labels = _labels_from_state(meta, where)
        temperature = meta.get("temperature")
        if not _is_number(temperature) or temperature <= 0:
            raise ValueError(f"{where}.temperature: expected a positive number")
        metrics = meta.get("cv_metrics")
        if not isinstance(metrics, dict):
            raise ValueError(f"{where}.cv_metrics: expected an object")
        n = len(labels)
        skip = meta.get("skip")
        if skip is not None:
            if not (
                isinstance(skip, list)
                and len(skip) == 2
                and all(type(c) is int for c in skip)
                and 0 <= skip[0] < skip[1] <= n_features
            ):
                raise ValueError(f"{where}.skip: expected [start, stop] within the features")
            n_features -= skip[1] - skip[0]
        model = cls(
            labels=labels,
            skip=(skip[0], skip[1]) if skip is not None else None,
            coef=_array_from_state(arrays, "coef", (n, n_features), where, sparse=True),
            intercept=_array_from_state(arrays, "intercept", (n,), where),
            temperature=float(temperature),
            cv_metrics=metrics,
        )
        if "nb_temperature" in meta or "nb_coef" in arrays:
            nb_temperature = meta.get("nb_temperature")
            if not _is_number(nb_temperature) or nb_temperature <= 0:
                raise ValueError(f"{where}.nb_temperature: expected a positive number")
            model.nb_temperature = float(nb_temperature)
            model.nb_coef = _array_from_state(arrays, "nb_coef", (n, n_features), where)
            model.nb_intercept = _array_from_state(arrays, "nb_intercept", (n,), where)
        for key in ("title", "cross"):
            if meta.get(key) is not None:
                prefix = f"{key}."
                member_arrays = {
                    k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)
                }
                member = TitleModel.from_state(meta[key], member_arrays, n, f"{where}.{key}")
                setattr(model, key, member)
        return model


@dataclass
class TitleModel:
    """The section model's third member: a multi-class linear model on character n-grams
    of the title alone (its own tf-idf block), temperature-scaled, mixed in with `weight`."""

    block: TfidfBlock
    coef: np.ndarray  # (n_labels, n_terms)
    intercept: np.ndarray
    temperature: float
    weight: float

    def predict_proba(self, titles: Sequence[str]) -> np.ndarray:
        x = self.block.transform([t or "" for t in titles])
        return softmax(linear_scores(x, self.coef, self.intercept) / self.temperature)

    def to_state(self) -> State:
        block, idf = self.block.to_state()
        meta = {"block": block, "temperature": self.temperature, "weight": self.weight}
        return meta, {"idf": idf, "coef": self.coef, "intercept": self.intercept}

    @classmethod
    def from_state(cls, meta: Any, arrays: dict[str, Any], n_labels: int, where: str) -> TitleModel:
        if not isinstance(meta, dict):
            raise ValueError(f"{where}: expected an object")
        for key, low, high in (("temperature", 0.0, np.inf), ("weight", 0.0, 1.0)):
            value = meta.get(key)
            if not _is_number(value) or not low < value <= high:
                raise ValueError(f"{where}.{key}: expected a number in ({low:g}, {high:g}]")
        block = TfidfBlock.from_state(meta.get("block"), arrays.get("idf"), f"{where}.block")
        n_terms = len(block.terms)
        return cls(
            block=block,
            coef=_array_from_state(arrays, "coef", (n_labels, n_terms), where),
            intercept=_array_from_state(arrays, "intercept", (n_labels,), where),
            temperature=float(meta["temperature"]),
            weight=float(meta["weight"]),
        )


def _fit_multiclass(
    x: sp.csr_matrix, y_index: np.ndarray, n_labels: int, config: ModelConfig, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    present = np.unique(y_index)
    coef = np.zeros((n_labels, x.shape[1]), dtype=np.float32)
    intercept = np.full(n_labels, -10.0, dtype=np.float32)
    if len(present) == 1:
        intercept[present[0]] = 10.0
        return coef, intercept
    model = _linear_svc(config.c, seed, config.class_weight).fit(x, y_index)
    if len(present) == 2:
        # liblinear returns one row for two classes: +w for the second, -w for the first.
        coef[present[1]], intercept[present[1]] = model.coef_[0], model.intercept_[0]
        coef[present[0]], intercept[present[0]] = -model.coef_[0], -model.intercept_[0]
    else:
        coef[present] = model.coef_
        intercept[present] = model.intercept_
    return coef, intercept


def _fit_nb_weighted(
    x: sp.csr_matrix,
    y_index: np.ndarray,
    n_labels: int,
    config: ModelConfig,
    seed: int,
    alpha: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """One-vs-rest linear SVMs on NB-weighted features (Wang and Manning, 2012): each
    label's features are scaled by their log-count ratio r = log(p/|p|) - log(q/|q|) (p, q:
    smoothed feature sums over the label's articles and the others'), so a feature typical of
    the label starts out strong (`alpha`: the sums' smoothing). Returned in the original
    feature space: coef = r * w."""
    coef = np.zeros((n_labels, x.shape[1]), dtype=np.float32)
    intercept = np.full(n_labels, -10.0, dtype=np.float32)
    total = feature_totals(x)
    for j in range(n_labels):
        positive = y_index == j
        if not positive.any():
            continue
        if positive.all():
            intercept[j] = 10.0
            continue
        ratio = nb_ratio(feature_totals(x[positive]), total, alpha)
        model = _linear_svc(config.c, seed, config.class_weight).fit(x @ sp.diags(ratio), positive)
        coef[j] = ratio * model.coef_[0]
        intercept[j] = model.intercept_[0]
    return coef, intercept


def _title_features(
    titles: Sequence[str], config: ModelConfig, analyzer: str = "char_wb"
) -> tuple[TfidfBlock, Any]:
    """A title model's tf-idf block (character n-grams of the titles: inside word
    boundaries, `title_chars`, or across them, analyzer "char", `title_cross_chars`) and
    its rows."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer(
        analyzer=analyzer,
        ngram_range=config.title_chars if analyzer == "char_wb" else config.title_cross_chars,
        min_df=2,
        sublinear_tf=True,
        strip_accents="unicode",
        dtype=np.float32,
    )
    rows = vectorizer.fit_transform([t or "" for t in titles])
    return TfidfBlock.from_vectorizer(analyzer, vectorizer), rows.astype(np.float64)


def log_loss(probs: np.ndarray, y_index: np.ndarray) -> float:
    return float(-np.mean(np.log(np.clip(probs[np.arange(len(y_index)), y_index], 1e-12, 1.0))))


def choose_title_weight(
    probs: np.ndarray, title_probs: np.ndarray, y_index: np.ndarray, weights: Sequence[float]
) -> float:
    """The mixing weight of the title model with the lowest out-of-fold log-loss (the
    first, smallest, among equals)."""
    losses = np.array([log_loss((1 - w) * probs + w * title_probs, y_index) for w in weights])
    return float(weights[int(np.flatnonzero(losses <= losses.min() + 1e-9)[0])])


def _mix_title(
    probs: np.ndarray, title_probs: np.ndarray | None, y_index: np.ndarray, weights: Sequence[float]
) -> tuple[np.ndarray, float]:
    """A title member's out-of-fold probabilities mixed into `probs`: (the mix, its weight
    by out-of-fold log-loss); no member: (probs, 0)."""
    if title_probs is None:
        return probs, 0.0
    weight = choose_title_weight(probs, title_probs, y_index, weights)
    return (1 - weight) * probs + weight * title_probs, weight


def train_section_model(
    x: sp.csr_matrix,
    sections: Sequence[str],
    labels: list[str],
    config: ModelConfig,
    *,
    seed: int = 0,
    groups: Sequence[Any] | None = None,
    progress: Progress = _no_progress,
    titles: Sequence[str] | None = None,
    skip: tuple[int, int] | None = None,
) -> SectionModel:
    """Out-of-fold decision values give the temperatures (and the cross-validated
    metrics), then the models are fit on everything; `skip` (columns [start, stop)) is
    left out of what the models read (`SectionModel.skip`). With `config.nb_weighted`, a second
    model on NB-weighted features is averaged in (see `SectionModel`); with
    `config.title_chars` (`title_cross_chars`) and `titles`, a model on the titles'
    character n-grams (across word boundaries) is mixed in with the weight whose
    out-of-fold log-loss is lowest (`TitleModel`); with `config.c_grid`, the word models'
    C and whether the second one is used are chosen by out-of-fold accuracy."""
    x = without_columns(x, skip)
    index = {label: i for i, label in enumerate(labels)}
    y_index = np.array([index[s] for s in sections])
    n, n_labels = x.shape[0], len(labels)
    k = max(2, min(config.cv_folds, n))
    folds = _folds(n, k, seed, groups)
    grid = tuple(config.c_grid) or (config.c,)
    word_fits = {"svm": _fit_multiclass}
    if config.nb_weighted:
        word_fits["nb"] = _fit_nb_weighted
    oof = {(name, c): np.zeros((n, n_labels)) for name in word_fits for c in grid}
    spaces: dict[str, tuple[TfidfBlock, Any]] = {}
    has_titles = titles is not None and any(t.strip() for t in titles)
    for key, analyzer, wanted in (
        ("title", "char_wb", config.title_chars),
        ("cross", "char", config.title_cross_chars),
    ):
        if wanted and has_titles:
            # no character n-gram on two titles: no such member
            with contextlib.suppress(ValueError):
                spaces[key] = _title_features(titles, config, analyzer)  # type: ignore[arg-type]
    title_oof = {key: np.zeros((n, n_labels)) for key in spaces}
    total = k + 1
    for i, test in enumerate(folds):
        progress("section: cross-validation", i, total)
        train = np.setdiff1d(np.arange(n), test, assume_unique=True)
        for (name, c), values in oof.items():
            fit_config = replace(config, c=c) if c != config.c else config
            coef, intercept = word_fits[name](x[train], y_index[train], n_labels, fit_config, seed)
            values[test] = np.asarray(x[test] @ coef.T) + intercept
        for key, (_, x_title) in spaces.items():
            coef, intercept = _fit_multiclass(
                x_title[train], y_index[train], n_labels, config, seed
            )
            title_oof[key][test] = np.asarray(x_title[test] @ coef.T) + intercept
    progress("section: final fit", k, total)
    temperatures = {key: fit_temperature(values, y_index) for key, values in oof.items()}
    # each title member's temperature and probabilities do not depend on the word models
    # chosen: fitted once, not once per option
    title_temperatures = {key: fit_temperature(v, y_index) for key, v in title_oof.items()}
    title_probs = {key: softmax(v / title_temperatures[key]) for key, v in title_oof.items()}
    options = []
    for c in grid:
        choices = (
            [("svm",), ("svm", "nb")] if len(grid) > 1 and "nb" in word_fits else [tuple(word_fits)]
        )
        for names in choices:
            probs = sum(softmax(oof[m, c] / temperatures[m, c]) for m in names) / len(names)
            weights = {}
            for key in ("title", "cross"):
                probs, weights[key] = _mix_title(
                    probs, title_probs.get(key), y_index, config.title_weights
                )
            accuracy = float(np.mean(probs.argmax(axis=1) == y_index))
            loss = log_loss(probs, y_index)
            options.append(((-accuracy, loss, c, len(names)), names, c, weights, probs))
    _, names, c, weights, probs = min(options, key=lambda option: option[0])
    fit_config = replace(config, c=c) if c != config.c else config
    coef, intercept = _fit_multiclass(x, y_index, n_labels, fit_config, seed)
    model = SectionModel(labels, coef, intercept, temperatures["svm", c], skip=skip)
    if "nb" in names:
        model.nb_coef, model.nb_intercept = _fit_nb_weighted(x, y_index, n_labels, fit_config, seed)
        model.nb_temperature = temperatures["nb", c]
    for key, (block, x_title) in spaces.items():
        if weights[key] > 0:
            coef, intercept = _fit_multiclass(x_title, y_index, n_labels, config, seed)
            member = TitleModel(block, coef, intercept, title_temperatures[key], weights[key])
            setattr(model, key, member)
    progress("section: final fit", total, total)
    from tagger.evaluate import multiclass_metrics

    predicted = probs.argmax(axis=1)
    model.cv_metrics = multiclass_metrics(
        [labels[i] for i in y_index], [labels[i] for i in predicted], labels
    )
    model.cv_metrics["note"] = f"{k}-fold out-of-fold predictions"
    if len(grid) > 1:
        model.cv_metrics["c"] = c
        model.cv_metrics["word_models"] = len(names)
    if model.title is not None:
        model.cv_metrics["title_weight"] = model.title.weight
    if model.cross is not None:
        model.cv_metrics["title_cross_weight"] = model.cross.weight
    return model
