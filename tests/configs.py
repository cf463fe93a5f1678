"""A helper for configuration tests: a TOML text that `TrainConfig.from_file` must refuse."""

from __future__ import annotations

import re
from pathlib import Path

import pytest


def assert_config_refused(folder: Path, text: str, key: str) -> None:
    """Writing `text` as a TOML config in `folder` and loading it ends in a ConfigError
    that names `key` (e.g. "sections.c_grid.1")."""
    from tagger.api import TrainConfig
    from tagger.errors import ConfigError

    path = folder / "bad.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=re.escape(key)):
        TrainConfig.from_file(path)
