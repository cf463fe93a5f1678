"""Prediction computed batch-wise (issue 10: speed at thousands of tags) gives what the
straightforward per-article computation gives."""

from __future__ import annotations

import numpy as np
import pytest

from tagger.predict import shown_tags


def straightforward_shown(probs: np.ndarray, chosen: np.ndarray, top_k: int) -> list[np.ndarray]:
    """Per row: the top_k by (probability descending, tag index) plus the chosen tags,
    best first, ties by index: one full stable sort of each row."""
    out = []
    for p, c in zip(probs, chosen, strict=True):
        order = np.argsort(-p, kind="stable")
        shown = set(order[:top_k].tolist()) | set(np.flatnonzero(c).tolist())
        out.append(np.array([j for j in order if j in shown], dtype=np.int64))
    return out


@pytest.mark.parametrize("top_k", [0, 1, 5, 40])
def test_shown_tags_equal_a_full_sort_of_each_row_ties_included(top_k: int) -> None:
    rng = np.random.default_rng(top_k)
    n, width = 60, 30
    # coarse values so that ties are frequent, and rows of zeros (tags not scored)
    probs = rng.integers(0, 6, size=(n, width)) / 5.0
    probs[::7] = 0.0
    probs[3, :] = 0.4
    chosen = rng.random((n, width)) < 0.1
    chosen[5] = True
    got = shown_tags(probs, chosen, top_k)
    want = straightforward_shown(probs, chosen, top_k)
    assert len(got) == n
    for g, w in zip(got, want, strict=True):
        assert g.tolist() == w.tolist()


def test_shown_tags_of_an_empty_batch_and_of_no_tags() -> None:
    assert shown_tags(np.zeros((0, 4)), np.zeros((0, 4), dtype=bool), 5) == []
    shown = shown_tags(np.zeros((2, 0)), np.zeros((2, 0), dtype=bool), 5)
    assert [s.tolist() for s in shown] == [[], []]


def _weights(seed: int, n_tags: int = 40, n_features: int = 300):  # type: ignore[no-untyped-def]
    """Sparse float32 weights: a few columns weighed by nearly every tag (frequent words),
    the rest by few; some tags without any weight."""
    import scipy.sparse as sp

    rng = np.random.default_rng(seed)
    dense = np.zeros((n_tags, n_features), dtype=np.float32)
    dense[:, :12] = rng.normal(size=(n_tags, 12)) * (rng.random((n_tags, 12)) < 0.9)
    rare = rng.random((n_tags, n_features)) < 0.05
    dense[rare] = rng.normal(size=int(rare.sum()))
    dense[3] = 0.0
    return sp.csr_matrix(dense)


@pytest.mark.parametrize(
    ("density", "max_bytes"), [(0.25, 2**20), (0.0, 2**20), (2.0, 2**20), (0.25, 4 * 40 * 5)]
)
def test_split_product_equals_the_sparse_product(density: float, max_bytes: int) -> None:
    """Dense head and sparse tail (any split, memory-capped or none) give x @ coef.T."""
    import scipy.sparse as sp

    from tagger.scoring import SplitWeights

    coef = _weights(1)
    x = sp.random(25, coef.shape[1], density=0.08, random_state=3, dtype=np.float32).tocsr()
    x = sp.csr_matrix(sp.diags((np.arange(25) != 4).astype(np.float32)) @ x)  # row 4 empty
    assert x[4].nnz == 0
    split = SplitWeights.build(coef, density=density, max_bytes=max_bytes)
    heads = len(split.dense)
    assert heads == {0.0: 300, 2.0: 0}.get(density, 12 if max_bytes == 2**20 else 5)
    want = (x @ coef.T).toarray()
    got = split.product(x)
    assert got.shape == want.shape and got.dtype == np.float32
    assert np.allclose(got, want, rtol=1e-5, atol=1e-6)
    assert np.array_equal(split.product(x[:0]), np.zeros((0, coef.shape[0])))
    # the tail holds exactly the weights of the features outside the head, once
    head = split.head_of >= 0
    assert split.tail_t.shape == (coef.shape[1], coef.shape[0])
    assert split.tail_t[np.flatnonzero(head)].nnz == 0
    outside = sp.csr_matrix(coef.T)[np.flatnonzero(~head)]
    assert np.array_equal(split.tail_t[np.flatnonzero(~head)].toarray(), outside.toarray())


def test_tag_scores_equal_the_straightforward_computation_and_survive_pickling() -> None:
    """TagModel.predict_proba (split product, one vectorised calibration over the batch)
    equals the per-article, per-tag computation: sigmoid of x . w_t + b_t."""
    import pickle

    import scipy.sparse as sp

    from tagger.classify import TagModel, Threshold

    coef = _weights(5)
    n_tags = coef.shape[0]
    rng = np.random.default_rng(6)
    model = TagModel(
        labels=[f"t{j}" for j in range(n_tags)],
        coef=coef,
        intercept=rng.normal(size=n_tags),
        platt_a=-rng.uniform(1, 4, n_tags),
        platt_b=rng.normal(size=n_tags),
        thresholds=[Threshold(0.5, 0.5, 0.5, 0.5, 5, "best-f1") for _ in range(n_tags)],
    )
    x = sp.random(30, coef.shape[1], density=0.1, random_state=7, dtype=np.float32).tocsr()
    probs = model.predict_proba(x)
    w = model.coef.toarray().astype(np.float64)
    for i in range(x.shape[0]):
        row = x[i].toarray().ravel().astype(np.float64)
        for j in range(n_tags):
            score = row @ w[j] + model.intercept[j]
            want = 1.0 / (1.0 + np.exp(model.platt_a[j] * score + model.platt_b[j]))
            assert probs[i, j] == pytest.approx(want, rel=1e-5, abs=1e-7)
    copy = pickle.loads(pickle.dumps(model))
    assert "_split_weights" not in copy.__dict__
    assert np.array_equal(copy.predict_proba(x), probs)


def test_suggestions_show_each_tags_own_evidence(tiny_model, load_sample) -> None:  # type: ignore[no-untyped-def]
    """Through the whole predict path: every tag shown with evidence carries exactly
    `evidence_terms` of its own weights on the article (the per-article computation), the
    selected tags and the first top_k candidates have it, the others none."""
    from tagger.api import Tagger
    from tagger.classify import evidence_terms
    from tagger.predict import _evidence

    model = Tagger.load(tiny_model)
    articles = load_sample()[1::2][:40]
    results = model.predict(articles, explain=True, top_k=3)
    x = model.featurizer.transform(articles)
    names = model.feature_names()
    index = {label: j for j, label in enumerate(model.tag_model.labels)}
    checked = 0
    for i, result in enumerate(results):
        row = slice(x.indptr[i], x.indptr[i + 1])
        shown = {s.label: s for s in [*result.tag_candidates, *result.tags]}
        for suggestion in shown.values():
            terms = [e for e in suggestion.evidence if e.kind != "rule"]
            want = _evidence(
                evidence_terms(
                    x.indices[row],
                    x.data[row],
                    model.tag_model.weight_row(index[suggestion.label]),
                    names,
                    5,
                )
            )
            assert terms == want
            checked += bool(want)
    assert checked > 40
