"""Errors that reach the user as one clear line and an exit code, never a traceback."""

from __future__ import annotations

from typing import Any

# Exit codes: 0 done, 1 done but with failures the user asked to be strict about
# (or nothing usable was produced), 2 refused: bad arguments, bad bundle, bad input.
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_REFUSED = 2


class TaggerError(Exception):
    """An error with a message meant for the user."""

    exit_code = EXIT_REFUSED


class InputError(TaggerError):
    """Input that cannot be read or used (file, record, corpus)."""


class BundleError(TaggerError):
    """A model bundle that is missing, altered or incompatible."""


class ConfigError(TaggerError):
    """Bad configuration or option values."""


def read_user_text(path: object, what: str, error: type[TaggerError] = ConfigError) -> str:
    """The UTF-8 text of a file the user named as `what` ("config", "the policy file", ...);
    one that cannot be read, or is not UTF-8 text, is an `error` naming the path."""
    from pathlib import Path

    try:
        return Path(str(path)).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{path}: cannot read {what} (not UTF-8 text, byte {exc.start})") from exc
    except OSError as exc:
        raise error(f"{path}: cannot read {what} ({exc.strerror or exc})") from exc


class DuplicateKey(ValueError):
    """A JSON object that gives one key twice."""

    def __init__(self, key: str) -> None:
        super().__init__(f"key {key!r} appears twice")
        self.key = key


def unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """`object_pairs_hook` for json.loads that raises DuplicateKey on a key given twice:
    Python keeps the last value silently, and two readers of one document (a proxy and
    this program) could each see another value."""
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        raise DuplicateKey(next(k for k, _ in pairs if k in seen or seen.add(k)))  # type: ignore[func-returns-value]
    return result


def read_settings_file(path: object, what: str, kind: str) -> Any:
    """The data of a TOML or JSON (by its `.json` suffix) settings file the user named as
    `what` ("config", "the policy file"): unreadable text (see read_user_text), or invalid
    syntax, a key given twice or nesting too deep ("PATH: invalid KIND file (...)") is a
    ConfigError naming the path."""
    import json
    import sys

    if sys.version_info >= (3, 11):
        import tomllib
    else:  # Python 3.10: the same parser, from PyPI
        import tomli as tomllib

    text = read_user_text(path, what)
    try:
        if str(path).endswith(".json"):
            return json.loads(text, object_pairs_hook=unique_keys)
        return tomllib.loads(text)
    except (ValueError, RecursionError) as exc:  # JSON, TOML, a key twice, nesting
        raise ConfigError(f"{path}: invalid {kind} file ({exc})") from exc
