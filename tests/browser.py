"""Headless Chromium for the browser tests (Playwright with the system's chromium)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest


def find_browser() -> tuple[str | None, str]:
    """A Chromium executable for Playwright, or None and why not."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return None, "the playwright package is not installed (pip install -e '.[dev]')"
    candidates = [os.environ.get("TAGGER_CHROMIUM", "")] + [
        shutil.which(name) or "" for name in ("chromium", "chromium-browser", "google-chrome")
    ]
    for path in candidates:
        if path and Path(path).exists():
            return path, ""
    return None, "no Chromium found (apt-get install chromium, or set TAGGER_CHROMIUM)"


def launch_chromium(playwright: Any, executable: str) -> Any:
    """A headless Chromium; the test is skipped when the browser cannot start (an
    environment problem, not a failure of the page)."""
    try:
        return playwright.chromium.launch(
            executable_path=executable, headless=True, args=["--no-sandbox"]
        )
    except Exception as exc:
        pytest.skip(f"browser test skipped: {executable} would not start ({exc})")
