"""`tagger vocab`: import, show, search, count and compare controlled vocabularies."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

vocab_app = typer.Typer(
    help="Controlled vocabularies (IPTC Media Topics, SKOS, CSV): import, show, search, "
    "stats, diff.",
    no_args_is_help=True,
)
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="Only errors and results.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def load_any(path: Path, fmt: str = "auto", lang: str = "en") -> Any:
    """A vocabulary file (SQLite, from `vocab import`) or a source file read on the fly."""
    from tagger.vocab.store import read_vocabulary

    path = Path(path)
    try:
        with path.open("rb") as handle:
            is_store = handle.read(16) == b"SQLite format 3\x00"
    except OSError as exc:
        from tagger.vocab.model import VocabError

        raise VocabError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    if is_store:
        return read_vocabulary(path)
    from tagger.vocab.importers import read_vocabulary_files

    return read_vocabulary_files([path], fmt, lang)


@vocab_app.command("import")
def import_command(
    files: Annotated[
        list[Path], typer.Argument(help="SKOS (.ttl .rdf .jsonld), IPTC JSON, CSV/TSV.")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Vocabulary file to write (SQLite).")],
    fmt: Annotated[
        str,
        typer.Option(
            "--input-format", "-f", help="auto, turtle, xml, json-ld, nt, iptc-json, csv or tsv."
        ),
    ] = "auto",
    lang: Annotated[str, typer.Option("--lang", help="Language of the labels to keep.")] = "en",
    quiet: Quiet = False,
) -> None:
    """Read vocabulary files into one checked vocabulary; nothing is written on an error."""
    from tagger.console import Console
    from tagger.errors import ConfigError
    from tagger.vocab.importers import FORMATS, read_vocabulary_files
    from tagger.vocab.stats import vocabulary_stats
    from tagger.vocab.store import write_vocabulary

    if fmt not in FORMATS:
        raise ConfigError(f"--input-format must be one of {', '.join(FORMATS)}")
    if any(Path(f).resolve() == out.resolve() for f in files):
        raise ConfigError(f"--out {out} is one of the input files")
    console = Console(quiet)
    vocab = read_vocabulary_files(files, fmt, lang)
    fingerprint = write_vocabulary(vocab, out)
    s = vocabulary_stats(vocab)
    for source in s["sources"]:
        console.info(f"{source['file']}: {source['concepts']} concept(s) ({source['format']})")
    console.info(
        f"wrote {out}: {s['concepts']} concepts ({s['current']} current, {s['retired']} retired, "
        f"{s['top_level']} top level, depth {s['max_depth']}), release {s['release'] or '-'}, "
        f"fingerprint {fingerprint[:12]}"
    )


@vocab_app.command("show")
def show_command(
    vocab_path: Annotated[Path, typer.Argument(metavar="VOCAB", help="Vocabulary file.")],
    concept: Annotated[str, typer.Argument(help="Id, URI, label or alias.")],
    as_json: AsJson = False,
) -> None:
    """One concept: labels, definition, parents, children, mappings, retirement."""
    from tagger.errors import EXIT_FAILED

    vocab = load_any(vocab_path)
    found = vocab.lookup(concept)
    if found is None:
        from tagger.vocab.match import closest

        near = ", ".join(f"{c.id} {c.label!r}" for c in closest(vocab, concept))
        typer.echo(
            f"error: no concept {concept!r} in {vocab_path}"
            + (f" (closest: {near})" if near else ""),
            err=True,
        )
        raise typer.Exit(EXIT_FAILED)
    data = found.to_dict()
    data["depth"] = vocab.depth(found.id)
    data["ancestors"] = [{"id": a.id, "label": a.label} for a in vocab.ancestors(found.id)]
    if found.retired:
        replacement = vocab.replacement(found.id)
        data["current_replacement"] = replacement.id if replacement else None
    if as_json:
        typer.echo(json.dumps(data, indent=2, ensure_ascii=False))
        return
    label = lambda cid: f"{cid} {vocab.concepts[cid].label!r}" if cid in vocab else cid  # noqa: E731
    lines = [
        f"{found.id}  {found.label}"
        + ("  [retired " + found.retired + "]" if found.retired else "")
    ]
    if found.uri:
        lines.append(f"  uri:        {found.uri}")
    if found.definition:
        lines.append(f"  definition: {found.definition}")
    for name, values in (("alt labels", found.alt_labels), ("hidden", found.hidden_labels)):
        if values:
            lines.append(f"  {name + ':':<11} {' | '.join(values)}")
    if data["ancestors"]:
        lines.append("  path:       " + " > ".join(a["label"] for a in reversed(data["ancestors"])))
    for name, ids in (
        ("broader", found.broader),
        ("narrower", found.narrower),
        ("related", found.related),
    ):
        for cid in ids:
            lines.append(f"  {name + ':':<11} {label(cid)}")
    for uri in found.exact_match + found.close_match + found.broad_match:
        lines.append(f"  match:      {uri}")
    if found.replaced_by:
        lines.append(f"  replaced by {label(found.replaced_by)}")
    if found.note:
        lines.append(f"  note:       {found.note}")
    typer.echo("\n".join(lines))


@vocab_app.command("search")
def search_command(
    vocab_path: Annotated[Path, typer.Argument(metavar="VOCAB", help="Vocabulary file.")],
    query: Annotated[str, typer.Argument(help="Words of a label, alias or definition.")],
    limit: Annotated[int, typer.Option("--limit", "-n", min=1)] = 20,
    retired: Annotated[bool, typer.Option("--retired", help="Include retired concepts.")] = False,
    as_json: AsJson = False,
) -> None:
    """Concepts whose labels (then definitions) contain every word of QUERY."""
    from tagger.errors import EXIT_FAILED
    from tagger.vocab.search import search

    vocab = load_any(vocab_path)
    hits = search(vocab, query, limit=limit, include_retired=retired)
    if as_json:
        typer.echo(json.dumps(hits, indent=2, ensure_ascii=False))
    else:
        for hit in hits:
            mark = "  [retired]" if hit["retired"] else ""
            parent = f"  (in {hit['parent']})" if hit["parent"] else ""
            typer.echo(f"{hit['id']}  {hit['label']}{parent}{mark}")
    if not hits:
        typer.echo(f"no concept matches {query!r}", err=True)
        raise typer.Exit(EXIT_FAILED)


@vocab_app.command("stats")
def stats_command(
    vocab_path: Annotated[Path, typer.Argument(metavar="VOCAB", help="Vocabulary file.")],
    as_json: AsJson = False,
) -> None:
    """Counts: concepts, retired, top level, per level, definitions, labels, mappings."""
    from tagger.vocab.stats import vocabulary_stats

    stats = vocabulary_stats(load_any(vocab_path))
    if as_json:
        typer.echo(json.dumps(stats, indent=2, ensure_ascii=False))
        return
    for key, value in stats.items():
        if key == "sources":
            value = ", ".join(f"{s['file']} ({s['format']})" for s in value)
        elif isinstance(value, dict):
            value = "/".join(str(v) for v in value.values()) + f" (levels {'/'.join(value)})"
        typer.echo(f"{key.replace('_', ' ')}: {value}")


@vocab_app.command("diff")
def diff_command(
    old: Annotated[Path, typer.Argument(help="The older vocabulary (file or source).")],
    new: Annotated[Path, typer.Argument(help="The newer vocabulary (file or source).")],
    as_json: AsJson = False,
    limit: Annotated[int, typer.Option("--limit", help="Lines per kind of change (0: all).")] = 0,
) -> None:
    """What was added, retired, removed, reinstated, relabelled and moved from OLD to NEW."""
    from tagger.vocab.diff import diff_vocabularies

    diff = diff_vocabularies(load_any(old), load_any(new))
    if as_json:
        typer.echo(json.dumps(diff.to_dict(), indent=2, ensure_ascii=False))
        return
    typer.echo(f"release {diff.old_release or '?'} -> {diff.new_release or '?'}: {diff.summary()}")

    def section(title: str, items: list[dict[str, Any]], fmt: Any) -> None:
        if not items:
            return
        typer.echo(f"{title} ({len(items)}):")
        for item in items[: limit or None]:
            typer.echo(f"  {fmt(item)}")
        if limit and len(items) > limit:
            typer.echo(f"  … and {len(items) - limit} more")

    section(
        "added",
        diff.added,
        lambda i: f"{i['id']} {i['label']!r}" + (" (already retired)" if i["retired"] else ""),
    )
    section(
        "retired",
        diff.retired,
        lambda i: (
            f"{i['id']} {i['label']!r}" + (f" -> {i['replaced_by']}" if i["replaced_by"] else "")
        ),
    )
    section("removed", diff.removed, lambda i: f"{i['id']} {i['label']!r}")
    section("reinstated", diff.reinstated, lambda i: f"{i['id']} {i['label']!r}")
    section("relabelled", diff.relabelled, lambda i: f"{i['id']} {i['old']!r} -> {i['new']!r}")
    section(
        "moved",
        diff.moved,
        lambda i: (
            f"{i['id']} {i['label']!r}: {', '.join(i['old_broader']) or '-'} -> "
            f"{', '.join(i['new_broader']) or '-'}"
        ),
    )
