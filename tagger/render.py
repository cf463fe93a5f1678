"""Rendering results for people (rich tables) and for programs (JSON, JSONL)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from tagger.suggestions import Suggestions


def render_suggestions(
    suggestions: Sequence[Suggestions], fmt: str, console: Any, *, explain: bool = False
) -> None:
    if fmt == "jsonl":
        for s in suggestions:
            console.out.print(json.dumps(s.to_dict(), ensure_ascii=False), markup=False)
        return
    if fmt == "json":
        data = [s.to_dict() for s in suggestions]
        console.out.print(json.dumps(data, indent=2, ensure_ascii=False), markup=False)
        return
    for s in suggestions:
        _render_one(s, console, explain)


def _render_one(s: Suggestions, console: Any, explain: bool) -> None:
    from rich.markup import escape
    from rich.table import Table

    out = console.out
    out.print(f"[bold]{escape(s.title or s.article_id)}[/bold]  [dim]{escape(s.article_id)}[/dim]")
    if s.section:
        out.print(f"  section: [cyan]{escape(s.section.label)}[/cyan] ({s.section.score:.2f})")
        if explain and s.section.evidence:
            out.print("    because: " + escape(", ".join(e.value for e in s.section.evidence)))
    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    table.add_column("  tag")
    table.add_column("score", justify="right")
    table.add_column("threshold", justify="right")
    table.add_column("")
    if explain:
        table.add_column("evidence")
    # Every suggested tag, and the top-k candidates besides, best first.
    shown = {t.label: t for t in [*s.tags, *s.tag_candidates]}
    for tag in sorted(shown.values(), key=lambda t: (not t.selected, -t.score)):
        mark = "[green]suggested[/green]" if tag.selected else "[dim]-[/dim]"
        row = [
            f"  {escape(tag.label)}",
            f"{tag.score:.2f}",
            f"{tag.threshold:.2f}" if tag.threshold is not None else "",
            mark,
        ]
        if explain:
            row.append(escape(", ".join(e.value for e in tag.evidence)))
        table.add_row(*row)
    out.print(table)
    if s.entities:
        names = [f"{escape(e['name'])} [dim]({e['type']}, {e['count']})[/dim]" for e in s.entities]
        out.print("  entities: " + ", ".join(names[:15]))
    out.print()


def render_evaluation(result: dict[str, Any], console: Any) -> None:
    from rich.table import Table

    out = console.out
    out.print(f"[bold]Evaluated on {result['articles']} articles[/bold]")
    sections = result.get("sections")
    if sections:
        out.print(
            f"sections: accuracy {sections['accuracy']:.4f}, macro-F1 {sections['macro_f1']:.4f}"
        )
    tags = result.get("tags")
    if tags:
        out.print(
            "tags: micro P/R/F1 {micro_precision:.4f}/{micro_recall:.4f}/{micro_f1:.4f}, "
            "macro P/R/F1 {macro_precision:.4f}/{macro_recall:.4f}/{macro_f1:.4f}, "
            "P@1 {p_at_1:.4f}, P@3 {p_at_3:.4f}, F1@5 {f1_at_5:.4f}".format(**tags)
        )
    for kind in ("sections", "tags"):
        block = result.get(kind)
        if not block:
            continue
        table = Table(title=f"per {kind[:-1]}", box=None, header_style="bold")
        for column in ("label", "support", "precision", "recall", "f1"):
            table.add_column(column, justify="left" if column == "label" else "right")
        for row in sorted(block["per_label"], key=lambda r: -r["support"]):
            table.add_row(
                row["label"],
                str(row["support"]),
                f"{row['precision']:.3f}",
                f"{row['recall']:.3f}",
                f"{row['f1']:.3f}",
            )
        out.print(table)
        if block.get("unknown_labels"):
            out.print(f"labels the model does not know: {block['unknown_labels']}")


def render_stats(stats: dict[str, Any], console: Any) -> None:
    from rich.table import Table

    out = console.out
    out.print(f"[bold]{stats['articles']} articles[/bold]")
    words = stats["body_words"]
    out.print(f"body words: min {words['min']}, median {words['median']}, max {words['max']}")
    out.print(
        f"{len(stats['sections'])} sections, {stats['distinct_tags']} distinct tags, "
        f"{stats['tags_per_article']:.2f} tags per article"
    )
    for kind in ("sections", "tags"):
        counts = stats[kind]
        if not counts:
            continue
        table = Table(title=kind, box=None, header_style="bold")
        table.add_column("label")
        table.add_column("articles", justify="right")
        for label, count in counts.items():
            table.add_row(label, str(count))
        out.print(table)
    missing = {k: v for k, v in stats["missing"].items() if v}
    out.print("missing fields: " + (", ".join(f"{k} {v}" for k, v in missing.items()) or "none"))
    dups = stats["duplicate_ids"]
    out.print(
        "duplicate ids: " + (", ".join(f"{k} x{v}" for k, v in list(dups.items())[:20]) or "none")
    )
