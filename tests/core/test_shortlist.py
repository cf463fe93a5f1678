"""The candidate stage for large tag sets keeps every decision of the full computation."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.preprocessing import normalize

from tagger import shortlist
from tagger.classify import TagModel, Threshold
from tagger.shortlist import Shortlist, margins


def generated_model(seed: int = 0, groups: int = 12, per_group: int = 20) -> TagModel:
    """Tags in groups, each driven by features of its group's block, with small negative
    weights anywhere; sigmoids, thresholds and intercepts drawn at random."""
    rng = np.random.default_rng(seed)
    block, n_features = 30, groups * 30 + 40
    rows = []
    for g in range(groups):
        for _ in range(per_group):
            w = np.zeros(n_features)
            own = rng.choice(np.arange(g * block, (g + 1) * block), size=8, replace=False)
            w[own] = rng.uniform(0.5, 3.0, size=8)
            other = rng.choice(n_features, size=10, replace=False)
            w[other] -= rng.uniform(0.0, 0.5, size=10)
            rows.append(w)
    n = len(rows)
    thresholds = [
        Threshold(float(v), 0.5, 0.5, 0.5, 10, "best-f1") for v in rng.uniform(0.2, 0.9, n)
    ]
    a = -rng.uniform(3.0, 6.0, n)
    a[:3] = 0.5  # a sigmoid that falls with the score: always a candidate
    return TagModel(
        labels=[f"tag{j}" for j in range(n)],
        coef=sp.csr_matrix(np.array(rows)),
        intercept=rng.uniform(-1.2, -0.6, n),
        platt_a=a,
        platt_b=rng.uniform(-0.5, 0.5, n),
        thresholds=thresholds,
        best_tag_floor=0.1,
    )


def generated_articles(n: int, seed: int = 1, groups: int = 12) -> sp.csr_matrix:
    """Articles on one or two groups' features, plus features no tag favours."""
    rng = np.random.default_rng(seed)
    dense = np.zeros((n, groups * 30 + 40))
    for i in range(n):
        for g in rng.choice(groups, size=int(rng.integers(1, 3)), replace=False):
            cols = rng.choice(np.arange(g * 30, g * 30 + 30), size=6, replace=False)
            dense[i, cols] = rng.random(6) * rng.uniform(0.2, 2.0)
        dense[i, groups * 30 + rng.choice(40, size=8, replace=False)] = rng.random(8)
    return normalize(sp.csr_matrix(dense))


@pytest.fixture
def small_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shortlist, "SHORTLIST_ABOVE", 100)


@pytest.mark.usefixtures("small_threshold")
def test_candidate_stage_keeps_every_decision_and_scores_fewer_tags() -> None:
    model = generated_model()
    x = generated_articles(400)
    full = model.predict_proba(x, shortlist=False)
    stage = model.shortlist()
    assert stage is not None and len(stage.members) > 5
    short, scored = stage.predict_proba(model, x)
    assert np.array_equal(model.predict_proba(x, shortlist=True), short)
    # Every decision is the full computation's: by threshold, and the best tag above the floor.
    assert np.array_equal(model.select(short), model.select(full))
    assert model.select(full).any(axis=1).mean() > 0.5  # the test has decisions to keep
    # The scored entries are the full values; the others could not be suggested.
    computed = short > 0
    # (float32 sums in another order: equal up to rounding)
    assert np.allclose(short[computed], full[computed], rtol=1e-5, atol=0)
    floor = np.minimum(model.threshold_values, model.best_tag_floor)
    assert (full[~computed] < floor[np.nonzero(~computed)[1]]).all()
    # ... and it scored far fewer than all tags.
    assert scored < 0.5 * full.size
    # Every article still has candidates to show.
    assert (computed.sum(axis=1) > 0).all()


@pytest.mark.usefixtures("small_threshold")
def test_margins_are_where_the_probability_reaches_the_cut() -> None:
    model = generated_model(seed=3)
    m = margins(model)
    rising = model.platt_a < 0
    level = np.minimum(model.threshold_values, model.best_tag_floor)
    from tagger.classify import platt_apply

    at = platt_apply(m + model.intercept, model.platt_a, model.platt_b)
    assert np.allclose(at[rising], level[rising])
    assert np.isneginf(m[~rising]).all()


def test_small_tag_sets_score_every_tag() -> None:
    model = generated_model(groups=2, per_group=10)
    assert model.shortlist() is None
    x = generated_articles(20, groups=2)
    assert np.array_equal(model.predict_proba(x, shortlist=True), model.predict_proba(x))


@pytest.mark.usefixtures("small_threshold")
def test_negative_features_fall_back_to_every_tag() -> None:
    model = generated_model()
    x = generated_articles(30).toarray()
    x[0, 0] = -0.5  # the bound needs non-negative features
    x = sp.csr_matrix(x)
    assert np.array_equal(model.predict_proba(x, shortlist=True), model.predict_proba(x))


def test_a_model_pickled_without_its_candidate_stage(monkeypatch: pytest.MonkeyPatch) -> None:
    import pickle

    monkeypatch.setattr(shortlist, "SHORTLIST_ABOVE", 100)
    model = generated_model()
    x = generated_articles(50)
    before = model.predict_proba(x, shortlist=True)
    copy = pickle.loads(pickle.dumps(model))
    assert "_shortlist" not in copy.__dict__
    assert np.array_equal(copy.predict_proba(x, shortlist=True), before)
    assert isinstance(Shortlist.build(copy), Shortlist)
