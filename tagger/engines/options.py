"""The engine options of `predict`, `entities` and `corpus import`, and their dispatch.

Kept light (typer only) so that `tagger --help` stays instant: the engines themselves are
imported when a command runs with --out-dir or --engine dask.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer


class Engine(str, Enum):
    local = "local"
    dask = "dask"


EngineOption = Annotated[
    Engine,
    typer.Option(
        "--engine",
        help="local: this machine; dask: one task per input shard on a Dask cluster "
        "(needs tagger[dask] and --out-dir).",
    ),
]
ClusterOption = Annotated[
    str | None,
    typer.Option(
        "--cluster",
        metavar="tcp://HOST:8786",
        help="Dask scheduler to run on (default with --engine dask: a local cluster of --jobs "
        "processes).",
    ),
]
OutDirOption = Annotated[
    Path | None,
    typer.Option(
        "--out-dir",
        help="Write DIR/part-NNNNN.jsonl per input shard and DIR/_manifest.json.",
    ),
]
ResumeOption = Annotated[
    bool,
    typer.Option("--resume", help="With --out-dir: keep complete parts, compute the rest."),
]
GzipOption = Annotated[
    bool, typer.Option("--gzip-parts", help="With --out-dir: write part-NNNNN.jsonl.gz.")
]


def wants_engine(engine: Engine, cluster: str | None, out_dir: Path | None, resume: bool) -> bool:
    """True when a command should run as an engine run (part files) instead of streaming."""
    return engine is not Engine.local or bool(cluster) or out_dir is not None or resume


def run_from_cli(
    kind: str,
    inputs: list[str],
    *,
    engine: Engine,
    cluster: str | None,
    out_dir: Path | None,
    resume: bool,
    gzip_parts: bool = False,
    jobs: int = 1,
    model: Path | None = None,
    options: dict[str, Any] | None = None,
    input_format: str = "auto",
    strict: bool = False,
    quiet: bool = False,
) -> None:
    """Run a command's work as an engine run: parts in --out-dir, a summary on stderr."""
    from tagger.console import Console
    from tagger.engines.run import EngineRequest, run_engine
    from tagger.errors import ConfigError

    if out_dir is None:
        given = "--resume" if resume else "--cluster" if cluster else "--engine dask"
        raise ConfigError(f"{given} writes part files: give --out-dir DIR")
    if cluster and engine is not Engine.dask:
        raise ConfigError("--cluster needs --engine dask")
    request = EngineRequest(
        kind=kind,
        inputs=list(inputs),
        out_dir=out_dir,
        engine=engine.value,
        cluster=cluster,
        jobs=jobs,
        resume=resume,
        model_path=model,
        options=dict(options or {}),
        input_format=input_format,
        compress=gzip_parts,
        strict=strict,
    )
    run_engine(request, Console(quiet))
