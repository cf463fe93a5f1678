"""Features: tf-idf word and character n-grams over title and body, plus entity features."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from tagger.corpus.article import Article


@dataclass
class FeatureConfig:
    """How articles become a sparse matrix."""

    word_ngrams: tuple[int, int] = (1, 2)
    word_min_df: int = 2
    word_max_df: float = 0.9
    char_ngrams: tuple[int, int] | None = None
    char_min_df: int = 3
    char_weight: float = 1.0
    title_repeat: int = 2
    max_features: int | None = 400_000
    entity_weight: float = 0.0
    entity_types: tuple[str, ...] = ("PERSON", "COUNTRY", "AGENCY")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureConfig:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        for key in ("word_ngrams", "char_ngrams"):
            if isinstance(known.get(key), list):
                known[key] = tuple(known[key])
        if isinstance(known.get("entity_types"), list):
            known["entity_types"] = tuple(known["entity_types"])
        return cls(**known)


def article_features_text(article: Article, title_repeat: int) -> str:
    """Text the vectorizers see: the title repeated (a cheap title weighting), then the body."""
    title = article.title.strip()
    if title and title_repeat > 0:
        return " . ".join([title] * title_repeat) + " . " + article.body
    return article.body


def entity_tokens(entities: Sequence[dict[str, Any]], types: Sequence[str]) -> list[str]:
    """One token per distinct canonical entity, such as 'PERSON=Marco Rubio'."""
    wanted = set(types)
    return sorted({f"{e['type']}={e['name']}" for e in entities if e.get("type") in wanted})


def _identity(tokens: list[str]) -> list[str]:
    return tokens


@dataclass
class Featurizer:
    """Fits the vectorizers on a training corpus and turns articles into rows."""

    config: FeatureConfig = field(default_factory=FeatureConfig)
    word: Any = None
    char: Any = None
    entity: Any = None

    @property
    def uses_entities(self) -> bool:
        return self.config.entity_weight > 0

    def _build(self) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer

        cfg = self.config
        self.word = TfidfVectorizer(
            ngram_range=cfg.word_ngrams,
            min_df=cfg.word_min_df,
            max_df=cfg.word_max_df,
            sublinear_tf=True,
            strip_accents="unicode",
            max_features=cfg.max_features,
            dtype=np.float32,
        )
        if cfg.char_ngrams:
            self.char = TfidfVectorizer(
                analyzer="char_wb",
                ngram_range=cfg.char_ngrams,
                min_df=cfg.char_min_df,
                sublinear_tf=True,
                max_features=cfg.max_features,
                dtype=np.float32,
            )
        if self.uses_entities:
            self.entity = TfidfVectorizer(
                analyzer=_identity, lowercase=False, sublinear_tf=True, dtype=np.float32
            )

    def _stack(self, parts: list[sp.spmatrix]) -> sp.csr_matrix:
        # Rows of each block are L2-normalised; the stack is re-normalised so that
        # adding a block never changes the scale the classifiers see.
        from sklearn.preprocessing import normalize

        matrix = sp.hstack(parts, format="csr", dtype=np.float32)
        return normalize(matrix, copy=False)

    def fit_transform(
        self,
        articles: Sequence[Article],
        entities: Sequence[Sequence[dict[str, Any]]] | None = None,
    ) -> sp.csr_matrix:
        self._build()
        texts = [article_features_text(a, self.config.title_repeat) for a in articles]
        parts = [self.word.fit_transform(texts)]
        if self.char is not None:
            parts.append(self.char.fit_transform(texts) * self.config.char_weight)
        if self.entity is not None:
            tokens = [entity_tokens(e, self.config.entity_types) for e in entities or []]
            if len(tokens) != len(texts):
                raise ValueError("entity features need one entity list per article")
            parts.append(self.entity.fit_transform(tokens) * self.config.entity_weight)
        return self._stack(parts)

    def transform(
        self,
        articles: Sequence[Article],
        entities: Sequence[Sequence[dict[str, Any]]] | None = None,
    ) -> sp.csr_matrix:
        texts = [article_features_text(a, self.config.title_repeat) for a in articles]
        parts = [self.word.transform(texts)]
        if self.char is not None:
            parts.append(self.char.transform(texts) * self.config.char_weight)
        if self.entity is not None:
            tokens = [entity_tokens(e, self.config.entity_types) for e in entities or []]
            if len(tokens) != len(texts):
                tokens = [[] for _ in texts]
            parts.append(self.entity.transform(tokens) * self.config.entity_weight)
        return self._stack(parts)

    def feature_names(self) -> np.ndarray:
        """Readable names of all columns; character n-grams are marked and not used as evidence."""
        names = [self.word.get_feature_names_out()]
        if self.char is not None:
            names.append(np.array(["<char>"] * len(self.char.vocabulary_), dtype=object))
        if self.entity is not None:
            names.append(self.entity.get_feature_names_out())
        return np.concatenate(names).astype(object)

    @property
    def n_features(self) -> int:
        return len(self.feature_names())
