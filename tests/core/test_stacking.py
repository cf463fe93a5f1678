"""The tag model's second stage (tagger.stacking): out-of-fold features, co-occurrence,
state and configuration."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.preprocessing import normalize

import tagger.stacking as stacking
from tagger.classify import (
    ModelConfig,
    TagModel,
    _folds,
    _linear_svc,
    calibrate_tags,
    out_of_fold,
    platt_apply,
    second_stage,
    train_tag_model,
)
from tagger.stacking import SecondStage, first_stage_features, fit_second_stage, top_probabilities
from tests.configs import assert_config_refused

CONFIG = ModelConfig(n_jobs=1, name_rule=False, stack_top=3, prune_tolerance=0.0)


def co_occurring(n: int = 400, features: int = 50, seed: int = 0) -> tuple:
    """Tag 0 ("grain") on a third of the articles, driven by features 0-2; tag 1 ("wheat")
    only ever on grain articles, with a weak word signal of its own (feature 3); tag 2
    unrelated (features 4-6)."""
    rng = np.random.default_rng(seed)
    x = rng.random((n, features)) * (rng.random((n, features)) < 0.15)
    y = np.zeros((n, 3), dtype=bool)
    y[: n // 3, 0] = True
    x[: n // 3, :3] += 0.8
    y[: n // 6, 1] = True
    x[: n // 6, 3] += 0.25
    x[n // 6 : n // 2, 3] += 0.2  # the wheat word also occurs outside grain
    third = rng.choice(n, size=n // 4, replace=False)
    y[third, 2] = True
    x[third, 4:7] += 0.8
    return normalize(sp.csr_matrix(x)), y


def test_top_probabilities_keeps_each_rows_largest_entries() -> None:
    probs = np.array([[0.1, 0.9, 0.5, 0.0], [0.3, 0.3, 0.2, 0.8], [0.0, 0.0, 0.0, 0.0]])
    top = top_probabilities(probs, 2).toarray()
    assert top.tolist() == [[0.0, 0.9, 0.5, 0.0], [0.3, 0.0, 0.0, 0.8], [0.0, 0.0, 0.0, 0.0]]
    sparse = top_probabilities(sp.csr_matrix(probs), 3)
    assert np.diff(sparse.indptr).tolist() == [3, 3, 0]  # zeros are never kept
    rng = np.random.default_rng(0)
    for values in (rng.random((40, 30)), np.round(rng.random((40, 30)), 1)):  # ties too
        dense_path = top_probabilities(values, 5).toarray()
        assert np.array_equal(dense_path, top_probabilities(sp.csr_matrix(values), 5).toarray())
        assert (np.count_nonzero(dense_path, axis=1) == 5).all()


def test_second_stage_trains_only_on_scores_from_folds_that_excluded_the_article(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    x, y = co_occurring()
    x = x.astype(np.float64)
    folds = _folds(x.shape[0], 4, 0, None)
    kept = out_of_fold(x, sp.csc_matrix(y), folds, CONFIG, 0)
    a, b, _thresholds = calibrate_tags(kept, None, CONFIG)
    # The scores it reads: each article's, recomputed by refitting without its fold.
    manual = np.zeros(y.shape)
    for test in folds:
        train = np.setdiff1d(np.arange(x.shape[0]), test)
        for j in range(y.shape[1]):
            model = _linear_svc(1.0, 0, tol=CONFIG.fit_tolerance).fit(x[train], y[train, j])
            manual[test, j] = x[test] @ model.coef_[0] + model.intercept_[0]
    expected = top_probabilities(platt_apply(manual, a, b), CONFIG.stack_top).toarray()
    used: list[sp.csr_matrix] = []
    original = stacking.first_stage_features

    def spy(*args: object) -> sp.csr_matrix:
        used.append(original(*args))  # type: ignore[arg-type]
        return used[-1]

    monkeypatch.setattr(stacking, "first_stage_features", spy)
    stage, rescored = fit_second_stage(kept, a, b, folds, CONFIG, 0)
    assert len(used) == 1 and np.allclose(used[0].toarray(), expected, atol=1e-8)
    # In-sample scores (a model that saw the article) would be different features.
    seen = np.stack(
        [
            x @ (m := _linear_svc(1.0, 0, tol=CONFIG.fit_tolerance).fit(x, y[:, j])).coef_[0]
            + m.intercept_[0]
            for j in range(y.shape[1])
        ],
        axis=1,
    )
    leaked = top_probabilities(platt_apply(seen, a, b), CONFIG.stack_top).toarray()
    assert not np.allclose(leaked, expected, atol=1e-3)
    # Its own scores are cross-validated: every kept entry of a rescored tag is replaced.
    assert stage.tags.tolist() == [0, 1, 2]
    for j in stage.tags:
        assert len(rescored.scores[j]) == len(kept.scores[j])
        assert not np.allclose(rescored.scores[j], kept.scores[j])


def test_second_stage_learns_that_wheat_goes_with_grain() -> None:
    x, y = co_occurring()
    folds = _folds(x.shape[0], 4, 0, None)
    config = dataclasses.replace(CONFIG, stack_top=2)
    kept = out_of_fold(x.astype(np.float64), sp.csc_matrix(y), folds, config, 0)
    a, b, _ = calibrate_tags(kept, None, config)
    stage, _ = fit_second_stage(kept, a, b, folds, config, 0)
    weights = stage.weights.toarray()
    assert weights[1, 0] > 0.5  # wheat's score rises with grain's probability
    assert weights[1, 0] > weights[1, 2] + 0.5  # far more than with the unrelated tag's


def test_tags_with_few_positives_keep_their_first_stage_decision() -> None:
    x, y = co_occurring()
    # grain 133 positives, others <= 100; without the guard (which would drop grain here)
    config = dataclasses.replace(CONFIG, stack_min_positives=120, stack_min_gain=None)
    off = dataclasses.replace(config, stack_top=0)
    plain = train_tag_model(x, y, ["grain", "wheat", "other"], off)
    model = train_tag_model(x, y, ["grain", "wheat", "other"], config)
    assert model.stack is not None and model.stack.tags.tolist() == [0]
    assert model.cv_metrics["second_stage_tags"] == 1
    first, final = plain.decision(x), model.decision(x)
    assert np.allclose(first[:, 1:], final[:, 1:])
    assert not np.allclose(first[:, 0], final[:, 0])
    # Their sigmoids and thresholds too (only the rescored tags are calibrated again).
    assert np.array_equal(model.platt_a[1:], plain.platt_a[1:])
    assert np.array_equal(model.platt_b[1:], plain.platt_b[1:])
    assert model.thresholds[1:] == plain.thresholds[1:]
    assert model.thresholds[0] != plain.thresholds[0]


def _f1_at(probs: np.ndarray, y: np.ndarray, cut: float) -> float:
    chosen = probs >= cut
    hits = float((chosen & y).sum())
    return 2 * hits / (chosen.sum() + y.sum()) if hits else 0.0


def test_the_guard_keeps_the_first_stage_where_the_second_is_not_better() -> None:
    x, y = co_occurring()
    x = x.astype(np.float64)
    folds = _folds(x.shape[0], 4, 0, None)
    unguarded = dataclasses.replace(CONFIG, stack_min_gain=None)
    kept = out_of_fold(x, sp.csc_matrix(y), folds, CONFIG, 0)
    a, b, first = calibrate_tags(kept, None, CONFIG)
    _stage, rescored, second = second_stage(kept, a.copy(), b.copy(), first, folds, unguarded, 0)
    # Both F1 figures the guard compares are out-of-fold (scores of articles their fits
    # did not see), each the best over all cut-offs: recomputed here by brute force.
    a2, b2, _ = calibrate_tags(rescored, None, unguarded)
    for j in range(3):
        for probs, threshold in (
            (platt_apply(kept.scores[j], a[j], b[j]), first[j]),
            (platt_apply(rescored.scores[j], a2[j], b2[j]), second[j]),
        ):
            best = max(_f1_at(probs, y[:, j], cut) for cut in np.unique(probs))
            assert np.isclose(threshold.f1, best)
    # Here co-occurrence helps wheat only (grain and the unrelated tag are read from
    # their own words; their second stage is no better out of fold).
    assert second[1].f1 > first[1].f1
    assert second[0].f1 <= first[0].f1 and second[2].f1 <= first[2].f1
    plain = train_tag_model(
        x, y, ["grain", "wheat", "other"], dataclasses.replace(CONFIG, stack_top=0)
    )
    both = train_tag_model(x, y, ["grain", "wheat", "other"], unguarded)
    guarded = train_tag_model(x, y, ["grain", "wheat", "other"], CONFIG)
    assert both.stack is not None and both.stack.tags.tolist() == [0, 1, 2]
    assert guarded.stack is not None and guarded.stack.tags.tolist() == [1]
    assert guarded.cv_metrics["second_stage_tags"] == 1
    first_decision, decision = plain.decision(x), guarded.decision(x)
    assert np.allclose(decision[:, [0, 2]], first_decision[:, [0, 2]])
    assert np.allclose(decision[:, 1], both.decision(x)[:, 1])
    for j in (0, 2):  # the first stage's sigmoid and threshold, exactly
        assert (guarded.platt_a[j], guarded.platt_b[j]) == (plain.platt_a[j], plain.platt_b[j])
        assert guarded.thresholds[j] == plain.thresholds[j]
    assert guarded.thresholds[1] == both.thresholds[1]
    # Dropped tags leave no weights in the bundle.
    assert guarded.stack.weights[[0, 2]].nnz == 0 and guarded.stack.own[[0, 2]].tolist() == [0, 0]


def test_no_second_stage_where_calibration_kept_a_sample_of_the_scores() -> None:
    x, y = co_occurring()
    labels = ["grain", "wheat", "other"]
    config = dataclasses.replace(CONFIG, stack_min_gain=None)
    whole = train_tag_model(x, y, labels, config)
    assert whole.stack is not None and whole.cv_metrics["calibration_entries"] == 3 * 400
    # A budget of 10 scores a tag: negatives sampled, so an article's top tags among the
    # kept scores are not those prediction sees; the first stage alone is trained.
    small = dataclasses.replace(config, calibration_entries=30, calibration_min_negatives=0)
    sampled = train_tag_model(x, y, labels, small)
    assert sampled.cv_metrics["calibration_entries"] < 3 * 400
    assert sampled.stack is None and sampled.cv_metrics["second_stage_tags"] == 0
    plain = train_tag_model(x, y, labels, dataclasses.replace(small, stack_top=0))
    assert np.allclose(sampled.decision(x), plain.decision(x))


def test_a_model_with_a_second_stage_survives_its_state_and_refuses_a_bad_one() -> None:
    x, y = co_occurring()
    model = train_tag_model(x, y, ["grain", "wheat", "other"], CONFIG)
    meta, arrays = model.to_state()
    meta = json.loads(json.dumps(meta))
    back = TagModel.from_state(meta, arrays, x.shape[1])
    assert back.stack is not None and back.stack.top == CONFIG.stack_top
    assert np.allclose(back.predict_proba(x), model.predict_proba(x))
    with pytest.raises(ValueError, match=r"tags\.stack\.own"):
        TagModel.from_state(meta, {**arrays, "stack.own": np.zeros(2)}, x.shape[1])
    bad = {**meta, "stack": {"top": 0, "tags": [0]}}
    with pytest.raises(ValueError, match=r"tags\.stack\.top"):
        TagModel.from_state(bad, arrays, x.shape[1])
    with pytest.raises(ValueError, match=r"tags\.stack\.tags"):
        TagModel.from_state({**meta, "stack": {"top": 3, "tags": [7]}}, arrays, x.shape[1])


def test_second_stage_apply_changes_only_its_tags() -> None:
    stage = SecondStage(
        top=1,
        tags=np.array([1]),
        weights=sp.csr_matrix(np.array([[0.0, 0.0], [2.0, 0.0]])),
        own=np.array([0.0, 1.0]),
        intercept=np.array([0.0, -1.0]),
        platt_a=np.array([-1.0, -1.0]),
        platt_b=np.array([0.0, 0.0]),
    )
    decision = np.array([[3.0, -2.0], [-3.0, 0.5]])
    out = stage.apply(decision)
    p = 1 / (1 + np.exp(-decision))
    top0 = p[:, 0] * (p[:, 0] >= p[:, 1])  # tag 0's probability where it is the row's top
    assert np.allclose(out[:, 0], decision[:, 0])
    assert np.allclose(out[:, 1], 2.0 * top0 + decision[:, 1] - 1.0)


def test_first_stage_features_read_only_kept_entries() -> None:
    x, y = co_occurring(n=200)
    folds = _folds(200, 4, 0, None)
    kept = out_of_fold(x.astype(np.float64), sp.csc_matrix(y), folds, CONFIG, 0)
    a, b, _ = calibrate_tags(kept, None, CONFIG)
    features = first_stage_features(kept, a, b, 2)
    assert features.shape == y.shape and (np.diff(features.indptr) <= 2).all()


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("[tags]\nstack_top = -1\n", "tags.stack_top"),
        ('[tags]\nstack_c = "x"\n', "tags.stack_c"),
        ("[tags]\nstack_min_positives = 0\n", "tags.stack_min_positives"),
        ("[tags]\nstack_min_gain = -0.1\n", "tags.stack_min_gain"),
        ("[tags]\nnb_min_gain = -0.1\n", "tags.nb_min_gain"),
        ("[tags]\nnb_alpha = 0\n", "tags.nb_alpha"),
        ('[tags]\nnb_weighted = "x"\n', "tags.nb_weighted"),
    ],
)
def test_config_schema_checks_the_second_stage_and_member_keys(
    tmp_path: Path, text: str, named: str
) -> None:
    from tagger.api import TrainConfig

    assert_config_refused(tmp_path, text, named)
    path = tmp_path / "c.toml"
    path.write_text("[tags]\nstack_top = 5\nstack_c = 0.5\nnb_weighted = false\n", encoding="utf-8")
    tags = TrainConfig.from_file(path).tags
    assert tags.stack_top == 5 and not tags.nb_weighted
