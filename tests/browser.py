"""Headless Chromium for the browser tests (Playwright with the system's chromium)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
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


@contextmanager
def browser_page() -> Iterator[Any]:
    """A new page in a headless Chromium, closed afterwards; the test is skipped when there
    is no browser. Waits are long: a busy CI machine is slow, not wrong."""
    executable, why = find_browser()
    if executable is None:
        pytest.skip(f"browser test skipped: {why}")
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=20_000)
    with sync_playwright() as p:
        browser = launch_chromium(p, executable)
        try:
            page = browser.new_page()
            page.set_default_timeout(30_000)
            yield page
        finally:
            browser.close()
