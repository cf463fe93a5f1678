"""One text hygiene for every way in: files, HTTP bodies, the review's keyboard, labels.

`sanitize_text` is applied once where text enters tagger (the file readers through
`clean_text`, the HTTP service and the feedback store for what editors post, the terminal
review for what is typed): lone surrogates become U+FFFD, the text is NFC, line ends are
"\\n", and control characters are gone (tab and newline stay where `newlines=True`).
Labels (tags, sections) are validated on top: no control or bidirectional-override
characters, at most MAX_LABEL_CHARS, one clear error otherwise.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import fields
from typing import Any

from tagger.errors import InputError

MAX_LABEL_CHARS = 200

_SURROGATE = re.compile(r"[\ud800-\udfff]")
# C0 controls (but tab, newline and CR), DEL and C1: each becomes a space (a control
# between two words must not join them), as the file readers always did.
_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_LINE_CONTROLS = re.compile(r"[\t\n]")
# Bidirectional embeddings, overrides and isolates: legitimate inside running text of
# mixed scripts, never in a label (they reorder what an editor sees).
_LABEL_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")


def fix_surrogates(text: str) -> str:
    """Pairs of surrogates joined, lone ones replaced by U+FFFD (they cannot be encoded)."""
    if not _SURROGATE.search(text):
        return text
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def sanitize_text(text: str, *, newlines: bool = True) -> str:
    """NFC text without lone surrogates or control characters.

    CR and CRLF become "\\n"; every other control character (NUL, ESC, DEL, C1) becomes a
    space, and with `newlines=False` (ids, names, labels) tab and newline do too.
    """
    text = fix_surrogates(text)
    if not text.isascii() or not text.isprintable():
        text = unicodedata.normalize("NFC", text)
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        text = _CONTROLS.sub(" ", text)
        if not newlines:
            text = _LINE_CONTROLS.sub(" ", text)
    return text


def clean_label(label: Any, *, what: str = "label") -> str:
    """A label as stored: sanitized, spaces collapsed; refused with one line when it is
    empty, too long or holds control or bidirectional-override characters."""
    if not isinstance(label, str):
        raise InputError(f"a {what} must be a string, not {type(label).__name__}")
    label = fix_surrogates(label)
    bad = _LABEL_UNSAFE.search(label)
    if bad:
        raise InputError(
            f"{what} {escape_text(label[:60])!r} holds a control character "
            f"(U+{ord(bad.group(0)):04X})"
        )
    label = " ".join(unicodedata.normalize("NFC", label).split())
    if not label:
        raise InputError(f"a {what} must not be empty")
    if len(label) > MAX_LABEL_CHARS:
        raise InputError(f"{what} is longer than {MAX_LABEL_CHARS} characters")
    return label


def sanitize_value(value: Any, *, newlines: bool = True) -> Any:
    """`sanitize_text` applied to every string inside lists and dicts (keys too)."""
    if isinstance(value, str):
        return sanitize_text(value, newlines=newlines)
    if isinstance(value, list):
        return [sanitize_value(v, newlines=newlines) for v in value]
    if isinstance(value, tuple):
        return tuple(sanitize_value(v, newlines=newlines) for v in value)
    if isinstance(value, dict):
        return {
            sanitize_value(k, newlines=False): sanitize_value(v, newlines=newlines)
            for k, v in value.items()
        }
    return value


# Article fields that are one line: ids, names, labels, addresses.
_ONE_LINE = {"id", "section", "tags", "authors", "url", "source"}


def sanitize_article(article: Any, *, skip: tuple[str, ...] = ()) -> Any:
    """The article with every text field sanitized in place (title and body keep their
    line breaks), but the fields in `skip` (already clean); returns it."""
    for f in fields(article):
        if f.name in skip:
            continue
        value = getattr(article, f.name)
        if isinstance(value, (str, list, dict, tuple)):
            setattr(article, f.name, sanitize_value(value, newlines=f.name not in _ONE_LINE))
    return article


# -- showing untrusted text --------------------------------------------------------------

# What a terminal interprets: C0 (but tab and newline), DEL, C1 (CSI is \x9b), the bidi
# controls, and the line and paragraph separators.
_UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")


def escape_text(text: str) -> str:
    """Text safe to print: every character a terminal would act on becomes a visible
    `\\uXXXX` (also a valid JSON escape, so JSON lines stay JSON of the same data)."""
    text = fix_surrogates(text)
    if not _UNSAFE.search(text):
        return text
    return _UNSAFE.sub(lambda m: f"\\u{ord(m.group(0)):04x}", text)
