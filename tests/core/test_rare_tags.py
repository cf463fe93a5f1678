"""Rare tags: positives weighted up below `rare_positives`."""

from __future__ import annotations

import dataclasses

import numpy as np
import scipy.sparse as sp
from sklearn.preprocessing import normalize

from tagger.classify import (
    ModelConfig,
    _liblinear,
    _linear_svc,
    positive_weight,
    train_tag_model,
)


def corpus(n: int = 300, features: int = 40, seed: int = 0) -> tuple[sp.csr_matrix, np.ndarray]:
    """A frequent tag (a quarter of the articles) and a rare one (4 articles)."""
    rng = np.random.default_rng(seed)
    x = rng.random((n, features)) * (rng.random((n, features)) < 0.3)
    y = np.zeros((n, 2), dtype=bool)
    y[: n // 4, 0] = True
    x[: n // 4, 0] += 1.0
    y[-4:, 1] = True
    x[-4:, 1] += 0.6
    return normalize(sp.csr_matrix(x)), y


def test_positive_weight_counts_a_rare_tag_as_if_it_had_enough_positives() -> None:
    assert positive_weight(2, 10) == 5.0
    assert positive_weight(4, 10) == 2.5
    assert positive_weight(10, 10) == 1.0
    assert positive_weight(500, 10) == 1.0
    assert positive_weight(3, 0) == 1.0  # off
    assert positive_weight(0, 10) == 1.0


def test_direct_liblinear_positive_weight_equals_linear_svc_class_weight() -> None:
    x, y = corpus()
    x = x.astype(np.float64)
    model = _linear_svc(1.0, 0, {False: 1.0, True: 4.0}).fit(x, y[:, 1])  # type: ignore[arg-type]
    w, b = _liblinear(x, y[:, 1], 1.0, 0, None, None, 4.0)
    assert np.array_equal(w, model.coef_[0]) and b == model.intercept_[0]
    unweighted, _ = _liblinear(x, y[:, 1], 1.0, 0, None)
    assert not np.allclose(unweighted, w)


def test_rare_positives_weights_only_the_rare_tag() -> None:
    x, y = corpus()
    plain = ModelConfig(n_jobs=1, cv_folds=3, name_rule=False, prune_tolerance=0.0)
    weighted = dataclasses.replace(plain, rare_positives=20)
    before = train_tag_model(x, y, ["common", "rare"], plain)
    after = train_tag_model(x, y, ["common", "rare"], weighted)
    # The frequent tag (75 positives) is fitted exactly as before ...
    assert np.array_equal(before.coef[0].toarray(), after.coef[0].toarray())
    assert before.intercept[0] == after.intercept[0]
    # ... the rare one (4 positives, weight 5) scores its positives higher.
    rare = np.flatnonzero(y[:, 1])
    assert (after.decision(x[rare])[:, 1] > before.decision(x[rare])[:, 1]).all()
