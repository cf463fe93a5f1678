"""Metrics and reports for section and tag predictions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


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


def multilabel_metrics(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    scores: np.ndarray,
    labels: Sequence[str],
) -> dict[str, Any]:
    """Micro and macro P/R/F1 of selected tags, P@1, P@3 and F1@5 of ranked tags.

    Macro averages are over labels with at least one true article in the data.
    """
    y_true = y_true.astype(bool)
    y_pred = y_pred.astype(bool)
    tp = (y_true & y_pred).sum(axis=0).astype(float)
    fp = (~y_true & y_pred).sum(axis=0).astype(float)
    fn = (y_true & ~y_pred).sum(axis=0).astype(float)
    micro_p, micro_r, micro_f = _prf(tp.sum(), fp.sum(), fn.sum())
    per_label = []
    macro = []
    for j, label in enumerate(labels):
        p, r, f = _prf(tp[j], fp[j], fn[j])
        support = int(y_true[:, j].sum())
        per_label.append(
            {
                "label": label,
                "support": support,
                "predicted": int(y_pred[:, j].sum()),
                "precision": p,
                "recall": r,
                "f1": f,
            }
        )
        if support:
            macro.append((p, r, f))
    macro_arr = np.array(macro) if macro else np.zeros((1, 3))
    ranked = np.argsort(-scores, axis=1, kind="stable")
    has_labels = y_true.any(axis=1)
    rows = np.flatnonzero(has_labels)

    def precision_at(k: int) -> float:
        if len(rows) == 0:
            return 0.0
        top = ranked[rows, :k]
        hits = np.take_along_axis(y_true[rows], top, axis=1).sum(axis=1)
        return float(np.mean(hits / min(k, y_true.shape[1])))

    f1_at_5 = 0.0
    if len(rows):
        k = min(5, y_true.shape[1])
        top = ranked[rows, :k]
        hits = np.take_along_axis(y_true[rows], top, axis=1).sum(axis=1)
        p5 = hits / k
        r5 = hits / y_true[rows].sum(axis=1)
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


def binarize(tag_lists: Sequence[Sequence[str]], labels: Sequence[str]) -> np.ndarray:
    """Boolean matrix (articles x labels); tags outside `labels` are ignored."""
    index = {label: j for j, label in enumerate(labels)}
    y = np.zeros((len(tag_lists), len(labels)), dtype=bool)
    for i, tags in enumerate(tag_lists):
        for tag in tags:
            j = index.get(tag)
            if j is not None:
                y[i, j] = True
    return y
