"""Printing entities for people (a table per article) and programs (JSON, JSONL)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from tagger.entities.canonical import PRIMARY_TYPES, SECONDARY_TYPES
from tagger.errors import ConfigError


def parse_types(value: str | None) -> tuple[str, ...] | None:
    """'PERSON,COUNTRY' -> ('PERSON', 'COUNTRY'); None keeps every type."""
    if not value:
        return None
    types = tuple(t.strip().upper() for t in value.split(",") if t.strip())
    known = set(PRIMARY_TYPES + SECONDARY_TYPES)
    unknown = [t for t in types if t not in known]
    if unknown:
        raise ConfigError(
            f"--types: unknown entity type(s) {', '.join(unknown)}; "
            f"known: {', '.join(sorted(known))}"
        )
    return types


def select(
    entities: Sequence[dict[str, Any]], types: Sequence[str] | None, inferred: bool = True
) -> list[dict[str, Any]]:
    return [
        e
        for e in entities
        if (types is None or e["type"] in types) and (inferred or not e.get("inferred"))
    ]


HEADING_CHARS = 80


def heading(article: Any) -> str:
    """The title; for an article without one (a single line read from stdin is a body), its
    first line, shortened; the id only when there is no text at all."""
    if article.title:
        return str(article.title)
    first = next((line.strip() for line in (article.body or "").splitlines() if line.strip()), "")
    if len(first) > HEADING_CHARS:
        first = first[: HEADING_CHARS - 1].rstrip() + "…"
    return first or str(article.id)


def render_entities(
    articles: Sequence[Any],
    entity_lists: Sequence[Sequence[dict[str, Any]]],
    fmt: str,
    console: Any,
) -> None:
    if fmt in ("json", "jsonl"):
        records = [
            {"id": a.id, "title": a.title, "entities": list(ents)}
            for a, ents in zip(articles, entity_lists, strict=True)
        ]
        if fmt == "json":
            console.out.print(json.dumps(records, indent=2, ensure_ascii=False), markup=False)
        else:
            for record in records:
                console.out.print(json.dumps(record, ensure_ascii=False), markup=False)
        return
    from rich.markup import escape
    from rich.table import Table

    for article, ents in zip(articles, entity_lists, strict=True):
        console.out.print(
            f"[bold]{escape(heading(article))}[/bold]  [dim]{escape(article.id)}[/dim]"
        )
        if not ents:
            console.out.print("  [dim]no entities[/dim]\n")
            continue
        table = Table(box=None, header_style="bold", pad_edge=False)
        for column in ("  name", "type", "count", "salience", "title", "first"):
            table.add_column(column, justify="left" if column in ("  name", "type") else "right")
        for e in ents:
            kind = e["type"] + (" (inferred)" if e.get("inferred") else "")
            table.add_row(
                f"  {escape(e['name'])}",
                kind,
                str(e["count"]),
                f"{e['salience']:.3f}",
                "yes" if e["in_title"] else "",
                str(e["first_position"]),
            )
        console.out.print(table)
        console.out.print()
