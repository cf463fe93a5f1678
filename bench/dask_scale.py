"""The Dask engine against the local engine, a killed worker, and --resume after kill -9.

    .venv/bin/python bench/dask_scale.py /work/shared/data/reuters21578 --work /tmp/dask-scale \\
        [--shards 8] [--per-shard 2500] [--train 3000] [--repeat 2]

Reuters-21578 texts are replicated with new ids into --shards JSONL files of --per-shard
articles. A model is trained once (word features, no entities) on the first --train
Reuters articles. Then, each run a `tagger` process timed by the wall clock (start-up
included), with `--no-entities`:

1. throughput: `predict --jobs 2 --format jsonl` (the local engine; without --jobs when this
   tagger has none) against `predict --engine dask --jobs 2 --out-dir` (a LocalCluster of
   2 worker processes), alternated --repeat times; best of each;
2. a worker process killed (SIGKILL) when half the parts are done: the output is checked
   complete, duplicate-free and byte-identical to the uninterrupted run after sorting;
3. the client killed (kill -9) when half the parts are done, then `--resume`: the parts
   recomputed are counted against those left unfinished, and the output checked again.

Writes bench/results/dask_scale.json. The work folder is left for inspection.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import print_rows, save_results  # noqa: E402

TAGGER = [sys.executable, "-m", "tagger.cli"]


def build_shards(reuters: str, work: Path, shards: int, per_shard: int) -> Path:
    folder = work / "shards"
    marker = folder / f".built-{shards}x{per_shard}"
    if marker.exists():
        return folder
    from tagger.corpus.readers import read_corpus

    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    articles = [a for a in read_corpus([reuters], "reuters") if a.body.strip()]
    needed = shards * per_shard
    for i in range(shards):
        with (folder / f"reuters-{i:03d}.jsonl").open("w", encoding="utf-8") as handle:
            for n in range(i * per_shard, (i + 1) * per_shard):
                record = articles[n % len(articles)].to_dict()
                record["id"] = f"{record['id']}-r{n // len(articles)}"
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    print(f"{needed} articles ({len(articles)} Reuters texts replicated) in {shards} shards")
    marker.touch()
    return folder


def train_model(reuters: str, work: Path, count: int) -> Path:
    model = work / f"model-{count}"
    if (model / "manifest.json").exists():
        return model
    from tagger.api import Tagger, TrainConfig
    from tagger.classify import ModelConfig
    from tagger.corpus.readers import read_corpus
    from tagger.features import FeatureConfig

    articles = [a for a in read_corpus([reuters], "reuters") if a.body.strip() and a.tags]
    config = TrainConfig(
        features=FeatureConfig(char_ngrams=None),
        tags=ModelConfig(cv_folds=2),
        sections=ModelConfig(cv_folds=2),
        name="reuters-bench",
    )
    Tagger.train(articles[:count], config).save(model)
    return model


def has_jobs() -> bool:
    help_text = subprocess.run(
        [*TAGGER, "predict", "--help"], capture_output=True, text=True, check=True
    ).stdout
    return re.search(r"--jobs\s+-j\b", help_text) is not None


def dask_command(base: list[str], model: Path, shards: Path, out_dir: Path) -> list[str]:
    """`tagger predict --engine dask --jobs 2 --out-dir DIR`; while this tagger has no
    --jobs, the same request through the Python API (a LocalCluster of 2 workers)."""
    if has_jobs():
        return [*base, "--engine", "dask", "--jobs", "2", "--out-dir", str(out_dir)]
    code = (
        "import sys; from pathlib import Path; from tagger.console import Console; "
        "from tagger.engines.run import EngineRequest, run_engine; "
        "run_engine(EngineRequest(kind='predict', inputs=[sys.argv[1]], out_dir=Path(sys.argv[2]),"
        " engine='dask', jobs=2, resume='--resume' in sys.argv, model_path=Path(sys.argv[3]),"
        " options={'top_k': 5, 'entities': False}), Console(quiet=True))"
    )
    return [sys.executable, "-c", code, str(shards), str(out_dir), str(model)]


def timed(command: list[str], stdout: Any = subprocess.DEVNULL) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the process and every process it waited for)."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, stdout=stdout, stderr=subprocess.PIPE, text=True, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"failed ({done.returncode}): {' '.join(command)}\n{done.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def sorted_lines(out_dir: Path) -> list[bytes]:
    lines: list[bytes] = []
    for part in sorted(out_dir.glob("part-*.jsonl")):
        lines.extend(part.read_bytes().splitlines())
    return sorted(lines)


def ids(lines: list[bytes]) -> list[str]:
    return [json.loads(line)["id"] for line in lines]


def receipts(out_dir: Path) -> int:
    return len(list(out_dir.glob(".part-*.json")))


def descendants(pid: int) -> list[Any]:
    import psutil

    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def dask_workers(client_pid: int) -> list[Any]:
    """The worker processes a LocalCluster spawned (not multiprocessing's resource tracker)."""
    found = []
    for child in descendants(client_pid):
        try:
            line = " ".join(child.cmdline())
        except Exception:
            continue
        if "spawn_main" in line and "resource_tracker" not in line:
            found.append(child)
    return found


def wait_for_half(out_dir: Path, shards: int, process: subprocess.Popen) -> None:
    while receipts(out_dir) < shards // 2:
        if process.poll() is not None:
            raise SystemExit("the run ended before half of its parts were done")
        time.sleep(0.05)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("reuters")
    parser.add_argument("--work", type=Path, default=Path("/tmp/dask-scale"))
    parser.add_argument("--shards", type=int, default=8)
    parser.add_argument("--per-shard", type=int, default=2500)
    parser.add_argument("--train", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    shards = build_shards(args.reuters, work, args.shards, args.per_shard)
    model = train_model(args.reuters, work, args.train)
    total = args.shards * args.per_shard
    jobs = ["--jobs", "2"] if has_jobs() else []
    base = [*TAGGER, "predict", "--model", str(model), "--no-entities", "--quiet", str(shards)]
    local_cmd = [*base, "--output-format", "jsonl", *jobs]
    results: dict[str, Any] = {
        "articles": total,
        "shards": args.shards,
        "local_jobs": 2 if jobs else 1,
        "commands": {},
    }
    local_times, dask_times, local_cpu, dask_cpu = [], [], [], []
    reference = work / "dask-reference"
    for round_ in range(args.repeat):
        with (work / "local.jsonl").open("w") as out:
            wall, cpu = timed(local_cmd, stdout=out)
        local_times.append(wall)
        local_cpu.append(cpu)
        shutil.rmtree(reference, ignore_errors=True)
        dask_cmd = dask_command(base, model, shards, reference)
        wall, cpu = timed(dask_cmd)
        dask_times.append(wall)
        dask_cpu.append(cpu)
        print(
            f"round {round_ + 1}: local {local_times[-1]:.1f} s ({local_cpu[-1]:.1f} CPU s), "
            f"dask {dask_times[-1]:.1f} s ({dask_cpu[-1]:.1f} CPU s)"
        )
    results["commands"]["local"] = " ".join(local_cmd[2:])
    results["commands"]["dask"] = " ".join(dask_cmd[2:] if has_jobs() else dask_cmd)
    local_lines = sorted((work / "local.jsonl").read_bytes().splitlines())
    expected = sorted_lines(reference)
    results["dask_equals_local"] = expected == local_lines
    local_rate, dask_rate = total / min(local_times), total / min(dask_times)
    results.update(
        local_seconds=local_times,
        dask_seconds=dask_times,
        local_cpu_seconds=local_cpu,
        dask_cpu_seconds=dask_cpu,
        local_articles_per_s=local_rate,
        dask_articles_per_s=dask_rate,
        ratio=dask_rate / local_rate,
    )

    # A worker killed half-way.
    killed_dir = work / "dask-killed-worker"
    shutil.rmtree(killed_dir, ignore_errors=True)
    process = subprocess.Popen(
        dask_command(base, model, shards, killed_dir), stderr=subprocess.PIPE, text=True
    )
    wait_for_half(killed_dir, args.shards, process)
    victims = dask_workers(process.pid)
    victim = victims[0] if victims else None
    if victim is not None:
        os.kill(victim.pid, signal.SIGKILL)
    _, stderr = process.communicate()
    lines = sorted_lines(killed_dir)
    results["killed_worker"] = {
        "killed_pid": victim.pid if victim else None,
        "parts_done_when_killed": args.shards // 2,
        "exit_code": process.returncode,
        "summary": stderr.strip().splitlines()[-1:],
        "articles": len(lines),
        "duplicates": len(lines) - len(set(ids(lines))),
        "identical_to_uninterrupted": lines == expected,
        "temporaries_left": len(list(killed_dir.glob(".*.tmp"))),
    }

    # The client killed (kill -9) half-way, then --resume.
    resume_dir = work / "dask-resume"
    shutil.rmtree(resume_dir, ignore_errors=True)
    command = dask_command(base, model, shards, resume_dir)
    process = subprocess.Popen(command, stderr=subprocess.DEVNULL)
    wait_for_half(resume_dir, args.shards, process)
    orphans = dask_workers(process.pid)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    deadline = time.monotonic() + 60
    while any(p.is_running() and p.status() != "zombie" for p in orphans):
        if time.monotonic() > deadline:  # workers whose scheduler died: stop them ourselves
            for p in orphans:
                if p.is_running():
                    p.kill()
            break
        time.sleep(0.2)
    complete = receipts(resume_dir)
    started = time.perf_counter()
    done = subprocess.run([*command, "--resume"], stderr=subprocess.PIPE, text=True, check=False)
    resume_seconds = time.perf_counter() - started
    summary = done.stderr.strip().splitlines()[-1:] if done.stderr else []
    lines = sorted_lines(resume_dir)
    manifest = json.loads((resume_dir / "_manifest.json").read_text())
    written = manifest["summary"]["written"]  # parts computed by the resumed run
    results["client_killed_then_resume"] = {
        "parts_complete_after_kill": complete,
        "parts_recomputed": written,
        "parts_unfinished": args.shards - complete,
        "resume_exit_code": done.returncode,
        "resume_seconds": resume_seconds,
        "summary": summary,
        "articles": len(lines),
        "duplicates": len(lines) - len(set(ids(lines))),
        "identical_to_uninterrupted": lines == expected,
    }

    label = f"local engine (--jobs {results['local_jobs']})"
    print_rows(
        [
            ("run", "best seconds", "articles/s", "CPU seconds"),
            (label, f"{min(local_times):.1f}", f"{local_rate:.0f}", f"{min(local_cpu):.1f}"),
            (
                "dask LocalCluster, 2 workers",
                f"{min(dask_times):.1f}",
                f"{dask_rate:.0f}",
                f"{min(dask_cpu):.1f}",
            ),
        ]
    )
    print(
        f"dask / local throughput: {results['ratio']:.2f}x; "
        f"same lines: {results['dask_equals_local']}"
    )
    print("killed worker:", json.dumps(results["killed_worker"]))
    print("client kill -9 then --resume:", json.dumps(results["client_killed_then_resume"]))
    print(f"results in {save_results('dask_scale', results)}")


if __name__ == "__main__":
    main()
