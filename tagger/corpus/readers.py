"""Readers: every input format becomes a stream of Articles, with a report of what was skipped."""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import re
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from tagger.corpus.article import Article, content_id, parse_date
from tagger.corpus.text import UndecodableError, clean_text, decode_bytes, looks_binary
from tagger.errors import InputError

FORMATS = ("auto", "jsonl", "csv", "folders", "reuters", "html", "text")
MAX_FILE_BYTES = 100 * 1024 * 1024  # single-document files larger than this are skipped
GZIP_MAGIC = b"\x1f\x8b"


@dataclass
class Skip:
    """One input (file or record) that was not turned into an Article, and why."""

    path: str
    reason: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line is not None else self.path
        return f"{where}: {self.reason}"


@dataclass
class ReadReport:
    """What a read did: files and records seen, articles produced, what was skipped."""

    files: int = 0
    records: int = 0
    articles: int = 0
    skipped: list[Skip] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    on_skip: Callable[[Skip], None] | None = None

    def skip(self, path: str | Path, reason: str, line: int | None = None) -> None:
        item = Skip(str(path), reason, line)
        self.skipped.append(item)
        if self.on_skip is not None:
            self.on_skip(item)

    def skipped_by_reason(self) -> Counter[str]:
        # Group by the reason's kind: the text before any detail after a colon.
        return Counter(s.reason.split(":")[0] for s in self.skipped)

    def summary(self) -> str:
        text = f"read {self.files} file(s), {self.records} record(s): {self.articles} article(s)"
        if self.skipped:
            kinds = ", ".join(f"{n} {k}" for k, n in self.skipped_by_reason().most_common())
            text += f", {len(self.skipped)} skipped ({kinds})"
        return text


@dataclass
class ReadOptions:
    """Options shared by the readers."""

    csv_columns: dict[str, str] = field(default_factory=dict)
    csv_delimiter: str | None = None
    tag_separator: str = ";"
    source: str | None = None
    min_body_chars: int = 1
    tag_vocabulary: list[str] = field(default_factory=list)
    # Batch-level state a reader prepared in a first pass over all inputs (see PREPARERS).
    context: dict[str, Any] = field(default_factory=dict)


Reader = Callable[[Path, ReadReport, ReadOptions], Iterator[Article]]
READERS: dict[str, Reader] = {}
# Per format, a first pass over all input paths before reading (cross-document evidence).
Preparer = Callable[[list[Path], str, ReadOptions], None]
PREPARERS: dict[str, Preparer] = {}


def register(name: str) -> Callable[[Reader], Reader]:
    def wrap(func: Reader) -> Reader:
        READERS[name] = func
        return func

    return wrap


def open_binary(path: Path) -> IO[bytes]:
    """Open a file for reading bytes, transparently gunzipping."""
    handle = path.open("rb")
    if handle.read(2) == GZIP_MAGIC:
        handle.close()
        return gzip.open(path, "rb")  # type: ignore[return-value]
    handle.seek(0)
    return handle


def read_bytes(path: Path, limit: int = MAX_FILE_BYTES) -> bytes:
    """Whole (decompressed) content of a single-document file, refusing huge ones."""
    with open_binary(path) as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise InputError(f"file larger than {limit // (1024 * 1024)} MB")
    return data


def read_text(path: Path, limit: int = MAX_FILE_BYTES) -> tuple[str, str]:
    """Decoded text of a file; raises InputError with a reason."""
    try:
        data = read_bytes(path, limit)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise InputError(f"unreadable: {exc}") from exc
    try:
        return decode_bytes(data)
    except UndecodableError as exc:
        raise InputError(str(exc)) from exc


def _strip_suffixes(path: Path) -> str:
    name = path.name.lower()
    return name[:-3] if name.endswith(".gz") else name


def detect_format(path: Path) -> str | None:
    """Format of one path by its name and, for folders, its layout."""
    if path.is_dir():
        subdirs = [p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")]
        files = [p for p in path.iterdir() if p.is_file() and not p.name.startswith(".")]
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


_DOCUMENTATION = re.compile(
    r"^(readme|license|licence|copying|changelog|changes|notice|authors)([._-].*)?$", re.I
)


def is_documentation(path: Path) -> bool:
    """README, LICENSE and the like: shipped beside a corpus, not part of it."""
    return bool(_DOCUMENTATION.match(path.name))


def iter_files(path: Path) -> Iterator[Path]:
    """Files under a folder, sorted, hidden ones left out."""
    for root, dirs, files in os.walk(path):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith("."):
                yield Path(root) / name


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
    if fmt not in FORMATS:
        raise InputError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    report = report if report is not None else ReadReport()
    options = options or ReadOptions()
    checked = [Path(raw) for raw in paths]
    for path in checked:
        if not path.exists():
            raise InputError(f"{path}: no such file or folder")
    for name, prepare in PREPARERS.items():
        if fmt in ("auto", name):
            prepare(checked, fmt, options)
    for path in checked:
        yield from _read_path(path, fmt, report, options)


def _read_path(path: Path, fmt: str, report: ReadReport, options: ReadOptions) -> Iterator[Article]:
    chosen = detect_format(path) if fmt == "auto" else fmt
    if path.is_dir() and chosen != "folders":
        for child in iter_files(path):
            child_fmt = detect_format(child) if fmt == "auto" else fmt
            if fmt == "auto" and is_documentation(child):
                report.files += 1
                report.skip(child, "documentation file, not an article: give --format to read it")
                continue
            if child_fmt is None:
                report.files += 1
                report.skip(child, "unknown format: give --format")
                continue
            yield from _read_file(child, child_fmt, report, options)
        return
    if chosen is None:
        report.files += 1
        report.skip(path, "unknown format: give --format")
        return
    if path.is_dir():
        yield from _count(READERS["folders"](path, report, options), report)
        return
    yield from _read_file(path, chosen, report, options)


def _read_file(path: Path, fmt: str, report: ReadReport, options: ReadOptions) -> Iterator[Article]:
    reader = READERS.get(fmt)
    if reader is None:
        report.files += 1
        report.skip(path, f"no reader for format {fmt!r}")
        return
    report.files += 1
    before = (report.records, len(report.skipped))
    try:
        yield from _count(reader(path, report, options), report)
        if (report.records, len(report.skipped)) == before:
            report.skip(path, "empty file: no records")
    except InputError as exc:
        report.skip(path, str(exc))
    except OSError as exc:
        report.skip(path, f"unreadable: {exc.strerror or exc}")
    except (EOFError, UnicodeError, zlib.error) as exc:  # truncated gzip, broken UTF-16
        report.skip(path, f"unreadable: {exc}")


def _count(articles: Iterator[Article], report: ReadReport) -> Iterator[Article]:
    for article in articles:
        report.articles += 1
        yield article


def _finish(
    article: Article, path: Path, report: ReadReport, options: ReadOptions, line: int | None
) -> Article | None:
    """Clean an Article's text fields; None (and a skip) when it has no body."""
    article.title = clean_text(article.title)
    article.body = clean_text(article.body)
    if len(article.body) < options.min_body_chars:
        report.skip(path, f"empty body: article {article.id!r}", line)
        return None
    if options.source and not article.source:
        article.source = options.source
    return article


# -- JSONL --------------------------------------------------------------------------


def _jsonl_lines(path: Path) -> Iterator[tuple[int, str | None, str]]:
    """(line number, text or None when undecodable, reason) for each line of a JSONL file."""
    with open_binary(path) as handle:
        head = handle.read(4)
        handle.seek(0) if hasattr(handle, "seek") else None
        if head.startswith((b"\xff\xfe", b"\xfe\xff")):
            stream = io.TextIOWrapper(handle, encoding="utf-16")
            for number, text in enumerate(stream, 1):
                yield number, text, ""
            return
        if looks_binary(handle.read(8192)):
            raise InputError("binary data, not text")
        handle.seek(0)
        for number, raw in enumerate(handle, 1):
            if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            try:
                yield number, raw.decode("utf-8"), ""
            except UnicodeDecodeError:
                try:
                    text, encoding = decode_bytes(raw)
                    yield number, text, f"decoded as {encoding}"
                except UndecodableError as exc:
                    yield number, None, str(exc)


@register("jsonl")
def read_jsonl(path: Path, report: ReadReport, options: ReadOptions) -> Iterator[Article]:
    """The canonical format: one JSON object a line with the Article fields."""
    for number, text, reason in _jsonl_lines(path):
        if text is None:
            report.records += 1
            report.skip(path, f"undecodable line: {reason}", number)
            continue
        if not text.strip():
            continue
        report.records += 1
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            report.skip(path, f"invalid JSON: {exc.msg} at column {exc.colno}", number)
            continue
        except RecursionError:
            report.skip(path, "invalid JSON: nested too deeply", number)
            continue
        try:
            article = Article.from_dict(data, default_id=None)
        except ValueError as exc:
            report.skip(path, f"invalid record: {exc}", number)
            continue
        finished = _finish(article, path, report, options, number)
        if finished is not None:
            yield finished


# -- CSV ----------------------------------------------------------------------------

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


@register("csv")
def read_csv(path: Path, report: ReadReport, options: ReadOptions) -> Iterator[Article]:
    """CSV/TSV with a header row; columns found by name or mapped with `csv_columns`."""
    text, _encoding = read_text(path)
    delimiter = options.csv_delimiter
    if delimiter is None:
        if _strip_suffixes(path).endswith(".tsv"):
            delimiter = "\t"
        else:
            try:
                delimiter = csv.Sniffer().sniff(text[:20000], delimiters=",;\t|").delimiter
            except csv.Error:
                delimiter = ","
    csv.field_size_limit(50 * 1024 * 1024)
    rows = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = {name.strip().lower(): name for name in (rows.fieldnames or [])}
    columns: dict[str, str] = {}
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
    line = 1
    for row in rows:
        line = rows.line_num
        report.records += 1
        if None in row:
            report.skip(path, "malformed row: more fields than the header", line)
            continue

        def get(name: str, row: dict[str, Any] = row) -> str:
            column = columns.get(name)
            return (row.get(column) or "").strip() if column else ""

        tags_text = get("tags")
        tags = [t for t in re.split(rf"[{re.escape(options.tag_separator)}|]", tags_text)]
        tags = [t.strip() for t in tags if t.strip()]
        title, body = get("title"), get("body")
        authors = [a.strip() for a in re.split(r";|,| and ", get("authors")) if a.strip()]
        article = Article(
            id=get("id") or content_id(title, body),
            title=title,
            body=body,
            section=get("section") or None,
            tags=tags,
            published=parse_date(get("published")),
            authors=authors,
            url=get("url") or None,
        )
        finished = _finish(article, path, report, options, line)
        if finished is not None:
            yield finished


# -- folder per label -----------------------------------------------------------------


@register("folders")
def read_folders(path: Path, report: ReadReport, options: ReadOptions) -> Iterator[Article]:
    """A folder per section, one text file per article, first line the title (BBC layout)."""
    if not path.is_dir():
        raise InputError("format 'folders' needs a folder with one subfolder per label")
    for loose in sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith(".")):
        # Files beside the label folders have no label: say so rather than drop them.
        report.files += 1
        reason = "documentation file" if is_documentation(loose) else "not in a label folder"
        report.skip(loose, f"{reason}: a folder-per-label corpus has its articles in subfolders")
    for label_dir in sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for file in iter_files(label_dir):
            report.files += 1
            report.records += 1
            try:
                text, _encoding = read_text(file)
            except InputError as exc:
                report.skip(file, str(exc))
                continue
            text = text.replace("\r\n", "\n")
            title, _, body = text.strip().partition("\n")
            rel = file.relative_to(path)
            article = Article(
                id=str(rel.with_suffix("")).replace(os.sep, "/"),
                title=title,
                body=body,
                section=label_dir.name,
                source=options.source,
                meta={"path": str(rel)},
            )
            finished = _finish(article, file, report, options, None)
            if finished is not None:
                yield finished


# -- Reuters-21578 SGML ---------------------------------------------------------------

_REUTERS_RECORD = re.compile(r"<REUTERS(?P<attrs>[^>]*)>(?P<content>.*?)</REUTERS>", re.S)
_ATTR = re.compile(r'(\w+)="([^"]*)"')
_D = re.compile(r"<D>(.*?)</D>", re.S)
_NUMERIC_ENTITY = re.compile(r"&#(\d+);")


def _tag(content: str, name: str) -> str | None:
    match = re.search(rf"<{name}[^>]*>(.*?)</{name}>", content, re.S)
    return match.group(1) if match else None


def _sgml_text(text: str) -> str:
    text = _NUMERIC_ENTITY.sub(
        lambda m: " " if int(m.group(1)) < 32 else chr(int(m.group(1))), text
    )
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return text


def _reflow_wire(text: str) -> str:
    """Join wire copy's hard-wrapped lines into paragraphs (indented lines start one)."""
    paragraphs: list[list[str]] = []
    for raw in text.split("\n"):
        if not raw.strip():
            if paragraphs and paragraphs[-1]:
                paragraphs.append([])
            continue
        if raw.startswith((" ", "\t")) and paragraphs and paragraphs[-1]:
            paragraphs.append([])
        if not paragraphs:
            paragraphs.append([])
        paragraphs[-1].append(raw.strip())
    return "\n\n".join(" ".join(p) for p in paragraphs if p)


@register("reuters")
def read_reuters(path: Path, report: ReadReport, options: ReadOptions) -> Iterator[Article]:
    """Original Reuters-21578 SGML (gzipped or not).

    TOPICS become tags; PLACES, PEOPLE, ORGS, EXCHANGES, COMPANIES, DATE and the
    LEWISSPLIT/CGISPLIT/TOPICS attributes are kept in meta (ModApte: lewissplit and
    topics == "YES"). The DATELINE stays at the head of the body, as wire copy prints it.
    """
    data = read_bytes(path, limit=1024 * 1024 * 1024)
    text = data.decode("latin-1")  # ASCII with one stray 0xFC byte in the distribution
    if "<REUTERS" not in text:
        raise InputError("no <REUTERS> records: not a Reuters-21578 SGML file")
    line, counted_to = 1, 0
    for match in _REUTERS_RECORD.finditer(text):
        report.records += 1
        line += text.count("\n", counted_to, match.start())
        counted_to = match.start()
        attrs = dict(_ATTR.findall(match.group("attrs")))
        content = match.group("content")
        newid = attrs.get("NEWID", "")

        def labels(name: str, content: str = content) -> list[str]:
            block = _tag(content, name) or ""
            return [d.strip() for d in _D.findall(block)]

        text_block = _tag(content, "TEXT") or ""
        title = _sgml_text(_tag(text_block, "TITLE") or "").strip()
        dateline = " ".join(_sgml_text(_tag(text_block, "DATELINE") or "").split())
        body = _tag(text_block, "BODY")
        if body is None:
            # TYPE="BRIEF"/"UNPROC" records: the text sits directly inside <TEXT>.
            body = re.sub(r"<[^>]+>.*?</[^>]+>", "", text_block, flags=re.S)
        body = _reflow_wire(_sgml_text(body))
        body = re.sub(r"\s*Reuter\s*$", "", body).strip()
        if dateline and body:
            body = f"{dateline} {body}"
        date_text = (_tag(content, "DATE") or "").strip()
        article = Article(
            id=f"reuters-{newid}" if newid else content_id(title, body),
            title=title,
            body=body,
            tags=labels("TOPICS"),
            published=parse_date(date_text),
            source=options.source or "reuters21578",
            meta={
                "newid": newid,
                "oldid": attrs.get("OLDID"),
                "lewissplit": attrs.get("LEWISSPLIT"),
                "cgisplit": attrs.get("CGISPLIT"),
                "topics_attr": attrs.get("TOPICS"),
                "places": labels("PLACES"),
                "people": labels("PEOPLE"),
                "orgs": labels("ORGS"),
                "exchanges": labels("EXCHANGES"),
                "companies": labels("COMPANIES"),
                "date": date_text,
                "dateline": dateline,
            },
        )
        finished = _finish(article, path, report, options, line)
        if finished is not None:
            yield finished


def modapte_split(articles: Iterable[Article]) -> tuple[list[Article], list[Article]]:
    """Reuters-21578 ModApte train and test sets (TOPICS="YES")."""
    train, test = [], []
    for article in articles:
        if article.meta.get("topics_attr") != "YES":
            continue
        split = article.meta.get("lewissplit")
        if split == "TRAIN":
            train.append(article)
        elif split == "TEST":
            test.append(article)
    return train, test


def write_jsonl(articles: Iterable[Article], out: IO[str]) -> int:
    """Write Articles as canonical JSONL; returns the count."""
    count = 0
    for article in articles:
        out.write(json.dumps(article.to_dict(), ensure_ascii=False) + "\n")
        count += 1
    return count


# -- plain text and stdin ---------------------------------------------------------------


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


def read_stdin(
    data: bytes, report: ReadReport, options: ReadOptions | None = None
) -> Iterator[Article]:
    """Standard input: JSONL when it starts with an object, otherwise one plain-text article."""
    options = options or ReadOptions()
    report.files += 1
    try:
        text, _encoding = decode_bytes(data)
    except UndecodableError as exc:
        report.skip("<stdin>", str(exc))
        return
    if text.lstrip().startswith("{"):
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            report.records += 1
            try:
                article = Article.from_dict(json.loads(line))
            except json.JSONDecodeError as exc:
                report.skip("<stdin>", f"invalid JSON: {exc.msg} at column {exc.colno}", number)
                continue
            except RecursionError:
                report.skip("<stdin>", "invalid JSON: nested too deeply", number)
                continue
            except ValueError as exc:
                report.skip("<stdin>", f"invalid record: {exc}", number)
                continue
            finished = _finish(article, Path("<stdin>"), report, options, number)
            if finished is not None:
                report.articles += 1
                yield finished
        return
    report.records += 1
    article = article_from_plain_text(text, None, options.source)
    finished = _finish(article, Path("<stdin>"), report, options, None)
    if finished is not None:
        report.articles += 1
        yield finished


# Readers and first passes defined in their own modules register themselves on import:
# "html" (saved pages) and "text" (scraped text dumps; clean text passes through intact).
from tagger.corpus import html as _html  # noqa: E402, F401
from tagger.corpus import textdump as _textdump  # noqa: E402, F401
