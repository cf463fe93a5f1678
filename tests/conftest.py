"""Fixtures for every test: nothing is written to the user's cache folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

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
