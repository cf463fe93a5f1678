"""The format registry: what every reader shares, and where formats register themselves.

This module depends on nothing else in `tagger.corpus`. Each format lives in its own
module and registers a reader (and, if it needs one, a first pass over all inputs) here;
readers import the registry, never each other. The built-in formats are imported on first
use (`load`), as Annif loads its backends, so naming a format costs nothing until it reads.
"""

from __future__ import annotations

import importlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from tagger.errors import InputError

if TYPE_CHECKING:
    from tagger.corpus.article import Article

# Built-in formats and the module that registers each (imported on first use).
BUILTIN_FORMATS: dict[str, str] = {
    "jsonl": "tagger.corpus.jsonl",
    "csv": "tagger.corpus.tabular",
    "folders": "tagger.corpus.folders",
    "reuters": "tagger.corpus.reuters",
    "html": "tagger.corpus.html",
    "text": "tagger.corpus.textdump",
}
FORMATS = ("auto", *BUILTIN_FORMATS)
MAX_NOTES = 20  # repair notes kept word for word; the rest are only counted


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
    """What a read did: files and records seen, articles produced, what was skipped.

    Records that were kept after a repair (a lone surrogate replaced by U+FFFD) are
    counted by kind in `repairs`; the first few are also listed in `notes`.
    """

    files: int = 0
    records: int = 0
    articles: int = 0
    skipped: list[Skip] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    repairs: Counter[str] = field(default_factory=Counter)
    on_skip: Callable[[Skip], None] | None = None

    def skip(self, path: str | Path, reason: str, line: int | None = None) -> None:
        item = Skip(str(path), reason, line)
        self.skipped.append(item)
        if self.on_skip is not None:
            self.on_skip(item)

    def repair(self, path: str | Path, what: str, line: int | None = None) -> None:
        """A record kept after a repair: counted, and noted while there are few."""
        self.repairs[what] += 1
        if len(self.notes) < MAX_NOTES:
            self.notes.append(str(Skip(str(path), f"kept after repair: {what}", line)))

    def merge(self, other: ReadReport) -> None:
        """Add what another report counted (a worker's read of one input) to this one."""
        self.files += other.files
        self.records += other.records
        self.articles += other.articles
        for item in other.skipped:
            self.skip(item.path, item.reason, item.line)
        self.notes.extend(other.notes[: max(0, MAX_NOTES - len(self.notes))])
        self.repairs.update(other.repairs)

    def skipped_by_reason(self) -> Counter[str]:
        # Group by the reason's kind: the text before any detail after a colon.
        return Counter(s.reason.split(":")[0] for s in self.skipped)

    def summary(self) -> str:
        text = f"read {self.files} file(s), {self.records} record(s): {self.articles} article(s)"
        if self.skipped:
            kinds = ", ".join(f"{n} {k}" for k, n in self.skipped_by_reason().most_common())
            text += f", {len(self.skipped)} skipped ({kinds})"
        if self.repairs:
            kinds = ", ".join(f"{n} {k}" for k, n in self.repairs.most_common())
            text += f", {sum(self.repairs.values())} repaired ({kinds})"
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
    # Limits (see docs/corpus.md): one record (a JSONL line, a CSV record, an SGML record),
    # what is skimmed past a record over the limit before the rest of the file is given up,
    # and how long a named pipe (FIFO) may wait for a writer.
    max_record_bytes: int = 64 * 1024 * 1024
    max_skim_bytes: int = 1024 * 1024 * 1024
    fifo_timeout: float = 30.0


@dataclass
class Source:
    """One input opened for reading: a (gunzipped) byte stream and its first bytes.

    `head` holds the stream's first bytes (at least one whole line, up to 8 KB, unless the
    input is shorter) for sniffing; `stream` still returns them. `path` is the file, when
    there is one (None for standard input).
    """

    name: str
    stream: IO[bytes]
    head: bytes
    path: Path | None = None
    size: int | None = None  # bytes of a plain regular file, else None


# A stream reader turns one opened input into Articles; a path reader takes a path (the
# folder-per-label layout, which is many files). A preparer makes a first pass over all the
# files of its format before anything is read (cross-document evidence).
StreamReader = Callable[[Source, ReadReport, ReadOptions], Iterator["Article"]]
PathReader = Callable[[Path, ReadReport, ReadOptions], Iterator["Article"]]
Preparer = Callable[[Callable[[], Iterator[Path]], ReadOptions], None]

STREAM_READERS: dict[str, StreamReader] = {}
PATH_READERS: dict[str, PathReader] = {}
PREPARERS: dict[str, Preparer] = {}


def register_stream(name: str) -> Callable[[StreamReader], StreamReader]:
    """Register the reader of a format that reads one byte stream (a file or stdin)."""

    def wrap(func: StreamReader) -> StreamReader:
        STREAM_READERS[name] = func
        return func

    return wrap


def register_path(name: str) -> Callable[[PathReader], PathReader]:
    """Register the reader of a format that needs a path (a folder layout)."""

    def wrap(func: PathReader) -> PathReader:
        PATH_READERS[name] = func
        return func

    return wrap


def register_preparer(name: str, func: Preparer) -> None:
    """Register a first pass over all the inputs of a format."""
    PREPARERS[name] = func


def load(name: str) -> None:
    """Import the module of a built-in format (it registers itself); refuse unknown ones."""
    if name in STREAM_READERS or name in PATH_READERS:
        return
    module = BUILTIN_FORMATS.get(name)
    if module is None:
        raise InputError(f"unknown format {name!r}; expected one of {', '.join(FORMATS)}")
    importlib.import_module(module)


def load_all() -> None:
    """Import every built-in format (their first passes must be known before reading)."""
    for name in BUILTIN_FORMATS:
        load(name)


def check_format(name: str) -> None:
    """Refuse (InputError, exit 2) a format name that is neither 'auto' nor registered."""
    known = name == "auto" or name in BUILTIN_FORMATS
    if not known and name not in STREAM_READERS and name not in PATH_READERS:
        raise InputError(f"unknown format {name!r}; expected one of {', '.join(FORMATS)}")
