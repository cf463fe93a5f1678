"""Terminal output shared by the CLI commands: messages, progress bars, skip reports."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tagger.corpus.readers import ReadReport, Skip
from tagger.hygiene import escape_text


def escape_terminal(text: str) -> str:
    """Untrusted text made safe for a terminal: ESC (screen clears, OSC 52 clipboard
    writes), other C0 and C1 controls and bidi overrides become visible `\\uXXXX`."""
    return escape_text(text)


def safe_console_class() -> type:
    """A rich Console that escapes control characters in everything it prints (its own
    styles and cursor moves are kept): one place, whatever the text's way in."""
    from rich.console import Console as RichConsole
    from rich.segment import Segment

    class SafeConsole(RichConsole):
        def render(self, renderable: Any, options: Any = None) -> Iterator[Any]:
            for segment in super().render(renderable, options):
                if (
                    segment.control
                    or not segment.text
                    or escape_text(segment.text) is (segment.text)
                ):
                    yield segment
                else:
                    yield Segment(escape_text(segment.text), segment.style, segment.control)

    return SafeConsole


def _data_console_class() -> type:
    class DataConsole(safe_console_class()):  # type: ignore[misc]
        """stdout for data: a reader that stops early (`| head`) is not an error."""

        def on_broken_pipe(self) -> None:
            self.quiet = True
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            raise SystemExit(0)

    return DataConsole


def _data_console(**kwargs: Any) -> Any:
    from tagger.writers import STDOUT, named_output

    # a full disk under `> file` is one line naming <stdout>, exit 1
    kwargs.setdefault("file", named_output(sys.stdout, STDOUT))
    return _data_console_class()(**kwargs)


class Console:
    """Messages to stderr (stdout stays clean for data), with a --quiet switch."""

    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet
        # soft_wrap: a message naming a file and line stays on one line when stderr is
        # not a terminal; emoji=False: text such as ":fire:" in titles is data, not a code.
        self.err = safe_console_class()(stderr=True, highlight=False, soft_wrap=True, emoji=False)
        self.out = _data_console(highlight=False, soft_wrap=True, emoji=False)

    def info(self, message: str) -> None:
        if not self.quiet:
            self.err.print(message, markup=False)

    def warn(self, message: str) -> None:
        self.err.print(f"[yellow]warning:[/yellow] {_escape(message)}")

    def error(self, message: str) -> None:
        self.err.print(f"[red]error:[/red] {_escape(message)}")

    def skip(self, item: Skip) -> None:
        # A skipped file or record is an error in the input: shown even with --quiet.
        self.err.print(f"[yellow]skipped[/yellow] {_escape(str(item))}")

    def summary(self, text: str, skipped: bool) -> None:
        """A reading summary: with --quiet, only when something was skipped (the count
        of what was lost is part of the error)."""
        if skipped or not self.quiet:
            self.err.print(text, markup=False)

    def report(self, report: ReadReport) -> None:
        self.summary(report.summary(), bool(report.skipped))
        for note in report.notes:
            self.info(note)

    @contextmanager
    def progress(self, description: str = "working") -> Iterator[Any]:
        """A callback (stage, done, total) that drives a rich progress bar."""
        if self.quiet or not self.err.is_terminal:

            def quiet_callback(_stage: str, _done: int, _total: int) -> None:
                return None

            yield quiet_callback
            return
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TimeElapsedColumn(),
            console=self.err,
            transient=True,
        ) as bar:
            tasks: dict[str, Any] = {}

            def callback(stage: str, done: int, total: int) -> None:
                if stage not in tasks:
                    tasks[stage] = bar.add_task(stage, total=total)
                bar.update(tasks[stage], completed=done, total=total)

            yield callback

    @contextmanager
    def meter(self, description: str, total: int | None = None) -> Iterator[Any]:
        """A callback `advance(n)` for articles done: one progress bar on stderr (count,
        articles/s, and the ETA when `total` is known), only when stderr is a terminal."""
        if self.quiet or not self.err.is_terminal:

            def quiet_advance(_n: int) -> None:
                return None

            yield quiet_advance
            return
        from rich.progress import (
            BarColumn,
            Progress,
            TaskProgressColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        columns: list[Any] = [TextColumn("{task.description}")]
        if total is not None:
            columns += [BarColumn(), TaskProgressColumn(), TimeRemainingColumn()]
        columns += [
            TextColumn("{task.completed} articles"),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
        ]
        with Progress(*columns, console=self.err, transient=True) as bar:
            task = bar.add_task(description, total=total, rate="")

            def advance(n: int) -> None:
                bar.advance(task, n)
                speed = bar.tasks[0].speed
                bar.update(task, rate=f"{speed:,.0f}/s" if speed else "")

            yield advance


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def stdin_is_piped() -> bool:
    return not sys.stdin.isatty()
