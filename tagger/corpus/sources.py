"""Inputs as streams: opening files, pipes and stdin, splitting records, bounded reads.

Shared by every format (it imports no reader). Nothing here holds a whole input: record
formats read one line at a time, single-document formats read one file up to a limit.

- Files are opened without seeking, so pipes (`<(cat x.jsonl)`, a FIFO, stdin) read like
  files; gzip is recognised by its magic bytes. A named pipe that no writer opens within
  `ReadOptions.fifo_timeout` seconds is skipped instead of blocking forever.
- Lines end at b"\\n" only (never at U+2028, U+2029, NEL, form feed or a bare CR, which
  are text inside a JSON string). A line over `max_record_bytes` is skipped with its
  number; past `max_skim_bytes` without a line end the rest of the file is given up.
- Encodings: BOMs; UTF-16 without a BOM (NUL in every other byte); UTF-8 per line, with a
  detected legacy encoding for the lines that are not UTF-8. A file is "binary" only when
  its first 8 KB hold many control bytes; a single NUL costs one record, not the file.
"""

from __future__ import annotations

import codecs
import contextlib
import gzip
import io
import os
import re
import stat
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from tagger.corpus.article import Article, content_id
from tagger.corpus.registry import ReadOptions, ReadReport, Source
from tagger.corpus.text import UndecodableError, clean_text, decode_bytes
from tagger.errors import InputError

MAX_FILE_BYTES = 100 * 1024 * 1024  # single-document files larger than this are skipped
HEAD_BYTES = 8192
CHUNK = 64 * 1024
GZIP_MAGIC = b"\x1f\x8b"
MB = 1024 * 1024

# Bytes that do not occur in text: C0 controls other than tab, newlines, form feed and CR.
_CONTROL_BYTES = bytes([*range(0, 9), *range(14, 32)])


# -- paths ---------------------------------------------------------------------------------

_DOCUMENTATION = re.compile(
    r"^(readme|license|licence|copying|changelog|changes|notice|authors)([._-].*)?$", re.I
)


def is_documentation(path: Path) -> bool:
    """README, LICENSE and the like: shipped beside a corpus, not part of it."""
    return bool(_DOCUMENTATION.match(path.name))


def iter_files(
    path: Path, on_error: Callable[[Path, OSError], None] | None = None
) -> Iterator[Path]:
    """Files under a folder, sorted, hidden ones left out; unreadable folders go to on_error."""

    def failed(exc: OSError) -> None:
        if on_error is not None:
            on_error(Path(exc.filename or path), exc)

    for root, dirs, files in os.walk(path, onerror=failed):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith("."):
                yield Path(root) / name


# -- opening ---------------------------------------------------------------------------------


def _read_some(src: Any, size: int = CHUNK) -> bytes:
    """What a stream has now (up to size), without waiting to fill a buffer."""
    read1 = getattr(src, "read1", None)
    data = read1(size) if read1 is not None else src.read(size)
    return data or b""


def _read_head(src: Any) -> bytes:
    """The first bytes of a stream: until a line end, 8 KB, or the end of the input."""
    head = b""
    while len(head) < HEAD_BYTES and b"\n" not in head:
        chunk = _read_some(src, HEAD_BYTES - len(head))
        if not chunk:
            break
        head += chunk
    return head


class _Replay(io.RawIOBase):
    """A raw stream that returns `head` first, then the rest of `src` as it arrives."""

    def __init__(self, head: bytes, src: Any, closers: list[Any]) -> None:
        super().__init__()
        self._head = memoryview(head)
        self._src = src
        self._closers = closers

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._head.nbytes:
            n = min(len(buffer), self._head.nbytes)
            buffer[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = _read_some(self._src, len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            for closer in self._closers:
                closer.close()
        super().close()


def open_source(
    raw: Any, name: str, path: Path | None = None, *, owns: bool = True, size: int | None = None
) -> Source:
    """A Source over a binary stream (a file, a pipe, stdin), gunzipped when it is gzip."""
    closers = [raw] if owns else []
    head = _read_head(raw)
    stream: IO[bytes] = io.BufferedReader(_Replay(head, raw, closers), buffer_size=CHUNK)
    if head[:2] == GZIP_MAGIC:
        unzipped = gzip.GzipFile(fileobj=stream, mode="rb")
        # GzipFile does not close a file object it was given: close both.
        head = _read_head(unzipped)
        stream = io.BufferedReader(_Replay(head, unzipped, [unzipped, stream]), buffer_size=CHUNK)
        size = None
    return Source(name=name, stream=stream, head=head, path=path, size=size)


def _open_fifo(path: Path, timeout: float) -> int:
    """Open a named pipe for reading, waiting at most `timeout` s for a writer to open it."""
    result: dict[str, Any] = {}

    def opener() -> None:
        try:
            result["fd"] = os.open(path, os.O_RDONLY)
        except OSError as exc:
            result["error"] = exc

    thread = threading.Thread(target=opener, daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        # Wake the blocked open by being the writer ourselves, then give the pipe up.
        with contextlib.suppress(OSError):
            os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
        thread.join(5)
        if "fd" in result:
            os.close(result["fd"])
        raise InputError(f"named pipe: no writer opened it within {timeout:g} s")
    if "error" in result:
        raise result["error"]
    return int(result["fd"])


def open_path(path: Path, options: ReadOptions) -> Source:
    """Open a file (or a pipe such as /dev/fd/63) as a Source; never seeks."""
    info = os.stat(path)
    if stat.S_ISFIFO(info.st_mode):
        raw: Any = os.fdopen(_open_fifo(path, options.fifo_timeout), "rb", buffering=0)
        size = None
    else:
        raw = open(path, "rb", buffering=0)  # noqa: SIM115 (closed with the Source)
        size = info.st_size if stat.S_ISREG(info.st_mode) else None
    try:
        return open_source(raw, str(path), path, size=size)
    except BaseException:
        raw.close()
        raise


def close_source(source: Source) -> None:
    source.stream.close()


def read_document(source: Source, limit: int = MAX_FILE_BYTES) -> bytes:
    """The whole content of a single-document input, refusing one over `limit` bytes."""
    if source.size is not None and source.size > limit:
        raise InputError(f"file larger than {limit // MB} MB")  # not even read
    data = source.stream.read(limit + 1)
    if len(data) > limit:
        raise InputError(f"file larger than {limit // MB} MB")
    return data


# -- encodings and lines ---------------------------------------------------------------------

_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF32_LE, "utf-32-le"),  # begins with UTF-16's: test the longer one first
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


def is_binary_head(head: bytes) -> bool:
    """Many control bytes (NUL included) in the first bytes: not a text file.

    One stray NUL or control byte is a damaged record, not a binary file.
    """
    controls = len(head) - len(head.translate(None, _CONTROL_BYTES))
    return controls >= 8 and controls > 0.05 * len(head)


def sniff_encoding(head: bytes) -> tuple[str, int]:
    """(encoding, BOM length) of a line-based input from its first bytes.

    "utf-8" means UTF-8 line by line, with a detected legacy encoding for lines that are
    not; raises InputError for binary data.
    """
    for bom, name in _BOMS:
        if head.startswith(bom):
            return name, len(bom)
    sample = head[:HEAD_BYTES]
    if len(sample) >= 4 and b"\x00" in sample:
        # UTF-16 without a BOM has a NUL in every other byte of ASCII text.
        even, odd = sample[0::2], sample[1::2]
        if odd.count(0) > 0.4 * len(odd) and even.count(0) < 0.1 * len(even):
            return "utf-16-le", 0
        if even.count(0) > 0.4 * len(even) and odd.count(0) < 0.1 * len(odd):
            return "utf-16-be", 0
    if is_binary_head(sample):
        raise InputError("binary data, not text")
    return "utf-8", 0


class RecordTooLong(InputError):
    """A line without its end within the skim limit: the rest of the input is given up."""


def text_lines(source: Source, options: ReadOptions) -> Iterator[tuple[int, str | None, str]]:
    """(line number, text with its b"\\n", reason) of each line; text None when unusable.

    Lines end at "\\n" only. A line over the record limit yields None and the reason; the
    reader skims past it (at most `max_skim_bytes`, else RecordTooLong).
    """
    encoding, bom = sniff_encoding(source.head)
    if bom:
        source.stream.read(bom)
    if encoding == "utf-8":
        yield from _utf8_lines(source.stream, options)
    else:
        yield from _wide_lines(source.stream, encoding, options)


def _too_long(limit: int) -> str:
    size = f"{limit // MB} MB" if limit >= MB else f"{limit} bytes"
    return f"record too long: no line end within {size}"


def _utf8_lines(stream: IO[bytes], options: ReadOptions) -> Iterator[tuple[int, str | None, str]]:
    limit, fallback, number = options.max_record_bytes, None, 0
    while True:
        raw = stream.readline(limit + 1)
        if not raw:
            return
        number += 1
        if len(raw) > limit and not raw.endswith(b"\n"):
            yield number, None, _too_long(limit)
            _skim(stream, number, options)
            continue
        try:
            yield number, raw.decode("utf-8"), ""
            continue
        except UnicodeDecodeError:
            pass
        if fallback is not None:
            try:
                yield number, raw.decode(fallback), ""
                continue
            except UnicodeDecodeError:
                pass
        try:
            text, fallback = decode_bytes(raw)
        except UndecodableError as exc:
            yield number, None, f"undecodable line: {exc}"
            continue
        yield number, text, ""


def _skim(stream: IO[bytes], number: int, options: ReadOptions) -> None:
    """Read past the rest of an over-long line, or give the rest of the input up."""
    skimmed = 0
    while skimmed <= options.max_skim_bytes:
        part = stream.readline(CHUNK)
        if not part or part.endswith(b"\n"):
            return
        skimmed += len(part)
    raise RecordTooLong(
        f"line {number}: no line end within {options.max_skim_bytes // MB} MB: "
        "rest of the file skipped"
    )


def _wide_lines(
    stream: IO[bytes], encoding: str, options: ReadOptions
) -> Iterator[tuple[int, str | None, str]]:
    """Lines of a UTF-16/32 input: decoded as it arrives, split at "\\n" only."""
    decoder = codecs.getincrementaldecoder(encoding)()
    limit = options.max_record_bytes // 2  # characters
    pending: list[str] = []
    pending_len, number, skimming, skimmed = 0, 0, False, 0
    while True:
        chunk = _read_some(stream)
        text = decoder.decode(chunk, final=not chunk)  # UnicodeDecodeError: unreadable
        parts = text.split("\n")
        for part in parts[:-1]:
            if skimming:
                skimming = False
                continue
            number += 1
            line = "".join(pending) + part + "\n"
            pending.clear()
            pending_len = 0
            yield number, line, ""
        last = parts[-1]
        if skimming:
            skimmed += len(last)
            if skimmed > options.max_skim_bytes // 2:
                raise RecordTooLong(
                    f"line {number}: no line end within {options.max_skim_bytes // MB} MB: "
                    "rest of the file skipped"
                )
        elif last:
            pending.append(last)
            pending_len += len(last)
            if pending_len > limit:
                number += 1
                yield number, None, _too_long(options.max_record_bytes)
                pending.clear()
                pending_len, skimming, skimmed = 0, True, 0
        if not chunk:
            if pending and not skimming:
                yield number + 1, "".join(pending), ""
            return


# -- records ----------------------------------------------------------------------------------

_SURROGATE = re.compile("[\ud800-\udfff]")
SURROGATE_REPAIR = "lone surrogate replaced by U+FFFD"


def replace_surrogates(data: Any) -> tuple[Any, int]:
    """JSON data with every lone surrogate (a cut emoji, '\\ud83d') replaced by U+FFFD.

    Lone surrogates cannot be written as UTF-8; valid pairs were already joined by the
    JSON parser, so whatever surrogate is left is lone. Returns (data, replacements).
    """
    count = 0

    def fix(text: str) -> str:
        nonlocal count
        new, n = _SURROGATE.subn("\ufffd", text)
        count += n
        return new

    if isinstance(data, str):
        return fix(data), count
    stack = [data]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key in list(node):
                value = node[key]
                if isinstance(key, str) and _SURROGATE.search(key):
                    del node[key]
                    key = fix(key)
                node[key] = fix(value) if isinstance(value, str) else value
                if isinstance(value, dict | list):
                    stack.append(value)
        elif isinstance(node, list):
            for i, value in enumerate(node):
                if isinstance(value, str):
                    node[i] = fix(value)
                elif isinstance(value, dict | list):
                    stack.append(value)
    return data, count


def finish(
    article: Article,
    name: str | Path,
    report: ReadReport,
    options: ReadOptions,
    line: int | None,
    title_is_enough: bool = False,
) -> Article | None:
    """Clean an Article's text fields; None (and a skip) when it has no text.

    `title_is_enough`: a record of a structured export (JSONL, CSV) with a title and no
    body is an article (a newsflash, a headline-only wire item), as it is over HTTP. A page
    or a text file with no body is not: its title is a guess (the <title>, a first line),
    and the missing body means that no article text was found."""
    article.title = clean_text(article.title)
    article.body = clean_text(article.body)
    if title_is_enough and not article.body:
        if not article.title:
            report.skip(name, f"empty article: no title and no body: {article.id!r}", line)
            return None
    elif len(article.body) < options.min_body_chars:
        report.skip(name, f"empty body: article {article.id!r}", line)
        return None
    if options.source and not article.source:
        article.source = options.source
    return article


def article_from_plain_text(text: str, article_id: str | None, source: str | None) -> Article:
    """A clean text article: the first non-empty line is the title, the rest the body."""
    text = clean_text(text)
    title, _, body = text.partition("\n")
    if not body.strip():
        title, body = "", title
    return Article(
        id=article_id or content_id(title, body),
        title=title.strip(),
        body=body.strip(),
        source=source,
    )
