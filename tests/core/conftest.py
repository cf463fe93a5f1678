"""Shared fixtures for the core tests: slices of the bundled sample corpus and trained models."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "corpus" / "sample.jsonl"
FIXTURES = REPO / "tests" / "fixtures" / "core"

TRAIN_PER_SECTION = 15  # 6 sections x 15 = 90 training articles
TEST_PER_SECTION = 3


def sample_records() -> list[dict[str, Any]]:
    with SAMPLE.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _by_section(records: Iterable[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        groups.setdefault(record["section"], []).append(record)
    return groups


def split_sample() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A stratified train slice (90 articles) and a disjoint held-out slice (18 articles)."""
    groups = _by_section(sample_records())
    train = [r for rows in groups.values() for r in rows[:TRAIN_PER_SECTION]]
    test = [
        r
        for rows in groups.values()
        for r in rows[TRAIN_PER_SECTION : TRAIN_PER_SECTION + TEST_PER_SECTION]
    ]
    return train, test


def write_jsonl(path: Path, records: Sequence[dict[str, Any]]) -> Path:
    path.write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8"
    )
    return path


def fast_config(seed: int = 0) -> Any:
    """Word n-grams only: the same pipeline, a few times faster to train."""
    from tagger.api import TrainConfig
    from tagger.features import FeatureConfig

    return TrainConfig(features=FeatureConfig(char_ngrams=None), seed=seed)


@pytest.fixture(scope="session")
def sample_split() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    return split_sample()


@pytest.fixture(scope="session")
def fast_model(cli_bundle: Path) -> Any:
    """The Tagger trained once on the 90-article slice (by `tagger train`), loaded."""
    from tagger.api import Tagger

    return Tagger.load(cli_bundle)


@pytest.fixture(scope="session")
def corpus_files(tmp_path_factory: pytest.TempPathFactory, sample_split: Any) -> dict[str, Path]:
    """The train and held-out slices written as JSONL files."""
    train, test = sample_split
    folder = tmp_path_factory.mktemp("corpus")
    return {
        "train": write_jsonl(folder / "train.jsonl", train),
        "test": write_jsonl(folder / "test.jsonl", test),
    }


@pytest.fixture(scope="session")
def cli_training(
    tmp_path_factory: pytest.TempPathFactory, corpus_files: dict[str, Path]
) -> dict[str, Any]:
    """`tagger train` run once with the default configuration: bundle path and output."""
    from typer.testing import CliRunner

    from tagger.cli import app

    out = tmp_path_factory.mktemp("models") / "slice"
    result = CliRunner().invoke(
        app, ["train", str(corpus_files["train"]), "--out", str(out), "--seed", "0"]
    )
    assert result.exit_code == 0, result.output
    return {"bundle": out, "stdout": result.stdout, "stderr": result.stderr}


@pytest.fixture(scope="session")
def cli_bundle(cli_training: dict[str, Any]) -> Path:
    return cli_training["bundle"]
