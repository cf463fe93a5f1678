"""Writing output files safely: every command that writes a file goes through here.

`atomic_write(path)` writes a temporary file in the target's folder, flushes and fsyncs
it, and renames it over the target: readers see the old file or the new one, never a
fragment, and a failure (a full disk) leaves the old file as it was and no temporary
file behind. A path that is a symlink is written THROUGH the link (its target is
replaced, the link stays a link); a target that is not a regular file (/dev/stdout, a
pipe, a terminal) is written directly. A write that fails is one line naming the path,
exit 1 (the command ran but failed), never a traceback.
"""

from __future__ import annotations

import errno
import json
import os
import secrets
import stat
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from tagger.errors import EXIT_FAILED, EXIT_REFUSED, TaggerError

if TYPE_CHECKING:
    from tagger.corpus.article import Article


class OutputError(TaggerError):
    """An output that could not be written (a full disk, a read-only folder): exit 1."""

    exit_code = EXIT_FAILED


class OutputRefused(OutputError):
    """An output path that cannot be opened at all (no such folder, not allowed): exit 2."""

    exit_code = EXIT_REFUSED


def _failed(path: str | Path, exc: OSError, opening: bool = False) -> OutputError:
    """One line naming the path; exit 2 when it cannot even be opened, else exit 1."""
    refused = opening and exc.errno in (errno.ENOENT, errno.ENOTDIR, errno.EACCES, errno.EISDIR)
    cls = OutputRefused if refused else OutputError
    return cls(f"{path}: cannot write: {exc.strerror or exc}")


# errno values of a write that failed for want of room or of a working disk: the command
# ran but could not finish (exit 1), unlike a path that cannot be opened (exit 2).
WRITE_FAILURES = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO})

STDOUT = "<stdout>"


def named_output(handle: IO[Any], path: str | Path) -> Any:
    """`handle` with its write errors naming `path` (OutputError, exit 1)."""
    return _Output(handle, path)


class _Discarded(Exception):
    """The block asked to keep the old file (see _Output.discard)."""


class _Output:
    """A text or binary handle whose write errors name the output path."""

    def __init__(self, handle: IO[Any], path: str | Path) -> None:
        self._handle = handle
        self._path = path
        self.discarded = False

    def discard(self) -> None:
        """Keep the old file: what was written is thrown away when the block ends."""
        self.discarded = True

    def write(self, data: Any) -> int:
        try:
            return self._handle.write(data)
        except BrokenPipeError:
            raise  # the reader went away (| head): the CLI ends quietly
        except OSError as exc:
            raise _failed(self._path, exc) from exc

    def writelines(self, lines: Iterable[Any]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        try:
            self._handle.flush()
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise _failed(self._path, exc) from exc

    def __getattr__(self, name: str) -> Any:
        return getattr(self._handle, name)


def output_target(path: Path) -> tuple[Path, bool]:
    """(the file to write, whether to write it atomically) for an output path.

    A symlink is followed to its final target, so the link itself is never replaced. A
    target that exists and is not a regular file (a device such as /dev/stdout, a pipe)
    cannot be renamed over: it is written directly.
    """
    if str(path).startswith(("/dev/", "/proc/")):
        # /dev/stdout, /dev/fd/N: whatever the shell connected (even a redirected file,
        # which must not be renamed away under the shell's open descriptor)
        return path, False
    try:
        mode = os.stat(path).st_mode  # follows the links, as opening it would
    except FileNotFoundError:
        return Path(os.path.realpath(path)), True  # new, or a link to a file not made yet
    except OSError:
        return path, False
    if not stat.S_ISREG(mode):
        # /dev/stdout -> /proc/self/fd/1 -> 'pipe:[123]' has no path to rename over
        return path, False
    return Path(os.path.realpath(path)), True


@contextmanager
def atomic_write(
    path: str | Path, *, binary: bool = False, encoding: str = "utf-8"
) -> Iterator[Any]:
    """Open `path` for writing through a temporary file renamed over it on success.

    On any error inside the block, or when it calls `handle.discard()`, the temporary file
    is removed and the old file (if any) is left untouched. OSErrors of the writing itself
    become OutputError (exit 1). A target written directly cannot be discarded.
    """
    path = Path(path)
    mode = "wb" if binary else "w"
    kwargs: dict[str, Any] = {} if binary else {"encoding": encoding, "newline": ""}
    target, atomic = output_target(path)
    if not atomic:
        try:
            handle = open(target, mode, **kwargs)  # noqa: SIM115
        except OSError as exc:
            raise _failed(path, exc, opening=True) from exc
        with handle:
            output = _Output(handle, path)
            yield output
            output.flush()
        return
    temporary = target.with_name(f".{target.name}.{secrets.token_hex(4)}.partial")
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as exc:
        raise _failed(path, exc, opening=True) from exc
    try:
        with os.fdopen(fd, mode, **kwargs) as handle:
            output = _Output(handle, path)
            yield output
            output.flush()
            if output.discarded:
                raise _Discarded
            try:
                if target.exists():
                    os.chmod(temporary, stat.S_IMODE(target.stat().st_mode))
                os.fsync(handle.fileno())
                os.replace(temporary, target)
            except OSError as exc:
                raise _failed(path, exc) from exc
    except _Discarded:
        temporary.unlink(missing_ok=True)
        return
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _sync_folder(target.parent)


def _sync_folder(folder: Path) -> None:
    """Make the rename itself durable (best effort: not every file system allows it)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_text(path: str | Path, text: str) -> None:
    """Write a whole text file atomically (see atomic_write)."""
    with atomic_write(path) as handle:
        handle.write(text)


def write_jsonl(articles: Iterable[Article], out: IO[str]) -> int:
    """Write Articles as canonical JSONL; returns the count."""
    count = 0
    for article in articles:
        out.write(json.dumps(article.to_dict(), ensure_ascii=False) + "\n")
        count += 1
    return count
