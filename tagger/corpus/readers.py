"""Readers: every input format becomes a stream of Articles, with a report of what was skipped.

This module dispatches: it finds each input's format and hands the input to the reader
that format registered (`tagger.corpus.registry`). Each format lives in its own module
(jsonl, tabular, folders, reuters, html, textdump); they import the registry and
`tagger.corpus.sources`, never each other or this module. Everything is a generator:
nothing here holds more than one record, or one single-document file, at a time.
"""

from __future__ import annotations

import io
import json
import stat
import sys
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import IO

from tagger.corpus import registry
from tagger.corpus.article import Article
from tagger.corpus.registry import (
    FORMATS,
    ReadOptions,
    ReadReport,
    Skip,
    Source,
)
from tagger.corpus.reuters import modapte_split
from tagger.corpus.sources import (
    MAX_FILE_BYTES,
    article_from_plain_text,
    close_source,
    finish,
    is_documentation,
    iter_files,
    open_path,
    open_source,
    text_lines,
)
from tagger.corpus.tabular import CSV_DEFAULT_COLUMNS
from tagger.errors import InputError
from tagger.hygiene import sanitize_article
from tagger.writers import write_jsonl

__all__ = [
    "CSV_DEFAULT_COLUMNS",
    "FORMATS",
    "MAX_FILE_BYTES",
    "ReadOptions",
    "ReadReport",
    "ReadUnit",
    "Skip",
    "article_from_plain_text",
    "detect_format",
    "is_documentation",
    "iter_files",
    "modapte_split",
    "path_units",
    "prepare_inputs",
    "read_corpus",
    "read_inputs",
    "read_stdin",
    "read_stdin_stream",
    "read_unit",
    "write_jsonl",
]

STDIN = "<stdin>"
SNIFF_LINES = 16  # non-blank lines looked at to tell JSONL from plain text on a stream
SNIFF_BYTES = 1024 * 1024


def _strip_suffixes(path: Path) -> str:
    name = path.name.lower()
    return name[:-3] if name.endswith(".gz") else name


def detect_format(path: Path) -> str | None:
    """Format of one path by its name and, for folders, its layout."""
    if path.is_dir():
        try:
            entries = [p for p in path.iterdir() if not p.name.startswith(".")]
            subdirs = [p for p in entries if p.is_dir()]
            files = [p for p in entries if p.is_file()]
            other = ("jsonl", "csv", "reuters", "html")
            # a tree of saved pages (archive/2024/page.html) is not a folder per label
            if (
                subdirs
                and not any(detect_format(f) in other for f in files)
                and all(any(c.is_file() for c in d.iterdir()) for d in subdirs)
                and not any(
                    detect_format(c) == "html" for d in subdirs for c in d.iterdir() if c.is_file()
                )
            ):
                return "folders"
        except OSError:
            return None  # an unreadable folder: reported when it is walked
        return None
    name = _strip_suffixes(path)
    if name.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    if name.endswith((".csv", ".tsv")):
        return "csv"
    if name.endswith((".sgm", ".sgml")):
        return "reuters"
    if name.endswith((".html", ".htm", ".xhtml")):
        return "html"
    if name.endswith((".txt", ".text")):
        return "text"
    return None


SPECIAL_FILE = "not a regular file (a pipe, socket or device): give it as an input of its own"


def _is_stream(path: Path) -> bool:
    """A pipe or device (`<(cat x.jsonl)`, a FIFO, /dev/stdin): read as a stream."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    return not stat.S_ISREG(mode) and not stat.S_ISDIR(mode)


def read_corpus(
    paths: Iterable[str | Path],
    fmt: str = "auto",
    report: ReadReport | None = None,
    options: ReadOptions | None = None,
) -> Iterator[Article]:
    """Read Articles from files and folders in any supported format.

    Nothing is dropped silently: every record that does not become an Article is
    recorded in `report.skipped` with its file, line and reason.
    """
    yield from read_inputs(paths, fmt, report, options, stdin=False)


def read_inputs(
    paths: Iterable[str | Path],
    fmt: str = "auto",
    report: ReadReport | None = None,
    options: ReadOptions | None = None,
    *,
    stdin: IO[bytes] | bool = True,
) -> Iterator[Article]:
    """Like read_corpus, and "-" among the paths reads standard input (or `stdin`) there."""
    report = report if report is not None else ReadReport()
    options = options or ReadOptions()
    items: list[str | Path] = list(paths)
    prepare_inputs(
        [raw for raw in items if not (stdin is not False and str(raw) == "-")], fmt, options
    )
    for raw in items:
        if stdin is not False and str(raw) == "-":
            stream = sys.stdin.buffer if stdin is True else stdin
            yield from read_stdin_stream(stream, report, options, fmt)  # type: ignore[arg-type]
        else:
            for unit in path_units(Path(raw), fmt):
                yield from read_unit(unit, report, options)


def prepare_inputs(paths: Iterable[str | Path], fmt: str, options: ReadOptions) -> list[Path]:
    """Before reading: check the format and that every path exists (InputError, exit 2),
    then run the formats' first passes over all inputs (their state goes to
    `options.context`). Returns the paths."""
    registry.check_format(fmt)
    checked = [Path(raw) for raw in paths]
    for path in checked:
        if not path.exists():
            raise InputError(f"{path}: no such file or folder")
    registry.load_all()
    for name, prepare in registry.PREPARERS.items():
        if fmt in ("auto", name):
            prepare(lambda name=name: _files_of_format(checked, fmt, name), options)  # type: ignore[misc]
    return checked


def _files_of_format(paths: list[Path], fmt: str, name: str) -> Iterator[Path]:
    """The files of one format among the inputs (for a first pass), walked afresh."""
    for path in paths:
        if path.is_dir() and fmt == "auto" and detect_format(path) == "folders":
            continue
        for file in iter_files(path) if path.is_dir() else [path]:
            wanted = fmt == name or (fmt == "auto" and detect_format(file) == name)
            if wanted and not _is_stream(file):  # a pipe can be read only once
                yield file


@dataclass(frozen=True)
class ReadUnit:
    """One input to read in one format (a file, a folder-per-label corpus, or a pipe), or
    one that is not read and why (`skip`). Inputs become units in input order."""

    path: Path
    fmt: str
    skip: str | None = None
    counted: bool = True  # a skipped file counts as a file read (an unreadable folder not)
    stream: bool = False  # a pipe or device: only this process can read it, once


def path_units(path: Path, fmt: str) -> Iterator[ReadUnit]:
    """The units of one input path (a folder is walked, sorted), in reading order."""
    chosen = detect_format(path) if fmt == "auto" else fmt
    if path.is_dir() and chosen != "folders":
        failed: list[ReadUnit] = []

        def unreadable(folder: Path, exc: OSError) -> None:
            reason = f"unreadable folder: {exc.strerror or exc}"
            failed.append(ReadUnit(folder, fmt, reason, counted=False))

        for child in iter_files(path, unreadable):
            yield from failed  # folders the walk failed on before reaching this file
            failed.clear()
            if _is_stream(child):  # opening a pipe nobody writes to would wait for it
                yield ReadUnit(child, fmt, SPECIAL_FILE)
                continue
            child_fmt = detect_format(child) if fmt == "auto" else fmt
            if fmt == "auto" and is_documentation(child):
                reason = "documentation file, not an article: give --input-format (-f) to read it"
                yield ReadUnit(child, fmt, reason)
            elif child_fmt is None:
                yield ReadUnit(child, fmt, "unknown format: give --input-format (-f)")
            else:
                yield ReadUnit(child, child_fmt, stream=_is_stream(child))
        yield from failed
        return
    if chosen is None and _is_stream(path):
        yield ReadUnit(path, "auto", stream=True)
    elif chosen is None:
        yield ReadUnit(path, fmt, "unknown format: give --input-format (-f)")
    else:
        yield ReadUnit(path, chosen, stream=_is_stream(path))


def read_unit(unit: ReadUnit, report: ReadReport, options: ReadOptions) -> Iterator[Article]:
    """The Articles of one unit; what cannot be read becomes a skip in `report`."""
    if unit.skip is not None:
        report.files += int(unit.counted)
        report.skip(unit.path, unit.skip)
        return
    yield from _read_file(unit.path, unit.fmt, report, options)


def _read_file(path: Path, fmt: str, report: ReadReport, options: ReadOptions) -> Iterator[Article]:
    """One file (or folder, for 'folders'; or pipe) in one format; failures become skips."""
    before = (report.records, len(report.skipped))
    try:
        if fmt != "auto":
            registry.load(fmt)
        if fmt in registry.PATH_READERS:  # it counts the files it reads
            yield from _count(registry.PATH_READERS[fmt](path, report, options), report)
        else:
            report.files += 1
            source = open_path(path, options)
            try:
                yield from _count(_read_source(source, fmt, report, options), report)
            finally:
                close_source(source)
        if (report.records, len(report.skipped)) == before:
            report.skip(path, "empty file: no records")
    except InputError as exc:
        report.skip(path, str(exc))
    except (OSError, EOFError, UnicodeError, zlib.error) as exc:
        report.skip(path, unreadable(exc))


def unreadable(exc: BaseException) -> str:
    """The skip reason for an input that failed while being read."""
    if isinstance(exc, EOFError | zlib.error):
        return f"unreadable: truncated or corrupt gzip ({exc})"
    if isinstance(exc, OSError):  # gzip.BadGzipFile too
        return f"unreadable: {exc.strerror or exc}"
    return f"unreadable: {exc}"  # broken UTF-16


def _count(articles: Iterator[Article], report: ReadReport) -> Iterator[Article]:
    """Every reader's articles: counted, and their other fields (id, labels, authors,
    url, source, meta) made as clean as the readers make title and body."""
    for article in articles:
        report.articles += 1
        yield sanitize_article(article, skip=("title", "body"))


def _read_source(
    source: Source, fmt: str, report: ReadReport, options: ReadOptions
) -> Iterator[Article]:
    if fmt == "auto":
        return _read_sniffed(source, report, options)
    reader = registry.STREAM_READERS.get(fmt)
    if reader is None:
        raise InputError(f"format {fmt!r} cannot be read from a stream")
    return reader(source, report, options)


# -- streams: stdin and pipes --------------------------------------------------------------


def read_stdin_stream(
    stream: IO[bytes], report: ReadReport, options: ReadOptions | None = None, fmt: str = "auto"
) -> Iterator[Article]:
    """Articles from standard input as they arrive; the stream is never read whole.

    With `fmt` "auto" the first records decide: JSONL when one of the first lines is a
    JSON object (a first line that is not, such as a header or a broken record, is
    skipped, not taken for a text article), HTML when it starts like a page, else one
    plain-text article. Any other format is read as that format.
    """
    options = options or ReadOptions()
    registry.check_format(fmt)
    if fmt == "folders":
        raise InputError(f"{STDIN}: format 'folders' needs a folder, not standard input")
    report.files += 1
    before = (report.records, len(report.skipped))
    try:
        source = open_source(stream, STDIN, owns=False)
        if fmt != "auto":
            registry.load(fmt)
        yield from _count(_read_source(source, fmt, report, options), report)
        if fmt != "auto" and (report.records, len(report.skipped)) == before:
            report.skip(STDIN, "empty input: no records")
    except InputError as exc:
        report.skip(STDIN, str(exc))
    except (OSError, EOFError, UnicodeError, zlib.error) as exc:
        report.skip(STDIN, unreadable(exc))


def read_stdin(
    data: bytes, report: ReadReport, options: ReadOptions | None = None, fmt: str = "auto"
) -> Iterator[Article]:
    """Standard input already read into bytes (see read_stdin_stream)."""
    return read_stdin_stream(io.BytesIO(data), report, options, fmt)


def _is_json_object(text: str) -> bool:
    try:
        return isinstance(json.loads(text), dict)
    except (ValueError, RecursionError):
        return False


def _read_sniffed(source: Source, report: ReadReport, options: ReadOptions) -> Iterator[Article]:
    """A stream of unknown format: JSONL, an HTML page, or one plain-text article."""
    start = source.head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if start.startswith((b"<!doctype html", b"<html")):
        registry.load("html")
        yield from registry.STREAM_READERS["html"](source, report, options)
        return
    lines = text_lines(source, options)
    buffered: list[tuple[int, str | None, str]] = []
    seen, size, jsonl = 0, 0, False
    for item in lines:
        buffered.append(item)
        text = item[1]
        if text is None or not text.strip():
            continue
        stripped = text.strip()
        if stripped.startswith("{") and _is_json_object(stripped):
            jsonl = True
            break
        seen += 1
        size += len(text)
        if seen >= SNIFF_LINES or size > SNIFF_BYTES:
            break
    if jsonl:
        registry.load("jsonl")
        from tagger.corpus.jsonl import read_lines

        yield from read_lines(chain(buffered, lines), source.name, report, options)
        return
    parts, total = [], 0
    for _number, text, _reason in chain(buffered, lines):
        total += len(text or "")
        if total > MAX_FILE_BYTES:
            report.records += 1
            report.skip(source.name, f"text larger than {MAX_FILE_BYTES // (1024 * 1024)} MB")
            return
        parts.append(text or "")
    report.records += 1
    if not any(part.strip() for part in parts):
        report.skip(source.name, "empty body: no text")
        return
    article = article_from_plain_text("".join(parts), None, options.source)
    finished = finish(article, source.name, report, options, None)
    if finished is not None:
        yield finished
