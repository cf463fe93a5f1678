"""Readers stream: memory does not grow with the number of articles, stdin yields as it arrives.

Memory is measured with tracemalloc (peak of Python allocations while reading), never
with timings.
"""

from __future__ import annotations

import io
import itertools
import json
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tagger.corpus.readers import ReadReport, read_corpus, read_inputs, read_stdin_stream


def jsonl_line(i: int) -> bytes:
    body = f"Article {i} reports that the council met on Monday to discuss the budget. " * 3
    return (json.dumps({"id": f"a{i}", "title": f"Story {i}", "body": body}) + "\n").encode()


def csv_line(i: int) -> bytes:
    return f'{i},Story {i},"Article {i}, on the budget, in a quoted body."\n'.encode()


class Lines(io.RawIOBase):
    """A stream made on the fly from a line generator (nothing held but the current line)."""

    def __init__(self, lines: Iterator[bytes]) -> None:
        self._lines = lines
        self._pending = b""
        self.reads = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        self.reads += 1
        if not self._pending:
            self._pending = next(self._lines, b"")
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n


def peak_while(consume: Callable[[], int]) -> tuple[int, int]:
    """(articles consumed, peak traced memory in bytes)."""
    tracemalloc.start()
    try:
        count = consume()
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return count, peak


def drain(articles: Iterator[object]) -> int:
    return sum(1 for _ in articles)


def stdin_peak(n: int, fmt: str = "auto") -> tuple[int, int]:
    def consume() -> int:
        make = jsonl_line if fmt != "csv" else csv_line
        head = [b"id,title,body\n"] if fmt == "csv" else []
        lines = itertools.chain(head, (make(i) for i in range(n)))
        return drain(read_stdin_stream(Lines(lines), ReadReport(), None, fmt))

    return peak_while(consume)


@pytest.mark.parametrize("fmt", ["auto", "csv"])
def test_stdin_memory_does_not_grow_with_the_number_of_articles(fmt: str) -> None:
    small_count, small_peak = stdin_peak(1_000, fmt)
    large_count, large_peak = stdin_peak(10_000, fmt)
    assert (small_count, large_count) == (1_000, 10_000)
    # 9,000 more articles of ~300 bytes would be ~2.7 MB if they were kept
    assert large_peak < small_peak + 512 * 1024


@pytest.mark.parametrize("kind", ["jsonl", "csv", "jsonl.gz"])
def test_file_memory_does_not_grow_with_the_number_of_articles(tmp_path: Path, kind: str) -> None:
    import gzip

    def write(n: int) -> Path:
        path = tmp_path / f"c{n}.{kind}"
        make = csv_line if kind == "csv" else jsonl_line
        data = (b"id,title,body\n" if kind == "csv" else b"") + b"".join(make(i) for i in range(n))
        path.write_bytes(gzip.compress(data) if kind.endswith(".gz") else data)
        return path

    small, large = write(1_000), write(10_000)  # 9,000 more kept: ~2.7 MB
    small_count, small_peak = peak_while(lambda: drain(read_corpus([small], report=ReadReport())))
    large_count, large_peak = peak_while(lambda: drain(read_corpus([large], report=ReadReport())))
    assert (small_count, large_count) == (1_000, 10_000)
    assert large_peak < small_peak + 512 * 1024


def test_stdin_yields_each_article_as_its_line_arrives() -> None:
    # a feed: each read returns one line; the first article must come after the first
    # line, not after the end of the stream (which never comes here)
    def feed() -> Iterator[bytes]:
        i = 0
        while True:
            yield jsonl_line(i)
            i += 1

    stream = Lines(feed())
    articles = read_stdin_stream(stream, ReadReport())
    first = next(articles)
    assert first.id == "a0"
    assert stream.reads <= 3
    assert [next(articles).id for _ in range(3)] == ["a1", "a2", "a3"]
    assert stream.reads <= 8


def test_stdin_keeps_its_place_among_the_inputs(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    path.write_bytes(jsonl_line(7))
    stdin = io.BytesIO(jsonl_line(1) + jsonl_line(2))
    ids = [a.id for a in read_inputs([path, "-"], stdin=stdin)]
    assert ids == ["a7", "a1", "a2"]
