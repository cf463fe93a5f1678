"""Rendering results for people (rich tables) and for programs (JSON, JSONL)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from typing import IO, Any

from tagger.suggestions import Suggestions, evidence_text


def plain(text: object) -> Any:
    """Untrusted text (a label from an input file) as a rich table cell: never read as
    markup, and control characters escaped before rich measures the column."""
    from rich.text import Text

    from tagger.hygiene import escape_text

    return Text(escape_text(str(text)))


class BatchWriter:
    """Writes results batch by batch and flushes each batch, so output flows as it is made.

    `jsonl`: one JSON object a line. `json`: one JSON array, written as it grows (the bytes
    of `json.dumps(all, indent=2, ensure_ascii=False)` but for C1 and bidirectional controls,
    written as \\uXXXX escapes: the same data); nothing at all when there was nothing to
    write.
    `table`: `table(item)` prints each item for people. Use as a context manager.
    """

    def __init__(
        self,
        fmt: str,
        to_dict: Callable[[Any], dict[str, Any]],
        table: Callable[[Any], None] | None = None,
        out: IO[str] | None = None,
    ) -> None:
        if fmt not in ("jsonl", "json", "table"):
            raise ValueError(f"unknown output format {fmt!r}")
        self.fmt = fmt
        self.to_dict = to_dict
        self.table = table
        self._out = out
        self.count = 0
        self._started = False

    @property
    def out(self) -> IO[str]:
        if self._out is None:
            from tagger.writers import STDOUT, named_output

            # a full disk under `> file` is one line naming <stdout>, exit 1
            self._out = named_output(sys.stdout, STDOUT)
        return self._out

    def write(self, items: Sequence[Any]) -> None:
        """Write one batch and flush it."""
        if not items:
            return
        if self.fmt == "table":
            assert self.table is not None
            for item in items:
                self.table(item)
        else:
            self.out.write("".join(self._encode(item) for item in items))
        self.count += len(items)
        self.out.flush()

    def _encode(self, item: Any) -> str:
        from tagger.hygiene import escape_text

        # json.dumps escapes C0 only: C1 (a CSI) and bidi controls become \\uXXXX too (the
        # same data), so that no control character reaches a terminal
        if self.fmt == "jsonl":
            return escape_text(json.dumps(self.to_dict(item), ensure_ascii=False)) + "\n"
        # JSON strings hold no raw newline: indenting every line nests the object in the array.
        text = json.dumps(self.to_dict(item), ensure_ascii=False, indent=2).replace("\n", "\n  ")
        text = escape_text(text)
        prefix = ",\n  " if self._started else "[\n  "
        self._started = True
        return prefix + text

    def close(self) -> None:
        """End the output (the JSON array's closing bracket)."""
        if self.fmt == "json" and self._started:
            self.out.write("\n]\n")
            self.out.flush()

    def __enter__(self) -> BatchWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            self.close()


def suggestion_writer(fmt: str, console: Any, *, explain: bool = False) -> BatchWriter:
    """A BatchWriter of Suggestions (JSON keeps the evidence; tables show it with explain)."""
    return BatchWriter(fmt, lambda s: s.to_dict(), table=lambda s: _render_one(s, console, explain))


def entity_writer(fmt: str, console: Any) -> BatchWriter:
    """A BatchWriter of `tagger.pipeline.EntityRecord`s: JSON records, or a table each."""
    from tagger.entities.render import render_entities

    return BatchWriter(
        fmt,
        lambda r: r.to_dict(),
        table=lambda r: render_entities([r], [r.entities], "table", console),
    )


def render_suggestions(
    suggestions: Sequence[Suggestions], fmt: str, console: Any, *, explain: bool = False
) -> None:
    """Write all of `suggestions` at once (see `suggestion_writer` for streams)."""
    with suggestion_writer(fmt, console, explain=explain) as writer:
        writer.write(suggestions)


def _render_one(s: Suggestions, console: Any, explain: bool) -> None:
    from rich.markup import escape
    from rich.table import Table

    out = console.out
    out.print(f"[bold]{escape(s.title or s.article_id)}[/bold]  [dim]{escape(s.article_id)}[/dim]")
    if s.section:
        out.print(f"  section: [cyan]{escape(s.section.label)}[/cyan] ({s.section.score:.2f})")
        if explain and s.section.evidence:
            out.print("    because: " + escape(evidence_text(s.section.evidence)))
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
            row.append(escape(evidence_text(tag.evidence)))
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
                plain(row["label"]),
                str(row["support"]),
                f"{row['precision']:.3f}",
                f"{row['recall']:.3f}",
                f"{row['f1']:.3f}",
            )
        out.print(table)
        if block.get("unknown_labels"):
            out.print(f"labels the model does not know: {block['unknown_labels']}", markup=False)


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
            table.add_row(plain(label), str(count))
        out.print(table)
    missing = {k: v for k, v in stats["missing"].items() if v}
    out.print("missing fields: " + (", ".join(f"{k} {v}" for k, v in missing.items()) or "none"))
    dups = stats["duplicate_ids"]
    out.print(
        "duplicate ids: " + (", ".join(f"{k} x{v}" for k, v in list(dups.items())[:20]) or "none")
    )
