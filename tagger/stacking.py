"""Second stage of the tag model: each tag rescored from the article's top first-stage tags.

One binary model per tag cannot use label co-occurrence ("grain" with "wheat" and "corn",
"veg-oil" with the specific oils). The second stage gives tag j a small linear model on
two things: the article's `top` highest first-stage probabilities (a sparse vector over
the tags, `top` non-zeros per article) and tag j's own first-stage log-odds.

No leakage: it is trained on out-of-fold first-stage scores only (each article's scores
come from the fold models that did not see it, `classify.out_of_fold`), and it is itself
cross-validated on the same folds, so its calibration and thresholds are fitted on scores
of articles its fits did not see. Its cost per tag is bounded: it is fitted on the
entries the first stage kept for calibration (`OutOfFold`: all articles on a small
corpus, positives plus top and sampled negatives on a large one), with `top` + 1
non-zeros per row, and its weights are a sparse (tags x tags) matrix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

if TYPE_CHECKING:
    from tagger.classify import ModelConfig, OutOfFold

_CLIP = 1e-6


def top_probabilities(probs: np.ndarray | sp.spmatrix, top: int) -> sp.csr_matrix:
    """Each row's `top` largest entries (ties: the lower column), as a CSR matrix; absent
    entries of a sparse input count as 0 and are never kept."""
    if not sp.issparse(probs) and np.ndim(probs) == 2 and 0 < top < np.shape(probs)[1]:
        dense = np.asarray(probs, dtype=np.float64)  # prediction: one partial sort per row
        picked = np.argpartition(-dense, top - 1, axis=1)[:, :top]
        values = np.take_along_axis(dense, picked, axis=1)
        # A tie at the cut may pick either column; keep the lower, as the sparse path does.
        cut = values.min(axis=1, keepdims=True)
        if (((dense == cut) & (dense > 0)).sum(axis=1) > 1).any():
            return top_probabilities(sp.csr_matrix(dense), top)
        rows = np.repeat(np.arange(dense.shape[0]), top)
        keep = values.ravel() > 0
        coo = (values.ravel()[keep], (rows[keep], picked.ravel()[keep]))
        return sp.csr_matrix(coo, shape=dense.shape)
    probs = sp.csr_matrix(probs, dtype=np.float64)
    coo = probs.tocoo()
    keep = coo.data > 0
    row, col, data = coo.row[keep], coo.col[keep], coo.data[keep]
    order = np.lexsort((col, -data, row))
    row, col, data = row[order], col[order], data[order]
    starts = np.searchsorted(row, np.arange(probs.shape[0]))
    rank = np.arange(len(row)) - starts[row]
    keep = rank < top
    return sp.csr_matrix((data[keep], (row[keep], col[keep])), shape=probs.shape)


def log_odds(p: np.ndarray) -> np.ndarray:
    q = np.clip(p, _CLIP, 1.0 - _CLIP)
    return np.log(q / (1.0 - q))


def _design(features: sp.csr_matrix, own: np.ndarray) -> sp.csr_matrix:
    """The second stage's rows: the top first-stage probabilities, then the own log-odds."""
    return sp.hstack([features, sp.csr_matrix(own.reshape(-1, 1))], format="csr")


@dataclass
class SecondStage:
    """The fitted second stage (see the module docstring)."""

    top: int
    tags: np.ndarray  # the tags it rescored (others keep their first-stage decision)
    weights: sp.csr_matrix  # (n_labels, n_labels): row j, tag j's weights on the top tags
    own: np.ndarray  # (n_labels,): weight on the tag's own first-stage log-odds
    intercept: np.ndarray  # (n_labels,)
    platt_a: np.ndarray  # the first stage's sigmoid per tag
    platt_b: np.ndarray

    def apply(self, decision: np.ndarray) -> np.ndarray:
        """First-stage decision values (articles x tags) to the final ones: the
        rescored tags' columns replaced by their second-stage decision values."""
        from tagger.classify import platt_apply

        decision = np.asarray(decision, dtype=np.float64)
        if len(self.tags) == 0 or decision.shape[0] == 0:
            return decision
        probs = platt_apply(decision, self.platt_a, self.platt_b)
        features = top_probabilities(probs, self.top)
        rows = self.weights[self.tags]
        out = decision.copy()
        out[:, self.tags] = (
            np.asarray((features @ rows.T).toarray())
            + log_odds(probs[:, self.tags]) * self.own[self.tags]
            + self.intercept[self.tags]
        )
        return out

    def keep_only(self, tags: np.ndarray) -> SecondStage:
        """The stage rescoring only `tags` (a subset of its own): the others' weights,
        own weight and intercept are dropped, so they keep their first-stage decision."""
        tags = np.asarray(tags, dtype=np.int64)
        keep = np.zeros(len(self.own), dtype=bool)
        keep[tags] = True
        weights = sp.csr_matrix(sp.diags(keep.astype(np.float64)) @ self.weights)
        weights.eliminate_zeros()
        return SecondStage(
            self.top,
            tags,
            weights,
            np.where(keep, self.own, 0.0),
            np.where(keep, self.intercept, 0.0),
            self.platt_a,
            self.platt_b,
        )

    def to_state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        meta = {"top": int(self.top), "tags": [int(t) for t in self.tags]}
        arrays = {
            "weights": self.weights,
            "own": self.own,
            "intercept": self.intercept,
            "platt_a": self.platt_a,
            "platt_b": self.platt_b,
        }
        return meta, arrays

    @classmethod
    def from_state(cls, meta: Any, arrays: dict[str, Any], n: int) -> SecondStage:
        """Rebuild from `to_state`'s output, checking every shape against n tags."""
        where = "tags.stack"
        if not isinstance(meta, dict) or set(meta) != {"top", "tags"}:
            raise ValueError(f"{where}: expected {{top, tags}}")
        top, tags = meta["top"], meta["tags"]
        if type(top) is not int or top < 1:
            raise ValueError(f"{where}.top: expected a positive integer")
        ok = isinstance(tags, list) and all(type(t) is int and 0 <= t < n for t in tags)
        if not ok or len(set(tags)) != len(tags):
            raise ValueError(f"{where}.tags: expected distinct tag indices below {n}")
        weights = arrays.get("weights")
        if not sp.issparse(weights) or weights.shape != (n, n) or weights.dtype.kind != "f":
            raise ValueError(f"{where}.weights: expected a sparse float matrix of shape ({n}, {n})")
        vectors = {}
        for name in ("own", "intercept", "platt_a", "platt_b"):
            value = arrays.get(name)
            if not isinstance(value, np.ndarray) or value.shape != (n,) or value.dtype.kind != "f":
                raise ValueError(f"{where}.{name}: expected a float array of shape ({n},)")
            vectors[name] = value
        finite = [weights.data, *vectors.values()]
        if not all(np.isfinite(v).all() for v in finite):
            raise ValueError(f"{where}: non-finite values")
        return cls(top, np.array(tags, dtype=np.int64), sp.csr_matrix(weights), **vectors)


def fold_index(n: int, folds: list[np.ndarray]) -> np.ndarray:
    """Per article, the fold whose test part holds it."""
    fold_of = np.full(n, -1, dtype=np.int64)
    for i, test in enumerate(folds):
        fold_of[test] = i
    return fold_of


def first_stage_features(kept: OutOfFold, a: np.ndarray, b: np.ndarray, top: int) -> sp.csr_matrix:
    """The second stage's training features: each article's `top` highest out-of-fold
    first-stage probabilities (only the kept entries exist: the others are low)."""
    from tagger.classify import platt_apply

    probs = kept.matrix([platt_apply(s, a[j], b[j]) for j, s in enumerate(kept.scores)])
    return top_probabilities(probs, top)


def fit_second_stage(
    kept: OutOfFold,
    a: np.ndarray,
    b: np.ndarray,
    folds: list[np.ndarray],
    config: ModelConfig,
    seed: int,
) -> tuple[SecondStage, OutOfFold]:
    """Fit the second stage on the first stage's out-of-fold scores `kept` (sigmoids a, b)
    and return it with the out-of-fold scores calibration then needs: the rescored tags'
    second-stage decision values on the same kept entries (cross-validated on `folds`),
    the other tags' first-stage values unchanged.

    A tag is rescored when it has at least `config.stack_min_positives` positives among
    its kept entries and both classes in every fold's training part."""
    from tagger.classify import OutOfFold, _liblinear, platt_apply

    n_tags = len(kept.rows)
    features = first_stage_features(kept, a, b, config.stack_top)
    fold_of = fold_index(kept.n, folds)
    weights = sp.lil_matrix((n_tags, n_tags))
    own = np.zeros(n_tags)
    intercept = np.zeros(n_tags)
    tags: list[int] = []
    scores = list(kept.scores)
    for j in range(n_tags):
        rows, y, w = kept.rows[j], kept.positive[j], kept.weights[j]
        if int(y.sum()) < config.stack_min_positives:
            continue
        x = _design(features[rows], log_odds(platt_apply(kept.scores[j], a[j], b[j])))
        where = fold_of[rows]
        fitted = np.empty(len(rows))
        for i in np.unique(where):
            train = where != i
            if y[train].all() or not y[train].any():
                break
            coef, bias = _liblinear(
                x[train], y[train], config.stack_c, seed, None, w[train], 1.0, config.fit_tolerance
            )
            fitted[~train] = x[~train] @ coef + bias
        else:
            coef, bias = _liblinear(x, y, config.stack_c, seed, None, w, 1.0, config.fit_tolerance)
            nonzero = np.flatnonzero(coef[:-1])
            weights[j, nonzero] = coef[:-1][nonzero]
            own[j], intercept[j] = coef[-1], bias
            scores[j] = fitted
            tags.append(j)
    stage = SecondStage(
        config.stack_top,
        np.array(tags, dtype=np.int64),
        sp.csr_matrix(weights),
        own,
        intercept,
        np.asarray(a, dtype=np.float64).copy(),
        np.asarray(b, dtype=np.float64).copy(),
    )
    rescored = OutOfFold(kept.n, kept.rows, scores, kept.weights, kept.positive, source=None)
    return stage, rescored
