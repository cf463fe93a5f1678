"""Input shards: the unit of work of an engine run (one input file, or one folder per label).

INPUT arguments are files, folders or glob patterns. A folder is walked for the files a
reader knows (hidden files and `_`-prefixed ones such as `_manifest.json` are left out,
as Spark and Hadoop do), except a folder-per-label corpus, which is one shard.
"""

from __future__ import annotations

import glob
import hashlib
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tagger.errors import InputError

GLOB_CHARS = frozenset("*?[")


@dataclass(frozen=True)
class Shard:
    """One input of a run, with what identifies its content (size, mtime; sha256 later)."""

    index: int
    path: str  # absolute
    size: int
    mtime_ns: int
    fmt: str  # the reader: "auto" lets the reader pick by name

    @property
    def part(self) -> str:
        """The part file's stem: part-00000, part-00001, ..."""
        return f"part-{self.index:05d}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _ignored(path: Path) -> bool:
    return path.name.startswith((".", "_"))


def _files_under(folder: Path) -> list[Path]:
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith((".", "_")))
        found.extend(Path(root) / name for name in sorted(files) if not _ignored(Path(name)))
    return found


def _expand(raw: str) -> list[Path]:
    path = Path(raw)
    if path.exists():
        return [path]
    if GLOB_CHARS & set(raw):
        matches = sorted(glob.glob(raw, recursive=True))
        if not matches:
            raise InputError(f"{raw}: no file matches this pattern")
        return [Path(m) for m in matches if not _ignored(Path(m))]
    raise InputError(f"{raw}: no such file or folder")


def expand_inputs(
    inputs: list[str], fmt: str = "auto", out_dir: Path | None = None
) -> tuple[list[Shard], list[str]]:
    """Shards for INPUT arguments, in the order given, and lines for what was left out.

    Refuses (InputError, exit 2) stdin, a missing path, a pattern that matches nothing, and
    an input inside `out_dir` (the run's parts would replace it); a folder's files inside
    `out_dir` (an earlier run's parts) are left out, not read as input.
    """
    from tagger.corpus.readers import detect_format, is_documentation

    if "-" in inputs:
        raise InputError("-: an engine run reads files, not stdin (give files, folders or globs)")
    out = out_dir.resolve() if out_dir is not None else None

    def in_out_dir(path: Path) -> bool:
        return out is not None and path.resolve().is_relative_to(out)

    paths: list[Path] = []
    left_out: list[str] = []
    for raw in inputs:
        for path in _expand(raw):
            if in_out_dir(path):
                raise InputError(f"{path}: inside --out-dir {out_dir}: its parts would replace it")
            if path.is_dir():
                if fmt == "folders" or (fmt == "auto" and detect_format(path) == "folders"):
                    paths.append(path)
                    continue
                outputs = 0
                for child in _files_under(path):
                    if in_out_dir(child):
                        outputs += 1
                    elif fmt == "auto" and is_documentation(child):
                        left_out.append(f"{child}: documentation file, not an article")
                    elif fmt == "auto" and detect_format(child) is None:
                        left_out.append(f"{child}: unknown format: give --format")
                    else:
                        paths.append(child)
                if outputs:
                    left_out.append(f"{path}: {outputs} file(s) in --out-dir {out_dir} left out")
            else:
                paths.append(path)
    shards: list[Shard] = []
    seen: set[str] = set()
    for path in paths:
        resolved = str(path.resolve())
        if resolved in seen:
            continue
        seen.add(resolved)
        try:
            stat = os.stat(resolved)
        except OSError as exc:
            left_out.append(f"{path}: unreadable: {exc.strerror or exc}")
            continue
        size = stat.st_size if not path.is_dir() else _folder_size(path)
        shards.append(Shard(len(shards), resolved, size, stat.st_mtime_ns, fmt))
    if not shards:
        raise InputError(f"{', '.join(inputs)}: no input file to read")
    return shards, left_out


def _folder_size(folder: Path) -> int:
    total = 0
    for path in _files_under(folder):
        try:
            total += path.stat().st_size
        except OSError:
            continue
    return total


def sha256_of(path: str | Path) -> str | None:
    """Hex sha256 of a file's bytes (of every file, in order, for a folder); None if unreadable."""
    digest = hashlib.sha256()
    target = Path(path)
    files = _files_under(target) if target.is_dir() else [target]
    try:
        for file in files:
            with open(file, "rb") as handle:
                while chunk := handle.read(1 << 20):
                    digest.update(chunk)
    except OSError:
        return None
    return digest.hexdigest()
