"""Entity extraction stays linear on long tokens and titles (issue 8, "unbounded work").

The sizes are ones at which the quadratic steps took a minute or more (a 40 KB token took
37 s in the acronym regex alone; 24,000 mentions of a shared surname 60 s); the guard is
generous, and counted in CPU seconds of this process (`time.process_time`), so a loaded
machine does not fail it by waiting; the linear code needs one to three seconds. Some
tests guard the correctness of the linear rewrites (one pass for all surnames, bounded
headlines) at sizes the old code also managed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tagger.entities.analyze import MAX_TOKEN_CHARS, mask_long_tokens
from tagger.entities.canonical import Canonicalizer, RawSpan, acronym_definitions
from tagger.entities.gazetteer import gazetteer

GUARD_SECONDS = 20.0


@contextmanager
def bounded(seconds: float = GUARD_SECONDS) -> Iterator[None]:
    started = time.process_time()
    yield
    elapsed = time.process_time() - started
    assert elapsed < seconds, f"took {elapsed:.1f} CPU s: super-linear on long input"


@pytest.fixture(scope="module")
def canon() -> Canonicalizer:
    return Canonicalizer(gazetteer(), {}, {})


@pytest.mark.parametrize(
    "token",
    [
        "A" * 200_000,  # capitals: the acronym definition's `[\w'&.-]*` from every position
        "Ab" * 100_000,
        "A-" * 100_000,
        "A." * 100_000,
    ],
)
def test_acronym_definitions_on_a_long_token(token: str) -> None:
    with bounded():
        assert acronym_definitions(f"The {token} (AB) said") == {}


def test_acronym_definitions_still_found_next_to_a_long_token() -> None:
    text = "A" * 50_000 + " and the Immigration and Customs Enforcement (ICE) said"
    with bounded():
        assert acronym_definitions(text) == {"ICE": "Immigration and Customs Enforcement"}


def test_many_spans_in_a_huge_headline_case_title(canon: Canonicalizer) -> None:
    words = [f"Zorb{i} Quix{i}" for i in range(8_000)]
    title = " ".join(words)
    text = title + "\n\n" + "Nothing here. " * 8_000
    spans = []
    position = 0
    for word in words:
        spans.append(RawSpan(position, position + len(word), "PERSON"))
        position += len(word) + 1
    with bounded():
        result = canon.entities(text, len(title), spans)
    assert result  # the names are still found


def test_a_surname_shared_by_many_mentions_resolves_in_linear_time(
    canon: Canonicalizer,
) -> None:
    # Two people share a surname; every lone "Biden" looked at every full-name mention
    # before it (quadratic in the mentions).
    parts = []
    for i in range(12_000):
        parts.append("Joe Biden spoke." if i % 2 else "Hunter Biden spoke.")
        parts.append("Biden left.")
    text = " ".join(parts)
    spans = []
    position = 0
    for part in parts:
        name = part.rsplit(" ", 1)[0]
        spans.append(RawSpan(position, position + len(name), "PERSON"))
        position += len(part) + 1
    with bounded():
        result = canon.entities(text, 0, spans)
    names = {e["name"] for e in result if e["type"] == "PERSON"}
    assert names == {"Joe Biden", "Hunter Biden"}
    hunter = next(e for e in result if e["name"] == "Hunter Biden")
    # the first lone "Biden" follows "Hunter Biden": it is his
    assert any(m["text"] == "Biden" for m in hunter["mentions"])


def test_many_people_swept_in_one_pass(canon: Canonicalizer) -> None:
    # A surname sweep per person scanned the whole text once per person.
    surnames = [_letters(i) for i in range(5_000)]
    sentences = [f"Anna {s} spoke. Later {s} left." for s in surnames]
    text = " ".join(sentences)
    spans = []
    position = 0
    for surname, sentence in zip(surnames, sentences, strict=True):
        spans.append(RawSpan(position, position + len("Anna ") + len(surname), "PERSON"))
        position += len(sentence) + 1
    with bounded():
        result = canon.entities(text, 0, spans)
    first = next(e for e in result if e["name"] == f"Anna {surnames[0]}")
    assert [m["text"] for m in first["mentions"]] == [f"Anna {surnames[0]}", surnames[0]]


def _letters(number: int) -> str:
    """A surname made of letters only: Kbaaa, Kbaab, ..."""
    out = ""
    for _ in range(4):
        number, digit = divmod(number, 26)
        out = chr(ord("a") + digit) + out
    return "Kb" + out


def test_mask_long_tokens_keeps_offsets_and_short_tokens() -> None:
    long = "(" * (MAX_TOKEN_CHARS + 1)
    text = f"Angela Merkel {long} met Macron"
    masked = mask_long_tokens(text)
    assert len(masked) == len(text)
    assert masked.startswith("Angela Merkel ") and masked.endswith(" met Macron")
    assert masked.strip(" ").replace(" ", "") == "AngelaMerkelmetMacron"
    assert mask_long_tokens("x" * MAX_TOKEN_CHARS) == "x" * MAX_TOKEN_CHARS


@pytest.mark.parametrize("make", [lambda n: "(" * n, lambda n: "A" * n])
def test_analysis_of_a_long_token_is_bounded(tmp_path: Path, make: Callable[[int], str]) -> None:
    # spaCy's tokenizer peels "(" one at a time, searching the whole rest each time:
    # 20 KB took 45 s. The whole pipeline on 200 KB now takes a fraction of a second.
    from tagger.corpus.article import Article
    from tagger.entities.analyze import analyze_articles

    token = make(200_000)
    article = Article(id="x", title="Storm", body=f"Angela Merkel said {token} on Monday.")
    analyze_articles([Article(id="w", title="warm", body="up")], cache_dir=tmp_path)
    with bounded(10.0):
        result: list[Any] = analyze_articles([article], cache_dir=tmp_path)
    assert len(result) == 1
