"""Classifiers: one section per article, many tags per article.

Both are linear models on the sparse features. Out-of-fold decision values from
k-fold cross-validation give calibrated probabilities (Platt scaling for tags,
temperature-scaled softmax for sections) and each tag's threshold; the final
models are then fit on all the training data.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from tagger.name_rules import NameRule, fit_name_rule

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
    # A tag's own threshold is pulled toward the pooled one as if the pooled one had
    # this many articles of evidence: thresholds tuned on a handful of positives overfit.
    threshold_shrinkage: float = 5.0
    # Every training article has a tag, so an article where no tag passes its threshold
    # still gets its best tag when that tag's probability reaches this floor (None: off).
    best_tag_floor: float | None = 0.1
    # Learn a rule that suggests a tag named in the title (tagger.name_rules).
    name_rule: bool = True
    class_weight: str | None = None
    # Processes fitting tags in parallel (-1: all cores). Results do not depend on it.
    n_jobs: int = -1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


def _linear_svc(c: float, seed: int, class_weight: str | None = None) -> Any:
    from sklearn.svm import LinearSVC

    return LinearSVC(C=c, random_state=seed, class_weight=class_weight, dual=True, max_iter=5000)


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


def platt_fit(scores: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Platt's sigmoid P(y=1|s) = 1 / (1 + exp(a*s + b)), with his smoothed targets."""
    from scipy.optimize import minimize

    y = y.astype(bool)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0:
        return 1.0, 10.0
    if n_neg == 0:
        return -1.0, -10.0
    target = np.where(y, (n_pos + 1.0) / (n_pos + 2.0), 1.0 / (n_neg + 2.0))
    s = scores.astype(np.float64)

    def loss(params: np.ndarray) -> tuple[float, np.ndarray]:
        a, b = params
        z = a * s + b
        # log(1 + exp(z)) computed stably; p = sigmoid(-z)
        # Negative log-likelihood of the targets under P(y=1) = 1 / (1 + e^z).
        value = np.sum(np.logaddexp(0.0, z) - (1 - target) * z)
        p = 1.0 / (1.0 + np.exp(-np.clip(z, -500, 500)))  # = 1 - P(y=1)
        grad_z = p - (1 - target)
        return float(value), np.array([np.dot(grad_z, s), grad_z.sum()])

    prior = np.log((n_neg + 1.0) / (n_pos + 1.0))
    result = minimize(loss, np.array([-1.0, prior]), jac=True, method="L-BFGS-B")
    a, b = result.x
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
) -> Threshold:
    """Threshold that maximises F1 (or recall at a precision target) on held-out scores."""
    y = y.astype(bool)
    support = int(y.sum())
    if support == 0:
        return Threshold(max(fallback, 0.999), 0.0, 0.0, 0.0, 0, "no-positives")
    order = np.argsort(-probs, kind="stable")
    sorted_probs = probs[order]
    hits = np.cumsum(y[order])
    predicted = np.arange(1, len(probs) + 1)
    # Only cut between distinct scores.
    last_of_run = np.r_[sorted_probs[1:] != sorted_probs[:-1], True]
    precision = hits / predicted
    recall = hits / support
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    candidates = np.flatnonzero(last_of_run)
    if min_precision is not None:
        ok = candidates[precision[candidates] >= min_precision]
        if len(ok) == 0:
            return Threshold(max(fallback, 0.999), 0.0, 0.0, 0.0, support, "precision-unreachable")
        best = ok[np.argmax(recall[ok])]
        method = f"precision>={min_precision:g}"
    else:
        best = candidates[np.argmax(f1[candidates])]
        method = "best-f1"
    if f1[best] < min_f1 or f1[best] == 0:
        return Threshold(
            fallback,
            float(f1[best]),
            float(precision[best]),
            float(recall[best]),
            support,
            "fallback",
        )
    # Cut halfway to the next lower score, so new articles near the boundary are treated alike.
    upper = sorted_probs[best]
    lower = sorted_probs[best + 1] if best + 1 < len(sorted_probs) else 0.0
    value = float((upper + lower) / 2)
    return Threshold(
        value, float(f1[best]), float(precision[best]), float(recall[best]), support, method
    )


def top_evidence(
    row: sp.csr_matrix, weights: np.ndarray, names: np.ndarray, k: int = 5
) -> list[tuple[str, float]]:
    """Features of one article that pushed a label's score up the most: (name, contribution)."""
    return evidence_terms(row.indices, row.data, weights, names, k)


def evidence_terms(
    indices: np.ndarray, values: np.ndarray, weights: np.ndarray, names: np.ndarray, k: int = 5
) -> list[tuple[str, float]]:
    """`top_evidence` on a row given as its column indices and values (no slicing cost)."""
    if len(indices) == 0:
        return []
    contributions = values * weights[indices]
    order = np.argsort(-contributions)
    out: list[tuple[str, float]] = []
    for i in order:
        if contributions[i] <= 0 or len(out) >= k:
            break
        name = names[indices[i]]
        if name == "<char>":
            continue
        out.append((str(name), float(contributions[i])))
    return out


# -- tag model ---------------------------------------------------------------------------


@dataclass
class TagModel:
    """One linear classifier per tag, Platt-calibrated, with a tuned threshold per tag."""

    labels: list[str]
    coef: np.ndarray  # (n_labels, n_features) float32
    intercept: np.ndarray  # (n_labels,)
    platt_a: np.ndarray
    platt_b: np.ndarray
    thresholds: list[Threshold]
    cv_metrics: dict[str, Any] = field(default_factory=dict)
    best_tag_floor: float | None = None
    name_rule: NameRule | None = None

    def choose(self, probs: np.ndarray, titles: Sequence[str]) -> np.ndarray:
        """The tags suggested for each article: over their thresholds, by the best-tag
        floor, or by the name rule."""
        return self.select(probs) | self.rule_hits(titles)

    def rule_hits(self, titles: Sequence[str]) -> np.ndarray:
        """Tags suggested by the name rule (their name is in the title), per title."""
        if self.name_rule is None:
            return np.zeros((len(titles), len(self.labels)), dtype=bool)
        return self.name_rule.hits(titles)

    def select(self, probs: np.ndarray) -> np.ndarray:
        """Boolean matrix of the tags suggested for each row of probabilities."""
        selected = probs >= self.threshold_values
        if self.best_tag_floor is not None and probs.shape[1]:
            best = probs.argmax(axis=1)
            rows = np.flatnonzero(
                ~selected.any(axis=1) & (probs[np.arange(len(best)), best] >= self.best_tag_floor)
            )
            selected[rows, best[rows]] = True
        return selected

    def decision(self, x: sp.csr_matrix) -> np.ndarray:
        return linear_scores(x, self.coef, self.intercept)

    def predict_proba(self, x: sp.csr_matrix) -> np.ndarray:
        return platt_apply(self.decision(x), self.platt_a, self.platt_b)

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
        rule = None
        if meta.get("name_rule") is not None:
            rule_arrays = {
                k[len("name_rule.") :]: v for k, v in arrays.items() if k.startswith("name_rule.")
            }
            rule = NameRule.from_state(meta["name_rule"], rule_arrays, labels)
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
        )


def _fit_columns_serial(
    x: sp.csr_matrix, y: np.ndarray, c: float, seed: int, class_weight: str | None
) -> tuple[np.ndarray, np.ndarray]:
    coef = np.zeros((y.shape[1], x.shape[1]), dtype=np.float32)
    intercept = np.full(y.shape[1], -1.0, dtype=np.float32)
    for j in range(y.shape[1]):
        column = y[:, j]
        positives = int(column.sum())
        if positives == 0:
            continue
        if positives == len(column):
            intercept[j] = 1.0
            continue
        model = _linear_svc(c, seed, class_weight).fit(x, column)
        coef[j] = model.coef_[0]
        intercept[j] = model.intercept_[0]
    return coef, intercept


def _fit_binary_columns(
    x: sp.csr_matrix, y: np.ndarray, config: ModelConfig, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Fit one binary linear model per column of y; (coef, intercept) for all columns.

    Columns are split over `config.n_jobs` worker processes. Not threads: liblinear
    draws from the C library's global random state, so concurrent fits in one process
    would make training depend on thread timing instead of the seed.
    """
    x = x.astype(np.float64)  # liblinear's dtype: convert once, not once per tag
    n_labels = y.shape[1]
    workers = config.n_jobs if config.n_jobs > 0 else (os.cpu_count() or 1)
    workers = max(1, min(workers, n_labels // 8))
    if workers == 1:
        return _fit_columns_serial(x, y, config.c, seed, config.class_weight)
    from joblib import Parallel, delayed

    chunks = [c for c in np.array_split(np.arange(n_labels), workers) if len(c)]
    parts = Parallel(n_jobs=workers)(
        delayed(_fit_columns_serial)(x, y[:, chunk], config.c, seed, config.class_weight)
        for chunk in chunks
    )
    coef = np.vstack([part[0] for part in parts])
    intercept = np.concatenate([part[1] for part in parts])
    return coef, intercept


def calibrate_tags(
    oof: np.ndarray, y: np.ndarray, config: ModelConfig
) -> tuple[np.ndarray, np.ndarray, list[Threshold]]:
    """Platt parameters and a threshold per tag from out-of-fold decision values.

    Tags with too few examples for their own estimate (fewer than
    `config.min_support`) share a pooled calibration and threshold fitted on all
    tags' out-of-fold scores at once: a rare tag's own few scores would give a
    sigmoid and a cut-off fitted to noise. Other tags' thresholds are shrunk toward
    the pooled one in proportion to how few examples they have.
    """
    y = y.astype(bool)
    support = y.sum(axis=0)
    pooled_a, pooled_b = platt_fit(oof.ravel(), y.ravel())
    pooled = tune_threshold(
        platt_apply(oof, pooled_a, pooled_b).ravel(),
        y.ravel(),
        min_precision=config.min_precision,
        fallback=config.fallback_threshold,
    )
    a = np.full(y.shape[1], pooled_a)
    b = np.full(y.shape[1], pooled_b)
    thresholds: list[Threshold] = []
    for j in range(y.shape[1]):
        shared = Threshold(
            pooled.value, pooled.f1, pooled.precision, pooled.recall, int(support[j]), "pooled"
        )
        if support[j] < config.min_support:
            thresholds.append(shared)
            continue
        a[j], b[j] = platt_fit(oof[:, j], y[:, j])
        own = tune_threshold(
            platt_apply(oof[:, j], a[j], b[j]),
            y[:, j],
            min_precision=config.min_precision,
            min_f1=config.min_tag_f1,
            fallback=config.fallback_threshold,
        )
        if own.method in ("fallback", "precision-unreachable"):
            a[j], b[j] = pooled_a, pooled_b
            own = shared
        elif config.threshold_shrinkage > 0:
            n, k = float(support[j]), config.threshold_shrinkage
            own.value = (n * own.value + k * pooled.value) / (n + k)
        thresholds.append(own)
    return a, b, thresholds


def train_tag_model(
    x: sp.csr_matrix,
    y: np.ndarray,
    labels: list[str],
    config: ModelConfig,
    *,
    seed: int = 0,
    groups: Sequence[Any] | None = None,
    progress: Progress = _no_progress,
    titles: Sequence[str] | None = None,
) -> TagModel:
    """Cross-validate for calibration and thresholds, then fit on everything.

    With `titles`, a name rule (tags named in the title) is learned as well.
    """
    n = x.shape[0]
    k = max(2, min(config.cv_folds, n))
    folds = _folds(n, k, seed, groups)
    oof = np.zeros(y.shape, dtype=np.float64)
    total = k + 1
    for i, test in enumerate(folds):
        progress("tags: cross-validation", i, total)
        train = np.setdiff1d(np.arange(n), test, assume_unique=True)
        coef, intercept = _fit_binary_columns(x[train], y[train], config, seed)
        oof[test] = np.asarray(x[test] @ coef.T) + intercept
    progress("tags: final fit", k, total)
    coef, intercept = _fit_binary_columns(x, y, config, seed)
    progress("tags: final fit", total, total)

    a, b, thresholds = calibrate_tags(oof, y, config)
    probs = platt_apply(oof, a, b)
    model = TagModel(labels, coef, intercept, a, b, thresholds, {}, config.best_tag_floor)
    from tagger.evaluate import multilabel_metrics

    selected = model.select(probs)
    if titles is not None and config.name_rule:
        model.name_rule, _scores = fit_name_rule(titles, y, labels, selected, probs)
        selected = selected | model.name_rule.hits(titles)
    model.cv_metrics = multilabel_metrics(y.astype(bool), selected, probs, labels)
    model.cv_metrics["note"] = (
        f"{k}-fold out-of-fold predictions; thresholds were tuned on the same folds, "
        "so these figures are somewhat optimistic"
    )
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


@dataclass
class SectionModel:
    """A multi-class linear classifier with temperature-scaled probabilities."""

    labels: list[str]
    coef: np.ndarray  # (n_labels, n_features)
    intercept: np.ndarray
    temperature: float
    cv_metrics: dict[str, Any] = field(default_factory=dict)

    def decision(self, x: sp.csr_matrix) -> np.ndarray:
        return linear_scores(x, self.coef, self.intercept)

    def predict_proba(self, x: sp.csr_matrix) -> np.ndarray:
        return softmax(self.decision(x) / self.temperature)

    def to_state(self) -> State:
        meta = {
            "labels": list(self.labels),
            "temperature": self.temperature,
            "cv_metrics": self.cv_metrics,
        }
        return meta, {"coef": self.coef, "intercept": self.intercept}

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
        return cls(
            labels=labels,
            coef=_array_from_state(arrays, "coef", (n, n_features), where, sparse=True),
            intercept=_array_from_state(arrays, "intercept", (n,), where),
            temperature=float(temperature),
            cv_metrics=metrics,
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


def train_section_model(
    x: sp.csr_matrix,
    sections: Sequence[str],
    labels: list[str],
    config: ModelConfig,
    *,
    seed: int = 0,
    groups: Sequence[Any] | None = None,
    progress: Progress = _no_progress,
) -> SectionModel:
    index = {label: i for i, label in enumerate(labels)}
    y_index = np.array([index[s] for s in sections])
    n = x.shape[0]
    k = max(2, min(config.cv_folds, n))
    folds = _folds(n, k, seed, groups)
    oof = np.zeros((n, len(labels)), dtype=np.float64)
    total = k + 1
    for i, test in enumerate(folds):
        progress("section: cross-validation", i, total)
        train = np.setdiff1d(np.arange(n), test, assume_unique=True)
        coef, intercept = _fit_multiclass(x[train], y_index[train], len(labels), config, seed)
        oof[test] = np.asarray(x[test] @ coef.T) + intercept
    progress("section: final fit", k, total)
    coef, intercept = _fit_multiclass(x, y_index, len(labels), config, seed)
    progress("section: final fit", total, total)
    temperature = fit_temperature(oof, y_index)
    from tagger.evaluate import multiclass_metrics

    predicted = oof.argmax(axis=1)
    cv_metrics = multiclass_metrics(
        [labels[i] for i in y_index], [labels[i] for i in predicted], labels
    )
    cv_metrics["note"] = f"{k}-fold out-of-fold predictions"
    return SectionModel(labels, coef, intercept, temperature, cv_metrics)
