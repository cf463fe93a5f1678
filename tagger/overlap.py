"""Which articles a model was trained on: a Bloom filter of the training articles' texts,
kept in the bundle, so that `evaluate` and `learn` can say when test articles are ones the
model has seen (its figures on them are optimistic)."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

FALSE_POSITIVES = 0.001  # the filter's designed false-positive rate
MAX_HASHES = 16


def article_key(title: str, body: str) -> bytes:
    """A digest of an article's text: case and spacing do not count, ids and labels not."""
    text = " ".join(f"{title}\n{body}".casefold().split())
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


class TrainingFilter:
    """A Bloom filter of training articles (`article_key`): no false negatives, about
    `FALSE_POSITIVES` false positives."""

    def __init__(self, bits: np.ndarray, n_bits: int, hashes: int, articles: int) -> None:
        self.bits = bits
        self.n_bits = n_bits
        self.hashes = hashes
        self.articles = articles

    @classmethod
    def build(cls, keys: Iterable[tuple[str, str]], count: int) -> TrainingFilter:
        """A filter for `count` articles given as (title, body)."""
        count = max(count, 1)
        n_bits = max(64, math.ceil(-count * math.log(FALSE_POSITIVES) / math.log(2) ** 2))
        hashes = min(MAX_HASHES, max(1, round(n_bits / count * math.log(2))))
        made = cls(np.zeros((n_bits + 7) // 8, dtype=np.uint8), n_bits, hashes, 0)
        for title, body in keys:
            made.add(title, body)
        return made

    def _positions(self, title: str, body: str) -> list[int]:
        digest = article_key(title, body)
        h1 = int.from_bytes(digest[:8], "big")
        h2 = int.from_bytes(digest[8:16], "big") | 1
        return [(h1 + i * h2) % self.n_bits for i in range(self.hashes)]

    def add(self, title: str, body: str) -> None:
        for p in self._positions(title, body):
            self.bits[p >> 3] |= np.uint8(1 << (p & 7))
        self.articles += 1

    def watch(self, articles: Iterable[Any]) -> Iterator[Any]:
        """The articles, each added as it passes."""
        for article in articles:
            self.add(article.title, article.body)
            yield article

    def __contains__(self, article: Any) -> bool:
        return all(
            self.bits[p >> 3] & (1 << (p & 7)) for p in self._positions(article.title, article.body)
        )

    # -- in a bundle: the features component's JSON and arrays ---------------------------

    def to_state(self) -> tuple[dict[str, Any], np.ndarray]:
        meta = {"bits": self.n_bits, "hashes": self.hashes, "articles": self.articles}
        return meta, self.bits

    @classmethod
    def from_state(cls, meta: Any, bits: Any) -> TrainingFilter | None:
        """The filter, or None when the bundle has none or it does not fit together."""
        if not isinstance(meta, dict) or not isinstance(bits, np.ndarray):
            return None
        n_bits, hashes, articles = meta.get("bits"), meta.get("hashes"), meta.get("articles")
        if not all(type(v) is int and v >= 0 for v in (n_bits, hashes, articles)):
            return None
        if bits.dtype != np.uint8 or bits.ndim != 1 or bits.size != (n_bits + 7) // 8:
            return None
        if not 1 <= hashes <= MAX_HASHES or n_bits < 1:
            return None
        return cls(bits, n_bits, hashes, articles)


class OverlapCounter:
    """Counts, while they pass, the articles a model's training filter holds."""

    def __init__(self, found: TrainingFilter | None) -> None:
        self.filter = found
        self.seen = 0
        self.overlap = 0

    def watch(self, articles: Iterable[Any]) -> Iterator[Any]:
        for article in articles:
            self.seen += 1
            if self.filter is not None and article in self.filter:
                self.overlap += 1
            yield article

    def warning(self, what: str = "test articles") -> str | None:
        """One line when some articles were in the training corpus, else None."""
        if not self.overlap:
            return None
        share = self.overlap / max(self.seen, 1)
        return (
            f"{self.overlap} of {self.seen} {what} ({share:.0%}) are in the model's training "
            "corpus (same title and body): its figures on them are optimistic; evaluate on "
            "articles it has not seen (tagger corpus split)"
        )
