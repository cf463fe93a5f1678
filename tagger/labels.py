"""Label hygiene: merge case and whitespace variants of sections and tags."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence

from tagger.corpus.article import Article
from tagger.corpus.text import normalise_label


def _canonical_forms(labels: Counter[str]) -> tuple[dict[str, str], list[str]]:
    """Map every variant to the most common spelling of its case-folded form."""
    groups: dict[str, Counter[str]] = defaultdict(Counter)
    raw_of: dict[str, set[str]] = defaultdict(set)  # one pass: linear in the number of labels
    for label, count in labels.items():
        clean = normalise_label(label)
        groups[clean.casefold()][clean] += count
        raw_of[clean.casefold()].add(label)
    mapping: dict[str, str] = {}
    notes: list[str] = []
    for key, forms in groups.items():
        best = sorted(forms.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
        raw_variants = raw_of[key]
        for raw in raw_variants:
            mapping[raw] = best
        if len(raw_variants) > 1:
            variants = ", ".join(f"{v!r} ({labels[v]})" for v in sorted(raw_variants) if v != best)
            total = sum(labels[v] for v in raw_variants)
            notes.append(f"merged label variants {variants} into {best!r} ({total} in all)")
    return mapping, notes


def normalise_labels(articles: Sequence[Article]) -> list[str]:
    """Rewrite sections and tags in place to one spelling each; returns what was merged."""
    sections = Counter(a.section for a in articles if a.section)
    tags = Counter(t for a in articles for t in a.tags if t.strip())
    section_map, notes = _canonical_forms(sections)
    tag_map, tag_notes = _canonical_forms(tags)
    for article in articles:
        if article.section is not None:
            article.section = section_map.get(article.section) or None
        seen: dict[str, None] = {}
        for tag in article.tags:
            if tag.strip():
                seen.setdefault(tag_map[tag])
        article.tags = list(seen)
    return notes + tag_notes


def normalise_label_stream(articles: Iterable[Article]) -> Iterator[Article]:
    """Articles one at a time with surrounding spaces and empty tags removed and tags
    de-duplicated (the per-article part of `normalise_labels`, which needs the corpus)."""
    for article in articles:
        if article.section is not None:
            article.section = normalise_label(article.section) or None
        seen: dict[str, None] = {}
        for tag in article.tags:
            clean = normalise_label(tag)
            if clean:
                seen.setdefault(clean)
        article.tags = list(seen)
        yield article
