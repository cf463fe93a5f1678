"""Logging of `tagger serve`: uvicorn's text lines, or one JSON object a line on stderr
(`--log-format json`), access logs included."""

from __future__ import annotations

import json
import logging
import os
from datetime import datetime, timezone
from typing import Any

from tagger.hygiene import escape_text

ACCESS_LOGGER = "tagger.access"


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, pid, message and any `fields`."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname.lower(),
            "logger": record.name,
            "pid": os.getpid(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update(fields)
        else:
            entry["message"] = record.getMessage()
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        # json.dumps escapes C0 only: a request's path may hold a C1 CSI or a bidi
        # override, which become \\uXXXX too (the same data), never raw on a terminal
        return escape_text(json.dumps(entry, ensure_ascii=False, default=str))


def log_config(log_format: str) -> dict[str, Any]:
    """A logging dictConfig for uvicorn and the access log in `log_format` (text or json)."""
    if log_format == "json":
        formatter: dict[str, Any] = {"()": "tagger.server.logs.JsonFormatter"}
    else:
        formatter = {"format": "%(levelname)s:     %(message)s"}
    handler = {"class": "logging.StreamHandler", "formatter": "main", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"main": formatter},
        "handlers": {"stderr": handler},
        "loggers": {
            "uvicorn": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
            "uvicorn.error": {"level": "INFO"},
            "uvicorn.access": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
            ACCESS_LOGGER: {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        },
    }


def json_access_log(entry: dict[str, Any]) -> None:
    """Write one access-log entry (the JSON formatter prints its fields)."""
    logging.getLogger(ACCESS_LOGGER).info("access", extra={"fields": {"event": "access", **entry}})
