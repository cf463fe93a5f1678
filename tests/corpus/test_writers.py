"""Writers: outputs go through a temporary file and a rename; links and devices are respected.

A full disk is faked with an fsync that raises ENOSPC: the old file must stay as it was,
no temporary file may be left, and the user sees one line naming the path (exit 1).
"""

from __future__ import annotations

import errno
import json
import os
import stat
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tagger import writers
from tagger.cli import app
from tagger.writers import OutputError, atomic_write

runner = CliRunner()


def corpus(tmp_path: Path) -> Path:
    path = tmp_path / "in.jsonl"
    rows = [{"id": f"a{i}", "title": f"Story {i}", "body": f"Body {i}."} for i in range(3)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".partial"))


def full_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    def fsync(_fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(writers.os, "fsync", fsync)


def test_atomic_write_replaces_the_file_and_keeps_its_mode(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    target.write_text("old\n")
    target.chmod(0o640)
    with atomic_write(target) as handle:
        handle.write("new\n")
        assert target.read_text() == "old\n"  # readers see the old file until the rename
    assert target.read_text() == "new\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    fresh = tmp_path / "fresh.txt"
    with atomic_write(fresh) as handle:
        handle.write("x")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o666 & ~umask  # not mkstemp's 0600
    assert leftovers(tmp_path) == []


def test_an_error_inside_the_block_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    target.write_text("old\n")
    with pytest.raises(RuntimeError), atomic_write(target) as handle:
        handle.write("half")
        raise RuntimeError("reader failed")
    assert target.read_text() == "old\n"
    assert leftovers(tmp_path) == []


def test_a_symlink_is_written_through_not_replaced(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    real = shared / "corpus.jsonl"
    real.write_text("old\n")
    link = tmp_path / "link.jsonl"
    link.symlink_to(real)
    result = runner.invoke(app, ["corpus", "import", str(corpus(tmp_path)), "-o", str(link)])
    assert result.exit_code == 0, result.output
    assert link.is_symlink() and link.resolve() == real
    assert [json.loads(x)["id"] for x in real.read_text().splitlines()] == ["a0", "a1", "a2"]
    assert leftovers(tmp_path) == [] and leftovers(shared) == []


def test_a_link_to_a_pipe_is_written_directly(tmp_path: Path) -> None:
    # like -o /dev/stdout: the target is no regular file and must stay what it is
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    link = tmp_path / "out.jsonl"
    link.symlink_to(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    result = runner.invoke(app, ["corpus", "import", str(corpus(tmp_path)), "-o", str(link)])
    reader.join(20)
    assert result.exit_code == 0, result.output
    assert link.is_symlink() and stat.S_ISFIFO(fifo.stat().st_mode)
    assert [json.loads(x)["id"] for x in received[0].decode().splitlines()] == ["a0", "a1", "a2"]


def test_a_full_disk_names_the_path_exits_1_and_keeps_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = corpus(tmp_path)
    out = tmp_path / "out" / "corpus.jsonl"
    out.parent.mkdir()
    out.write_text('{"id": "old"}\n')
    full_disk(monkeypatch)
    result = runner.invoke(app, ["corpus", "import", str(src), "-o", str(out)])
    assert result.exit_code == 1
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert errors == [f"error: {out}: cannot write: No space left on device"]
    assert "Traceback" not in result.output
    assert out.read_text() == '{"id": "old"}\n'
    assert leftovers(out.parent) == []


def test_a_full_disk_while_writing_is_an_output_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "report.json"
    full_disk(monkeypatch)
    with pytest.raises(OutputError) as caught, atomic_write(target) as handle:
        handle.write("{}")
    assert str(caught.value) == f"{target}: cannot write: No space left on device"
    assert caught.value.exit_code == 1
    assert not target.exists() and leftovers(tmp_path) == []


def test_discard_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "export.jsonl"
    target.write_text("an earlier export\n")
    with atomic_write(target) as handle:
        handle.write("")
        handle.discard()
    assert target.read_text() == "an earlier export\n" and leftovers(tmp_path) == []


def test_devices_and_descriptors_are_written_directly(tmp_path: Path) -> None:
    # -o /dev/stdout (a pipe, a terminal, or a file the shell redirected to) is never
    # renamed over; neither is any other device
    for name in ("/dev/stdout", "/dev/null", "/dev/fd/1"):
        assert writers.output_target(Path(name)) == (Path(name), False)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    assert writers.output_target(fifo) == (fifo, False)
    plain = tmp_path / "file.jsonl"
    assert writers.output_target(plain) == (plain.resolve(), True)
