"""Search a vocabulary by words of its labels, aliases and definitions."""

from __future__ import annotations

from typing import Any

from tagger.vocab.model import Vocabulary
from tagger.vocab.normalise import label_key


def search(
    vocab: Vocabulary, query: str, limit: int = 20, include_retired: bool = False
) -> list[dict[str, Any]]:
    """Concepts with every word of `query` in a label or alias (ranked first: exact, then
    prefix, then shallower), then those with every word in their definition."""
    words = label_key(query).split()
    if not words:
        return []
    ranked = []
    for concept in vocab:
        if concept.retired and not include_retired:
            continue
        labels = [label_key(x) for x in (concept.label, *concept.aliases)]
        key = label_key(query)
        if any(key == lab for lab in labels):
            rank = 0
        elif any(lab.startswith(key) for lab in labels):
            rank = 1
        elif any(all(w in lab.split() for w in words) for lab in labels):
            rank = 2
        elif any(all(w in lab for w in words) for lab in labels):
            rank = 3
        elif concept.definition and all(w in label_key(concept.definition).split() for w in words):
            rank = 4
        else:
            continue
        ranked.append((rank, vocab.depth(concept.id), concept.label, concept))
    ranked.sort(key=lambda r: r[:3])
    out = []
    for rank, _depth, _label, concept in ranked[:limit]:
        parent = vocab.parents(concept.id)
        out.append(
            {
                "id": concept.id,
                "label": concept.label,
                "uri": concept.uri,
                "parent": parent[0].label if parent else None,
                "retired": concept.retired,
                "match": ("label", "label", "label", "label", "definition")[rank],
            }
        )
    return out
