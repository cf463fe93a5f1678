"""Bad input for the engines: each one line naming the shard, counted skips, --strict,
exit codes, and nothing half-written under a final name."""

from __future__ import annotations

import gzip
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tagger.cli import app
from tests.engines.conftest import read_parts, write_shards

runner = CliRunner()


def _predict(model: Path, inputs: list[str], out: Path, *extra: str) -> Any:
    args = ["predict", "--model", str(model), "--no-entities", *inputs, "--out-dir", str(out)]
    return runner.invoke(app, [*args, *extra])


def _import(inputs: list[str], out: Path, *extra: str) -> Any:
    return runner.invoke(app, ["corpus", "import", *inputs, "--out-dir", str(out), *extra])


def _no_temporaries(out: Path) -> None:
    assert not list(out.glob(".*.partial"))
    for part in out.glob("part-*"):  # every part under its final name is complete
        assert (out / f".{part.name.split('.')[0]}.json").exists()


def test_a_shard_that_vanishes_mid_run_is_skipped_named_and_counted(
    tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tagger.engines import run

    shards = write_shards(tmp_path / "in", 3, 20)
    real = run.expand_inputs

    def expand_then_delete(*args: Any) -> Any:
        found = real(*args)
        (shards / "shard-01.jsonl").unlink()  # gone after the listing, before its task
        return found

    monkeypatch.setattr(run, "expand_inputs", expand_then_delete)
    out = tmp_path / "out"
    result = _predict(tiny_model, [str(shards)], out)
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stderr.splitlines() if "shard-01" in line]
    assert len(lines) == 1 and "vanished" in lines[0]
    assert "2 written, 0 resumed, 1 skipped" in result.stderr
    assert not (out / "part-00001.jsonl").exists()
    assert len(read_parts(out)) == 40
    manifest = json.loads((out / "_manifest.json").read_text())
    assert manifest["shards"][1]["status"] == "skipped"
    _no_temporaries(out)
    (shards / "shard-01.jsonl").write_text("")  # back for the --strict run (then gone again)
    result = _predict(tiny_model, [str(shards)], tmp_path / "strict", "--strict")
    assert result.exit_code == 1
    assert "--strict" in result.stderr


def test_a_corrupt_gzip_shard_is_named_its_skip_counted_and_strict_fails(tmp_path: Path) -> None:
    shards = write_shards(tmp_path / "in", 2, 30)
    data = gzip.compress((shards / "shard-01.jsonl").read_bytes())
    (shards / "shard-01.jsonl.gz").write_bytes(data[: len(data) // 2])  # a cut download
    (shards / "shard-01.jsonl").unlink()
    out = tmp_path / "out"
    result = _import([str(shards)], out)
    assert result.exit_code == 0, result.output
    named = [line for line in result.stderr.splitlines() if "shard-01.jsonl.gz" in line]
    assert len(named) == 1 and "unreadable" in named[0]
    assert "record(s) skipped" in result.stderr
    assert "2 written" in result.stderr  # the good shard, and what the broken one held
    _no_temporaries(out)
    assert _import([str(shards)], tmp_path / "strict", "--strict").exit_code == 1


def test_an_unreadable_shard_is_skipped_with_the_reason(tmp_path: Path) -> None:
    """As a user without read permission (as root: a forked task that drops to nobody)."""
    from tagger.engines.task import ShardJob, run_shard

    folder = Path(tempfile.mkdtemp(prefix="tagger-unreadable-"))
    try:
        folder.chmod(0o777)
        shards = write_shards(folder / "in", 2, 5)
        (folder / "in").chmod(0o755)
        out = folder / "out"
        out.mkdir(mode=0o777)
        out.chmod(0o777)
        locked = shards / "shard-01.jsonl"
        locked.chmod(0o000)

        def job(index: int, path: Path) -> ShardJob:
            shard = {"index": index, "path": str(path), "size": 0, "mtime_ns": 0, "fmt": "auto"}
            return ShardJob(kind="import", shard=shard, out_dir=str(out), run_key="k")

        assert run_shard(job(0, shards / "shard-00.jsonl"))["status"] == "done"  # warm imports
        if os.geteuid() != 0:
            result = run_shard(job(1, locked))
        else:
            reader, writer = os.pipe()
            pid = os.fork()
            if pid == 0:  # the child: a worker process without read access
                try:
                    os.setgid(65534)
                    os.setuid(65534)
                    os.write(writer, json.dumps(run_shard(job(1, locked))).encode())
                finally:
                    os._exit(0)
            os.close(writer)
            with os.fdopen(reader) as handle:
                result = json.loads(handle.read() or "{}")
            os.waitpid(pid, 0)
        assert result["status"] == "skipped" and result["skipped"] == 1
        assert result["error"] == f"{locked}: unreadable: Permission denied"
        assert not (out / "part-00001.jsonl").exists()
    finally:
        subprocess.run(["chmod", "-R", "u+rwx", str(folder)], check=False)
        subprocess.run(["rm", "-rf", str(folder)], check=False)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 128 KiB tmpfs: a real full disk (needs root and mount; skipped otherwise)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=128k", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def test_a_full_disk_in_out_dir_stops_the_run_with_one_line_and_no_half_part(
    tiny_model: Path, tmp_path: Path, small_disk: Path
) -> None:
    shards = write_shards(tmp_path / "in", 3, 60)
    out = small_disk / "out"
    result = _predict(tiny_model, [str(shards)], out)
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert any("No space left on device" in e and "shard-00.jsonl" in e for e in errors)
    assert "1 failed" in result.stderr
    assert not list(out.glob("part-*"))  # nothing half-written under a final name
    _no_temporaries(out)
    manifest = json.loads((out / "_manifest.json").read_text())
    assert manifest["complete"] is False
    assert manifest["shards"][0]["status"] == "failed"


@pytest.fixture(scope="module")
def other_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.conftest import sample_articles, train_tiny

    return train_tiny(sample_articles()[1::3], tmp_path_factory.mktemp("models") / "o", "other")


def test_out_dir_of_another_model_or_changed_inputs_is_refused(
    tiny_model: Path, other_model: Path, tmp_path: Path
) -> None:
    shards = write_shards(tmp_path / "in", 2, 10)
    out = tmp_path / "out"
    assert _predict(tiny_model, [str(shards)], out).exit_code == 0
    before = read_parts(out)
    for extra in ([], ["--resume"]):
        result = _predict(other_model, [str(shards)], out, *extra)
        assert result.exit_code == 2
        assert result.stderr.count("\n") == 1
        assert (
            "holds the parts of model tiny" in result.stderr
            and "not of model other" in result.stderr
        )
    result = _predict(tiny_model, [str(shards)], out)
    assert result.exit_code == 2 and "--resume continues it" in result.stderr
    result = _predict(tiny_model, [str(shards / "shard-00.jsonl")], out, "--resume")
    assert result.exit_code == 2 and "inputs differ" in result.stderr
    with (shards / "shard-01.jsonl").open("a", encoding="utf-8") as handle:
        handle.write(json.dumps({"id": "new", "title": "New", "body": "Added later."}) + "\n")
    result = _predict(tiny_model, [str(shards)], out, "--resume")
    assert result.exit_code == 2 and "shard-01.jsonl: changed since its part" in result.stderr
    assert read_parts(out) == before  # refused runs change nothing
    result = _import([str(shards)], out, "--resume")
    assert result.exit_code == 2 and "holds the parts of a predict run" in result.stderr


def test_a_damaged_manifest_is_refused_with_one_line_naming_it(tmp_path: Path) -> None:
    """A _manifest.json that is JSON but not of the shape tagger writes (a field of the
    wrong type) is refused like one that is not JSON, not an internal error."""
    shards = write_shards(tmp_path / "in", 2, 5)
    out = tmp_path / "out"
    assert _import([str(shards)], out).exit_code == 0
    manifest = out / "_manifest.json"
    good = json.loads(manifest.read_text(encoding="utf-8"))
    damages = [
        {"run_key": "other", "model": "tiny"},
        {"run_key": "other", "options": [1]},
        {"shards": 5},
        {"shards": ["shard-00.jsonl"]},
    ]
    for damage in damages:
        manifest.write_text(json.dumps({**good, **damage}), encoding="utf-8")
        result = _import([str(shards)], out, "--resume")
        assert result.exit_code == 2, (damage, result.output)
        assert f"{manifest}: not a tagger run manifest" in result.stderr
        assert result.stderr.count("\n") == 1


def test_resume_trusts_a_receipt_only_for_its_own_part(tmp_path: Path) -> None:
    """A receipt that names another part (copied, edited) does not make its shard done:
    the shard is computed again instead of being left without its part."""
    shards = write_shards(tmp_path / "in", 2, 5)
    out = tmp_path / "out"
    assert _import([str(shards)], out).exit_code == 0
    complete = read_parts(out)
    receipt = json.loads((out / ".part-00001.json").read_text(encoding="utf-8"))
    receipt["part"] = "part-00000.jsonl"
    receipt["part_bytes"] = (out / "part-00000.jsonl").stat().st_size
    (out / ".part-00001.json").write_text(json.dumps(receipt), encoding="utf-8")
    (out / "part-00001.jsonl").unlink()
    result = _import([str(shards)], out, "--resume")
    assert result.exit_code == 0, result.output
    assert "parts: 1 written, 1 resumed" in result.stderr
    assert read_parts(out) == complete


def test_resume_with_the_local_engine_keeps_complete_parts(
    tiny_model: Path, tmp_path: Path
) -> None:
    shards = write_shards(tmp_path / "in", 3, 10)
    out = tmp_path / "out"
    assert _predict(tiny_model, [str(shards)], out).exit_code == 0
    complete = read_parts(out)
    (out / "part-00001.jsonl").unlink()  # as if the run had stopped before this part
    (out / ".part-00001.json").unlink()
    kept = (out / "part-00000.jsonl").stat().st_mtime_ns
    result = _predict(tiny_model, [str(shards)], out, "--resume")
    assert result.exit_code == 0, result.output
    assert "parts: 1 written, 2 resumed" in result.stderr
    assert (out / "part-00000.jsonl").stat().st_mtime_ns == kept
    assert read_parts(out) == complete


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_cluster_address_that_does_not_answer_is_refused_in_seconds(
    tiny_model: Path, tmp_path: Path
) -> None:
    pytest.importorskip("distributed")
    shards = write_shards(tmp_path / "in", 1, 5)
    started = time.monotonic()
    address = f"tcp://127.0.0.1:{_free_port()}"
    result = _predict(
        tiny_model, [str(shards)], tmp_path / "out", "--engine", "dask", "--cluster", address
    )
    assert time.monotonic() - started < 10
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: cannot reach the Dask scheduler at {address}")
    assert result.stderr.count("\n") == 1
    assert not (tmp_path / "out").exists()  # refused before anything was written


def test_without_the_dask_extra_the_engine_is_refused(
    tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)
    shards = write_shards(tmp_path / "in", 1, 5)
    result = _predict(tiny_model, [str(shards)], tmp_path / "out", "--engine", "dask")
    assert result.exit_code == 2
    assert "needs the dask extra: pip install 'tagger[dask]'" in result.stderr
    assert not (tmp_path / "out").exists()


def test_engine_options_need_an_out_dir(tiny_model: Path, tmp_path: Path) -> None:
    args = ["predict", "--model", str(tiny_model), str(write_shards(tmp_path / "in", 1, 5))]
    result = runner.invoke(app, [*args, "--engine", "dask"])
    assert result.exit_code == 2 and "give --out-dir DIR" in result.stderr
    result = runner.invoke(app, [*args, "--resume"])
    assert result.exit_code == 2 and "give --out-dir DIR" in result.stderr


# -- workers that cannot run the job ------------------------------------------------------


@pytest.fixture
def scheduler() -> Iterator[Any]:
    """A scheduler with no worker of its own (workers join from subprocesses)."""
    pytest.importorskip("distributed")
    from tagger.engines.dask import local_cluster

    local = local_cluster(0)
    yield local
    local.close()


def _join_worker(address: str, prefix: list[str], python_code: str = "") -> subprocess.Popen:
    code = f"{python_code}\nfrom distributed.cli.dask_worker import main\nmain()"
    command = [*prefix, sys.executable, "-c", code, address, "--no-nanny", "--nthreads", "1"]
    return subprocess.Popen(
        [*command, "--no-dashboard"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def _with_worker(cluster: Any, worker: subprocess.Popen, run: Any) -> Any:
    import distributed

    try:
        with distributed.Client(cluster.scheduler_address, set_as_default=False) as client:
            client.wait_for_workers(1, timeout=60)
        return run()
    finally:
        worker.kill()
        worker.wait()


def test_a_worker_without_tagger_is_named_and_the_run_refused(
    tiny_model: Path, tmp_path: Path, scheduler: Any
) -> None:
    shards = write_shards(tmp_path / "in", 1, 5)
    worker = _join_worker(
        scheduler.scheduler_address, [], "import sys; sys.modules['tagger'] = None"
    )
    extra = ["--engine", "dask", "--cluster", scheduler.scheduler_address]
    result = _with_worker(
        scheduler, worker, lambda: _predict(tiny_model, [str(shards)], tmp_path / "out", *extra)
    )
    assert result.exit_code == 2
    assert result.stderr.startswith("error: worker tcp://127.0.0.1:")
    assert "cannot run tagger" in result.stderr and "install tagger[dask]" in result.stderr
    assert not list((tmp_path / "out").glob("part-*"))


def test_a_worker_that_cannot_read_the_bundle_is_named_and_the_run_refused(
    tiny_model: Path, tmp_path: Path, scheduler: Any
) -> None:
    """The worker's machine has no bundle at that path: a mount namespace hides it."""
    hide = [
        "unshare",
        "--mount",
        "sh",
        "-c",
        f'mount -t tmpfs tmpfs "{tiny_model}" && exec "$0" "$@"',
    ]
    if subprocess.run([*hide[:2], "true"], capture_output=True, check=False).returncode != 0:
        pytest.skip("cannot make a mount namespace here (needs root)")
    shards = write_shards(tmp_path / "in", 1, 5)
    worker = _join_worker(scheduler.scheduler_address, hide)
    extra = ["--engine", "dask", "--cluster", scheduler.scheduler_address]
    result = _with_worker(
        scheduler, worker, lambda: _predict(tiny_model, [str(shards)], tmp_path / "out", *extra)
    )
    assert result.exit_code == 2
    assert f"cannot load the bundle at {tiny_model.resolve()}" in result.stderr
    assert result.stderr.count("\n") == 1


def test_each_worker_verifies_the_bundle_is_the_clients(
    tiny_model: Path, tmp_path: Path, cluster: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tagger.engines import run

    monkeypatch.setattr(run, "model_fingerprint", lambda _model: "0" * 16)
    shards = write_shards(tmp_path / "in", 1, 5)
    extra = ["--engine", "dask", "--cluster", cluster.scheduler_address]
    result = _predict(tiny_model, [str(shards)], tmp_path / "out", *extra)
    assert result.exit_code == 2
    assert "is not the model the run was started with" in result.stderr


def test_vocabulary_options_reach_the_parts(tmp_path: Path) -> None:
    """--expand-broader and --vocab give the same lines with --out-dir as on stdout."""
    from tests.vocab.test_cli import SAMPLE, VOCAB_CSV

    vocab_csv = tmp_path / "v.csv"
    vocab_csv.write_text(VOCAB_CSV, encoding="utf-8")
    vocab = tmp_path / "v.sqlite"
    assert runner.invoke(app, ["vocab", "import", str(vocab_csv), "-o", str(vocab)]).exit_code == 0
    config = tmp_path / "c.toml"
    config.write_text("[tags]\ncv_folds = 2\n[sections]\ncv_folds = 2\n", encoding="utf-8")
    model = tmp_path / "m"
    train = ["train", str(SAMPLE), "-o", str(model), "--vocab", str(vocab), "-c", str(config)]
    assert runner.invoke(app, [*train, "--unmatched", "drop"]).exit_code == 0
    extra = ["--expand-broader", "--vocab", str(vocab)]
    streamed = runner.invoke(
        app,
        ["predict", "-m", str(model), str(SAMPLE), "--format", "jsonl", "--no-entities", *extra],
    )
    assert streamed.exit_code == 0
    out = tmp_path / "out"
    assert _predict(model, [str(SAMPLE)], out, *extra).exit_code == 0
    expected = sorted(line for line in streamed.stdout.splitlines() if line.strip())
    assert read_parts(out) == expected
    assert any('"source": "broader"' in line for line in expected)


def test_the_local_engine_in_two_processes_writes_the_same_parts(
    tiny_model: Path, tmp_path: Path
) -> None:
    from tagger.console import Console
    from tagger.engines.run import EngineRequest, run_engine

    shards = write_shards(tmp_path / "in", 3, 20)
    outputs = []
    for jobs in (1, 2):
        out = tmp_path / f"out{jobs}"
        request = EngineRequest(
            kind="predict",
            inputs=[str(shards)],
            out_dir=out,
            jobs=jobs,
            model_path=tiny_model,
            options={"entities": False},
        )
        assert run_engine(request, Console(quiet=True)).written == 3
        outputs.append({p.name: p.read_bytes() for p in out.glob("part-*")})
    assert outputs[0] == outputs[1] and len(outputs[0]) == 3


def test_an_out_dir_inside_the_input_folder_is_not_read_back(
    tiny_model: Path, tmp_path: Path
) -> None:
    """`predict corpus/ --out-dir corpus/out`: the second run must not take the first run's
    parts for input (they would be predicted again, and grow each time); an input given
    inside the out-dir (which its parts would replace) is refused."""
    folder = write_shards(tmp_path / "corpus", 2, 10)
    out = folder / "out"
    first = _predict(tiny_model, [str(folder)], out)
    assert first.exit_code == 0, first.output
    parts = read_parts(out)
    assert len(parts) == 20
    again = _predict(tiny_model, [str(folder)], out, "--resume")
    assert again.exit_code == 0, again.output
    assert read_parts(out) == parts
    assert "file(s) in --out-dir" in again.stderr and "left out" in again.stderr
    part = sorted(out.glob("part-*.jsonl"))[0]
    before = part.read_bytes()
    refused = _predict(tiny_model, [str(part)], out)
    assert refused.exit_code == 2
    assert "inside --out-dir" in refused.stderr
    assert part.read_bytes() == before


def test_a_failed_shard_is_reported_in_one_line() -> None:
    from tagger.engines.run import failed_result
    from tagger.engines.task import ShardJob

    job = ShardJob("predict", {"index": 3, "path": "/data/x03.jsonl"}, "/out", "key")
    # distributed's message when the client loses the scheduler holds a line break
    lost = RuntimeError("cancelled for reason: scheduler-connection-lost.\nClient lost the")
    result = failed_result(job, lost)
    assert result["status"] == "failed" and result["index"] == 3
    assert result["error"] == (
        "/data/x03.jsonl: RuntimeError: cancelled for reason: scheduler-connection-lost. "
        "Client lost the"
    )
