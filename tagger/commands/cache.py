"""`tagger cache`: the entity analysis cache's size and contents (stats, clear)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

cache_app = typer.Typer(
    help="The entity analysis cache ($TAGGER_CACHE_DIR or ~/.cache/tagger; limit "
    "$TAGGER_CACHE_MAX_MB, 512 MB by default): stats, clear.",
    no_args_is_help=True,
)
CacheDir = Annotated[
    Path | None,
    typer.Option(
        "--cache-dir", help="Cache folder (default: $TAGGER_CACHE_DIR or ~/.cache/tagger)."
    ),
]


def _open(cache_dir: Path | None) -> Any:
    from tagger.entities.cache import CACHE_FILE, AnalysisCache, default_cache_dir
    from tagger.errors import InputError

    folder = cache_dir or default_cache_dir()
    if not (folder / CACHE_FILE).exists():
        return None, folder / CACHE_FILE
    problems: list[str] = []
    cache = AnalysisCache(folder, problems.append)
    if problems:
        raise InputError(problems[0])
    return cache, cache.path


@cache_app.command("stats")
def stats_command(
    cache_dir: CacheDir = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Where the cache is, its limit, how many analyses and bytes it holds."""
    from tagger.entities.cache import default_max_bytes

    cache, path = _open(cache_dir)
    if cache is None:
        stats = {"path": str(path), "entries": 0, "bytes": 0, "file_bytes": 0}
        stats["max_bytes"] = default_max_bytes()
    else:
        stats = cache.stats()
        cache.close()
    if as_json:
        typer.echo(json.dumps(stats, indent=2))
        return
    limit = stats["max_bytes"]
    typer.echo(f"entity cache: {stats['path']}")
    typer.echo(
        f"{stats['entries']} analyses, {_mb(stats['bytes'])} of "
        + (f"{_mb(limit)} allowed" if limit else "no limit")
        + f" (file {_mb(stats['file_bytes'])})"
    )


@cache_app.command("clear")
def clear_command(cache_dir: CacheDir = None) -> None:
    """Remove every cached analysis (they are recomputed when needed)."""
    cache, path = _open(cache_dir)
    if cache is None:
        typer.echo(f"nothing to clear: no cache at {path}")
        return
    count = cache.clear()
    cache.close()
    typer.echo(f"cleared {count} analyses from {path}")


def _mb(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB"
