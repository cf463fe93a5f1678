"""Fixtures for every test: no writes to the user's cache folder; a tiny model trained once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(autouse=True, scope="session")
def _entity_cache_in_a_temporary_folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """`tagger predict` and `train --entities` cache entity analyses; tests use a temporary
    folder instead of ~/.cache/tagger."""
    folder = tmp_path_factory.mktemp("tagger-cache")
    patch = pytest.MonkeyPatch()
    patch.setenv("TAGGER_CACHE_DIR", str(folder))
    yield folder
    patch.undo()


SAMPLE = Path(__file__).resolve().parents[1] / "corpus" / "sample.jsonl"


def sample_articles() -> list:
    from tagger.corpus.readers import read_corpus

    return list(read_corpus([SAMPLE]))


@pytest.fixture(scope="session")
def load_sample():
    """The sample corpus reader (a fresh list of Articles per call)."""
    return sample_articles


def train_tiny(articles: list, out: Path, name: str = "tiny") -> Path:
    """A small bundle (word features, 2 folds) trained on `articles`, saved at `out`."""
    from tagger.api import Tagger, TrainConfig
    from tagger.classify import ModelConfig
    from tagger.features import FeatureConfig

    config = TrainConfig(
        features=FeatureConfig(char_ngrams=None),
        tags=ModelConfig(cv_folds=2),
        sections=ModelConfig(cv_folds=2),
        name=name,
    )
    Tagger.train(articles, config).save(out)
    return out


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small bundle trained once on every other article of the sample corpus."""
    return train_tiny(sample_articles()[::2], tmp_path_factory.mktemp("models") / "tiny")


@pytest.fixture(scope="session")
def loaded_tiny(tiny_model: Path) -> Any:
    """The tiny model, loaded once (served in the test's process by the server fixtures)."""
    from tagger.api import Tagger

    return Tagger.load(tiny_model)
