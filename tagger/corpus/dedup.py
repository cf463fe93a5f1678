"""Duplicates: exact (normalised content hash) and near (MinHash over word shingles).

Near-duplicates are what wire services produce: one story republished with another first
paragraph, a different headline or a trimmed ending. They are found with MinHash LSH
(datasketch) over 5-word shingles of the body and confirmed by the estimated Jaccard
similarity. Groups join duplicates transitively, so that a train/test split can keep
each group on one side.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field

from tagger.corpus.article import Article

SHINGLE = 5
NUM_PERM = 64
DEFAULT_THRESHOLD = 0.5

_TOKEN = re.compile(r"\w+")


def tokens(text: str) -> list[str]:
    """Words of a text, case-folded and NFKC-normalised (punctuation and spacing ignored)."""
    return _TOKEN.findall(unicodedata.normalize("NFKC", text).casefold())


def content_hash(article: Article) -> str:
    """Hash of the normalised body (the title when there is no body)."""
    words = tokens(article.body) or tokens(article.title)
    return hashlib.sha1(" ".join(words).encode()).hexdigest()


def shingles(words: Sequence[str], size: int = SHINGLE) -> set[bytes]:
    if len(words) <= size:
        return {" ".join(words).encode()} if words else set()
    return {" ".join(words[i : i + size]).encode() for i in range(len(words) - size + 1)}


@dataclass
class Duplicate:
    """One article found to duplicate an earlier one."""

    index: int
    original: int
    kind: str  # "exact" or "near"
    similarity: float


@dataclass
class DuplicateReport:
    """Duplicates of a corpus: pairs, and a group id for every article."""

    duplicates: list[Duplicate] = field(default_factory=list)
    groups: list[int] = field(default_factory=list)

    @property
    def exact(self) -> int:
        return sum(d.kind == "exact" for d in self.duplicates)

    @property
    def near(self) -> int:
        return sum(d.kind == "near" for d in self.duplicates)

    def duplicate_indices(self) -> set[int]:
        return {d.index for d in self.duplicates}

    def summary(self) -> str:
        multi = sum(1 for n in _sizes(self.groups).values() if n > 1)
        return (
            f"{len(self.duplicates)} duplicate(s): {self.exact} exact, {self.near} near "
            f"(in {multi} group(s) of related articles)"
        )


def _sizes(groups: Sequence[int]) -> dict[int, int]:
    sizes: dict[int, int] = {}
    for g in groups:
        sizes[g] = sizes.get(g, 0) + 1
    return sizes


def find_duplicates(
    articles: Sequence[Article],
    threshold: float = DEFAULT_THRESHOLD,
    near: bool = True,
) -> DuplicateReport:
    """Exact and near-duplicates; each duplicate points to the first article it repeats."""
    parent = list(range(len(articles)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def join(i: int, j: int) -> None:
        ri, rj = root(i), root(j)
        if ri != rj:
            parent[max(ri, rj)] = min(ri, rj)

    report = DuplicateReport()
    first_by_hash: dict[str, int] = {}
    unique: list[int] = []
    for i, article in enumerate(articles):
        digest = content_hash(article)
        if digest in first_by_hash:
            report.duplicates.append(Duplicate(i, first_by_hash[digest], "exact", 1.0))
            join(i, first_by_hash[digest])
        else:
            first_by_hash[digest] = i
            unique.append(i)
    if near and len(unique) > 1:
        for i, j, similarity in _near_pairs(articles, unique, threshold):
            report.duplicates.append(Duplicate(i, j, "near", similarity))
            join(i, j)
    report.duplicates.sort(key=lambda d: d.index)
    report.groups = [root(i) for i in range(len(articles))]
    return report


def _near_pairs(
    articles: Sequence[Article], indices: Sequence[int], threshold: float
) -> list[tuple[int, int, float]]:
    """(later, earlier, similarity) for articles whose shingle sets overlap enough."""
    from datasketch import MinHash, MinHashLSH

    lsh = MinHashLSH(threshold=threshold, num_perm=NUM_PERM)
    hashes: dict[int, MinHash] = {}
    pairs = []
    for i in indices:
        article = articles[i]
        grams = shingles(tokens(article.body) or tokens(article.title))
        if not grams:
            continue
        minhash = MinHash(num_perm=NUM_PERM, seed=1)
        minhash.update_batch(list(grams))
        candidates = lsh.query(minhash)
        best = None
        for candidate in candidates:
            similarity = minhash.jaccard(hashes[candidate])
            if similarity >= threshold and (best is None or similarity > best[1]):
                best = (candidate, similarity)
        if best is not None:
            pairs.append((i, best[0], float(best[1])))
        lsh.insert(i, minhash)
        hashes[i] = minhash
    return pairs


def near_duplicate_groups(
    articles: Sequence[Article], threshold: float = DEFAULT_THRESHOLD
) -> list[int]:
    """A group id per article: duplicates (exact or near) share one."""
    return find_duplicates(articles, threshold).groups


def deduplicate(
    articles: Sequence[Article], threshold: float = DEFAULT_THRESHOLD, near: bool = True
) -> tuple[list[Article], DuplicateReport]:
    """The articles with every duplicate removed (the first of each group is kept)."""
    report = find_duplicates(articles, threshold, near=near)
    dropped = report.duplicate_indices()
    return [a for i, a in enumerate(articles) if i not in dropped], report
