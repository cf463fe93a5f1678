"""`evaluate --json` writes its report through tagger.writers: never in place."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tagger import writers
from tagger.cli import app

runner = CliRunner()


def test_evaluate_json_on_a_full_disk_keeps_the_old_report(
    cli_bundle: Path, corpus_files: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    report = tmp_path / "report.json"
    report.write_text('{"old": true}\n')
    args = [
        "evaluate",
        "--model",
        str(cli_bundle),
        str(corpus_files["test"]),
        "--json",
        str(report),
    ]
    good = runner.invoke(app, args)
    assert good.exit_code == 0, good.output
    written = json.loads(report.read_text())
    assert "tags" in written or "sections" in written

    def fsync(_fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    before = report.read_bytes()
    monkeypatch.setattr(writers.os, "fsync", fsync)
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert errors == [f"error: {report}: cannot write: No space left on device"]
    assert report.read_bytes() == before  # not a fragment of a new one
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]
