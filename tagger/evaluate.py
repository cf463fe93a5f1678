"""Metrics and reports for section and tag predictions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp


def _prf(tp: float, fp: float, fn: float) -> tuple[float, float, float]:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def multiclass_metrics(
    true: Sequence[str], predicted: Sequence[str | None], labels: Sequence[str]
) -> dict[str, Any]:
    """Accuracy, macro-F1 and a per-label table for one-label-per-article predictions."""
    true_arr = np.array(list(true), dtype=object)
    pred_arr = np.array([p if p is not None else "" for p in predicted], dtype=object)
    n = len(true_arr)
    per_label = []
    f1s = []
    for label in sorted(set(labels) | set(true_arr)):
        tp = float(np.sum((pred_arr == label) & (true_arr == label)))
        fp = float(np.sum((pred_arr == label) & (true_arr != label)))
        fn = float(np.sum((pred_arr != label) & (true_arr == label)))
        support = int(np.sum(true_arr == label))
        p, r, f = _prf(tp, fp, fn)
        per_label.append({"label": label, "support": support, "precision": p, "recall": r, "f1": f})
        if support:
            f1s.append(f)
    return {
        "n": n,
        "accuracy": float(np.mean(true_arr == pred_arr)) if n else 0.0,
        "macro_f1": float(np.mean(f1s)) if f1s else 0.0,
        "per_label": per_label,
    }


def _bool_csr(matrix: Any) -> sp.csr_matrix:
    out = sp.csr_matrix(matrix, dtype=bool)
    out.eliminate_zeros()
    return out


def _top_k_sparse(scores: sp.csr_matrix, rows: np.ndarray, k: int) -> list[np.ndarray]:
    """Column indices of each row's k highest stored scores (ties by column), best first."""
    coo = scores[rows].tocoo()
    order = np.lexsort((coo.col, -coo.data, coo.row))
    row_of, col_of = coo.row[order], coo.col[order]
    starts = np.searchsorted(row_of, np.arange(len(rows)))
    ends = np.searchsorted(row_of, np.arange(len(rows)), side="right")
    return [col_of[s : min(e, s + k)] for s, e in zip(starts, ends, strict=True)]


def _ranking_hits(
    y_true: sp.csr_matrix, scores: np.ndarray | sp.spmatrix, rows: np.ndarray, k: int
) -> np.ndarray:
    """Per row: how many of the k best-scored labels are true."""
    if not sp.issparse(scores):
        ranked = np.argsort(-np.asarray(scores)[rows], axis=1, kind="stable")[:, :k]
        dense_true = y_true[rows].toarray()
        return np.take_along_axis(dense_true, ranked, axis=1).sum(axis=1)
    tops = _top_k_sparse(sp.csr_matrix(scores), rows, k)
    hits = np.zeros(len(rows))
    for r, (i, top) in enumerate(zip(rows, tops, strict=True)):
        true_cols = y_true.indices[y_true.indptr[i] : y_true.indptr[i + 1]]
        hits[r] = np.isin(top, true_cols).sum()
    return hits


def multilabel_metrics(
    y_true: np.ndarray | sp.spmatrix,
    y_pred: np.ndarray | sp.spmatrix,
    scores: np.ndarray | sp.spmatrix,
    labels: Sequence[str],
    *,
    ranked: bool = True,
) -> dict[str, Any]:
    """Micro and macro P/R/F1 of selected tags, P@1, P@3 and F1@5 of ranked tags.

    Label and selection matrices may be dense or sparse; sparse scores rank absent
    entries last. Macro averages are over labels with at least one true article in
    the data. `ranked=False` skips P@k and F1@5 (reported as 0).
    """
    y_true = _bool_csr(y_true)
    y_pred = _bool_csr(y_pred)
    n_labels = y_true.shape[1]
    true_count = np.asarray(y_true.sum(axis=0)).ravel().astype(float)
    pred_count = np.asarray(y_pred.sum(axis=0)).ravel().astype(float)
    tp = np.asarray(y_true.multiply(y_pred).sum(axis=0)).ravel().astype(float)
    fp = pred_count - tp
    fn = true_count - tp
    micro_p, micro_r, micro_f = _prf(tp.sum(), fp.sum(), fn.sum())
    per_label = []
    macro = []
    for j, label in enumerate(labels):
        p, r, f = _prf(tp[j], fp[j], fn[j])
        support = int(true_count[j])
        per_label.append(
            {
                "label": label,
                "support": support,
                "predicted": int(pred_count[j]),
                "precision": p,
                "recall": r,
                "f1": f,
            }
        )
        if support:
            macro.append((p, r, f))
    macro_arr = np.array(macro) if macro else np.zeros((1, 3))
    per_row = np.diff(y_true.indptr)
    rows = np.flatnonzero(per_row > 0)

    def precision_at(k: int) -> float:
        if len(rows) == 0 or not ranked or n_labels == 0:
            return 0.0
        return float(np.mean(_ranking_hits(y_true, scores, rows, k) / min(k, n_labels)))

    f1_at_5 = 0.0
    if len(rows) and ranked and n_labels:
        k = min(5, n_labels)
        hits = _ranking_hits(y_true, scores, rows, k)
        p5 = hits / k
        r5 = hits / per_row[rows]
        with np.errstate(invalid="ignore", divide="ignore"):
            f = np.where(p5 + r5 > 0, 2 * p5 * r5 / (p5 + r5), 0.0)
        f1_at_5 = float(np.mean(f))
    return {
        "n": int(y_true.shape[0]),
        "micro_precision": micro_p,
        "micro_recall": micro_r,
        "micro_f1": micro_f,
        "macro_precision": float(macro_arr[:, 0].mean()),
        "macro_recall": float(macro_arr[:, 1].mean()),
        "macro_f1": float(macro_arr[:, 2].mean()),
        "p_at_1": precision_at(1),
        "p_at_3": precision_at(3),
        "f1_at_5": f1_at_5,
        "per_label": per_label,
    }


def binarize(tag_lists: Sequence[Sequence[str]], labels: Sequence[str]) -> sp.csr_matrix:
    """Sparse boolean matrix (articles x labels); tags outside `labels` are ignored."""
    index = {label: j for j, label in enumerate(labels)}
    indptr = [0]
    indices: list[int] = []
    for tags in tag_lists:
        columns = sorted({index[t] for t in tags if t in index})
        indices.extend(columns)
        indptr.append(len(indices))
    return sp.csr_matrix(
        (np.ones(len(indices), dtype=bool), np.array(indices, dtype=np.int64), np.array(indptr)),
        shape=(len(tag_lists), len(labels)),
    )
