"""Metrics against values computed by hand."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from tagger.evaluate import binarize, multiclass_metrics, multilabel_metrics


def test_multiclass_metrics_by_hand() -> None:
    result = multiclass_metrics(["a", "a", "b", "c"], ["a", "b", "b", "b"], ["a", "b", "c"])
    assert result["n"] == 4
    assert result["accuracy"] == pytest.approx(0.5)
    per = {row["label"]: row for row in result["per_label"]}
    # a: tp 1, fp 0, fn 1; b: tp 1, fp 2, fn 0; c: tp 0, fp 0, fn 1
    assert (per["a"]["precision"], per["a"]["recall"], per["a"]["f1"]) == pytest.approx(
        (1.0, 0.5, 2 / 3)
    )
    assert (per["b"]["precision"], per["b"]["recall"], per["b"]["f1"]) == pytest.approx(
        (1 / 3, 1.0, 0.5)
    )
    assert per["c"]["f1"] == 0.0
    assert [per[k]["support"] for k in "abc"] == [2, 1, 1]
    assert result["macro_f1"] == pytest.approx((2 / 3 + 0.5 + 0.0) / 3)


def test_multiclass_missing_prediction_and_unknown_true_label() -> None:
    result = multiclass_metrics(["a", "z"], ["a", None], ["a", "b"])
    assert result["accuracy"] == pytest.approx(0.5)
    labels = [row["label"] for row in result["per_label"]]
    assert labels == ["a", "b", "z"]  # the unknown true label is reported too
    # Macro-F1 averages labels with support only: a (1.0) and z (0.0), not b.
    assert result["macro_f1"] == pytest.approx(0.5)


def test_multilabel_metrics_by_hand() -> None:
    labels = ["x", "y", "z"]
    y_true = np.array([[1, 1, 0], [0, 0, 1], [1, 0, 0], [0, 0, 0]], dtype=bool)
    y_pred = np.array([[1, 0, 0], [1, 0, 1], [0, 1, 0], [0, 0, 1]], dtype=bool)
    scores = np.array([[0.9, 0.2, 0.1], [0.7, 0.1, 0.8], [0.5, 0.6, 0.3], [0.3, 0.2, 0.4]])
    m = multilabel_metrics(y_true, y_pred, scores, labels)
    assert m["n"] == 4
    # micro: tp 2, fp 3, fn 2
    assert m["micro_precision"] == pytest.approx(2 / 5)
    assert m["micro_recall"] == pytest.approx(2 / 4)
    assert m["micro_f1"] == pytest.approx(2 * 0.4 * 0.5 / 0.9)
    # per label: x P .5 R .5; y P 0 R 0; z P .5 R 1
    assert m["macro_precision"] == pytest.approx((0.5 + 0 + 0.5) / 3)
    assert m["macro_recall"] == pytest.approx((0.5 + 0 + 1) / 3)
    assert m["macro_f1"] == pytest.approx((0.5 + 0 + 2 / 3) / 3)
    per = {row["label"]: row for row in m["per_label"]}
    assert (per["x"]["support"], per["x"]["predicted"]) == (2, 2)
    assert (per["z"]["support"], per["z"]["predicted"]) == (1, 2)
    # Ranked metrics over the three articles that have labels (row 3 has none).
    assert m["p_at_1"] == pytest.approx(2 / 3)
    assert m["p_at_3"] == pytest.approx((2 / 3 + 1 / 3 + 1 / 3) / 3)
    assert m["f1_at_5"] == pytest.approx((0.8 + 0.5 + 0.5) / 3)


def test_macro_average_ignores_labels_absent_from_the_data() -> None:
    y_true = np.array([[1, 0], [1, 0]], dtype=bool)
    y_pred = np.array([[1, 1], [1, 0]], dtype=bool)
    m = multilabel_metrics(y_true, y_pred, y_pred.astype(float), ["seen", "unseen"])
    assert m["macro_f1"] == pytest.approx(1.0)
    assert m["micro_precision"] == pytest.approx(2 / 3)


def test_perfect_predictions_score_one() -> None:
    y = np.array([[1, 0, 1], [0, 1, 0]], dtype=bool)
    m = multilabel_metrics(y, y, y.astype(float), ["a", "b", "c"])
    for key in ("micro_f1", "macro_f1", "p_at_1"):
        assert m[key] == pytest.approx(1.0)


def test_binarize_ignores_unknown_tags() -> None:
    y = binarize([["a", "c"], ["zzz"], []], ["a", "b", "c"])
    assert sp.issparse(y) and y.nnz == 2
    assert y.toarray().tolist() == [
        [True, False, True],
        [False, False, False],
        [False, False, False],
    ]
