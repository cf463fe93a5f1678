"""The Dask engine on a LocalCluster (processes, 2 workers): same output as the local
engine, exactly-once parts when a worker is killed, --resume after a client crash."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tagger.cli import app
from tests.engines.conftest import ids_of, read_parts, write_shards

pytest.importorskip("distributed")
runner = CliRunner()


def _request(**kwargs: Any) -> Any:
    from tagger.engines.run import EngineRequest

    defaults = {"kind": "predict", "options": {"top_k": 5, "entities": False}}
    return EngineRequest(**{**defaults, **kwargs})


def _run(request: Any) -> Any:
    from tagger.console import Console
    from tagger.engines.run import run_engine

    return run_engine(request, Console(quiet=True))


def _local_lines(model: Path, inputs: list[str]) -> list[str]:
    result = runner.invoke(
        app, ["predict", "--model", str(model), "--no-entities", "--format", "jsonl", *inputs]
    )
    assert result.exit_code == 0, result.output
    return sorted(line for line in result.stdout.splitlines() if line.strip())


def test_dask_parts_equal_the_local_engine_and_the_manifest_says_what_was_done(
    tiny_model: Path, shard_folder: Path, cluster: Any, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    args = ["predict", "--model", str(tiny_model), "--no-entities", str(shard_folder)]
    args += ["--engine", "dask", "--cluster", cluster.scheduler_address, "--out-dir", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "parts: 4 written, 0 resumed, 0 skipped, 0 failed (of 4 shards)" in result.stderr
    assert read_parts(out) == _local_lines(tiny_model, [str(shard_folder)])
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == [
        "_manifest.json",
        "part-00000.jsonl",
        "part-00001.jsonl",
        "part-00002.jsonl",
        "part-00003.jsonl",
    ]
    manifest = json.loads((out / "_manifest.json").read_text())
    assert manifest["complete"] is True
    assert manifest["model"]["name"] == "tiny" and manifest["model"]["id"]
    assert manifest["tagger_version"]
    first = manifest["shards"][0]
    shard = shard_folder / "shard-00.jsonl"
    assert first["path"] == str(shard.resolve()) and first["size"] == shard.stat().st_size
    assert first["part"] == "part-00000.jsonl" and first["status"] == "done"
    assert first["articles"] == 60 and first["records"] == 60 and first["skipped"] == 0
    import hashlib

    assert first["sha256"] == hashlib.sha256(shard.read_bytes()).hexdigest()
    assert not list(out.glob(".*.partial"))


def test_a_local_cluster_of_its_own_for_corpus_import(shard_folder: Path, tmp_path: Path) -> None:
    """Without --cluster the engine starts (and stops) a LocalCluster; gzipped parts."""
    reference = tmp_path / "ref.jsonl"
    result = runner.invoke(app, ["corpus", "import", str(shard_folder), "-o", str(reference)])
    assert result.exit_code == 0, result.output
    out = tmp_path / "out"
    args = ["corpus", "import", str(shard_folder), "--engine", "dask", "--out-dir", str(out)]
    result = runner.invoke(app, [*args, "--gzip-parts"])
    assert result.exit_code == 0, result.output
    assert len(list(out.glob("part-*.jsonl.gz"))) == 4
    assert read_parts(out) == sorted(reference.read_text(encoding="utf-8").splitlines())


def _pids(client: Any) -> dict[str, int]:
    return client.run(os.getpid)


def test_a_worker_killed_mid_task_ends_in_complete_duplicate_free_output(
    tiny_model: Path, tmp_path: Path
) -> None:
    import distributed

    from tagger.engines.dask import local_cluster

    shards = write_shards(tmp_path / "in", 4, 150, copies=3)
    reference = tmp_path / "reference"
    _run(_request(inputs=[str(shards)], out_dir=reference, model_path=tiny_model))
    with local_cluster(2) as local, distributed.Client(local, set_as_default=False) as client:
        pids = _pids(client)
        out = tmp_path / "out"
        box: dict[str, Any] = {}
        runner_thread = threading.Thread(
            target=lambda: box.update(
                summary=_run(
                    _request(
                        inputs=[str(shards)],
                        out_dir=out,
                        model_path=tiny_model,
                        engine="dask",
                        cluster=local.scheduler_address,
                        batch_size=10,
                    )
                )
            )
        )
        runner_thread.start()
        killed = None
        deadline = time.monotonic() + 60
        while killed is None and time.monotonic() < deadline:
            for address, keys in client.processing().items():
                if keys and address in pids and list(out.glob(".part-*.partial")):
                    os.kill(pids[address], signal.SIGKILL)
                    killed = (address, keys[0])
                    break
            time.sleep(0.01)
        runner_thread.join(120)
    assert killed is not None, "no task was seen running"
    summary = box["summary"]
    assert summary.written == 4 and summary.failed == 0
    lines = read_parts(out)
    assert lines == read_parts(reference)  # complete, and the same bytes
    assert len(ids_of(lines)) == len(set(ids_of(lines))) == 600
    assert not list(out.glob(".*.partial"))
    index = int(str(killed[1]).rsplit("-", 1)[1])
    receipt = json.loads((out / f".part-{index:05d}.json").read_text())
    assert receipt["worker"] != killed[0]  # the killed worker's task ran again elsewhere


def test_resume_after_the_client_is_killed_recomputes_only_unfinished_parts(
    tiny_model: Path, cluster: Any, tmp_path: Path
) -> None:
    shards = write_shards(tmp_path / "in", 8, 120, copies=4)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "tagger.cli", "predict", "--model", str(tiny_model)]
    command += ["--no-entities", str(shards), "--engine", "dask", "--out-dir", str(out)]
    command += ["--cluster", cluster.scheduler_address, "--quiet"]
    client_process = subprocess.Popen(command, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 90
    while len(list(out.glob(".part-*.json"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    client_process.kill()  # kill -9: no chance to clean up or write the manifest
    client_process.wait()
    assert client_process.returncode == -signal.SIGKILL
    # Tasks that were running go on without their client and keep their parts: wait for
    # them (a running task has a temporary file) so that the count below is final.
    quiet_since = time.monotonic()
    while time.monotonic() - quiet_since < 1.0 and time.monotonic() < deadline:
        if list(out.glob(".part-*.partial")):
            quiet_since = time.monotonic()
        time.sleep(0.05)
    finished = {p.name: p.stat() for p in out.glob("part-*.jsonl")}
    receipts = list(out.glob(".part-*.json"))
    assert 2 <= len(receipts) < 8
    from tagger.console import Console
    from tagger.engines.run import run_engine

    summary = run_engine(
        _request(
            inputs=[str(shards)],
            out_dir=out,
            model_path=tiny_model,
            engine="dask",
            cluster=cluster.scheduler_address,
            resume=True,
        ),
        Console(quiet=True),
    )
    assert summary.resumed == len(receipts)
    assert summary.written == 8 - len(receipts)
    for name, before in finished.items():
        if (out / f".{name.split('.')[0]}.json").exists():
            after = (out / name).stat()
            assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    lines = read_parts(out)
    assert len(lines) == 960 and len(set(ids_of(lines))) == 960
    assert lines == _local_lines(tiny_model, [str(shards)])
    manifest = json.loads((out / "_manifest.json").read_text())
    assert manifest["complete"] is True


def test_renames_reach_the_dask_workers_and_leave_the_next_run_alone(
    tiny_model: Path, cluster: Any, tmp_path: Path
) -> None:
    """predict --renames on a cluster renames as on stdout; a later run on the same
    workers (which keep the model loaded) without the map is not renamed."""
    renames = tmp_path / "renames.json"
    merged = runner.invoke(
        app, ["tags", "merge", "Donald Trump", "President Trump", "--map", str(renames)]
    )
    assert merged.exit_code == 0, merged.output
    shards = write_shards(tmp_path / "in", 2, 20)
    local = _local_lines(tiny_model, [str(shards), "--renames", str(renames)])
    assert any('"President Trump"' in line for line in local)
    assert not any('"Donald Trump"' in line for line in local)
    base = ["predict", "--model", str(tiny_model), "--no-entities", str(shards)]
    base += ["--engine", "dask", "--cluster", cluster.scheduler_address]
    out = tmp_path / "renamed"
    result = runner.invoke(app, [*base, "--out-dir", str(out), "--renames", str(renames)])
    assert result.exit_code == 0, result.output
    assert read_parts(out) == local
    plain = tmp_path / "plain"
    assert runner.invoke(app, [*base, "--out-dir", str(plain)]).exit_code == 0
    assert read_parts(plain) == _local_lines(tiny_model, [str(shards)])
    assert any('"Donald Trump"' in line for line in read_parts(plain))
