"""Shared helpers for the corpus-from-the-wild tests (fixtures in tests/fixtures/wild)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tagger.corpus.readers import ReadOptions, ReadReport, read_corpus

WILD = Path(__file__).resolve().parent.parent / "fixtures" / "wild"


def read(paths, fmt="auto", options=None):
    report = ReadReport()
    articles = list(read_corpus([str(p) for p in paths], fmt, report, options or ReadOptions()))
    return articles, report


@pytest.fixture
def wild() -> Path:
    return WILD


def body_lines(path: Path) -> set[str]:
    """Every non-empty line of a fixture, whitespace-normalised."""
    return {" ".join(line.split()) for line in path.read_text(encoding="utf-8").splitlines()}
