"""A headline mention is chosen the same way in every process (no hash-seed order)."""

from __future__ import annotations

from tagger.entities.canonical import Canonicalizer, Mention, _Entity


def test_a_tie_in_length_prefers_the_entity_name_whatever_the_set_order() -> None:
    # "Peru" and "LIMA" (a form met in the body) are both 4 characters; a set of forms is
    # iterated in an order that depends on PYTHONHASHSEED, so --jobs workers used to
    # disagree on which headline word was the country's mention.
    title = "PERU CENTRAL BANK SELLS DOLLARS IN LIMA"
    body = "LIMA, May 2 - The central bank sold dollars, dealers said."
    text = f"{title}\n\n{body}"
    body_start = len(title) + 2
    for order in range(2):
        entity = _Entity("COUNTRY", "Peru", [Mention(body_start, body_start + 4)])
        if order:
            entity.mentions.reverse()
        Canonicalizer._title_mentions(None, text, len(title), [entity])  # type: ignore[arg-type]
        headline = [m for m in entity.mentions if m.start < len(title)]
        assert [(m.start, m.end) for m in headline] == [(0, 4)]


def test_ties_between_other_forms_are_broken_by_text() -> None:
    title = "TALKS IN LIMA AND ROME"
    text = f"{title}\n\nLIMA and ROME, May 2 - officials met."
    start = len(title) + 2
    entity = _Entity(
        "COUNTRY", "Somewhere", [Mention(start, start + 4), Mention(start + 9, start + 13)]
    )
    Canonicalizer._title_mentions(None, text, len(title), [entity])  # type: ignore[arg-type]
    headline = [text[m.start : m.end] for m in entity.mentions if m.start < len(title)]
    assert headline == ["LIMA"]
