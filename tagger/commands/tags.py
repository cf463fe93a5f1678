"""`tagger tags`: the governance report and merges of tags editors decide."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

tags_app = typer.Typer(
    help="Tag governance: a report of tags to merge, retire or add; merges.",
    no_args_is_help=True,
)


@tags_app.command("report")
def report_command(
    corpus: Annotated[list[str], typer.Argument(help="Corpus files or folders.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="report.html or report.json.")],
    vocab: Annotated[
        Path | None, typer.Option("--vocab", help="Vocabulary to check the tags against.")
    ] = None,
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            help="Feedback store of editors' decisions: a SQLite file PATH, or sqlite:///PATH.",
        ),
    ] = None,
    entities: Annotated[
        bool,
        typer.Option("--entities", help="Find frequent entities with no tag (runs spaCy, cached)."),
    ] = False,
    months: Annotated[
        int, typer.Option("--months", min=1, help="A tag unused this long is dead.")
    ] = 12,
    min_overlap: Annotated[
        float,
        typer.Option("--min-overlap", min=0.1, max=1.0, help="Article overlap (Jaccard) to merge."),
    ] = 0.8,
    renames: Annotated[
        Path | None, typer.Option("--renames", help="Apply this rename map first.")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
) -> None:
    """Merge candidates, dead tags, tags editors add that the model never suggests,
    entities with no tag and sections that collide with tags; counts and examples."""
    from tagger.cli import InputFormat, _read, _require_articles
    from tagger.console import Console
    from tagger.corpus.importer import atomic_output, check_outputs
    from tagger.errors import ConfigError
    from tagger.governance import governance_report, merge_pairs, render_html
    from tagger.vocab.renames import load_renames

    if out.suffix.lower() not in (".html", ".htm", ".json"):
        raise ConfigError(f"--out {out}: the report is .html or .json")
    check_outputs([("--out", out)], corpus)
    console = Console(quiet)
    rename_map = load_renames(renames)
    vocabulary = None
    if vocab is not None:
        from tagger.commands.vocab import load_any

        vocabulary = load_any(vocab)
    articles, read_report = _read(corpus, InputFormat.auto, console)
    console.report(read_report)
    _require_articles(articles, corpus, "to report on")
    rename_map.apply_articles(articles)
    entity_lists = None
    if entities:
        from tagger.cli import _entities_for

        entity_lists = _entities_for(articles, True, None, console)
    store = None
    if db is not None:
        from tagger.feedback.store import open_store

        store = open_store(db, create=False)
    try:
        report = governance_report(
            articles,
            vocab=vocabulary,
            store=store,
            entity_lists=entity_lists,
            months=months,
            min_overlap=min_overlap,
        )
    finally:
        if store is not None:
            store.close()
    with atomic_output(out) as handle:
        if out.suffix.lower() == ".json":
            handle.write(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
        else:
            handle.write(render_html(report, {a.id: a.title or a.id for a in articles}))
    pairs = merge_pairs(report["merge_candidates"])
    console.info(
        f"wrote {out}: {len(pairs)} merge candidate(s), "
        f"{len(report['dead_tags']['unused'])} dead tag(s), "
        f"{len(report['section_collisions'])} section collision(s)"
    )
    for variant, keep in pairs[:10]:
        console.info(f"  merge {variant!r} into {keep!r}")


@tags_app.command("merge")
def merge_command(
    old: Annotated[str, typer.Argument(help="The tag to retire (e.g. 'Rubio').")],
    new: Annotated[str, typer.Argument(help="The tag it becomes (e.g. 'Marco Rubio').")],
    rename_map: Annotated[Path, typer.Option("--map", help="Rename map to update (JSON).")] = Path(
        "tag-renames.json"
    ),
    editor: Annotated[str | None, typer.Option("--editor", help="Who decided.")] = None,
) -> None:
    """Merge tag OLD into NEW: training (--renames), prediction and feedback export apply it."""
    from tagger.vocab.renames import RenameMap

    renames = RenameMap.load(rename_map)
    renames.add(old.strip(), new.strip(), editor)
    renames.save(rename_map)
    typer.echo(f"{rename_map}: {old!r} -> {new!r} ({len(renames.renames)} rename(s))", err=True)
