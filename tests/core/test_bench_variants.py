"""`bench/reuters_dev_cv.py --variant`: a key the config schema does not know is refused
instead of silently measuring the defaults under the variant's name."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tagger.errors import ConfigError

VariantConfig = Callable[[str], tuple[str, Any]]
BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.fixture(scope="module")
def variant_config() -> Iterator[VariantConfig]:
    sys.path.insert(0, str(BENCH))
    try:
        import reuters_dev_cv

        yield reuters_dev_cv.variant_config
    finally:
        sys.path.remove(str(BENCH))


def test_a_known_key_changes_the_config(variant_config: VariantConfig) -> None:
    name, config = variant_config("c2:tags.c=2,features.title_repeat=3")
    assert name == "c2"
    assert config.tags.c == 2
    assert config.features.title_repeat == 3


def test_an_unknown_key_is_refused(variant_config: VariantConfig) -> None:
    with pytest.raises(ConfigError, match="scale_fold_c"):
        variant_config("foldc:tags.scale_fold_c=true")


def test_stream_dev_grid_entries_are_checked_too() -> None:
    sys.path.insert(0, str(BENCH))
    try:
        import stream_dev
    finally:
        sys.path.remove(str(BENCH))
    assert stream_dev.parse_config("tags.c=0.5,epochs=3").tags.c == 0.5
    with pytest.raises(ConfigError, match=r"tags\.cc"):
        stream_dev.parse_config("tags.cc=0.5")
