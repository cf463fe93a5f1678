"""Candidate stage for large tag sets: score only the tags an article could be given.

Tags are grouped into clusters of tags with similar positive weights. For each cluster
the bound B_c holds, per feature, the largest positive weight of its tags. Feature
values are non-negative (tf-idf), so for every tag t of the cluster

    x . w_t  <=  x . max(w_t, 0)  <=  x . B_c.

A tag can be suggested only when its calibrated probability reaches its threshold or
the best-tag floor, that is when x . w_t reaches a margin m_t fixed by its intercept and
sigmoid. A cluster whose bound stays below the least margin of its tags therefore holds
no tag that could be suggested, and its tags are not scored. One sparse product with the
(few) cluster bounds replaces most of the product with the tag weights.

The stage is exact for decisions: every tag that the full computation would suggest (by
threshold or as the best tag above the floor) is scored, with the same value. Tags not
scored get probability 0, so what changes is only the probabilities shown below the
floor, and only when they are not among the candidates: the best `min_clusters` clusters
by bound are always scored, so an article still gets top-k candidates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

# Prediction uses the candidate stage above this many tags (TagModel.predict_proba).
SHORTLIST_ABOVE = 1000
# Tags per cluster, on average: smaller clusters have tighter bounds, but more of them.
CLUSTER_SIZE = 16
# Relative slack on the bound test, far above float rounding of the sums.
_EPS = 1e-6


def margins(model: Any) -> np.ndarray:
    """Per tag, the least x . w_t at which it can be suggested: where its probability
    reaches min(threshold, best-tag floor). -inf when the sigmoid does not rise with the
    score (always a candidate)."""
    level = np.asarray(model.threshold_values, dtype=np.float64).copy()
    if model.best_tag_floor is not None:
        level = np.minimum(level, model.best_tag_floor)
    a = np.asarray(model.platt_a, dtype=np.float64)
    b = np.asarray(model.platt_b, dtype=np.float64)
    # P = 1 / (1 + exp(a s + b)) >= level  <=>  a s + b <= log(1 / level - 1).
    # A level of 1 or more is reached only where P rounds to 1.0 (a s + b below ~-37).
    clipped = np.clip(level, 1e-300, 1.0)
    with np.errstate(divide="ignore"):
        logit = np.where(level >= 1.0, -40.0, np.log(1.0 / clipped - 1.0))
    needed = np.full(len(level), -np.inf)
    rising = (a < 0) & (level > 0)
    needed[rising] = (logit[rising] - b[rising]) / a[rising]
    return needed - np.asarray(model.intercept, dtype=np.float64)


@dataclass
class Shortlist:
    """Clusters of tags with their bounds (see the module docstring)."""

    always: np.ndarray  # tags scored for every article (margin <= 0 or no usable bound)
    always_t: sp.csr_matrix  # their weights, (features x tags)
    members: list[np.ndarray]  # tags of each cluster
    members_t: list[sp.csr_matrix]  # their weights, (features x members)
    bound_t: sp.csr_matrix  # (features x clusters): largest positive weight per feature
    need: np.ndarray  # (clusters,): least margin of the cluster's tags
    min_clusters: int = 2

    @classmethod
    def build(cls, model: Any, cluster_size: int = CLUSTER_SIZE, seed: int = 0) -> Shortlist:
        """Cluster the tags by their positive weights (truncated SVD, then k-means)."""
        coef = sp.csr_matrix(model.coef, dtype=np.float32)
        m = margins(model)
        n_tags, n_features = coef.shape
        always = np.flatnonzero(~(m > 0) | (np.diff(coef.indptr) == 0))
        rest = np.setdiff1d(np.arange(n_tags), always)
        groups = _clusters(coef[rest], cluster_size, seed) if len(rest) else []
        members = [rest[g] for g in groups]
        positive = coef.maximum(0).tocsr()
        rows = []
        for tags in members:
            block = positive[tags]
            rows.append(sp.csr_matrix(block.max(axis=0)))
        bound = sp.vstack(rows).tocsr() if rows else sp.csr_matrix((0, n_features))
        return cls(
            always=always,
            always_t=coef[always].T.tocsr(),
            members=members,
            members_t=[coef[tags].T.tocsr() for tags in members],
            bound_t=bound.T.tocsr().astype(np.float32),
            need=np.array([m[tags].min() for tags in members]),
        )

    def candidates(self, x: sp.csr_matrix) -> np.ndarray:
        """(articles x clusters): clusters that may hold a tag the article can be given,
        plus its `min_clusters` best by bound."""
        if not self.members:
            return np.zeros((x.shape[0], 0), dtype=bool)
        slack = np.asarray((x @ self.bound_t).toarray()) - self.need
        chosen = slack >= -_EPS * (1.0 + np.abs(self.need))
        k = min(self.min_clusters, len(self.members))
        if k:
            best = np.argpartition(-slack, k - 1, axis=1)[:, :k]
            chosen[np.arange(x.shape[0])[:, None], best] = True
        return chosen

    def predict_proba(self, model: Any, x: sp.csr_matrix) -> tuple[np.ndarray, int]:
        """Probabilities of the scored tags (0 elsewhere) and how many were scored."""
        from tagger.classify import platt_apply

        x = sp.csr_matrix(x)
        n = x.shape[0]
        probs = np.zeros((n, len(model.labels)))
        a, b, intercept = model.platt_a, model.platt_b, model.intercept
        scored = 0
        if n and len(self.always):
            tags = self.always
            d = np.asarray((x @ self.always_t).toarray()) + intercept[tags]
            probs[:, tags] = platt_apply(d, a[tags], b[tags])
            scored += n * len(tags)
        chosen = self.candidates(x)
        for c in np.flatnonzero(chosen.any(axis=0)):
            rows = np.flatnonzero(chosen[:, c])
            tags = self.members[c]
            part = x if len(rows) == n else x[rows]
            d = np.asarray((part @ self.members_t[c]).toarray()) + intercept[tags]
            probs[np.ix_(rows, tags)] = platt_apply(d, a[tags], b[tags])
            scored += len(rows) * len(tags)
        return probs, scored


def _clusters(coef: sp.csr_matrix, size: int, seed: int) -> list[np.ndarray]:
    """Groups of about `size` rows with similar positive weights (cosine), non-empty."""
    from sklearn.cluster import KMeans
    from sklearn.decomposition import TruncatedSVD
    from sklearn.preprocessing import normalize

    n = coef.shape[0]
    k = max(1, round(n / size))
    if k == 1:
        return [np.arange(n)]
    profile = normalize(coef.maximum(0).tocsr().astype(np.float64))
    dims = min(64, coef.shape[1] - 1, n - 1)
    reduced = TruncatedSVD(dims, random_state=seed).fit_transform(profile) if dims > 0 else None
    points = normalize(reduced) if reduced is not None else np.zeros((n, 1))
    labels = KMeans(k, n_init=1, random_state=seed).fit_predict(points)
    return [g for g in (np.flatnonzero(labels == c) for c in range(k)) if len(g)]
