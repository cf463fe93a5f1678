"""Decoding bytes of unknown encoding and cleaning text."""

from __future__ import annotations

import codecs
import random

import pytest

from tagger.corpus.text import (
    UndecodableError,
    clean_text,
    decode_bytes,
    looks_binary,
    normalise_label,
)

NEWS = "The minister said the café in Zürich would reopen; prices rose 5 %.\nSecond line.\n"


def test_utf8_without_bom() -> None:
    assert decode_bytes(NEWS.encode("utf-8")) == (NEWS, "utf-8")


def test_utf8_with_bom_drops_the_bom() -> None:
    text, encoding = decode_bytes(codecs.BOM_UTF8 + NEWS.encode("utf-8"))
    assert text == NEWS
    assert encoding == "utf-8-sig"
    assert not text.startswith("\ufeff")


@pytest.mark.parametrize(
    ("bom", "codec"),
    [(codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be")],
)
def test_utf16_with_bom(bom: bytes, codec: str) -> None:
    text, encoding = decode_bytes(bom + NEWS.encode(codec))
    assert text == NEWS
    assert encoding == codec


def test_utf16_without_bom_is_recognised_by_its_nul_bytes() -> None:
    text, encoding = decode_bytes(NEWS.encode("utf-16-le"))
    assert text == NEWS
    assert encoding == "utf-16-le"


def test_cp1252_text_with_smart_quotes_dashes_and_euro() -> None:
    original = "The minister said “we will not back down” — and prices rose 5 € in Zürich.\n" * 3
    text, _encoding = decode_bytes(original.encode("cp1252"))
    assert text == original


@pytest.mark.parametrize(
    "original",
    [
        "Le ministre a déclaré à Genève que la façade était naïve.",
        "Ärger in Köln",
        "The firm made £3bn profit",
        "Señor Pérez dijo que sí.",
        "Müller und Söhne GmbH berichtet über höhere Umsätze im Geschäftsjahr.",
    ],
)
def test_latin1_text_short_and_long(original: str) -> None:
    # Short Western texts are where encoding detection is weakest: they must not come
    # back in cp1006, cp1250 or cp775.
    text, encoding = decode_bytes(original.encode("latin-1"))
    assert text == original, encoding


def test_non_western_legacy_encoding_still_detected() -> None:
    original = (
        "Москва заявила, что переговоры продолжатся на следующей неделе, сообщил представитель."
    )
    text, encoding = decode_bytes(original.encode("cp1251"))
    assert text == original, encoding


@pytest.mark.parametrize(
    "data",
    [
        bytes(range(256)) * 8,
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
        + bytes(random.Random(0).randrange(256) for _ in range(2000)),
        b"%PDF-1.4\n" + bytes([0, 1, 2, 3, 4, 5, 6, 7]) * 200,
    ],
    ids=["all-bytes", "png", "pdf-like"],
)
def test_binary_data_is_refused(data: bytes) -> None:
    assert looks_binary(data)
    with pytest.raises(UndecodableError, match="binary"):
        decode_bytes(data)


def test_empty_bytes_decode_to_empty_text() -> None:
    assert decode_bytes(b"")[0] == ""


def test_clean_text_normalises_entities_unicode_controls_and_whitespace() -> None:
    raw = (
        "  Caf\u0065\u0301 &amp; bar\r\n"  # decomposed é, an HTML entity, CRLF
        "tab\there\u00a0and zero\u200b-width\x07bell\r\n"
        "\n\n\n\n"
        "last   line  \n"
    )
    cleaned = clean_text(raw)
    assert cleaned == "Café & bar\ntab here and zero-width bell\n\nlast line"
    assert "\r" not in cleaned
    assert clean_text(cleaned) == cleaned  # idempotent


def test_clean_text_keeps_paragraph_breaks() -> None:
    assert clean_text("One.\n\nTwo.\nThree.") == "One.\n\nTwo.\nThree."


def test_normalise_label_collapses_whitespace_but_keeps_case() -> None:
    assert normalise_label("  World \t News ") == "World News"
    assert normalise_label("US News") == "US News"
