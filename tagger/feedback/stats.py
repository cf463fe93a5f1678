"""Acceptance rates of suggestions: per tag, per section and per model version."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from tagger.feedback.store import FeedbackStore, resolve


def _rate(accepted: int, rejected: int) -> float | None:
    return accepted / (accepted + rejected) if accepted + rejected else None


def feedback_stats(store: FeedbackStore) -> dict[str, Any]:
    """Counts over the standing decisions (a changed mind counts once, as it ended).

    A suggested tag is accepted or rejected; an added tag is one the model missed.
    A section is accepted, rejected, or replaced by another (the suggested one then
    counts as rejected).
    """
    decisions = store.decisions()
    shown = store.suggestions()
    by_id = {s.id: s for s in shown}
    suggested_section: dict[str, Any] = {}
    for article_id, s in _selected_sections(store):
        suggested_section[article_id] = s
    tags: dict[str, Counter[str]] = defaultdict(Counter)
    sections: dict[str, Counter[str]] = defaultdict(Counter)
    models: dict[str, Counter[str]] = defaultdict(Counter)
    editors: Counter[str] = Counter(d.editor for d in decisions)
    resolved = resolve(decisions)

    def model_key(suggestion_id: int | None) -> str:
        s = by_id.get(suggestion_id) if suggestion_id is not None else None
        if s is None or not s.model_id:
            return "unknown"
        key = f"{s.model_id} ({s.model_version})" if s.model_version else s.model_id
        # a model id a client claimed but the service never served
        return f"{key} [unverified]" if s.model_verified is False else key

    for article_id, r in resolved.items():
        for label, d in r.tags.items():
            action = {"accept": "accepted", "reject": "rejected", "add": "added"}[d.action]
            tags[label][action] += 1
            if d.action != "add":
                models[model_key(d.suggestion_id)][action] += 1
        d = r.section
        if d is None:
            continue
        if d.action in ("accept", "reject"):
            outcome = "accepted" if d.action == "accept" else "rejected"
            sections[d.label][outcome] += 1
            models[model_key(d.suggestion_id)][outcome] += 1
        else:  # chose another section
            sections[d.label]["chosen"] += 1
            s = suggested_section.get(article_id)
            if s is not None:
                outcome = "accepted" if s.label == d.label else "rejected"
                sections[s.label][outcome] += 1
                models[model_key(s.id)][outcome] += 1

    def table(counts: dict[str, Counter[str]], extra: tuple[str, ...]) -> list[dict[str, Any]]:
        rows = []
        for label, c in counts.items():
            row: dict[str, Any] = {
                "label": label,
                "accepted": c["accepted"],
                "rejected": c["rejected"],
                **{k: c[k] for k in extra},
                "acceptance": _rate(c["accepted"], c["rejected"]),
            }
            rows.append(row)
        return sorted(rows, key=lambda r: (-(r["accepted"] + r["rejected"]), r["label"]))

    total_accepted = sum(c["accepted"] for c in tags.values())
    total_rejected = sum(c["rejected"] for c in tags.values())
    return {
        "articles": len(resolved),
        "decisions": len(decisions),
        "editors": dict(editors.most_common()),
        "tag_acceptance": _rate(total_accepted, total_rejected),
        "tags": table(tags, ("added",)),
        "sections": table(sections, ("chosen",)),
        "models": table(models, ("added",)),
    }


def _selected_sections(store: FeedbackStore) -> list[tuple[str, Any]]:
    """(article, the latest top section suggestion shown for it)."""
    latest: dict[str, Any] = {}
    for s in store.suggestions():
        if s.kind == "section" and s.selected and s.article_id:
            latest[s.article_id] = s
    return list(latest.items())


def render_feedback_stats(stats: dict[str, Any], console: Any) -> None:
    """Tables of acceptance per tag, section and model on stdout."""
    from rich.table import Table

    from tagger.render import plain

    rate = stats["tag_acceptance"]
    console.out.print(
        f"{stats['decisions']} decision(s) on {stats['articles']} article(s) by "
        f"{len(stats['editors'])} editor(s); tag acceptance "
        + (f"{rate:.1%}" if rate is not None else "n/a")
    )
    for key, title, extra in (
        ("models", "Model version", "added"),
        ("sections", "Section", "chosen"),
        ("tags", "Tag", "added"),
    ):
        rows = stats[key]
        if not rows:
            continue
        table = Table(title=None, show_edge=False)
        table.add_column(title)
        for column in ("accepted", "rejected", extra, "acceptance"):
            table.add_column(column, justify="right")
        for row in rows:
            acceptance = row["acceptance"]
            table.add_row(
                plain(row["label"]),
                str(row["accepted"]),
                str(row["rejected"]),
                str(row[extra]),
                f"{acceptance:.1%}" if acceptance is not None else "-",
            )
        console.out.print(table)
