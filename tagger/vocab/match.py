"""Corpus tags to vocabulary concepts: by id, preferred or alternative label after
normalisation, a title dropped; retired concepts to their replacements."""

from __future__ import annotations

import difflib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tagger.corpus.article import Article
from tagger.errors import EXIT_FAILED, InputError
from tagger.vocab.model import Concept, Vocabulary
from tagger.vocab.normalise import label_key, strip_title

UNMATCHED_POLICIES = ("keep", "drop", "fail")


@dataclass
class Match:
    """How a tag string found its concept (`how`: id, label, alias, title), and the
    retired concept it went through, if any."""

    concept: Concept
    how: str
    retired: Concept | None = None


def match_tag(vocab: Vocabulary, tag: str) -> Match | None:
    """The current concept `tag` stands for, or None (unknown, or retired without a
    replacement)."""
    concept = vocab.lookup(tag)
    how = "label"
    if concept is None:
        stripped = strip_title(label_key(tag))
        if stripped != label_key(tag):
            concept, how = vocab.lookup(stripped), "title"
    if concept is None:
        return None
    if how == "label":
        key = label_key(tag)
        if key in (label_key(concept.id), label_key(concept.uri or "")):
            how = "id"
        elif key != label_key(concept.label):
            how = "alias"
    if concept.retired:
        current = vocab.replacement(concept.id)
        return Match(current, how, retired=concept) if current else None
    return Match(concept, how)


def closest(vocab: Vocabulary, tag: str, n: int = 3) -> list[Concept]:
    """Current concepts whose labels or aliases are spelled most like `tag`."""
    keys: dict[str, str] = {}
    for concept in vocab.current():
        for label in (concept.label, *concept.aliases):
            keys.setdefault(label_key(label), concept.id)
    key = label_key(tag)
    found = difflib.get_close_matches(key, list(keys), n=n * 2, cutoff=0.8)
    # A tag that is one word of a label ("budget" -> "government budget") is close too.
    found += [k for k in keys if key and f" {key} " in f" {k} " and k not in found]
    ids = list(dict.fromkeys(keys[k] for k in found))
    return [vocab.concepts[i] for i in ids[:n]]


@dataclass
class MappingReport:
    """What `map_corpus` did: per tag, its concept; unmatched tags with counts."""

    matched: dict[str, dict[str, Any]] = field(default_factory=dict)  # tag -> concept info
    unmatched: Counter[str] = field(default_factory=Counter)
    closest: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    sections: dict[str, str] = field(default_factory=dict)  # section -> concept label
    policy: str = "keep"

    def lines(self, limit: int = 20) -> list[str]:
        """One line per finding, for the train command's report."""
        by_how = Counter(m["how"] for m in self.matched.values())
        out = [
            f"vocabulary: {len(self.matched)} tag(s) matched to concepts "
            f"({', '.join(f'{n} by {h}' for h, n in sorted(by_how.items()))})"
        ]
        retired = [t for t, m in self.matched.items() if m.get("retired")]
        for tag in retired[:limit]:
            m = self.matched[tag]
            out.append(f"  retired {m['retired']} {tag!r} -> replacement {m['id']} {m['label']!r}")
        if self.unmatched:
            what = {"keep": "kept as plain tags", "drop": "dropped", "fail": "refused"}
            out.append(
                f"{len(self.unmatched)} tag(s) ({sum(self.unmatched.values())} use(s)) match "
                f"no concept, {what[self.policy]}:"
            )
            for tag, count in self.unmatched.most_common(limit):
                near = ", ".join(f"{c['id']} {c['label']!r}" for c in self.closest.get(tag, []))
                out.append(f"  {tag!r} ({count})" + (f": closest {near}" if near else ""))
            if len(self.unmatched) > limit:
                out.append(f"  … and {len(self.unmatched) - limit} more")
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "matched": len(self.matched),
            "unmatched": dict(self.unmatched.most_common()),
            "policy": self.policy,
        }


class UnmatchedTags(InputError):
    """--unmatched fail: the corpus has tags outside the vocabulary (exit 1)."""

    exit_code = EXIT_FAILED


def map_corpus(
    articles: Sequence[Article], vocab: Vocabulary, unmatched: str = "keep"
) -> MappingReport:
    """Rewrite the articles' tags in place to their concepts' preferred labels.

    Unmatched tags are kept as plain tags, dropped, or refused (`UnmatchedTags`, nothing
    changed) by `unmatched`. Sections that name a concept take its label; others stay.
    """
    if unmatched not in UNMATCHED_POLICIES:
        raise ValueError(f"unmatched must be one of {UNMATCHED_POLICIES}")
    report = MappingReport(policy=unmatched)
    cache: dict[str, Match | None] = {}
    counts = Counter(t for a in articles for t in a.tags)
    for tag, count in counts.items():
        m = cache[tag] = match_tag(vocab, tag)
        if m is None:
            report.unmatched[tag] = count
            report.closest[tag] = [{"id": c.id, "label": c.label} for c in closest(vocab, tag)]
        else:
            report.matched[tag] = {
                "id": m.concept.id,
                "label": m.concept.label,
                "how": m.how,
                "retired": m.retired.id if m.retired else None,
            }
    if unmatched == "fail" and report.unmatched:
        first = ", ".join(repr(t) for t, _ in report.unmatched.most_common(5))
        raise UnmatchedTags(
            f"{len(report.unmatched)} tag(s) match no concept of the vocabulary "
            f"(--unmatched fail): {first}"
        )
    for article in articles:
        section = article.section
        rewrite_article(article, vocab, cache, keep=unmatched == "keep")
        if section and section != article.section:
            report.sections[section] = str(article.section)
    return report


def rewrite_article(
    article: Article, vocab: Vocabulary, cache: dict[str, Match | None], *, keep: bool = True
) -> None:
    """One article's tags (and section) to their concepts' preferred labels, in place;
    tags matching nothing kept (`keep`) or dropped. `cache` holds each tag's match."""
    tags: dict[str, None] = {}
    for tag in article.tags:
        if tag not in cache:
            cache[tag] = match_tag(vocab, tag)
        m = cache[tag]
        if m is not None:
            tags.setdefault(m.concept.label)
        elif keep:
            tags.setdefault(tag)
    article.tags = list(tags)
    if article.section:
        m = match_tag(vocab, article.section)
        if m is not None:
            article.section = m.concept.label
