"""`tagger corpus import`: any input format to canonical Article JSONL, streamed.

Articles are written as they are read, so memory stays flat however big the input; only
a 20-byte content hash per article is kept, to count (or drop) exact duplicates.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from tagger.corpus.dedup import content_hash
from tagger.corpus.readers import ReadOptions, ReadReport, iter_files, read_corpus
from tagger.errors import ConfigError
from tagger.writers import atomic_write

Progress = Callable[[str, int, int], None]


def _no_progress(_stage: str, _done: int, _total: int) -> None:
    return None


@dataclass
class ImportResult:
    """What an import did, beyond the read report: written articles and duplicates."""

    report: ReadReport
    written: int = 0
    duplicates: list[tuple[str, str]] = field(default_factory=list)  # (id, id of the first)
    dropped: list[str] = field(default_factory=list)  # lines for --skipped: duplicates dropped

    def summary(self) -> str:
        text = self.report.summary() + f"; {self.written} written"
        if self.duplicates:
            text += f"; {len(self.duplicates)} exact duplicate(s)"
            text += " dropped" if self.dropped else " kept (--dedup drops them)"
        return text


def count_inputs(paths: Iterable[str | Path]) -> int:
    """How many files a run will read (the progress bar's total)."""
    total = 0
    for raw in paths:
        path = Path(raw)
        total += sum(1 for _ in iter_files(path)) if path.is_dir() else 1
    return total


def import_corpus(
    paths: Iterable[str | Path],
    out: IO[str],
    fmt: str = "auto",
    options: ReadOptions | None = None,
    report: ReadReport | None = None,
    *,
    dedup: bool = False,
    progress: Progress = _no_progress,
) -> ImportResult:
    """Read every input and write canonical JSONL to `out`; duplicates counted or dropped."""
    paths = list(paths)
    options = options or ReadOptions()
    options.context.setdefault("progress", progress)  # first passes report progress too
    report = report if report is not None else ReadReport()
    result = ImportResult(report)
    total = count_inputs(paths)
    progress("import", 0, total)
    first_by_hash: dict[str, str] = {}
    for article in read_corpus(paths, fmt, report, options):
        digest = content_hash(article)
        original = first_by_hash.get(digest)
        if original is None:
            first_by_hash[digest] = article.id
        else:
            result.duplicates.append((article.id, original))
            if dedup:
                where = article.meta.get("path") or article.id
                result.dropped.append(f"{where}: exact duplicate of {original}")
                progress("import", report.files, total)
                continue
        out.write(json.dumps(article.to_dict(), ensure_ascii=False) + "\n")
        result.written += 1
        progress("import", report.files, total)
    progress("import", total, total)
    return result


def write_skipped(result: ImportResult, path: Path) -> int:
    """The --skipped list: one 'file[:line]: reason' line per input not imported."""
    lines = [str(skip) for skip in result.report.skipped] + result.dropped
    with atomic_output(path) as handle:
        handle.write("".join(line + "\n" for line in lines))
    return len(lines)


def _inside(path: Path, folder: Path) -> bool:
    return folder in path.parents


def check_outputs(outputs: Sequence[tuple[str, Path | None]], inputs: Sequence[str]) -> None:
    """Refuse (exit 2) output paths that cannot be written or would overwrite an input.

    `outputs` pairs each option name with its path (None: not given). Checked before
    anything is read, so a bad path costs nothing and leaves no file behind.
    """
    given = [(option, path) for option, path in outputs if path is not None]
    sources = [Path(p).resolve() for p in inputs if p != "-"]
    seen: dict[Path, str] = {}
    for option, path in given:
        resolved = path.resolve()
        if resolved in seen:
            raise ConfigError(f"{path}: {option} and {seen[resolved]} are the same file")
        seen[resolved] = option
        for source in sources:
            if resolved == source or (
                source.is_dir() and _inside(resolved, source) and resolved.exists()
            ):
                raise ConfigError(f"{path}: {option} would overwrite an input ({source})")
        if resolved.is_dir():
            raise ConfigError(f"{path}: {option} is a folder, not a file")
        parent = resolved.parent
        if not parent.is_dir():
            raise ConfigError(f"{path}: {option}: folder {parent} does not exist")
        if not os.access(parent, os.W_OK | os.X_OK):
            raise ConfigError(f"{path}: {option}: folder {parent} is not writable")
        if resolved.exists() and not os.access(resolved, os.W_OK):
            raise ConfigError(f"{path}: {option}: file is not writable")


@contextmanager
def atomic_output(path: Path) -> Iterator[IO[str]]:
    """Write `path` through a hidden temporary file: renamed over it on success, removed on
    failure (see tagger.writers.atomic_write: symlinks are written through, devices directly)."""
    with atomic_write(path) as handle:
        yield handle
