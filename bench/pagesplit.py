"""The development / validation split of the extraction benchmark's pages (issue 11).

Decided once, before any rule was changed against it, and used by bench/extraction.py and
bench/textdumps.py alike: a page belongs to the VALIDATION half when the first byte of the
SHA-256 of its site (the URL's host without a leading "www.") is odd, else to the
DEVELOPMENT half. Splitting by site, not by page, keeps two pages of one site (the same
templates and menus) on one side, and the cross-document line statistics never see a
validation page's site through a development page.

On the 91 shared pages this gives 41 development pages and 50 validation pages.

The validation half is never tuned on: rules of the HTML reader and of the text-dump
cleaner are developed and debugged on the development half only (`--half dev --worst N`);
the validation half is only measured, and a rule that helps the development half but not
the validation half is dropped. (The rules written before this split, issue 3, were
developed on all 91 pages: their validation figures are optimistic, which is why issue 11
measured them again on 90 other pages.)
"""

from __future__ import annotations

import hashlib
from urllib.parse import urlparse

HALVES = ("dev", "validation", "all")


def site(url: str) -> str:
    """The page's site: its host, lower case, without a leading 'www.'."""
    host = urlparse(url).netloc.lower().split(":")[0]
    return host[4:] if host.startswith("www.") else host


def half(url: str) -> str:
    """'validation' or 'dev' for a page's URL (see the module docstring)."""
    return "validation" if hashlib.sha256(site(url).encode()).digest()[0] % 2 else "dev"


def select(pages: list, which: str) -> list:
    """The pages (id, data, truth) of one half ('dev', 'validation'), or all of them."""
    if which == "all":
        return list(pages)
    return [page for page in pages if half(page[2]["url"]) == which]
