"""`tagger corpus import`: any input format to canonical Article JSONL, streamed.

Articles are written as they are read, so memory stays flat however big the input; only
a 20-byte content hash per article is kept, to count (or drop) exact duplicates.

With `jobs` > 1 the inputs are read by worker processes through the pipeline runner
(`tagger.pipeline.run`): the unit of work is one input file (`ReadUnit`), a batch is a few
of them, and the results come back in input order, so the output is the same bytes as with
one process. Workers parse, clean and serialise; this process deduplicates and writes.
A pipe, a skipped file, and a batch whose output would exceed `BATCH_BYTES` (one huge file)
are read here instead, as they stream, so memory stays bounded.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO

from tagger.corpus.article import Article
from tagger.corpus.dedup import content_hash
from tagger.corpus.readers import (
    ReadOptions,
    ReadReport,
    ReadUnit,
    iter_files,
    path_units,
    prepare_inputs,
    read_inputs,
    read_stdin_stream,
    read_unit,
)
from tagger.errors import ConfigError
from tagger.pipeline import BatchResult, resolve_jobs, run
from tagger.writers import atomic_write

Progress = Callable[[str, int, int], None]
UNITS_PER_BATCH = 8  # input files per batch sent to a worker
BATCH_BYTES = 8 * 1024 * 1024  # JSONL a worker returns per batch; beyond, the parent reads


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


@dataclass
class Imported:
    """One article as import writes it: its JSONL line, id, content hash and origin."""

    line: str
    id: str
    digest: str
    where: str  # its file (for --skipped), else its id

    @classmethod
    def of(cls, article: Article) -> Imported:
        return cls(
            json.dumps(article.to_dict(), ensure_ascii=False),
            article.id,
            content_hash(article),
            str(article.meta.get("path") or article.id),
        )


@dataclass
class UnitResult:
    """What a worker read from one unit: its articles and its own read report; or, with
    `report` None, nothing: the unit is left to the parent (see `ImportStage`)."""

    unit: ReadUnit
    articles: list[Imported]
    report: ReadReport | None


class ImportStage:
    """Read a batch of units in a worker process: one `UnitResult` per unit, in order.

    Skipped units and pipes are left to the parent, and so is every unit from the one whose
    output passes `budget` bytes on (a huge file is then read by the parent as it streams).
    """

    def __init__(self, options: ReadOptions, budget: int = BATCH_BYTES) -> None:
        # the first passes' state goes along; callbacks (progress) stay in the parent
        context = {k: v for k, v in options.context.items() if not callable(v)}
        self.options = replace(options, context=context)
        self.budget = budget

    def __call__(self, batch: list[ReadUnit]) -> BatchResult[UnitResult]:
        results: list[UnitResult] = []
        size = 0
        for unit in batch:
            if unit.skip is not None or unit.stream or size > self.budget:
                results.append(UnitResult(unit, [], None))
                continue
            report, articles = ReadReport(), []
            with closing(read_unit(unit, report, self.options)) as reading:
                for article in reading:
                    articles.append(Imported.of(article))
                    size += len(articles[-1].line)
                    if size > self.budget:
                        break
                else:  # read to the end
                    results.append(UnitResult(unit, articles, report))
                    continue
            results.append(UnitResult(unit, [], None))
        return BatchResult(results, len(batch))


def _read_in_workers(
    paths: list[str | Path], fmt: str, report: ReadReport, options: ReadOptions, jobs: int
) -> Iterator[Imported]:
    """The inputs' articles in input order, read by `jobs` worker processes ("-", standard
    input, is read by this process in its place)."""
    prepare_inputs([p for p in paths if str(p) != "-"], fmt, options)  # first passes, once
    units = (
        unit
        for path in paths
        for unit in (
            [ReadUnit(Path("-"), fmt, stream=True)]
            if str(path) == "-"
            else path_units(Path(path), fmt)
        )
    )
    stage = ImportStage(options, BATCH_BYTES)
    for result in run(stage, units, batch_size=UNITS_PER_BATCH, jobs=jobs):
        for done in result.items:
            if done.report is None:  # left to this process: read it here, streaming
                if done.unit.stream and str(done.unit.path) == "-":
                    reading = read_stdin_stream(sys.stdin.buffer, report, options, fmt)
                else:
                    reading = read_unit(done.unit, report, options)
                for article in reading:
                    yield Imported.of(article)
            else:
                report.merge(done.report)
                yield from done.articles


def import_corpus(
    paths: Iterable[str | Path],
    out: IO[str],
    fmt: str = "auto",
    options: ReadOptions | None = None,
    report: ReadReport | None = None,
    *,
    dedup: bool = False,
    progress: Progress = _no_progress,
    jobs: int = 1,
) -> ImportResult:
    """Read every input and write canonical JSONL to `out`; duplicates counted or dropped.

    `jobs`: worker processes reading the inputs (-1: all cores); the output is the same.
    """
    paths = list(paths)
    options = options or ReadOptions()
    options.context.setdefault("progress", progress)  # first passes report progress too
    report = report if report is not None else ReadReport()
    result = ImportResult(report)
    jobs = resolve_jobs(jobs)
    total = count_inputs(paths)
    progress("import", 0, total)
    if jobs == 1:
        records = (Imported.of(a) for a in read_inputs(paths, fmt, report, options))
    else:
        records = _read_in_workers(paths, fmt, report, options, jobs)
    first_by_hash: dict[str, str] = {}
    with closing(records):
        for record in records:
            original = first_by_hash.get(record.digest)
            if original is None:
                first_by_hash[record.digest] = record.id
            else:
                result.duplicates.append((record.id, original))
                if dedup:
                    result.dropped.append(f"{record.where}: exact duplicate of {original}")
                    progress("import", report.files, total)
                    continue
            out.write(record.line + "\n")
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
