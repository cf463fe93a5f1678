"""Precision policies: parsing, branches, thresholds that meet their target, the bundle."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tagger.classify import ModelConfig, calibrate_tags, platt_apply
from tagger.errors import ConfigError
from tagger.policy import DEFAULT, Policy, load_policy
from tagger.vocab.model import Concept, Vocabulary

POLICY = """
default = "best-f1"

[[rule]]
name = "legal"
precision = 0.95
tags = ["Crime"]
branches = ["law-branch"]
"""


def _vocab() -> Vocabulary:
    vocab = Vocabulary()
    for c in (
        Concept(id="law-branch", label="law and justice"),
        Concept(id="courts", label="courts", broader=["law-branch"]),
        Concept(id="sport", label="sport"),
    ):
        vocab.concepts[c.id] = c
    vocab.finish("test")
    return vocab


def test_policy_file_rules_and_branches(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(POLICY)
    policy = load_policy(path)
    assigned = policy.assign(["crime", "courts", "sport"], _vocab())
    assert assigned == {
        "crime": ("legal", 0.95),  # named (case ignored)
        "courts": ("legal", 0.95),  # below the branch
        "sport": (DEFAULT, None),
    }
    # without the vocabulary a branch only matches a tag of its own name
    assert policy.assign(["courts"])["courts"] == (DEFAULT, None)
    assert load_policy(policy.to_dict()).assign(["crime"]) == {"crime": ("legal", 0.95)}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[rule]]\nname = 'x'\nprecision = 1.5\ntags = ['a']", "precision in"),
        ("[[rule]]\nname = 'x'\nprecision = 0.9", "names no tags"),
        ("colour = 1", "unknown key"),
        ("[[rule]]\nprecision = 0.9\ntags = ['a']", "needs a name"),
    ],
)
def test_bad_policy_refused_with_one_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "p.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_policy(path)


def test_policy_thresholds_meet_their_target_on_oof_scores() -> None:
    rng = np.random.default_rng(0)
    n, t = 3000, 4
    y = rng.random((n, t)) < np.array([0.1, 0.2, 0.05, 0.3])
    # overlapping scores: best F1 sits well below 0.95 precision
    oof = np.where(y, rng.normal(1.0, 1.0, (n, t)), rng.normal(-1.0, 1.0, (n, t)))
    targets = [("legal", 0.95), None, ("legal", 0.95), ("strict", 0.9)]
    config = ModelConfig()
    a, b, thresholds = calibrate_tags(oof, y, config, targets)
    _, _, plain = calibrate_tags(oof, y, config)
    for j, target in enumerate(targets):
        probs = platt_apply(oof[:, j], a[j], b[j])
        chosen = probs >= thresholds[j].value
        precision = y[chosen, j].mean()
        if target is None:
            assert thresholds[j].method == plain[j].method
            continue
        assert thresholds[j].method == f"policy {target[0]}: precision>={target[1]:g}"
        assert chosen.sum() > 0
        assert precision >= target[1], (j, precision)
        # a precision target costs recall against best F1
        assert thresholds[j].value >= plain[j].value


def test_unreachable_target_suggests_nothing() -> None:
    rng = np.random.default_rng(1)
    y = rng.random((500, 1)) < 0.5
    oof = rng.normal(0, 1, (500, 1))  # no signal at all
    _a, _b, thresholds = calibrate_tags(oof, y, ModelConfig(), [("legal", 0.99)])
    assert thresholds[0].value == 1.0 and thresholds[0].method.endswith("unreachable")


def test_training_with_a_policy_records_it(load_sample, tmp_path: Path) -> None:
    from tagger.api import Tagger, TrainConfig
    from tagger.features import FeatureConfig

    articles = load_sample()[::2]
    policy = Policy.from_dict(
        {"rule": [{"name": "legal", "precision": 0.95, "tags": ["crime", "Supreme Court"]}]}
    )
    config = TrainConfig(
        features=FeatureConfig(char_ngrams=None),
        tags=ModelConfig(cv_folds=2, n_jobs=1, policy=policy.to_dict()),
        sections=ModelConfig(cv_folds=2, n_jobs=1),
    )
    model = Tagger.train(articles, config)
    model.save(tmp_path / "m")
    loaded = Tagger.load(tmp_path / "m")
    assert loaded.manifest["policy"]["tags"] == {"crime": "legal", "Supreme Court": "legal"}
    labels = loaded.tag_model.labels
    methods = {labels[j]: t.method for j, t in enumerate(loaded.tag_model.thresholds)}
    assert methods["crime"].startswith("policy legal")
    assert not methods["economy"].startswith("policy")
    card = (tmp_path / "m" / "MODEL_CARD.md").read_text()
    assert "## Precision policies" in card and "legal: precision >= 0.95" in card
    # the best-tag floor never picks a policy tag: only its threshold may
    tags = loaded.tag_model
    crime, economy = labels.index("crime"), labels.index("economy")
    assert not tags.rules_allowed[crime] and tags.rules_allowed[economy]
    below = tags.threshold_values[crime] - 1e-3
    assert below > tags.best_tag_floor
    probs = np.full((2, len(labels)), 0.01)
    probs[0, crime] = below  # the best tag of row 0, under its threshold: not chosen
    probs[1, economy] = min(below, tags.threshold_values[economy] - 1e-3)
    assert probs[1, economy] >= tags.best_tag_floor
    chosen = tags.select(probs)
    assert not chosen[0].any()
    assert chosen[1, economy]  # another tag still gets the floor
