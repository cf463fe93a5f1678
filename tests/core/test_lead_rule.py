"""The name rule on the lead: a rare tag named in a story's first lines is suggested."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.preprocessing import normalize

from tagger.classify import ModelConfig, TagModel, train_tag_model


def _corpus(n: int = 80, seed: int = 0) -> tuple[sp.csr_matrix, np.ndarray, list, list]:
    """'metals' on half the articles (its own feature); 'palladium' on five, which the
    features do not show but whose leads name it."""
    rng = np.random.default_rng(seed)
    x = rng.random((n, 20)) * (rng.random((n, 20)) < 0.3)
    y = np.zeros((n, 2), dtype=bool)
    y[::2, 0] = True
    x[::2, 0] += 1.0
    rare = [1, 17, 33, 49, 65]
    y[rare, 1] = True
    titles = [f"Story number {i}" for i in range(n)]
    bodies = [f"LONDON, March {i % 28 + 1} - Markets were quiet today. " * 3 for i in range(n)]
    for i in rare:
        bodies[i] = f"ZURICH, March 3 - Palladium prices rose on demand. {bodies[i]}"
    # Named far into the body (after the lead) of two articles without the tag.
    for i in (3, 5):
        bodies[i] = bodies[i] * 10 + " Palladium was not traded."
    return normalize(sp.csr_matrix(x)), y, titles, bodies


def test_lead_rule_suggests_a_rare_tag_named_in_the_lead() -> None:
    x, y, titles, bodies = _corpus()
    config = ModelConfig(n_jobs=1, cv_folds=4, prune_tolerance=0.0)
    model = train_tag_model(x, y, ["metals", "palladium"], config, titles=titles, bodies=bodies)
    assert model.lead_rule is not None and model.lead_chars == 300
    new_titles = ["Quiet day", "Quiet day", "Quiet day"]
    new_bodies = [
        "NEW YORK - Palladium futures climbed.",
        "NEW YORK - Markets were quiet. " * 20 + "Palladium was mentioned late.",
        "NEW YORK - Markets were quiet.",
    ]
    rows = x[[2, 4, 6]]
    probs = model.predict_proba(rows)
    chosen = model.choose(probs, new_titles, new_bodies)
    assert chosen[:, 1].tolist() == [True, False, False]  # only the lead is searched
    assert not model.choose(probs, new_titles)[:, 1].any()  # no bodies: title rule only
    per_label = {row["label"]: row for row in model.cv_metrics["per_label"]}
    assert per_label["palladium"]["recall"] > 0.5

    without = ModelConfig(n_jobs=1, cv_folds=4, prune_tolerance=0.0, lead_chars=0)
    plain = train_tag_model(x, y, ["metals", "palladium"], without, titles=titles, bodies=bodies)
    assert plain.lead_rule is None
    assert not plain.choose(plain.predict_proba(rows), new_titles, new_bodies)[:, 1].any()


def test_lead_rule_state_round_trip() -> None:
    x, y, titles, bodies = _corpus()
    config = ModelConfig(n_jobs=1, cv_folds=4, prune_tolerance=0.0)
    model = train_tag_model(x, y, ["metals", "palladium"], config, titles=titles, bodies=bodies)
    meta, arrays = model.to_state()
    again = TagModel.from_state(meta, arrays, x.shape[1])
    assert again.lead_chars == 300 and again.lead_rule is not None
    probs = again.predict_proba(x)
    assert np.array_equal(again.choose(probs, titles, bodies), model.choose(probs, titles, bodies))
    # A bundle made before the lead rule loads without one.
    old = {k: v for k, v in meta.items() if k not in ("lead_rule", "lead_chars")}
    older = TagModel.from_state(old, arrays, x.shape[1])
    assert older.lead_rule is None and older.lead_chars == 0
