"""An engine run with --out-dir: shards in, part files and a manifest out, resumable.

`run_engine` is what `tagger predict|entities|corpus import --out-dir DIR` call. It
expands the inputs into shards, checks DIR (see manifest.py), sends the shards that are
not complete yet to an engine (this process, or a Dask cluster), shows one progress bar
across shards, keeps the manifest up to date and ends with a summary.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tagger.engines.manifest import (
    MANIFEST,
    open_run,
    remove_temporaries,
    run_key,
    update_entry,
    write_json_atomic,
)
from tagger.engines.shards import Shard, expand_inputs
from tagger.engines.task import ShardJob, model_fingerprint, run_shard
from tagger.errors import EXIT_FAILED, ConfigError, TaggerError

OPTION_DEFAULTS: dict[str, Any] = {"expand_broader": False, "use_cache": True, "inferred": True}
MANIFEST_EVERY = 2.0  # seconds between manifest rewrites while parts finish


class RunFailed(TaggerError):
    """The run ended, but with failed shards, or skips under --strict (exit 1)."""

    exit_code = EXIT_FAILED


@dataclass
class EngineRequest:
    """One engine run, as the CLI (or a script) asks for it."""

    kind: str  # predict | entities | import
    inputs: list[str]
    out_dir: Path
    engine: str = "local"
    cluster: str | None = None
    jobs: int = 1
    resume: bool = False
    model_path: Path | None = None
    options: dict[str, Any] = field(default_factory=dict)
    input_format: str = "auto"
    compress: bool = False
    strict: bool = False
    batch_size: int | None = None


@dataclass
class RunSummary:
    """What a run did, counted in shards (parts) and articles."""

    shards: int = 0
    written: int = 0
    resumed: int = 0
    skipped_shards: int = 0
    failed: int = 0
    articles: int = 0
    resumed_articles: int = 0
    skipped_records: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)

    def line(self, out_dir: Path) -> str:
        rate = self.articles / self.seconds if self.seconds > 0 else 0.0
        text = (
            f"parts: {self.written} written, {self.resumed} resumed, "
            f"{self.skipped_shards} skipped, {self.failed} failed (of {self.shards} shards); "
            f"{self.articles} article(s) in {self.seconds:.1f} s ({rate:.0f}/s)"
        )
        if self.resumed_articles:
            text += f", {self.resumed_articles} from resumed parts"
        if self.skipped_records:
            text += f"; {self.skipped_records} record(s) skipped"
        return f"{text} -> {out_dir}"


def _model_identity(request: EngineRequest) -> tuple[dict[str, Any] | None, Any]:
    if request.model_path is None:
        return None, None
    from tagger.api import Tagger

    path = request.model_path.resolve()
    model = Tagger.load(path)
    without_entities = request.kind == "predict" and not request.options.get("entities", True)
    if without_entities and model.featurizer.uses_entities:
        raise ConfigError(
            "this model was trained with entity features (train --entities): "
            "without entities its scores would be skewed; predict with entities"
        )
    expand = bool(request.options.get("expand_broader"))
    if request.kind == "predict":
        from tagger.engines.task import vocabulary_state, wants_vocabulary

        if wants_vocabulary(request.options):
            # refused here (a model without a vocabulary, a bad map), not on every worker
            options = request.options
            vocabulary_state(model, options.get("vocab"), expand, options.get("renames"))
    info = dict(model.model_info)
    info["path"] = str(path)
    info["fingerprint"] = model_fingerprint(model)
    return info, model


def run_engine(request: EngineRequest, console: Any) -> RunSummary:
    """Run `request`; raises TaggerError to refuse (2) or to report a failed run (1)."""
    from tagger.engines import ENGINES

    if request.engine not in ENGINES:
        raise ConfigError(f"--engine: expected one of {', '.join(ENGINES)}, got {request.engine!r}")
    if request.cluster and request.engine != "dask":
        raise ConfigError("--cluster needs --engine dask")
    from tagger.pipeline import resolve_jobs

    jobs = resolve_jobs(request.jobs)
    with _engine(request, jobs) as engine:
        return _run(request, engine, console)


class _LocalEngine:
    """Shards in this process, one after another; or in `workers` processes."""

    def __init__(self, workers: int) -> None:
        self.workers = workers

    def __enter__(self) -> _LocalEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def results(self, jobs: list[ShardJob], notify: Any) -> Iterator[dict[str, Any]]:
        if self.workers <= 1 or len(jobs) <= 1:
            for job in jobs:
                yield _guarded(job, notify)
            return
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed

        context = multiprocessing.get_context("spawn")  # no fork of a threaded parent
        with ProcessPoolExecutor(max_workers=self.workers, mp_context=context) as pool:
            futures = [pool.submit(_guarded, job) for job in jobs]
            try:
                for future in as_completed(futures):
                    yield future.result()
            finally:
                for future in futures:
                    future.cancel()


def _engine(request: EngineRequest, jobs: int) -> Any:
    if request.engine == "dask":
        from tagger.engines.dask import DaskEngine

        return DaskEngine(request.cluster, jobs)
    return _LocalEngine(jobs)


def _run(request: EngineRequest, engine: Any, console: Any) -> RunSummary:
    shards, left_out = expand_inputs(request.inputs, request.input_format, request.out_dir)
    for line in left_out:
        console.info(f"skipped {line}")
    model, _ = _model_identity(request)
    # Defaults are left out: a run asked for by the CLI or by a script is the same run.
    request.options = {
        k: v
        for k, v in request.options.items()
        if v not in (None, {}, []) and OPTION_DEFAULTS.get(k, object()) != v
    }
    options = dict(request.options, input_format=request.input_format)
    key = run_key(request.kind, model, options, request.compress)
    out_dir = request.out_dir.resolve()
    manifest, done = open_run(
        out_dir,
        kind=request.kind,
        key=key,
        model=model,
        options=options,
        shards=shards,
        resume=request.resume,
    )
    summary = RunSummary(shards=len(shards))
    for receipt in done.values():
        summary.resumed += 1
        summary.resumed_articles += int(receipt.get("articles") or 0)
    if request.resume and done:
        console.info(f"resuming: {len(done)} of {len(shards)} part(s) already complete")
    jobs_to_run = [
        ShardJob(
            kind=request.kind,
            shard=shard.to_dict(),
            out_dir=str(out_dir),
            run_key=key,
            model_path=(model or {}).get("path"),
            model_fingerprint=(model or {}).get("fingerprint"),
            options=request.options,
            compress=request.compress,
            **({"batch_size": request.batch_size} if request.batch_size else {}),
        )
        for shard in shards
        if shard.index not in done
    ]
    pending = [s for s in shards if s.index not in done]
    writer = _ManifestWriter(out_dir / MANIFEST, manifest)
    started = time.perf_counter()
    with _Progress(console, pending) as progress:
        for result in engine.results(jobs_to_run, progress.articles):
            _count(result, summary, console)
            progress.shard_done(result)
            update_entry(manifest["shards"][result["index"]], result)
            writer.maybe_write()
            if result.get("output_failure"):
                break  # the disk is full or gone: every other part would fail the same way
    summary.seconds = time.perf_counter() - started
    # what tasks killed mid-part left behind, now that another attempt completed the part
    remove_temporaries(out_dir, {e["part"] for e in manifest["shards"] if e["status"] == "done"})
    manifest["complete"] = all(e["status"] in ("done", "skipped") for e in manifest["shards"])
    manifest["summary"] = {
        k: getattr(summary, k)
        for k in ("shards", "written", "resumed", "skipped_shards", "failed", "articles")
    }
    writer.write()
    console.info(summary.line(out_dir))
    _finish(summary, request, console)
    return summary


def _count(result: dict[str, Any], summary: RunSummary, console: Any) -> None:
    status = result.get("status")
    for line in result.get("skips") or []:
        console.info(f"skipped {line}")
    hidden = int(result.get("skipped") or 0) - len(result.get("skips") or [])
    if status == "done" and hidden > 0:
        console.info(f"skipped {hidden} more record(s) of {result['path']} (see {MANIFEST})")
    for message in result.get("warnings") or []:
        console.warn(message)
    if status == "done":
        summary.written += 1
        summary.articles += int(result.get("articles") or 0)
        summary.skipped_records += int(result.get("skipped") or 0)
    elif status == "skipped":
        summary.skipped_shards += 1
        console.info(f"skipped {result.get('error')}")
    else:
        summary.failed += 1
        summary.errors.append(str(result.get("error")))
        console.error(str(result.get("error")))


def _finish(summary: RunSummary, request: EngineRequest, console: Any) -> None:
    if summary.failed:
        raise RunFailed(
            f"{summary.failed} shard(s) failed: their parts are missing; "
            "--resume computes them once the cause is fixed"
        )
    if request.strict and (summary.skipped_shards or summary.skipped_records):
        raise RunFailed(
            f"{summary.skipped_shards} shard(s) and {summary.skipped_records} record(s) "
            "skipped and --strict was given"
        )
    if summary.articles + summary.resumed_articles == 0:
        raise RunFailed(f"nothing written: no article in {', '.join(request.inputs)}")


def _guarded(job: ShardJob, notify: Any = None) -> dict[str, Any]:
    """run_shard, with an unexpected error turned into a failed shard."""
    try:
        return run_shard(job, notify)
    except Exception as exc:
        return failed_result(job, exc)


def failed_result(job: ShardJob, exc: BaseException | str) -> dict[str, Any]:
    reason = exc if isinstance(exc, str) else f"{type(exc).__name__}: {exc}"
    reason = " ".join(reason.split())  # one line: Dask's messages hold line breaks
    return {
        "index": job.shard["index"],
        "path": job.shard["path"],
        "status": "failed",
        "error": f"{job.shard['path']}: {reason}",
    }


class _ManifestWriter:
    """Rewrites the manifest at most every MANIFEST_EVERY seconds (receipts are the truth)."""

    def __init__(self, path: Path, manifest: dict[str, Any]) -> None:
        self.path, self.manifest, self.last = path, manifest, time.monotonic()

    def maybe_write(self) -> None:
        if time.monotonic() - self.last >= MANIFEST_EVERY:
            self.write()

    def write(self) -> None:
        from tagger.engines.manifest import _now

        self.manifest["updated_at"] = _now()
        write_json_atomic(self.path, self.manifest)
        self.last = time.monotonic()


class _Progress:
    """One bar across shards: parts done, articles, articles/s and ETA (by input bytes)."""

    def __init__(self, console: Any, shards: list[Shard]) -> None:
        self.console = console
        self.total_shards = len(shards)
        self.sizes = {s.index: max(s.size, 1) for s in shards}
        self.total_bytes = sum(self.sizes.values())
        self.running: dict[int, int] = {}
        self.finished_articles = 0
        self.finished_bytes = 0
        self.finished_shards = 0
        self.started = time.perf_counter()
        self.lock = threading.Lock()
        self.bar: Any = None
        self.task: Any = None

    def __enter__(self) -> _Progress:
        if self.console.quiet or not self.console.err.is_terminal or not self.total_shards:
            return self
        from rich.progress import BarColumn, Progress, TextColumn

        self.bar = Progress(
            TextColumn("parts"),
            BarColumn(),
            TextColumn("{task.fields[status]}"),
            console=self.console.err,
            transient=True,
        )
        self.bar.start()
        self.task = self.bar.add_task("parts", total=self.total_bytes, status=self._status())
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()

    def _status(self) -> str:
        articles = self.finished_articles + sum(self.running.values())
        elapsed = time.perf_counter() - self.started
        rate = articles / elapsed if elapsed > 0 else 0.0
        eta = "?"
        if self.finished_bytes:
            left = elapsed * (self.total_bytes - self.finished_bytes) / self.finished_bytes
            eta = time.strftime("%H:%M:%S", time.gmtime(left))
        return (
            f"{self.finished_shards}/{self.total_shards} · {articles} articles · "
            f"{rate:.0f}/s · ETA {eta}"
        )

    def articles(self, index: int, done: int) -> None:
        """A task's progress: `done` articles of shard `index` so far."""
        with self.lock:
            if index in self.sizes:
                self.running[index] = done
            self._refresh()

    def shard_done(self, result: dict[str, Any]) -> None:
        with self.lock:
            index = result["index"]
            self.running.pop(index, None)
            self.finished_shards += 1
            self.finished_articles += int(result.get("articles") or 0)
            self.finished_bytes += self.sizes.get(index, 0)
            self._refresh()

    def _refresh(self) -> None:
        if self.bar is not None:
            self.bar.update(self.task, completed=self.finished_bytes, status=self._status())
