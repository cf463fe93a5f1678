"""Terminal review: a key-driven state machine, apart from the terminal that feeds it keys.

`ReviewSession.handle(key)` is all the logic (tests drive it with scripted keys);
`run_terminal_review` reads single keys from the terminal and redraws the screen.
Every decision is written to the store the moment it is made, so quitting (or a
crash) loses nothing; undo is a decision too.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from tagger.corpus.article import Article
from tagger.errors import InputError
from tagger.feedback.store import (
    Decision,
    FeedbackStore,
    ShownSuggestion,
    resolve,
    shown_from_suggestions,
)
from tagger.hygiene import clean_label
from tagger.suggestions import evidence_text

# Key names the terminal reader produces for non-printable keys.
UP, DOWN, ENTER, ESC, TAB, BACKSPACE = "up", "down", "enter", "esc", "tab", "backspace"

HELP = (
    "a accept  r reject  ↑/↓ j/k move  + add tag  c change section  "
    "enter/space done  s skip  u undo  q quit"
)


@dataclass
class Item:
    """One row of the screen: the section or a tag, with what the editor decided."""

    kind: str
    label: str
    score: float | None = None
    selected: bool = False
    threshold: float | None = None
    evidence: list[dict[str, Any]] = field(default_factory=list)
    suggestion_id: int | None = None
    state: str | None = None  # accept, reject, add (tags); accept, reject, section (section)


def uncertainty(suggestions: Any) -> float:
    """How unsure the model is about an article: 1 when a call is a coin toss, 0 when sure.

    The closest call decides: the gap between the two best sections, and each tag
    candidate's distance from its threshold.
    """
    margins = []
    sections = suggestions.section_candidates
    if len(sections) >= 2:
        margins.append(sections[0].score - sections[1].score)
    elif sections:
        margins.append(sections[0].score)
    for tag in suggestions.tag_candidates:
        if tag.threshold is not None:
            margins.append(abs(tag.score - tag.threshold))
    return 1.0 - min(margins) if margins else 0.0


@dataclass
class _Undo:
    decision: Decision
    item: Item | None  # the row it changed (None: an added tag row that was created)
    before: str | None
    created: bool = False
    before_label: str | None = None  # a section's label before a change


class ReviewSession:
    """The review of a list of articles by one editor."""

    def __init__(
        self,
        model: Any,
        articles: Sequence[Article],
        store: FeedbackStore,
        editor: str,
        *,
        order: str = "input",
        top_k: int = 8,
        vocabulary: Any = None,
    ) -> None:
        if not editor.strip():
            raise InputError("--editor must name you")
        # tagger.vocab.editing.EditorVocabulary: added tags complete from the concepts
        self.vocabulary = vocabulary
        self.model = model
        self.store = store
        self.editor = editor.strip()
        finished = store.done(self.editor)
        seen: set[str] = set()
        queue = []
        for article in articles:
            if article.id in finished or article.id in seen:
                continue
            seen.add(article.id)
            queue.append(article)
        self.already_done = len([a for a in articles if a.id in finished])
        suggestions = model.predict(queue, top_k=top_k) if queue else []
        pairs = list(zip(queue, suggestions, strict=True))
        if order == "uncertain":
            pairs.sort(key=lambda p: -uncertainty(p[1]))
        elif order != "input":
            raise InputError(f"unknown order {order!r}: input or uncertain")
        self.queue = pairs
        # the model's tags, and tags editors added that the model does not know yet
        known = set(model.tag_model.labels) if model.tag_model else set()
        added = {d.label for d in store.decisions() if d.action == "add"}
        self.tag_vocab = sorted(known | added, key=str.casefold)
        self.section_vocab = list(model.section_model.labels) if model.section_model else []
        self.index = -1
        self.items: list[Item] = []
        self.cursor = 0
        self.mode = "browse"  # browse, add, section
        self.buffer = ""
        self.message = ""
        self.history: list[_Undo] = []
        self.section_shown: dict[str, ShownSuggestion] = {}  # this article's section candidates
        self.finished_now = 0
        self.skipped = 0
        self.decided = 0
        self.quit = False
        self._next()

    # -- navigation -------------------------------------------------------------------

    @property
    def over(self) -> bool:
        return self.quit or self.index >= len(self.queue)

    @property
    def article(self) -> Article | None:
        return self.queue[self.index][0] if 0 <= self.index < len(self.queue) else None

    @property
    def suggestions(self) -> Any:
        return self.queue[self.index][1] if 0 <= self.index < len(self.queue) else None

    def _next(self) -> None:
        self.index += 1
        self.history = []
        self.mode, self.buffer = "browse", ""
        if self.index < len(self.queue):
            self._open()

    def _open(self) -> None:
        article, suggestions = self.queue[self.index]
        self.store.add_article(article)
        shown = shown_from_suggestions(suggestions)
        self.store.add_suggestions(article.id, shown)
        self.items = self._items(shown)
        self.cursor = 0
        # resume: this editor's standing decisions on this article
        mine = [d for d in self.store.decisions(article.id) if d.editor == self.editor]
        resolved = resolve(mine).get(article.id)
        if resolved is None:
            return
        for label, d in resolved.tags.items():
            row = self._row("tag", label)
            if row is None:
                row = Item("tag", label)
                self.items.append(row)
            row.state = d.action
        if resolved.section is not None:
            self._apply_section(resolved.section.action, resolved.section.label)
        self.message = "resumed: your earlier decisions are shown"

    def _items(self, shown: list[ShownSuggestion]) -> list[Item]:
        items = []
        sections = [s for s in shown if s.kind == "section"]
        self.section_shown = {s.label: s for s in sections}
        if sections:
            top = sections[0]
            items.append(Item("section", top.label, top.score, True, None, top.evidence, top.id))
        for s in shown:
            if s.kind == "tag":
                items.append(
                    Item("tag", s.label, s.score, s.selected, s.threshold, s.evidence, s.id)
                )
        return items

    def _row(self, kind: str, label: str) -> Item | None:
        for item in self.items:
            if item.kind == kind and (kind == "section" or item.label == label):
                return item
        return None

    def _apply_section(self, action: str, label: str) -> None:
        row = self._row("section", "")
        if row is None:
            row = Item("section", label)
            self.items.insert(0, row)
        if action == "section":
            self._relabel_section(row, label)
        row.state = action

    def _relabel_section(self, row: Item, label: str) -> None:
        """Show `label` on the section row with its own score and evidence (if it was shown)."""
        candidate = self.section_shown.get(label)
        row.label = label
        row.score = candidate.score if candidate else None
        row.evidence = candidate.evidence if candidate else []
        row.suggestion_id = candidate.id if candidate else None

    # -- decisions --------------------------------------------------------------------

    def _record(self, action: str, item: Item, label: str | None = None) -> Decision:
        decision = Decision(
            self.article.id,  # type: ignore[union-attr]
            self.editor,
            action,
            label or item.label,
            kind=item.kind,
            suggestion_id=item.suggestion_id if action in ("accept", "reject", "section") else None,
            concept_id=self._concept_id(item.kind, label or item.label),
        )
        self.store.add_decisions([decision])
        self.decided += 1
        return decision

    def _concept_id(self, kind: str, label: str) -> str | None:
        if kind != "tag" or self.vocabulary is None:
            return None
        return self.vocabulary.concept_id(label)

    def _decide(self, action: str) -> None:
        if not self.items:
            self.message = "nothing to decide on"
            return
        item = self.items[self.cursor]
        if item.kind == "tag" and item.state == "add" and action == "accept":
            self.message = f"{item.label} is already added"
            return
        wanted = action
        if item.state == wanted:
            self.message = f"{item.label} already {action}ed"
            return
        before = item.state
        decision = self._record(action, item)
        item.state = action
        self.history.append(_Undo(decision, item, before))
        self.message = f"{action}ed {item.label}"
        if action == "accept" or action == "reject":
            self._move(1)

    def _add_tag(self, label: str) -> None:
        if not label.strip():
            self.message = "no tag given"
            return
        try:
            label = clean_label(label, what="tag")
        except InputError as exc:
            self.message = str(exc)
            return
        row = self._row("tag", label)
        if row is not None and row.state in ("accept", "add"):
            self.message = f"{label} is already a label"
            return
        created = row is None
        if row is None:
            row = Item("tag", label)
            self.items.append(row)
        # a suggested candidate typed in by name is an accept of that suggestion
        action = "accept" if row.suggestion_id is not None else "add"
        before = row.state
        decision = self._record(action, row)
        row.state = action
        self.history.append(_Undo(decision, row, before, created))
        self.cursor = self.items.index(row)
        self.message = f"added {label}" if action == "add" else f"accepted {label}"

    def _change_section(self, label: str) -> None:
        label = label.strip()
        if label not in self.section_vocab:
            self.message = f"unknown section {label!r}; Tab completes"
            return
        row = self._row("section", "")
        if row is not None and row.label == label and row.state in ("accept", "section"):
            self.message = f"section {label} is already chosen"
            return
        top = next(iter(self.section_shown), None)
        if row is not None and label == top:
            # back to the model's own suggestion: an accept of it
            before_label, before_state = row.label, row.state
            self._relabel_section(row, label)
            self.cursor = self.items.index(row)
            decision = self._record("accept", row)
            row.state = "accept"
            self.history.append(_Undo(decision, row, before_state, False, before_label))
            self.message = f"section set to {label}"
            return
        before_label = row.label if row else None
        before_state = row.state if row else None
        created = row is None
        shown = self.section_shown.get(label)
        decision = Decision(
            self.article.id,  # type: ignore[union-attr]
            self.editor,
            "section",
            label,
            kind="section",
            suggestion_id=shown.id if shown else None,  # the candidate it answers
        )
        self.store.add_decisions([decision])
        self.decided += 1
        self._apply_section("section", label)
        row = self._row("section", "")
        assert row is not None
        self.history.append(_Undo(decision, row, before_state, created, before_label))
        self.message = f"section set to {label}"

    def _undo(self) -> None:
        if not self.history:
            self.message = "nothing to undo on this article"
            return
        last = self.history.pop()
        item = last.item
        self.store.add_decisions(
            [
                Decision(
                    last.decision.article_id,
                    self.editor,
                    "undo",
                    last.decision.label,
                    kind=last.decision.kind,
                )
            ]
        )
        self.decided += 1  # a stored row, as `feedback stats` counts it
        if item is not None:
            if last.created and item.kind == "tag":
                self.items.remove(item)
                self.cursor = min(self.cursor, max(0, len(self.items) - 1))
            else:
                item.state = last.before
                if item.kind == "section" and last.before_label is not None:
                    self._relabel_section(item, last.before_label)
                elif item.kind == "section" and last.created:
                    self.items.remove(item)
        self.message = f"undid {last.decision.action} {last.decision.label}"

    def _finish(self) -> None:
        self.store.mark_done(self.article.id, self.editor)  # type: ignore[union-attr]
        self.finished_now += 1
        self.message = f"finished {self.article.id}"  # type: ignore[union-attr]
        self._next()

    def _move(self, step: int) -> None:
        if self.items:
            self.cursor = max(0, min(len(self.items) - 1, self.cursor + step))

    # -- completion -------------------------------------------------------------------

    def completions(self) -> list[str]:
        vocab = self.tag_vocab if self.mode == "add" else self.section_vocab
        text = self.buffer.casefold()
        starts = [v for v in vocab if v.casefold().startswith(text)]
        inside = [v for v in vocab if text in v.casefold() and v not in starts]
        if self.mode == "add" and self.vocabulary is not None and text.strip():
            # preferred labels of current concepts whose label or alias starts so
            concepts = [c["label"] for c in self.vocabulary.complete(self.buffer, 20)]
            return list(dict.fromkeys(concepts + starts + inside))
        return starts + inside

    def _complete(self) -> None:
        options = self.completions()
        if not options:
            self.message = "no completion"
            return
        if len(options) == 1:
            self.buffer = options[0]
            return
        prefix = _common_prefix(
            [o.casefold() for o in options if o.casefold().startswith(self.buffer.casefold())]
        )
        if len(prefix) > len(self.buffer):
            self.buffer = next(o for o in options if o.casefold().startswith(prefix))[: len(prefix)]
        else:
            self.buffer = options[0]

    # -- the one entry point ----------------------------------------------------------

    def handle(self, key: str) -> None:
        """Apply one key press."""
        if self.over:
            return
        if self.mode in ("add", "section"):
            self._handle_input(key)
            return
        self.message = ""
        if key in ("a",):
            self._decide("accept")
        elif key in ("r", "x"):
            self._decide("reject")
        elif key in ("j", DOWN):
            self._move(1)
        elif key in ("k", UP):
            self._move(-1)
        elif key in ("+", "t"):
            self.mode, self.buffer = "add", ""
        elif key == "c":
            if not self.section_vocab:
                self.message = "this model has no sections"
            else:
                self.mode, self.buffer = "section", ""
        elif key in (ENTER, " ", "d"):
            self._finish()
        elif key == "s":
            self.skipped += 1
            self._next()
        elif key == "u":
            self._undo()
        elif key == "q":
            self.quit = True
        else:
            self.message = f"unknown key {key!r}: {HELP}"

    def _handle_input(self, key: str) -> None:
        if key == ESC:
            self.mode, self.buffer, self.message = "browse", "", "cancelled"
        elif key == ENTER:
            mode, text = self.mode, self.buffer
            self.mode, self.buffer = "browse", ""
            if mode == "add":
                self._add_tag(text)
            else:
                self._change_section(text)
        elif key == TAB:
            self._complete()
        elif key == BACKSPACE:
            self.buffer = self.buffer[:-1]
        elif len(key) == 1 and key.isprintable():
            self.buffer += key

    def summary(self) -> str:
        left = max(0, len(self.queue) - self.index) if not self.over or self.quit else 0
        text = (
            f"{self.decided} decision(s) saved; {self.finished_now} article(s) finished, "
            f"{self.skipped} skipped"
        )
        if self.already_done:
            text += f", {self.already_done} finished earlier (not shown)"
        if self.quit and left:
            text += f"; {left} left for next time"
        return text


def _common_prefix(words: list[str]) -> str:
    if not words:
        return ""
    first, last = min(words), max(words)
    n = 0
    while n < min(len(first), len(last)) and first[n] == last[n]:
        n += 1
    return first[:n]


# -- drawing and the terminal loop ------------------------------------------------------


def lead(body: str, limit: int = 400) -> str:
    """The first paragraph of the body, cut at a word boundary."""
    first = body.strip().split("\n\n")[0].strip()
    if len(first) <= limit:
        return first
    return first[:limit].rsplit(" ", 1)[0] + " …"


def render(session: ReviewSession) -> Any:
    """The screen as a rich renderable."""
    from rich.console import Group
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    from tagger.render import plain

    if session.over:
        return Text("review over", style="dim")
    article = session.article
    assert article is not None
    header = Text()
    header.append(f"[{session.index + 1}/{len(session.queue)}] ", style="dim")
    header.append(article.title or "(no title)", style="bold")
    header.append(f"\n{article.id}", style="dim")
    table = Table(show_header=True, box=None, pad_edge=False)
    for column in ("", "kind", "label", "score", "decision"):
        table.add_column(column)
    marks = {
        "accept": "✓ accepted",
        "reject": "✗ rejected",
        "add": "+ added",
        "section": "→ chosen",
    }
    for i, item in enumerate(session.items):
        score = f"{item.score:.2f}" if item.score is not None else ""
        if item.threshold is not None:
            score += f" / {item.threshold:.2f}"
        style = "reverse" if i == session.cursor else ""
        label = item.label + (" *" if item.selected and item.kind == "tag" else "")
        table.add_row(
            "›" if i == session.cursor else " ",
            item.kind,
            plain(label),  # a label from a file or an editor: text, not markup
            score,
            marks.get(item.state or "", ""),
            style=style,
        )
    parts: list[Any] = [header, Text(lead(article.body)), table]
    if session.items:
        current = session.items[session.cursor]
        terms = evidence_text(current.evidence) or "none"
        parts.append(Text(f"evidence for {current.label}: {terms}", style="dim"))
    if session.mode in ("add", "section"):
        what = "add tag" if session.mode == "add" else "section"
        options = session.completions()[:8]
        parts.append(Text(f"{what}: {session.buffer}▏  (Tab completes, Enter, Esc)"))
        if options and session.mode == "add" and session.vocabulary is not None:
            for option in options:  # each concept with its id and parent
                about = session.vocabulary.describe(option)
                parts.append(Text(f"  {option}" + (f"  ({about})" if about else ""), style="cyan"))
        elif options:
            parts.append(Text("  " + "  ".join(options), style="cyan"))
    parts.append(Text("* over the tag's threshold   " + HELP, style="dim"))
    if session.message:
        parts.append(Text(session.message, style="yellow"))
    return Panel(Group(*parts), title=f"tagger review · {session.editor}")


def run_review(
    session: ReviewSession, keys: Iterable[str], draw: Callable[[ReviewSession], None]
) -> str:
    """Feed keys to the session, drawing after each, until it is over or keys run out."""
    draw(session)
    for key in keys:
        session.handle(key)
        draw(session)
        if session.over:
            break
    return session.summary()


_ESCAPES = {"[A": UP, "[B": DOWN, "OA": UP, "OB": DOWN}
_CONTROL = {"\r": ENTER, "\n": ENTER, "\t": TAB, "\x7f": BACKSPACE, "\x08": BACKSPACE}


def parse_keys(data: str) -> list[str]:
    """Split what the terminal sent (possibly several keys at once) into key names."""
    keys: list[str] = []
    i = 0
    while i < len(data):
        ch = data[i]
        if ch == "\x1b":
            sequence = data[i + 1 : i + 3]
            if sequence in _ESCAPES:
                keys.append(_ESCAPES[sequence])
                i += 3
                continue
            if sequence[:1] == "[":  # another escape sequence (left, right, ...): ignored
                j = i + 2
                while j < len(data) and not data[j].isalpha() and data[j] != "~":
                    j += 1
                i = j + 1
                continue
            keys.append(ESC)
        elif ch == "\x03":
            raise KeyboardInterrupt
        else:
            keys.append(_CONTROL.get(ch, ch))
        i += 1
    return keys


def terminal_keys() -> Iterator[str]:
    """Single key presses from the terminal (cbreak mode), as names or characters."""
    import select
    import termios
    import tty

    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    try:
        tty.setcbreak(fd)
        while True:
            data = os.read(fd, 64)
            if not data:
                return
            # an escape sequence may arrive in two reads
            if data.endswith(b"\x1b") and select.select([fd], [], [], 0.05)[0]:
                data += os.read(fd, 64)
            yield from parse_keys(data.decode("utf-8", errors="replace"))
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def require_terminal() -> None:
    """Refuse (exit 2) to review without an interactive terminal on stdin and stdout."""
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise InputError("tagger review needs an interactive terminal")


def run_terminal_review(
    model: Any,
    articles: Sequence[Article],
    store: FeedbackStore,
    editor: str,
    *,
    order: str = "input",
    top_k: int = 8,
    vocabulary: Any = None,
) -> str:
    """The interactive review on this terminal; returns a one-line summary."""
    require_terminal()
    from tagger.console import safe_console_class

    session = ReviewSession(
        model, articles, store, editor, order=order, top_k=top_k, vocabulary=vocabulary
    )
    if not session.queue:
        return f"nothing to review: all {session.already_done} article(s) finished by {editor}"
    # titles, bodies and other editors' labels are untrusted: escaped when drawn
    console = safe_console_class()()

    def draw(s: ReviewSession) -> None:
        console.clear()
        console.print(render(s))

    return run_review(session, terminal_keys(), draw)
