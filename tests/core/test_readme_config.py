"""README's training configuration listing and the config schema stay in step: every key
the listing shows is accepted, and every key the schema accepts is shown."""

from __future__ import annotations

import dataclasses
import re
import sys
from pathlib import Path

from tagger.classify import ModelConfig
from tagger.config_schema import validate_train_config
from tagger.features import FeatureConfig
from tagger.stream_train import StreamConfig

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

README = Path(__file__).resolve().parents[2] / "README.md"
# Keys the schema takes besides the dataclasses' fields.
STREAM_EXTRA = {"out_of_core"}


def _listing() -> dict:
    """The README's TOML listing, its commented-out keys (`# key = value`) included."""
    text = README.read_text(encoding="utf-8")
    block = re.search(r"### Training configuration.*?```toml\n(.*?)```", text, re.S)
    assert block, "README.md has no ```toml listing under '### Training configuration'"
    return tomllib.loads(re.sub(r"^# (\w+ = )", r"\1", block.group(1), flags=re.M))


def _fields(cls: type) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)}


def test_every_key_in_the_listing_is_accepted() -> None:
    listing = _listing()
    checked = validate_train_config(listing, "README.md")
    assert set(checked) == set(listing)


def test_every_schema_key_is_in_the_listing() -> None:
    listing = _listing()
    assert {"seed", "name", "features", "tags", "sections", "stream"} <= set(listing)
    assert _fields(FeatureConfig) - set(listing["features"]) == set()
    assert (_fields(StreamConfig) | STREAM_EXTRA) - set(listing["stream"]) == set()
    # [tags] and [sections] share one table of keys: each is shown in one of the two
    shown = set(listing["tags"]) | set(listing["sections"])
    assert _fields(ModelConfig) - shown == set()
