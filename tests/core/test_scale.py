"""Tag training at scale: sparse weights, kept out-of-fold scores, bad label sets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.preprocessing import normalize

from tagger.api import Tagger, TrainConfig
from tagger.classify import (
    ModelConfig,
    TagModel,
    _chunks,
    _folds,
    _linear_svc,
    _workers,
    calibrate_tags,
    evidence_terms,
    keep_for_calibration,
    out_of_fold,
    platt_apply,
    platt_fit,
    prune_on_articles,
    prune_weights,
    round_weights,
    train_tag_model,
    tune_threshold,
)
from tagger.corpus.article import Article
from tagger.errors import InputError
from tagger.evaluate import multilabel_metrics
from tagger.features import FeatureConfig


def synthetic(n: int = 240, features: int = 60, tags: int = 6, seed: int = 0) -> tuple:
    """L2-normalised non-negative rows; each tag driven by a few features."""
    rng = np.random.default_rng(seed)
    dense = rng.random((n, features)) * (rng.random((n, features)) < 0.2)
    x = normalize(sp.csr_matrix(dense))
    drivers = rng.choice(features, size=(tags, 3), replace=False)
    score = np.stack([x[:, d].sum(axis=1).A.ravel() for d in drivers], axis=1)
    y = score > np.quantile(score, 0.75, axis=0)
    return x, y


# -- sparse weights -----------------------------------------------------------------------


def test_pruning_bounds_every_decision_change() -> None:
    rng = np.random.default_rng(3)
    w = rng.normal(0, 1, 500) * (rng.random(500) < 0.5) ** 2 * rng.random(500) ** 4
    for tolerance in (0.0, 0.05, 0.3):
        keep = prune_weights(w, tolerance)
        dropped = np.setdiff1d(np.flatnonzero(w), keep)
        assert np.linalg.norm(w[dropped]) <= tolerance + 1e-12
        # No smaller weight is kept while a larger one is dropped.
        if len(dropped) and len(keep):
            assert np.abs(w[dropped]).max() <= np.abs(w[keep]).min()
        x = normalize(sp.csr_matrix(rng.random((200, 500)) * (rng.random((200, 500)) < 0.1)))
        pruned = np.zeros_like(w)
        pruned[keep] = w[keep]
        assert np.max(np.abs(x @ w - x @ pruned)) <= tolerance + 1e-9
    assert len(prune_weights(w, 0.3)) < len(prune_weights(w, 0.0)) == np.count_nonzero(w)


def test_pruning_on_articles_bounds_every_training_decision_change() -> None:
    rng = np.random.default_rng(5)
    x = normalize(sp.csr_matrix(rng.random((300, 800)) * (rng.random((300, 800)) < 0.05)))
    # Many small negative weights (a linear SVM's negative support vectors) and a few
    # large ones: dropping the small ones shifts every score by about the same amount.
    w = -np.abs(rng.normal(0, 0.004, 800)) * (rng.random(800) < 0.9)
    w[rng.choice(800, 40, replace=False)] = rng.normal(0, 1.0, 40)
    for tolerance in (0.0, 0.02, 0.1):
        keep, shift = prune_on_articles(x, w, tolerance)
        pruned = np.zeros_like(w)
        pruned[keep] = w[keep]
        assert np.max(np.abs(x @ pruned + shift - x @ w)) <= tolerance + 1e-12
        dropped = np.setdiff1d(np.flatnonzero(w), keep)
        if len(dropped) and len(keep):
            assert np.abs(w[dropped]).max() <= np.abs(w[keep]).min()
    keep, shift = prune_on_articles(x, w, 0.0)
    assert np.array_equal(keep, np.flatnonzero(w)) and shift == 0.0
    # Tighter than the bound for any L2-normalised vector at the same tolerance.
    keep, shift = prune_on_articles(x, w, 0.1)
    assert len(keep) < len(prune_weights(w, 0.1)) and shift < 0  # the dropped were negative
    empty = sp.csr_matrix((0, 800))
    assert np.array_equal(prune_on_articles(empty, w, 0.1)[0], np.flatnonzero(w))


def test_rounded_weights_keep_eleven_significant_bits() -> None:
    rng = np.random.default_rng(2)
    values = (rng.normal(0, 1, 1000) * 10.0 ** rng.integers(-6, 3, 1000)).astype(np.float32)
    rounded = round_weights(values)
    assert rounded.dtype == np.float32
    assert np.all(np.abs(rounded - values) <= np.abs(values) * 2.0**-11)
    assert np.array_equal(round_weights(rounded), rounded)  # rounding twice changes nothing
    assert np.all(rounded.view(np.uint32) & np.uint32(0x1FFF) == 0)


@pytest.mark.parametrize("rule", ["articles", "l2"])
def test_sparse_and_dense_weights_give_the_same_decisions(rule: str) -> None:
    x, y = synthetic()
    # First-stage weights (the second stage, tagger.stacking, would rescore every tag here).
    config = ModelConfig(n_jobs=1, prune_tolerance=0.0, name_rule=False, stack_top=0)
    full = train_tag_model(x, y, [f"t{j}" for j in range(y.shape[1])], config)
    assert sp.isspmatrix_csr(full.coef) and full.coef.dtype == np.float32
    dense = TagModel(
        full.labels,
        full.coef.toarray(),  # a dense matrix is accepted and stored sparse
        full.intercept,
        full.platt_a,
        full.platt_b,
        full.thresholds,
        best_tag_floor=full.best_tag_floor,
    )
    reference = x @ full.coef.toarray().T + full.intercept
    assert np.allclose(dense.decision(x), reference, atol=1e-5)
    assert np.array_equal(dense.select(dense.predict_proba(x)), full.select(full.predict_proba(x)))

    # The stored weights are rounded (round_weights): a saved model decides the same.
    assert np.array_equal(round_weights(full.coef.data), full.coef.data)

    # The bound is about thresholds: the best-tag floor (an argmax) is left out here.
    full.best_tag_floor = None
    pruned_config = ModelConfig(
        n_jobs=1,
        prune_tolerance=0.05,
        prune_rule=rule,
        name_rule=False,
        best_tag_floor=None,
        stack_top=0,
    )
    pruned = train_tag_model(x, y, full.labels, pruned_config)
    assert pruned.coef.nnz < full.coef.nnz
    assert pruned.cv_metrics["weights"]["prune_rule"] == rule
    # Both rules bound the change on the training articles ("l2": on any such article).
    change = np.abs(pruned.decision(x) - full.decision(x))
    assert change.max() <= 0.05 + 1e-4
    # A decision may only differ where the score was within the bound of the cut.
    p_full, p_pruned = full.predict_proba(x), pruned.predict_proba(x)
    margin = np.abs(p_full - full.threshold_values) > 0.05 * np.abs(full.platt_a) / 4 + 1e-6
    same_thresholds = np.isclose(full.threshold_values, pruned.threshold_values)
    agree = full.select(p_full) == pruned.select(p_pruned)
    assert np.all(agree[:, same_thresholds] | ~margin[:, same_thresholds])


def test_evidence_from_a_sparse_weight_row_equals_the_dense_one() -> None:
    names = np.array(["budget", "senate", "<char>", "weather", "vote", "rain"], dtype=object)
    dense = np.array([2.0, 1.0, 5.0, -3.0, 0.5, 0.0])
    row = sp.csr_matrix(dense)
    indices, values = np.array([0, 1, 2, 3, 5]), np.array([0.5, 0.5, 0.5, 0.5, 0.9])
    expected = evidence_terms(indices, values, dense, names)
    assert evidence_terms(indices, values, row, names) == expected
    assert evidence_terms(indices, values, (row.indices, row.data), names) == expected
    assert [name for name, _ in expected] == ["budget", "senate"]


# -- out-of-fold scores and calibration ------------------------------------------------------


def dense_out_of_fold(x: sp.csr_matrix, y: np.ndarray, folds: list[np.ndarray]) -> np.ndarray:
    """The full (articles x tags) computation, as the model did before."""
    oof = np.zeros(y.shape)
    x = x.astype(np.float64)
    for test in folds:
        train = np.setdiff1d(np.arange(x.shape[0]), test)
        for j in range(y.shape[1]):
            model = _linear_svc(1.0, 0, tol=ModelConfig().fit_tolerance).fit(x[train], y[train, j])
            oof[test, j] = x[test] @ model.coef_[0] + model.intercept_[0]
    return oof


def test_blockwise_calibration_equals_the_full_computation() -> None:
    x, y = synthetic(tags=16, seed=5)  # 16 tags: two workers, four chunks of tags
    folds = _folds(x.shape[0], 4, 0, None)
    full = dense_out_of_fold(x, y, folds)
    config = ModelConfig(n_jobs=1)
    a_full, b_full, t_full = calibrate_tags(full, y, config)
    yc = sp.csc_matrix(y)
    serial = out_of_fold(x.astype(np.float64), yc, folds, config, 0)
    two = ModelConfig(n_jobs=2)
    assert len(_chunks(16, _workers(two, 16))) == 4
    blocks = out_of_fold(x.astype(np.float64), yc, folds, two, 0)
    for kept in (serial, blocks):
        assert kept.entries() == y.size  # the budget covers every negative: all kept
        dense = kept.matrix(kept.scores).toarray()
        assert np.allclose(dense, full, atol=1e-8)
        a, b, thresholds = calibrate_tags(kept, None, config)
        assert np.allclose(a, a_full) and np.allclose(b, b_full)
        assert [t.value for t in thresholds] == pytest.approx([t.value for t in t_full])
        assert [t.method for t in thresholds] == [t.method for t in t_full]


def test_small_fits_stay_in_this_process_unless_n_jobs_says_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Worker processes cost seconds to start: `n_jobs = -1` uses them only when the work
    (stored values x tags) pays for them; an explicit `n_jobs` is obeyed."""
    monkeypatch.setattr("os.cpu_count", lambda: 4)
    auto = ModelConfig()
    assert auto.n_jobs == -1
    assert _workers(auto, 36, nnz=200_000) == 1  # the sample corpus: 7 million
    assert _workers(auto, 90, nnz=2_800_000) == 4  # a Reuters fold: 250 million
    assert _workers(auto, 16, nnz=2_800_000) == 2  # at most one worker per 8 tags
    assert _workers(ModelConfig(n_jobs=2), 36, nnz=200_000) == 2


def test_sampled_negatives_keep_thresholds_and_calibration() -> None:
    """Top negatives plus a weighted sample give the full threshold and nearly its sigmoid."""
    rng = np.random.default_rng(0)
    n = 20000
    y = rng.random(n) < 0.02
    scores = np.where(y, 1.0, -1.0) + rng.normal(0, 0.7, n)
    keep, weights = keep_for_calibration(scores, y, 400, 400, np.random.default_rng(1))
    assert len(keep) == y.sum() + 800
    assert weights.sum() == pytest.approx(n)  # every negative is accounted for
    a_full, b_full = platt_fit(scores, y)
    a, b = platt_fit(scores[keep], y[keep], weights)
    assert a == pytest.approx(a_full, rel=0.1) and b == pytest.approx(b_full, rel=0.1)
    full = tune_threshold(platt_apply(scores, a_full, b_full), y)
    sampled = tune_threshold(platt_apply(scores[keep], a_full, b_full), y[keep], weights=weights)
    assert sampled.value == pytest.approx(full.value)
    assert (sampled.precision, sampled.recall) == pytest.approx((full.precision, full.recall))


def test_training_keeps_a_bounded_number_of_out_of_fold_scores() -> None:
    x, y = synthetic(n=600, tags=8, seed=2)
    config = ModelConfig(
        n_jobs=1, calibration_entries=800, calibration_min_negatives=100, name_rule=False
    )
    model = train_tag_model(x, y, [f"t{j}" for j in range(8)], config)
    kept = model.cv_metrics["calibration_entries"]
    assert kept < y.size / 2
    assert kept <= y.sum() + 8 * 5 * 2 * 10 + 8 * 10  # positives + per fold top + sample
    full = train_tag_model(x, y, model.labels, ModelConfig(n_jobs=1, name_rule=False))
    assert model.cv_metrics["micro_f1"] == pytest.approx(full.cv_metrics["micro_f1"], abs=0.02)
    p_model, p_full = model.predict_proba(x), full.predict_proba(x)
    assert np.mean(model.select(p_model) == full.select(p_full)) > 0.97


def test_metrics_on_sparse_and_dense_inputs_agree() -> None:
    rng = np.random.default_rng(4)
    y = rng.random((50, 7)) < 0.3
    scores = rng.random((50, 7))
    pred = scores > 0.6
    dense = multilabel_metrics(y, pred, scores, list("abcdefg"))
    sparse = multilabel_metrics(
        sp.csr_matrix(y), sp.csr_matrix(pred), sp.csr_matrix(scores), list("abcdefg")
    )
    for key in ("micro_f1", "macro_f1", "p_at_1", "p_at_3", "f1_at_5"):
        assert sparse[key] == pytest.approx(dense[key])


# -- bad label sets ------------------------------------------------------------------------


def word_config() -> TrainConfig:
    return TrainConfig(features=FeatureConfig(char_ngrams=None, word_min_df=1, word_max_df=1.0))


def topic_articles(n: int = 40) -> list[Article]:
    words = ["farm crops harvest", "court judge ruling", "bank rates money", "rain storm flood"]
    return [
        Article(
            id=str(i),
            title=f"report {i}",
            body=f"{words[i % 4]} story {i} " * 3,
            section=["Farm", "Law"][i % 2],
            tags=[["farming", "law", "finance", "weather"][i % 4]],
        )
        for i in range(n)
    ]


def test_one_hundred_thousand_distinct_tags_are_dropped_with_counts() -> None:
    articles = topic_articles(39)
    for i, article in enumerate(articles):
        article.tags = [f"tag-{i}-{k}" for k in range(2565)]  # 100,035 tags, each once
    model = Tagger.train(articles, word_config())
    assert model.tag_model is None and model.section_model is not None
    text = "\n".join(model.warnings)
    assert "100035 of 100035 tag(s)" in text and "100035 on 1 article(s)" in text
    assert "no tag model trained" in text
    for article in articles:
        article.section = None
    with pytest.raises(InputError, match="no tag is on at least 2"):
        Tagger.train(articles, word_config())


def test_many_rare_tags_keep_the_supported_ones() -> None:
    articles = topic_articles(40)
    for i, article in enumerate(articles):
        article.tags += [f"rare-{i}-{k}" for k in range(30)]  # 1,200 tags seen once
    model = Tagger.train(articles, word_config())
    assert model.tag_model is not None
    assert model.tag_model.labels == ["farming", "finance", "law", "weather"]
    assert any("1200 of 1204 tag(s)" in w for w in model.warnings)
    config = word_config()
    config.tags.min_tag_support = 1  # keep them all
    kept = Tagger.train(articles[:4], config).tag_model
    assert kept is not None and len(kept.labels) == 4 + 4 * 30


def test_a_tag_on_every_article_and_a_tag_on_one() -> None:
    articles = topic_articles(40)
    for article in articles:
        article.tags.append("news")
    articles[7].tags.append("singular")
    model = Tagger.train(articles, word_config())
    tags = model.tag_model
    assert tags is not None and {"news", "singular"} <= set(tags.labels)
    probs = tags.predict_proba(model.featurizer.transform(articles))
    assert np.all(probs[:, tags.labels.index("news")] > 0.9)
    single = tags.thresholds[tags.labels.index("singular")]
    assert single.method == "pooled" and single.support == 1
    assert tags.coef[tags.labels.index("news")].nnz == 0  # a constant model: no weights


def test_an_article_with_five_hundred_tags() -> None:
    articles = topic_articles(40)
    articles[0].tags = [f"many-{k}" for k in range(500)]
    articles[4].tags += [f"many-{k}" for k in range(0, 500, 2)]
    config = word_config()
    config.tags.cv_folds = 2
    model = Tagger.train(articles, config)
    assert model.tag_model is not None
    assert sum(t.startswith("many-") for t in model.tag_model.labels) == 500
    suggestions = model.predict(articles[0], top_k=3)
    assert len(suggestions.tag_candidates) == 3


def test_threshold_of_a_sampled_tag_is_set_like_the_full_one() -> None:
    probs = np.array([0.9, 0.8, 0.7, 0.6, 0.2])
    y = np.array([1, 0, 1, 0, 0])
    # The two lowest negatives stood for four: weights do not move a cut above them.
    t = tune_threshold(probs, y, weights=np.array([1, 1, 1, 2, 2]))
    assert t.value == pytest.approx(0.65)
    assert t.precision == pytest.approx(2 / 3)


# -- training time: direct liblinear, sampled easy negatives, fewer folds ---------------------


def test_direct_liblinear_call_equals_linear_svc() -> None:
    from tagger.classify import _liblinear

    x, y = synthetic(seed=7)
    x = x.astype(np.float64)
    for j in range(3):
        model = _linear_svc(0.7, 4).fit(x, y[:, j])
        w, b = _liblinear(x, y[:, j], 0.7, 4, None)
        assert np.array_equal(w, model.coef_[0]) and b == model.intercept_[0]
    weights = np.linspace(0.5, 3.0, x.shape[0])
    model = _linear_svc(1.0, 0).fit(x, y[:, 0], sample_weight=weights)
    w, b = _liblinear(x, y[:, 0], 1.0, 0, None, weights)
    assert np.array_equal(w, model.coef_[0]) and b == model.intercept_[0]
    # The stopping tolerance is LinearSVC's `tol` (ModelConfig.fit_tolerance).
    model = _linear_svc(1.0, 0, tol=0.1).fit(x, y[:, 1])
    w, b = _liblinear(x, y[:, 1], 1.0, 0, None, tol=0.1)
    assert np.array_equal(w, model.coef_[0]) and b == model.intercept_[0]
    assert not np.array_equal(w, _liblinear(x, y[:, 1], 1.0, 0, None)[0])


def test_easy_negatives_are_sampled_with_weights() -> None:
    from tagger.classify import training_rows

    x, y = synthetic(n=3000, features=80, tags=1, seed=4)
    column = np.zeros(3000, dtype=bool)
    column[np.flatnonzero(y[:, 0])[:40]] = True  # 40 positives, 2,960 negatives
    config = ModelConfig(sample_negatives_min=500, negatives_per_positive=5)
    assert training_rows(x, column, ModelConfig(), np.random.default_rng(0)) is None
    rows, weights = training_rows(x, column, config, np.random.default_rng(0))
    assert np.all(np.diff(rows) > 0)
    assert column[rows].sum() == 40 and len(rows) == 40 + 500  # budget max(500, 5 x 40)
    negatives = ~column[rows]
    assert weights[negatives].sum() == pytest.approx(2960)  # every negative accounted for
    assert np.all(weights[column[rows]] == 1)
    # The hard half: the negatives closest to the positives' centroid, all kept at weight 1.
    closeness = x @ np.asarray(x[column].sum(axis=0)).ravel()
    hard = np.flatnonzero(~column)[np.argsort(-closeness[~column])[:250]]
    assert set(hard) <= set(rows[weights == 1])
    # With hard_negative_share 0.8: 400 hard negatives (weight 1), 100 sampled for the rest.
    config = ModelConfig(
        sample_negatives_min=500, negatives_per_positive=5, hard_negative_share=0.8
    )
    rows, weights = training_rows(x, column, config, np.random.default_rng(0))
    hard = np.flatnonzero(~column)[np.argsort(-closeness[~column])[:400]]
    assert len(rows) == 540 and set(hard) <= set(rows[weights == 1])
    assert np.sum(weights > 1) == 100 and weights[~column[rows]].sum() == pytest.approx(2960)
    with pytest.raises(ValueError, match="hard_negative_share"):
        ModelConfig(hard_negative_share=1.5)


def test_sampled_negatives_train_nearly_the_same_model() -> None:
    x, y = synthetic(n=2400, features=80, tags=4, seed=6)
    labels = [f"t{j}" for j in range(4)]
    full = train_tag_model(x, y, labels, ModelConfig(n_jobs=1, name_rule=False))
    config = ModelConfig(
        n_jobs=1, name_rule=False, sample_negatives_min=600, negatives_per_positive=1
    )
    sampled = train_tag_model(x, y, labels, config)
    assert not np.allclose(sampled.intercept, full.intercept)  # sampling did happen
    agree = full.select(full.predict_proba(x)) == sampled.select(sampled.predict_proba(x))
    assert agree.mean() > 0.95
    assert sampled.cv_metrics["micro_f1"] == pytest.approx(full.cv_metrics["micro_f1"], abs=0.03)


def test_frequent_tags_are_cross_validated_on_fewer_folds() -> None:
    from tagger.classify import folds_per_tag

    assert list(folds_per_tag(np.array([10, 3000, 3001, 6000, 60000]), 5, 3000)) == [5, 5, 5, 3, 1]
    x, y = synthetic(n=600, tags=4, seed=8)
    y[:, 0] = np.arange(600) % 3 != 0  # 400 positives: two of five folds at cv_positives 150
    config = ModelConfig(n_jobs=1, name_rule=False, cv_positives=150)
    folds = _folds(600, 5, 0, None)
    kept = out_of_fold(x.astype(np.float64), sp.csc_matrix(y), folds, config, 0)
    assert set(kept.rows[0]) == set(np.concatenate(folds[:2]))
    assert set(kept.rows[1]) == set(range(600))
    model = train_tag_model(x, y, [f"t{j}" for j in range(4)], config)
    # The out-of-fold metrics count the frequent tag on its folds only.
    per_label = {row["label"]: row for row in model.cv_metrics["per_label"]}
    assert per_label["t0"]["support"] == int(y[np.concatenate(folds[:2]), 0].sum())
    assert per_label["t0"]["recall"] > 0.9


def test_cli_refuses_ten_thousand_tags_on_250_articles_naming_their_support(
    tmp_path: Path,
) -> None:
    import json

    from typer.testing import CliRunner

    from tagger.cli import app

    corpus = tmp_path / "c.jsonl"
    lines = []
    for article in topic_articles(250):
        article.section = None
        article.tags = [f"tag-{article.id}-{k}" for k in range(40)]  # 10,000 tags, each once
        lines.append(json.dumps(article.to_dict()))
    corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["train", str(corpus), "--out", str(tmp_path / "m")])
    assert result.exit_code == 2
    assert "10000 of 10000 tag(s) are on fewer than 2 training articles" in result.output
    assert "10000 on 1 article(s)" in result.output
    assert "no tag is on at least 2 training articles" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "m").exists()


def test_direct_liblinear_call_prints_nothing(capfd: pytest.CaptureFixture[str]) -> None:
    from tagger.classify import _liblinear

    x, y = synthetic(seed=9)
    _liblinear(x.astype(np.float64), y[:, 0], 1.0, 0, None)
    out, err = capfd.readouterr()
    assert out == "" and err == ""


# -- tiny tags: tags on the same articles, more tags than a corpus supports ----------------


def counted_fits(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count liblinear fits made in this process (n_jobs=1)."""
    import tagger.classify as classify

    calls: list[int] = []
    real = classify._liblinear

    def counting(*args: object, **kwargs: object) -> object:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(classify, "_liblinear", counting)
    return calls


def test_tags_on_the_same_articles_are_fitted_once_with_the_same_model(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    x, y = synthetic(n=200, tags=4, seed=3)
    copies = np.hstack([y, y[:, [1, 1, 3]]])  # t4 and t5 are on t1's articles, t6 on t3's
    labels = [f"t{j}" for j in range(7)]
    config = ModelConfig(n_jobs=1, name_rule=False, stack_top=0)  # first-stage fits only
    calls = counted_fits(monkeypatch)
    model = train_tag_model(x, copies, labels, config)
    assert len(calls) == 4 * 6  # four distinct columns, five folds and the final fit each
    for copy, original in ((4, 1), (5, 1), (6, 3)):
        assert (model.coef[copy] != model.coef[original]).nnz == 0
        assert model.intercept[copy] == model.intercept[original]
        assert model.platt_a[copy] == model.platt_a[original]
        assert model.platt_b[copy] == model.platt_b[original]
        assert model.thresholds[copy] == model.thresholds[original]
        assert model.thresholds[copy] is not model.thresholds[original]
    # The fits are those of the tags alone (only the pooled calibration sees the copies).
    alone = train_tag_model(x, y, labels[:4], config)
    assert np.array_equal(model.coef[:4].toarray(), alone.coef.toarray())
    assert np.array_equal(model.platt_a[:4], alone.platt_a)
    assert np.array_equal(model.platt_b[:4], alone.platt_b)


def test_thousands_of_tags_on_39_articles_train_on_their_distinct_columns(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The issue's 39 articles with 100,000 tags, test-sized: every tag on two articles,
    so there are at most 39 x 38 / 2 = 741 distinct label columns to fit."""
    rng = np.random.default_rng(0)
    articles = topic_articles(39)
    for t in range(3000):
        for i in rng.choice(39, size=2, replace=False):
            articles[i].tags.append(f"pair-{t}")
    config = word_config()
    config.tags.n_jobs = 1
    config.tags.name_rule = False
    calls = counted_fits(monkeypatch)
    model = Tagger.train(articles, config)
    tags = model.tag_model
    assert tags is not None and len(tags.labels) == 3004
    columns = {tuple(sorted(i for i, a in enumerate(articles) if t in a.tags)) for t in tags.labels}
    fits = 12 if config.tags.nb_weighted else 6  # the NB-weighted member doubles them
    assert len(calls) <= len(columns) * fits and len(columns) <= 741 + 4
    # Two tags on the same two articles get the same model.
    by_column: dict[tuple[int, ...], list[int]] = {}
    for j, label in enumerate(tags.labels):
        rows = tuple(i for i, a in enumerate(articles) if label in a.tags)
        by_column.setdefault(rows, []).append(j)
    same = next(js for js in by_column.values() if len(js) > 1)
    assert tags.thresholds[same[0]].value == tags.thresholds[same[1]].value
    assert (tags.coef[same[0]] != tags.coef[same[1]]).nnz == 0


def test_max_tags_keeps_the_most_frequent_and_counts_the_others() -> None:
    articles = topic_articles(40)
    for i, article in enumerate(articles):
        article.tags += [f"pair-{i // 2}-{k}" for k in range(50)]  # 1,000 tags on 2 articles
    config = word_config()
    config.tags.max_tags = 104
    model = Tagger.train(articles, config)
    assert model.tag_model is not None
    labels = model.tag_model.labels
    assert len(labels) == 104
    assert {"farming", "law", "finance", "weather"} <= set(labels)  # 10 articles each
    text = "\n".join(model.warnings)
    assert "900 of 1004 tag(s) are beyond the 104 most frequent" in text
    assert "(900 on 2 article(s))" in text and "raise tags.max_tags" in text


def test_cli_train_on_a_stream_that_ends_mid_record(tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from tagger.cli import app

    corpus = tmp_path / "cut.jsonl"
    lines = [json.dumps(a.to_dict()) for a in topic_articles(40)]
    cut = '{"id": "cut", "title": "farm crops", "body": "the stream ends mid-rec'
    corpus.write_text("\n".join(lines) + "\n" + cut, encoding="utf-8")
    result = CliRunner().invoke(app, ["train", str(corpus), "--out", str(tmp_path / "m")])
    assert result.exit_code == 0, result.output
    assert f"{corpus}:41: invalid JSON" in result.output
    assert "41 record(s): 40 article(s), 1 skipped" in result.output
    assert Tagger.load(tmp_path / "m").manifest["corpus"]["articles"] == 40
    strict = CliRunner().invoke(
        app, ["train", str(corpus), "--out", str(tmp_path / "s"), "--strict"]
    )
    assert strict.exit_code == 1 and "--strict" in strict.output
    assert "Traceback" not in strict.output and not (tmp_path / "s").exists()
