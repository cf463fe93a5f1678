"""One shard, start to finish, on whichever process runs it (a Dask worker or this one).

A task reads its shard, runs the batches through the model and writes
`DIR/part-NNNNN.jsonl[.gz]` under a hidden temporary name that is renamed when the part
is complete; then a hidden receipt `DIR/.part-NNNNN.json` records what it did. A task
that dies leaves only its temporary file; one that runs twice (Dask retries the task of
a killed worker) renames the same bytes into place: each part is written exactly once.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tagger.pipeline import iter_batches

KINDS = ("predict", "entities", "import")
BATCH_SIZE = 256
MAX_SKIP_LINES = 50  # skips listed per shard in its receipt (all are counted)

Notify = Callable[[int, int], None]  # (shard index, articles done in this shard)


@dataclass(frozen=True)
class ShardJob:
    """Everything a task needs, as plain data (it travels to the workers)."""

    kind: str
    shard: dict[str, Any]
    out_dir: str
    run_key: str
    model_path: str | None = None
    model_fingerprint: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    compress: bool = False
    batch_size: int = BATCH_SIZE

    @property
    def part_name(self) -> str:
        return f"part-{self.shard['index']:05d}.jsonl" + (".gz" if self.compress else "")

    @property
    def receipt_name(self) -> str:
        return f".part-{self.shard['index']:05d}.json"


class SetupFailure(Exception):
    """This process cannot run the task at all (no bundle, a different bundle)."""


# -- the model, loaded once per process ---------------------------------------------------

_MODELS: dict[tuple[str, str | None], Any] = {}


def model_fingerprint(model: Any) -> str:
    """What identifies a bundle's content: its files' checksums (the manifest otherwise)."""
    manifest = model.manifest
    basis = manifest.get("files") or manifest
    payload = json.dumps([manifest.get("model_id"), basis], sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def load_model(path: str, fingerprint: str | None) -> Any:
    """The bundle at `path`, verified by `Tagger.load` and checked against the client's."""
    key = (path, fingerprint)
    if key not in _MODELS:
        from tagger.api import Tagger
        from tagger.errors import TaggerError

        try:
            model = Tagger.load(path)
        except (TaggerError, OSError) as exc:
            raise SetupFailure(f"cannot load the bundle at {path}: {exc}") from None
        if fingerprint is not None and model_fingerprint(model) != fingerprint:
            raise SetupFailure(
                f"the bundle at {path} is not the model the run was started with "
                "(every worker must read the same bundle)"
            )
        _MODELS[key] = model
    return _MODELS[key]


_VOCABS: dict[tuple[int, str | None, bool, str | None], Any] = {}


def vocabulary_state(
    model: Any, vocab: str | None, expand: bool, renames: str | None = None
) -> Any:
    """The model's vocabulary state (`vocab` as the current vocabulary, the rename map
    `renames` added to the model's), once per process; set on the model, so that its
    predictions follow it."""
    key = (id(model), vocab, expand, renames)
    if key not in _VOCABS:
        from tagger.vocab.cli_support import prediction_vocabulary

        _VOCABS[key] = prediction_vocabulary(
            model, Path(vocab) if vocab else None, expand, Path(renames) if renames else None
        )
    return _VOCABS[key]


def wants_vocabulary(options: dict[str, Any]) -> bool:
    """A predict run whose options change the model's labels (vocabulary, renames)."""
    return bool(options.get("expand_broader") or options.get("vocab") or options.get("renames"))


def check_worker(model_path: str | None, fingerprint: str | None) -> str | None:
    """Run on every worker before a run: None when it can work, else why not."""
    try:
        if model_path is not None:
            load_model(model_path, fingerprint)
    except SetupFailure as exc:
        return str(exc)
    return None


# -- the work of one batch ----------------------------------------------------------------


_STAGES: dict[str, Any] = {}


def _stage(kind: str, model: Any, options: dict[str, Any], key: str) -> Any:
    """The pipeline's stage for this run (tagger.pipeline), made and set up once per process."""
    if key not in _STAGES:
        from tagger import pipeline

        if kind == "predict":
            plan = pipeline.plan_entities(
                model,
                bool(options.get("entities", True)),
                options.get("spacy_model"),
                use_cache=options.get("use_cache", True),
            )
            stage: Any = pipeline.PredictStage(
                model,
                plan,
                pipeline.PredictOptions(
                    top_k=options.get("top_k", 5),
                    explain=True,
                    entities=bool(options.get("entities", True)),
                    spacy_model=options.get("spacy_model"),
                    use_cache=options.get("use_cache", True),
                ),
            )
        else:
            types = options.get("types")
            stage = pipeline.EntityStage(
                pipeline.EntityOptions(
                    spacy_model=options.get("spacy_model"),
                    use_cache=options.get("use_cache", True),
                    types=tuple(types) if types else None,
                    inferred=options.get("inferred", True),
                )
            )
        stage.setup()
        _STAGES.clear()  # one run at a time per process: keep only the latest stage
        _STAGES[key] = stage
    return _STAGES[key]


def _lines(
    job: ShardJob, batch: list[Any], model: Any, warn: Callable[[str], None]
) -> Iterator[str]:
    """One JSONL line per article of `batch`, as the command writes with --output-format jsonl."""
    kind, options = job.kind, job.options
    if kind == "import":
        for article in batch:
            yield json.dumps(article.to_dict(), ensure_ascii=False)
        return
    state = None
    expand = kind == "predict" and bool(options.get("expand_broader"))
    if kind == "predict":
        # this run's vocabulary and renames (a worker's cached model may have served others)
        if wants_vocabulary(options):
            state = vocabulary_state(model, options.get("vocab"), expand, options.get("renames"))
        model._vocabulary_state = state
    result = _stage(kind, model, options, job.run_key)(batch)
    for message in result.warnings:
        warn(message)
    if expand and state is not None:
        from tagger.vocab.training import expand_broader

        expand_broader(state, result.items)
    for item in result.items:
        yield json.dumps(item.to_dict(), ensure_ascii=False)


def _read_options(options: dict[str, Any]) -> Any:
    from tagger.corpus.readers import ReadOptions

    read = ReadOptions(
        source=options.get("source"), csv_columns=dict(options.get("csv_columns") or {})
    )
    read.tag_vocabulary = list(options.get("tag_vocabulary") or [])
    read.context["progress"] = lambda _stage, _done, _total: None
    return read


def write_json(path: Path, data: dict[str, Any]) -> None:
    """A receipt or a manifest, atomically (temporary file, fsync, rename)."""
    from tagger.writers import write_text

    write_text(path, json.dumps(data, indent=1, ensure_ascii=False) + "\n")


def _where() -> str:
    try:
        from distributed import get_worker

        return str(get_worker().address)
    except (ImportError, ValueError):
        return f"pid {os.getpid()}"


def run_shard(job: ShardJob, notify: Notify | None = None) -> dict[str, Any]:
    """Process one shard; returns its receipt (status done, skipped or failed)."""
    from tagger.corpus.readers import ReadReport, read_corpus
    from tagger.errors import InputError

    shard = job.shard
    path = shard["path"]
    started = time.perf_counter()
    result: dict[str, Any] = {
        "index": shard["index"],
        "path": path,
        "run_key": job.run_key,
        "status": "skipped",
        "part": None,
        "records": 0,
        "articles": 0,
        "skipped": 0,
        "skips": [],
        "warnings": [],
        "error": None,
        "worker": _where(),
    }
    # The input as this task sees it: gone or unreadable shards are skipped, named.
    try:
        stat = os.stat(path)
        if not os.path.isdir(path):
            with open(path, "rb") as handle:
                handle.read(1)
    except FileNotFoundError:
        result["error"] = f"{path}: no such file (it vanished after the run started)"
        result["skipped"] = 1
        return result
    except OSError as exc:
        result["error"] = f"{path}: unreadable: {exc.strerror or exc}"
        result["skipped"] = 1
        return result
    result.update(size=stat.st_size, mtime_ns=stat.st_mtime_ns)
    from tagger.engines.shards import sha256_of

    result["sha256"] = sha256_of(path)
    try:
        model = (
            load_model(job.model_path, job.model_fingerprint)
            if job.model_path is not None
            else None
        )
    except SetupFailure as exc:
        result["status"] = "failed"
        result["error"] = f"{path}: worker {result['worker']} {exc}"
        return result

    warnings: list[str] = []

    def warn(message: str) -> None:
        if message not in warnings and len(warnings) < MAX_SKIP_LINES:
            warnings.append(message)

    from tagger.writers import OutputError, atomic_write

    out_dir = Path(job.out_dir)
    final = out_dir / job.part_name
    report = ReadReport()
    digest = hashlib.sha256()
    size = 0
    written = 0
    try:
        # Under a temporary name, renamed to `final` only when the whole part is written.
        with atomic_write(final, binary=True) as out:
            handle = (
                gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0) if job.compress else out
            )
            articles = read_corpus(
                [path], shard.get("fmt", "auto"), report, _read_options(job.options)
            )
            for batch in iter_batches(articles, job.batch_size):
                data = "".join(line + "\n" for line in _lines(job, batch, model, warn)).encode(
                    "utf-8"
                )
                handle.write(data)
                digest.update(data)
                size += len(data)
                written += len(batch)
                if notify is not None:
                    notify(shard["index"], written)
            if handle is not out:
                handle.close()  # the gzip trailer (mtime 0, no name: same articles, same bytes)
    except InputError as exc:  # the shard vanished between our check and the reader
        result["error"] = f"{path}: {exc}"
        result["skipped"] = 1
        return result
    except OutputError as exc:  # a full disk, a read-only folder: the run stops
        result["status"] = "failed"
        result["output_failure"] = True
        result["error"] = f"{exc} (shard {path})"
        return result
    result.update(
        status="done",
        part=job.part_name,
        records=report.records,
        articles=written,
        skipped=len(report.skipped),
        skips=[str(s) for s in report.skipped[:MAX_SKIP_LINES]],
        warnings=warnings,
        content_sha256=digest.hexdigest(),  # of the JSONL lines (before any gzip)
        content_bytes=size,
        seconds=round(time.perf_counter() - started, 3),
    )
    try:
        result["part_bytes"] = final.stat().st_size
        write_json(out_dir / job.receipt_name, result)
    except (OSError, OutputError) as exc:
        result.update(status="failed", output_failure=True)
        result["error"] = f"{out_dir / job.receipt_name}: {exc} (shard {path})"
    return result
