"""`tagger queue ...`: the editors' review queue in the feedback store (docs/desk.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

queue_app = typer.Typer(
    help="The review queue the web page works through: add articles, count them.",
    no_args_is_help=True,
)
Db = Annotated[
    str, typer.Option("--db", help="Feedback store: a SQLite file PATH, or sqlite:///PATH.")
]
CHUNK = 500  # articles scored and queued per transaction


def queue_articles(store: Any, articles: list[Any], model: Any, by: str) -> Any:
    """Queue articles in chunks, each scored for uncertainty by `model` (if any)."""
    from tagger.feedback.queue import AddResult, ReviewQueue, model_uncertainty

    queue = ReviewQueue(store)
    scorer = model_uncertainty(model) if model is not None else None
    total = AddResult()
    for start in range(0, len(articles), CHUNK):
        part = queue.add(articles[start : start + CHUNK], by=by, uncertainty=scorer)
        total.added += part.added
        total.queued_before += part.queued_before
        total.refused += part.refused
    return total


def report_added(result: Any, console: Any) -> None:
    for refused in result.refused:
        console.warn(f"{refused['id']}: not queued: {refused['detail']}")
    console.info(
        f"queued {len(result.added)} article(s)"
        + (f", {len(result.queued_before)} already queued" if result.queued_before else "")
        + (f", {len(result.refused)} refused" if result.refused else "")
    )


@queue_app.command("add")
def add_command(
    inputs: Annotated[list[str], typer.Argument(help="Articles (files, folders, JSONL, -).")],
    db: Db,
    model: Annotated[
        Path | None,
        typer.Option(
            "--model", "-m", help="Bundle or registry to score uncertainty (--order uncertain)."
        ),
    ] = None,
    by: Annotated[str, typer.Option("--by", help="Who queued them.")] = "cli",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only errors.")] = False,
) -> None:
    """Queue articles for review on the web page (`tagger serve`)."""
    from tagger.api import Tagger
    from tagger.cli import InputFormat, _finish_read, _read, _require_articles
    from tagger.console import Console
    from tagger.feedback.store import open_store

    console = Console(quiet)
    articles, report = _read(inputs, InputFormat.auto, console)
    _finish_read(report, console, False)
    _require_articles(articles, inputs, "to queue")
    loaded = Tagger.load(model) if model is not None else None
    with open_store(db) as store:
        store.verify()
        result = queue_articles(store, articles, loaded, by)
    report_added(result, console)


@queue_app.command("stats")
def stats_command(
    db: Db, as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False
) -> None:
    """Waiting, leased and done articles, and per editor what they hold and finished."""
    from tagger.console import escape_terminal
    from tagger.feedback.queue import ReviewQueue
    from tagger.feedback.store import open_store

    with open_store(db, create=False) as store:
        counts = ReviewQueue(store).counts()
    if as_json:
        typer.echo(escape_terminal(json.dumps(counts, indent=2, ensure_ascii=False)))
        return
    typer.echo(f"waiting {counts['waiting']}, leased {counts['leased']}, done {counts['done']}")
    for editor, row in counts["editors"].items():
        typer.echo(
            escape_terminal(f"  {editor:<20} leased {row['leased']:>4}  done {row['done']:>6}")
        )
