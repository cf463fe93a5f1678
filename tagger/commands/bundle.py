"""`tagger bundle ...`: work on model bundles."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

bundle_app = typer.Typer(help="Work on model bundles.", no_args_is_help=True)


@bundle_app.command("convert")
def convert_command(
    old: Annotated[Path, typer.Argument(help="A format-1 (joblib) bundle.")],
    new: Annotated[Path, typer.Argument(help="The format-2 bundle to write.")],
    trust: Annotated[
        bool,
        typer.Option(
            "--trust",
            help="Unpickle OLD (this runs any code it holds): only for bundles you trust.",
        ),
    ] = False,
) -> None:
    """Convert an old pickled bundle into a format-2 bundle (arrays and JSON)."""
    from tagger.legacy import convert_legacy_bundle

    manifest = convert_legacy_bundle(old, new, trust)
    typer.echo(f"wrote {new} (format 2, model id {manifest['model_id']})", err=True)
