"""Corpus statistics: counts, label frequencies, missing fields, duplicate ids."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable
from typing import Any

from tagger.corpus.article import Article

CHECKED_FIELDS = ("title", "body", "section", "tags", "published", "authors", "url")


def corpus_stats(articles: Iterable[Article]) -> dict[str, Any]:
    sections: Counter[str] = Counter()
    tags: Counter[str] = Counter()
    missing: Counter[str] = Counter()
    ids: Counter[str] = Counter()
    words: list[int] = []
    tags_per_article: list[int] = []
    n = 0
    for article in articles:
        n += 1
        ids[article.id] += 1
        if article.section:
            sections[article.section] += 1
        tags.update(article.tags)
        tags_per_article.append(len(article.tags))
        words.append(len(article.body.split()))
        for name in CHECKED_FIELDS:
            if not getattr(article, name):
                missing[name] += 1
    duplicates = {i: c for i, c in ids.items() if c > 1}
    return {
        "articles": n,
        "sections": dict(sections.most_common()),
        "tags": dict(tags.most_common()),
        "distinct_tags": len(tags),
        "tags_per_article": statistics.mean(tags_per_article) if tags_per_article else 0.0,
        "body_words": {
            "min": min(words) if words else 0,
            "median": statistics.median(words) if words else 0,
            "max": max(words) if words else 0,
        },
        "missing": {name: missing[name] for name in CHECKED_FIELDS},
        "duplicate_ids": duplicates,
    }
