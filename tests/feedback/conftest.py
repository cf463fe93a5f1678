"""Fixtures for the feedback tests: a tiny model trained once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

SAMPLE = Path(__file__).resolve().parents[2] / "corpus" / "sample.jsonl"


def sample_articles() -> list:
    from tagger.corpus.readers import read_corpus

    return list(read_corpus([SAMPLE]))


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small bundle trained on every other article of the sample corpus."""
    from tagger.api import Tagger, TrainConfig
    from tagger.classify import ModelConfig
    from tagger.features import FeatureConfig

    config = TrainConfig(
        features=FeatureConfig(char_ngrams=None),
        tags=ModelConfig(cv_folds=2),
        sections=ModelConfig(cv_folds=2),
        name="tiny",
    )
    out = tmp_path_factory.mktemp("models") / "tiny"
    Tagger.train(sample_articles()[::2], config).save(out)
    return out


@pytest.fixture(scope="session")
def load_sample():
    """The sample corpus reader (a fresh list of Articles per call)."""
    return sample_articles
