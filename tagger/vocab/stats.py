"""Counts that describe a vocabulary (`tagger vocab stats`)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from tagger.vocab.importers import SUBJECT_CODES
from tagger.vocab.model import Concept, Vocabulary


def _maps_to(concept: Concept, needle: str) -> bool:
    return any(
        needle in uri for uri in concept.exact_match + concept.close_match + concept.broad_match
    )


def vocabulary_stats(vocab: Vocabulary) -> dict[str, Any]:
    """Concepts, retired, top level, depth, labels and mappings, as the IPTC README counts."""
    concepts = list(vocab)
    current = [c for c in concepts if not c.retired]
    levels = Counter(vocab.depth(c.id) for c in current)
    return {
        "name": vocab.name,
        "release": vocab.release,
        "fingerprint": vocab.meta.get("fingerprint") or vocab.fingerprint(),
        "concepts": len(concepts),
        "retired": len(concepts) - len(current),
        "current": len(current),
        "top_level": len(vocab.top_concepts()),
        "max_depth": max((vocab.depth(c.id) for c in concepts), default=0),
        "current_per_level": {str(k): levels[k] for k in sorted(levels)},
        "with_definition": sum(1 for c in concepts if c.definition),
        "with_alt_label": sum(1 for c in concepts if c.alt_labels),
        "with_hidden_label": sum(1 for c in concepts if c.hidden_labels),
        "current_with_subject_code": sum(1 for c in current if _maps_to(c, SUBJECT_CODES)),
        "with_subject_code": sum(1 for c in concepts if _maps_to(c, SUBJECT_CODES)),
        "with_wikidata": sum(1 for c in concepts if _maps_to(c, "wikidata.org/")),
        "retired_with_replacement": sum(1 for c in concepts if c.retired and c.replaced_by),
        "sources": vocab.meta.get("sources", []),
    }
