"""CSV and TSV with a header row, streamed record by record.

Columns are found by name or mapped with `--csv-column`. A bad record costs that record
only, named by the line it starts on: a field over the size limit, a NUL byte, more fields
than the header, and a quote that is never closed. An unterminated quote would swallow the
rows after it into one field; a record that spans several lines and does not have the
header's number of fields is taken for one, so only its first line is skipped and reading
starts again on the next line.
"""

from __future__ import annotations

import csv
import re
from collections import deque
from collections.abc import Iterator
from typing import Any

from tagger.corpus.article import Article, content_id, parse_date
from tagger.corpus.registry import ReadOptions, ReadReport, Source, register_stream
from tagger.corpus.sources import MB, finish, text_lines
from tagger.errors import InputError

CSV_DEFAULT_COLUMNS = {
    "id": ("id", "article_id", "guid"),
    "title": ("title", "headline", "heading"),
    "body": ("body", "text", "content", "article"),
    "section": ("section", "category", "label"),
    "tags": ("tags", "keywords", "labels"),
    "published": ("published", "date", "published_at", "pubdate"),
    "authors": ("authors", "author", "byline"),
    "url": ("url", "link"),
}
SNIFF_LINES = 50
SNIFF_CHARS = 20_000
_BARE_CR = re.compile(r"(?<=\r)(?!\n|$)")


class _Lines:
    """Lines fed to csv.reader, remembering those of the current record (to re-read them)."""

    def __init__(self, source: Iterator[tuple[int, str | None, str]]) -> None:
        self._source = source
        self.pending: deque[tuple[int, str]] = deque()
        self.record: list[tuple[int, str]] = []
        self.unusable: list[tuple[int, str]] = []  # (line, reason) of undecodable lines

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        if self.pending:
            item = self.pending.popleft()
        else:
            while True:
                number, text, reason = next(self._source)
                if text is not None:
                    break
                self.unusable.append((number, reason))
            item = (number, text)
        self.record.append(item)
        return item[1]

    def replay(self, items: list[tuple[int, str]]) -> None:
        self.pending.extendleft(reversed(items))


def _split_bare_cr(lines: Iterator[tuple[int, str | None, str]]) -> Iterator[Any]:
    """Old Mac files end lines with a bare CR: csv reads those as line ends too."""
    for number, text, reason in lines:
        if text is None or "\r" not in text:
            yield number, text, reason
            continue
        for part in _BARE_CR.split(text):
            yield number, part, reason


def _columns(fieldnames: list[str], options: ReadOptions) -> dict[str, int]:
    header = {name.strip().lower(): i for i, name in enumerate(fieldnames)}
    columns: dict[str, int] = {}
    for field_name, candidates in CSV_DEFAULT_COLUMNS.items():
        mapped = options.csv_columns.get(field_name)
        if mapped is not None:
            if mapped.lower() not in header:
                raise InputError(f"column {mapped!r} (for {field_name}) not in the header")
            columns[field_name] = header[mapped.lower()]
            continue
        for candidate in candidates:
            if candidate in header:
                columns[field_name] = header[candidate]
                break
    if "body" not in columns:
        raise InputError("no body column: name one with --csv-column body=NAME")
    return columns


def _dialect(lines: _Lines, source: Source, options: ReadOptions) -> Any:
    delimiter = options.csv_delimiter
    if delimiter is None:
        name = source.name.lower().removesuffix(".gz")
        if name.endswith(".tsv"):
            delimiter = "\t"
        else:
            sample: list[tuple[int, str]] = []
            chars = 0
            for text in lines:
                sample.append(lines.record[-1])
                chars += len(text)
                if len(sample) >= SNIFF_LINES or chars > SNIFF_CHARS:
                    break
            lines.record.clear()
            lines.replay(sample)
            try:
                text = "".join(t for _, t in sample)[:SNIFF_CHARS]
                delimiter = csv.Sniffer().sniff(text, delimiters=",;\t|").delimiter
            except csv.Error:
                delimiter = ","
    return {"delimiter": delimiter}


@register_stream("csv")
def read_csv(source: Source, report: ReadReport, options: ReadOptions) -> Iterator[Article]:
    """CSV/TSV with a header row; columns found by name or mapped with `csv_columns`."""
    field_limit = min(options.max_record_bytes, 50 * MB)
    csv.field_size_limit(field_limit)
    name = source.name
    lines = _Lines(_split_bare_cr(text_lines(source, options)))
    dialect = _dialect(lines, source, options)
    reader = csv.reader(lines, **dialect)
    try:
        fieldnames = next(reader)
    except StopIteration:
        return
    except csv.Error as exc:
        raise InputError(f"unreadable header: {exc}") from exc
    columns = _columns(fieldnames, options)
    width = len(fieldnames)
    while True:
        lines.record = []
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            row, error = None, str(exc)
        for number, reason in lines.unusable:
            report.records += 1
            report.skip(name, reason, number)
        lines.unusable.clear()
        if not lines.record:
            continue
        first = lines.record[0][0]
        spans = len({number for number, _ in lines.record}) > 1
        if row is None or (spans and len(row) != width):
            report.records += 1
            if row is None:
                reason = f"malformed row: {error}"
                if "field larger than field limit" in error:
                    reason = f"malformed row: a field larger than {field_limit // MB} MB"
            else:
                reason = "malformed row: a quote that is not closed (read again from the next line)"
            report.skip(name, reason, first)
            # the record's first line is the bad one: read the rest again as new rows
            rest = [item for item in lines.record if item[0] != first]
            lines.record = []
            lines.replay(rest)
            reader = csv.reader(lines, **dialect)
            continue
        if not row or (len(row) == 1 and not row[0].strip()):
            continue  # a blank line
        report.records += 1
        if len(row) > width:
            report.skip(name, "malformed row: more fields than the header", first)
            continue
        if any("\x00" in value for value in row):
            report.skip(name, "malformed row: NUL byte in the record", first)
            continue
        article = _article(row, columns, options)
        finished = finish(article, name, report, options, first, title_is_enough=True)
        if finished is not None:
            yield finished


def _article(row: list[str], columns: dict[str, int], options: ReadOptions) -> Article:
    def get(field_name: str) -> str:
        index = columns.get(field_name)
        return row[index].strip() if index is not None and index < len(row) else ""

    tags = re.split(rf"[{re.escape(options.tag_separator)}|]", get("tags"))
    title, body = get("title"), get("body")
    authors = [a.strip() for a in re.split(r";|,| and ", get("authors")) if a.strip()]
    return Article(
        id=get("id") or content_id(title, body),
        title=title,
        body=body,
        section=get("section") or None,
        tags=[t.strip() for t in tags if t.strip()],
        published=parse_date(get("published")),
        authors=authors,
        url=get("url") or None,
    )
