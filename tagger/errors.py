"""Errors that reach the user as one clear line and an exit code, never a traceback."""

from __future__ import annotations

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
