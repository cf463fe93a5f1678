"""Text hygiene shared by every reader: decoding, normalisation, whitespace."""

from __future__ import annotations

import codecs
import html
import re

from tagger.hygiene import sanitize_text

_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200a\u202f\u205f\u3000]+")
_ZERO_WIDTH = re.compile(r"[\u200b-\u200d\u2060\ufeff]")
_MANY_NEWLINES = re.compile(r"\n{3,}")


# Bytes that do not occur in text: C0 controls other than tab, newlines, form feed and CR.
_CONTROL_BYTES = bytes([*range(0, 9), *range(14, 32)])


class UndecodableError(ValueError):
    """Bytes that are binary or in no encoding we can recognise."""


def looks_binary(data: bytes) -> bool:
    """True for data with NUL bytes that are not UTF-16, or mostly non-text bytes."""
    sample = data[:8192]
    if not sample:
        return False
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return False
    if b"\x00" in sample:
        # UTF-16 without BOM has NULs in every other byte of ASCII text.
        even, odd = sample[0::2], sample[1::2]
        return not (even.count(0) > 0.4 * len(even) or odd.count(0) > 0.4 * len(odd))
    controls = len(sample) - len(sample.translate(None, _CONTROL_BYTES))
    return controls > 0.05 * len(sample)


def decode_bytes(data: bytes) -> tuple[str, str]:
    """Decode bytes to text; returns (text, encoding).

    BOMs decide first, then strict UTF-8, then UTF-16 without a BOM, then
    charset-normalizer's detection (cp1252, latin-1 and others), never a blind guess.
    """
    if data.startswith(codecs.BOM_UTF8):
        return data[len(codecs.BOM_UTF8) :].decode("utf-8", errors="replace"), "utf-8-sig"
    # UTF-32's little-endian BOM begins with UTF-16's: test the longer one first.
    for bom, name in (
        (codecs.BOM_UTF32_LE, "utf-32-le"),
        (codecs.BOM_UTF32_BE, "utf-32-be"),
        (codecs.BOM_UTF16_LE, "utf-16-le"),
        (codecs.BOM_UTF16_BE, "utf-16-be"),
    ):
        if data.startswith(bom):
            return data[len(bom) :].decode(name, errors="replace"), name
    if looks_binary(data):
        raise UndecodableError("binary data, not text")
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    sample = data[:8192]
    if b"\x00" in sample:
        even_nuls = sample[0::2].count(0)
        odd_nuls = sample[1::2].count(0)
        name = "utf-16-be" if even_nuls > odd_nuls else "utf-16-le"
        return data.decode(name, errors="replace"), name
    from charset_normalizer import from_bytes

    matches = from_bytes(data[:200_000])
    best = matches.best()
    if best is None:
        raise UndecodableError("unknown text encoding")
    encoding = best.encoding
    # On short texts the detector is undecided between code pages that all read the
    # bytes cleanly (and picks cp1006 or cp1250 for "Köln" or "Genève"): then prefer
    # cp1252, the usual legacy encoding of Western news (and a superset of latin-1's text).
    if any(m.chaos <= best.chaos and "cp1252" in m.could_be_from_charset for m in matches):
        encoding = "cp1252"
    if encoding in {"ascii", "utf_8"}:
        encoding = "cp1252"
    try:
        return data.decode(encoding), encoding
    except (UnicodeDecodeError, LookupError):
        return data.decode("latin-1"), "latin-1"


def clean_text(text: str) -> str:
    """Normalise one text: HTML entities, NFC, control characters, spaces, blank lines."""
    if "&" in text:
        text = html.unescape(text)
    # the one hygiene of every way in (NFC, line ends, no control characters or lone
    # surrogates), then what a reader adds: no zero-width characters, runs of spaces
    text = sanitize_text(text)
    text = _ZERO_WIDTH.sub("", text)
    text = _SPACES.sub(" ", text)
    lines = [line.strip() for line in text.split("\n")]
    text = "\n".join(lines)
    text = _MANY_NEWLINES.sub("\n\n", text)
    return text.strip()


def normalise_label(label: str) -> str:
    """Whitespace-normalised label (case is merged separately, by the most common form)."""
    return " ".join(sanitize_text(label, newlines=False).split())
