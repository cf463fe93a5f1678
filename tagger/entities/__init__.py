"""Entities: people, countries and agencies under canonical names, ranked by salience.

spaCy is imported only when a text has to be analysed (not for cache hits, not on import).
"""

from __future__ import annotations

from tagger.entities.analyze import analyze_articles, chunk_text
from tagger.entities.canonical import PRIMARY_TYPES, SECONDARY_TYPES

__all__ = ["PRIMARY_TYPES", "SECONDARY_TYPES", "analyze_articles", "chunk_text"]
