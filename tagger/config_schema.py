"""The schema of a training configuration (`tagger train --config`): every table and key,
its type and its range, taken from the settings dataclasses. A key no table knows and a
value of the wrong type are refused with one line naming the key (exit 2)."""

from __future__ import annotations

import dataclasses
import difflib
import typing
from typing import Annotated, Any

from tagger.errors import ConfigError

# Ranges the dataclasses' types do not say (pydantic Field arguments).
RANGES: dict[str, dict[str, Any]] = {
    "c": {"gt": 0},
    "cv_folds": {"ge": 2},
    "min_precision": {"gt": 0, "le": 1},
    "min_support": {"ge": 1},
    "min_tag_support": {"ge": 1},
    "rare_calibration": {"ge": 0},
    "rare_pool_positives": {"ge": 1},
    "max_tags": {"ge": 1},
    "threshold_shrinkage": {"ge": 0},
    "fallback_threshold": {"ge": 0, "le": 1},
    "best_tag_floor": {"ge": 0, "le": 1},
    "prune_tolerance": {"ge": 0},
    "calibration_entries": {"ge": 1},
    "calibration_min_negatives": {"ge": 0},
    "sample_negatives_min": {"ge": 1},
    "negatives_per_positive": {"ge": 0},
    "cv_positives": {"ge": 1},
    "rare_positives": {"ge": 0},
    "stack_top": {"ge": 0},
    "stack_min_positives": {"ge": 1},
    "stack_c": {"gt": 0},
    "stack_min_gain": {"ge": 0, "lt": 1},
    "nb_min_gain": {"ge": 0, "lt": 1},
    "nb_alpha": {"gt": 0},
    "word_min_df": {"ge": 1},
    "word_max_df": {"gt": 0, "le": 1},
    "char_min_df": {"ge": 1},
    "char_max_df": {"gt": 0, "le": 1},
    "char_weight": {"ge": 0},
    "char_max_cells": {"ge": 0},
    "title_repeat": {"ge": 0},
    "max_features": {"ge": 1},
    "entity_weight": {"ge": 0},
    "seed": {"ge": 0},
    "chunk": {"ge": 1},
    "shuffle_buffer": {"ge": 1},
    "epochs": {"ge": 1},
    "alpha": {"ge": 0},
    "folds": {"ge": 0},
    "holdout": {"ge": 1},
    "holdout_fraction": {"gt": 0, "lt": 1},
    "max_terms": {"ge": 1},
    "max_distinct_tags": {"ge": 1},
    "calibration_per_tag": {"ge": 1},
    "tags_per_pass": {"ge": 0},
    "weights_mb": {"ge": 1},
}
# Ranges of each item of a list-valued key.
ITEM_RANGES: dict[str, dict[str, Any]] = {
    "title_weights": {"ge": 0, "le": 1},
    "c_grid": {"gt": 0},
}
# Optional members given as [low, high]; an empty list switches them off (as null in JSON).
OFF_WHEN_EMPTY = ("title_chars", "title_cross_chars", "char_ngrams")
# [low, high] n-gram ranges: low must not be above high.
RANGE_PAIRS = ("word_ngrams", "char_ngrams", "title_chars", "title_cross_chars")
_MODELS: dict[str, Any] = {}


def _not_a_flag(value: Any) -> Any:
    """Refuse true/false for a number (pydantic's lax mode took them as 1 and 0)."""
    if isinstance(value, bool):
        raise ValueError("should be a number, not true or false")
    return value


def _numeric(kind: Any) -> bool:
    """Whether `kind` is int or float, or one of them or None."""
    return bool({int, float} & ({kind} | set(typing.get_args(kind))))


def _table(cls: type, extra: dict[str, Any] | None = None) -> Any:
    """A pydantic model of the dataclass `cls` (no defaults: only what the file says)."""
    from pydantic import BeforeValidator, ConfigDict, Field, create_model

    hints = typing.get_type_hints(cls)
    fields: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        kind = hints[f.name]
        # checks apply to the value, not to None (JSON's null: the setting's default off)
        values = [a for a in typing.get_args(kind) if a is not type(None)]
        optional = len(values) == 1 and type(None) in typing.get_args(kind)
        if optional:
            kind = values[0]
        if _numeric(kind):
            kind = Annotated[kind, BeforeValidator(_not_a_flag)]
        if f.name in RANGES:
            kind = Annotated[kind, Field(**RANGES[f.name])]
        if optional:
            kind = kind | None
        if f.name in ITEM_RANGES:  # tuple[float, ...] (| None): each item checked
            item = Annotated[float, Field(**ITEM_RANGES[f.name])]
            kind = tuple[item, ...] | None if f.default is None else tuple[item, ...]
        if f.name in OFF_WHEN_EMPTY:  # TOML has no null: [] turns the member off
            kind = kind | tuple[()]
        fields[f.name] = (kind, None)
    for name, kind in (extra or {}).items():
        fields[name] = (kind, None)
    return create_model(
        f"{cls.__name__}Table",
        # allow_inf_nan=False: `c = inf` (or 1e999) would train, then fail to be saved
        __config__=ConfigDict(
            extra="forbid", strict=False, str_strip_whitespace=False, allow_inf_nan=False
        ),
        **fields,
    )


def _schema() -> Any:
    if "train" not in _MODELS:
        from pydantic import BeforeValidator, ConfigDict, Field, create_model

        from tagger.classify import ModelConfig
        from tagger.features import FeatureConfig
        from tagger.stream_train import StreamConfig

        model_table = _table(ModelConfig)
        _MODELS["train"] = create_model(
            "TrainConfigFile",
            __config__=ConfigDict(extra="forbid"),
            features=(_table(FeatureConfig), None),
            tags=(model_table, None),
            sections=(model_table, None),
            seed=(Annotated[int, Field(ge=0), BeforeValidator(_not_a_flag)], None),
            name=(str, None),
            stream=(_table(StreamConfig, {"out_of_core": bool}), None),
        )
    return _MODELS["train"]


def _known(schema: Any, path: tuple[Any, ...]) -> list[str]:
    """The keys the table at `path` knows."""
    model = schema
    for part in path:
        field = model.model_fields.get(part)
        if field is None:
            return []
        model = field.annotation
        model = next((a for a in typing.get_args(model) if hasattr(a, "model_fields")), model)
        if not hasattr(model, "model_fields"):
            return []
    return list(model.model_fields)


def _where(path: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in path)


def validate_train_config(data: dict[str, Any], source: str) -> dict[str, Any]:
    """`data` checked against the schema; raises ConfigError naming the first bad key."""
    from pydantic import ValidationError

    schema = _schema()
    try:
        checked = schema.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        loc = tuple(error["loc"])
        key = _where(loc)
        if error["type"] == "extra_forbidden":
            known = _known(schema, loc[:-1])
            close = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.6)
            table = f"[{_where(loc[:-1])}]" if len(loc) > 1 else "the top level"
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise ConfigError(
                f"{source}: unknown key {key!r} in {table}{hint}; known: {', '.join(known)}"
            ) from None
        given = error.get("input")
        shown = repr(given) if not isinstance(given, dict) else "a table"
        message = str(error["msg"])
        if error["type"] == "value_error":  # our validators' own words, without pydantic's prefix
            message = str(error.get("ctx", {}).get("error", message))
        if error["type"] in ("model_type", "model_attributes_type", "dict_type"):
            message = "should be a table ([name] in TOML, an object in JSON)"
        message = message[:1].lower() + message[1:]
        raise ConfigError(f"{source}: {key}: {message} (got {shown})") from None
    out: dict[str, Any] = checked.model_dump(exclude_unset=True)
    for table, values in out.items():
        for key in RANGE_PAIRS:
            pair = values.get(key) if isinstance(values, dict) else None
            if not pair or len(pair) != 2:
                continue
            low, high = pair
            if low < 1:
                raise ConfigError(
                    f"{source}: {table}.{key}: n-grams are at least 1 long (got {list(pair)})"
                )
            if low > high:
                raise ConfigError(
                    f"{source}: {table}.{key}: the lower bound {low} is above the upper "
                    f"bound {high} (got {list(pair)})"
                )
    return out
