"""A folder per section, one text file per article, first line the title (BBC layout)."""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterator
from pathlib import Path

from tagger.corpus.article import Article
from tagger.corpus.registry import ReadOptions, ReadReport, register_path
from tagger.corpus.sources import (
    close_source,
    finish,
    is_documentation,
    iter_files,
    open_path,
    read_document,
)
from tagger.corpus.text import UndecodableError, decode_bytes
from tagger.errors import InputError


def read_file_text(path: Path, options: ReadOptions) -> str:
    """Decoded text of a single-document file; InputError with a reason."""
    try:
        source = open_path(path, options)
        try:
            data = read_document(source)
        finally:
            close_source(source)
    except InputError:
        raise
    except (OSError, EOFError, zlib.error) as exc:
        if isinstance(exc, EOFError | zlib.error):
            raise InputError(f"unreadable: truncated or corrupt gzip ({exc})") from exc
        raise InputError(f"unreadable: {exc.strerror or exc}") from exc
    try:
        return decode_bytes(data)[0]
    except UndecodableError as exc:
        raise InputError(str(exc)) from exc


def _subfolders(path: Path, report: ReadReport) -> tuple[list[Path], list[Path]]:
    try:
        entries = sorted(p for p in path.iterdir() if not p.name.startswith("."))
    except OSError as exc:
        report.skip(path, f"unreadable folder: {exc.strerror or exc}")
        return [], []
    return [p for p in entries if p.is_dir()], [p for p in entries if p.is_file()]


@register_path("folders")
def read_folders(path: Path, report: ReadReport, options: ReadOptions) -> Iterator[Article]:
    """A folder per section, one text file per article, first line the title (BBC layout)."""
    if not path.is_dir():
        raise InputError("format 'folders' needs a folder with one subfolder per label")
    label_dirs, loose_files = _subfolders(path, report)
    for loose in loose_files:
        # Files beside the label folders have no label: say so rather than drop them.
        report.files += 1
        reason = "documentation file" if is_documentation(loose) else "not in a label folder"
        report.skip(loose, f"{reason}: a folder-per-label corpus has its articles in subfolders")

    def unreadable(folder: Path, exc: OSError) -> None:
        report.skip(folder, f"unreadable folder: {exc.strerror or exc}")

    for label_dir in label_dirs:
        for file in iter_files(label_dir, unreadable):
            report.files += 1
            report.records += 1
            try:
                text = read_file_text(file, options)
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
            finished = finish(article, file, report, options, None)
            if finished is not None:
                yield finished
