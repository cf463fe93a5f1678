"""Features: tf-idf word and character n-grams over title and body, plus entity features.

scikit-learn's TfidfVectorizer learns each block's vocabulary and idf weights at training;
after that a block is plain data (its terms and idf array) and turns text into rows with
the numpy code below, which reproduces scikit-learn's analyzers and tf-idf arithmetic.
That data is what a bundle stores (`Featurizer.to_state`): nothing is pickled, and
loading a model needs neither scikit-learn nor its exact version.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from itertools import repeat
from typing import Any

import numpy as np
import scipy.sparse as sp

from tagger.corpus.article import Article

# Settings added after bundles were saved, with the value that reproduces how those were
# fitted: a bundle saved before char_max_df dropped no frequent gram.
SETTINGS_BEFORE_THEY_EXISTED: dict[str, Any] = {"char_max_df": 1.0}


@dataclass
class FeatureConfig:
    """How articles become a sparse matrix."""

    word_ngrams: tuple[int, int] = (1, 2)
    word_min_df: int = 2
    word_max_df: float = 0.9
    # Character n-grams inside word boundaries: a block the tag model reads (the section
    # model reads the others: `SectionModel.skip`). Fitted only while the tag model's
    # training articles x tags is at most `char_max_cells` (0: no limit), and left out of
    # a corpus too small for `char_min_df` and `char_max_df`. 4-grams without those in
    # more than 30% of the articles: +0.006 micro- and +0.008 macro-F1 on the Reuters
    # development folds and +0.02-0.03 micro-F1 on our corpus; the default since the
    # NB-weighted member leaves the block out (`ModelConfig.nb_chars`) and the tag fits
    # stop at tolerance 0.3, which brought its training cost within issue 2's budget
    # (about 1.45x the word-only CPU; docs/tags.md, ninth pass). (3, 5) with `char_max_df`
    # 1.0: `bench/configs/accurate.toml`; None (`[]` in TOML): word n-grams only.
    char_ngrams: tuple[int, int] | None = (4, 4)
    char_min_df: int = 3
    # Character n-grams in more than this share of the training articles are dropped
    # (1.0: none): the frequent grams carry little and cost most of the block's non-zeros.
    char_max_df: float = 0.3
    char_weight: float = 1.0
    char_max_cells: int = 5_000_000
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
        if known.get("char_ngrams") == ():  # [] in TOML: off, as null
            known["char_ngrams"] = None
        if isinstance(known.get("entity_types"), list):
            known["entity_types"] = tuple(known["entity_types"])
        return cls(**known)


def fitted_config(config: FeatureConfig, tag_articles: int, tags: int) -> FeatureConfig:
    """The features a training run fits: without the character block when no tag model
    is trained, or when its articles x tags is beyond `char_max_cells`."""
    if not config.char_ngrams:
        return config
    cells = tag_articles * tags
    if tags == 0 or (config.char_max_cells and cells > config.char_max_cells):
        return replace(config, char_ngrams=None)
    return config


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


# scikit-learn's default token pattern, the only one a bundle may ask for (a pattern
# taken from a file would let the file choose a regular expression to run).
TOKEN_PATTERN = r"(?u)\b\w\w+\b"
_TOKEN = re.compile(TOKEN_PATTERN)
_WHITE_SPACES = re.compile(r"\s\s+")
ANALYZERS = ("word", "char_wb", "char", "tokens")
MAX_NGRAM = 16
# Distinct words whose char_wb columns a block remembers (`TfidfBlock._char_wb_columns`):
# about 15 MB at most, per block.
WORD_CACHE_SIZE = 1 << 16


def strip_accents_unicode(text: str) -> str:
    """Accents removed by NFKD decomposition (as scikit-learn's strip_accents='unicode')."""
    if text.isascii():
        return text
    normalized = unicodedata.normalize("NFKD", text)
    return "".join(c for c in normalized if not unicodedata.combining(c))


def word_ngrams(tokens: list[str], ngram_range: tuple[int, int]) -> list[str]:
    low, high = ngram_range
    if high == 1:
        return tokens
    grams = list(tokens) if low == 1 else []
    for n in range(max(low, 2), min(high + 1, len(tokens) + 1)):
        # zip of the n shifted lists: the n-grams in order, joined without a Python loop
        grams.extend(map(" ".join, zip(*(tokens[i:] for i in range(n)), strict=False)))
    return grams


def char_wb_ngrams(text: str, ngram_range: tuple[int, int]) -> list[str]:
    """Character n-grams inside word boundaries, words padded with a space."""
    low, high = ngram_range
    grams: list[str] = []
    for word in _WHITE_SPACES.sub(" ", text).split():
        word = f" {word} "
        for n in range(low, high + 1):
            offset = 0
            grams.append(word[offset : offset + n])
            while offset + n < len(word):
                offset += 1
                grams.append(word[offset : offset + n])
            if offset == 0:  # a word shorter than n counts once
                break
    return grams


def char_ngrams(text: str, ngram_range: tuple[int, int]) -> list[str]:
    """Character n-grams over the whole text, across word boundaries (white space runs
    made one space), as scikit-learn's analyzer="char"."""
    text = _WHITE_SPACES.sub(" ", text)
    low, high = ngram_range
    grams: list[str] = list(text) if low == 1 else []
    for n in range(max(low, 2), min(high + 1, len(text) + 1)):
        grams.extend(text[i : i + n] for i in range(len(text) - n + 1))
    return grams


def normalize_rows(x: sp.csr_matrix) -> sp.csr_matrix:
    """L2-normalise the rows of a CSR matrix in place (sums in double precision, as
    scikit-learn's `normalize`); all-zero rows stay zero."""
    if x.nnz == 0:
        return x
    lengths = np.diff(x.indptr)
    rows = np.repeat(np.arange(x.shape[0]), lengths)
    squares = np.bincount(rows, weights=x.data * x.data, minlength=x.shape[0])
    norms = np.sqrt(squares)
    norms[norms == 0.0] = 1.0
    x.data = (x.data / norms[rows]).astype(x.dtype, copy=False)
    return x


@dataclass
class TfidfBlock:
    """One fitted tf-idf block as data: how text is cut, the terms (column order) and idf."""

    analyzer: str  # "word", "char_wb", "char" or "tokens" (a list of ready tokens, as entities)
    ngram_range: tuple[int, int]
    lowercase: bool
    strip_accents: bool
    terms: list[str]
    idf: np.ndarray  # float32, one per term
    _index: dict[str, int] | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_vectorizer(cls, analyzer: str, vectorizer: Any) -> TfidfBlock:
        """The data of a fitted scikit-learn TfidfVectorizer (its sublinear tf, l2 norm)."""
        vocabulary = vectorizer.vocabulary_
        terms = [""] * len(vocabulary)
        for term, column in vocabulary.items():
            terms[column] = term
        return cls(
            analyzer=analyzer,
            ngram_range=tuple(vectorizer.ngram_range),
            lowercase=bool(vectorizer.lowercase) and analyzer != "tokens",
            strip_accents=vectorizer.strip_accents == "unicode",
            terms=terms,
            idf=np.asarray(vectorizer.idf_, dtype=np.float32),
        )

    def analyze(self, doc: Any) -> list[str]:
        if self.analyzer == "tokens":
            return list(doc)
        text = self._prepared(doc)
        if self.analyzer == "char_wb":
            return char_wb_ngrams(text, self.ngram_range)
        if self.analyzer == "char":
            return char_ngrams(text, self.ngram_range)
        return word_ngrams(_TOKEN.findall(text), self.ngram_range)

    def _prepared(self, text: str) -> str:
        text = text.lower() if self.lowercase else text
        return strip_accents_unicode(text) if self.strip_accents else text

    def _columns(self, doc: Any, index: dict[str, int]) -> np.ndarray:
        """The columns of the document's grams that are terms, one per occurrence."""
        if self.analyzer == "char_wb":
            return self._char_wb_columns(self._prepared(doc), index)
        grams = self.analyze(doc)
        found = np.fromiter(map(index.get, grams, repeat(-1)), dtype=np.int64, count=len(grams))
        return found[found >= 0]

    def _char_wb_columns(self, text: str, index: dict[str, int]) -> np.ndarray:
        """`_columns` of a char_wb block, word by word: a word's grams stay inside it, and
        news text repeats its words, so each distinct word is cut and looked up once
        (remembered for up to WORD_CACHE_SIZE words), not at every occurrence."""
        words = self.__dict__.setdefault("_word_columns", {})
        columns: list[int] = []
        for word in text.split():
            found = words.get(word)
            if found is None:
                if len(words) >= WORD_CACHE_SIZE:
                    words.clear()
                grams = char_wb_ngrams(word, self.ngram_range)
                found = words[word] = tuple(c for c in map(index.get, grams, repeat(-1)) if c >= 0)
            columns.extend(found)
        return np.array(columns, dtype=np.int64)

    def transform(self, docs: Sequence[Any]) -> sp.csr_matrix:
        """Sublinear tf (1 + log count) times idf, rows L2-normalised (float32)."""
        index = self._index
        if index is None:
            index = self._index = {term: j for j, term in enumerate(self.terms)}
        parts = [self._columns(doc, index) for doc in docs]
        indptr = np.zeros(len(parts) + 1, dtype=np.int64)
        np.cumsum([len(p) for p in parts], out=indptr[1:])
        indices = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
        # One entry per occurrence; summing the duplicates (a sort within each row) counts
        # them, in float64: float32 stops counting at 2**24 occurrences of a gram.
        x = sp.csr_matrix(
            (np.ones(len(indices), dtype=np.float64), indices, indptr),
            shape=(len(parts), len(self.terms)),
        )
        x.sum_duplicates()
        x.data = x.data.astype(np.float32)
        np.log(x.data, out=x.data)
        x.data += 1.0
        x.data *= self.idf[x.indices]
        return normalize_rows(x)

    def __getstate__(self) -> dict[str, Any]:
        # The lookups are rebuilt where the block is used (a worker process, say).
        return {k: v for k, v in self.__dict__.items() if k != "_word_columns"} | {"_index": None}

    # -- state: JSON for the text parts, an array for idf --------------------------------

    def to_state(self) -> tuple[dict[str, Any], np.ndarray]:
        meta = {
            "analyzer": self.analyzer,
            "ngram_range": list(self.ngram_range),
            "lowercase": self.lowercase,
            "strip_accents": "unicode" if self.strip_accents else None,
            "token_pattern": TOKEN_PATTERN if self.analyzer == "word" else None,
            "terms": self.terms,
        }
        return meta, self.idf

    @classmethod
    def from_state(cls, meta: Any, idf: Any, where: str) -> TfidfBlock:
        """Rebuild a block, checking every value (a bundle is untrusted input)."""
        if not isinstance(meta, dict):
            raise ValueError(f"{where}: expected an object")
        analyzer = meta.get("analyzer")
        if analyzer not in ANALYZERS:
            raise ValueError(f"{where}.analyzer: must be one of {', '.join(ANALYZERS)}")
        ngrams = meta.get("ngram_range")
        if not (
            isinstance(ngrams, list)
            and len(ngrams) == 2
            and all(type(n) is int for n in ngrams)
            and 1 <= ngrams[0] <= ngrams[1] <= MAX_NGRAM
        ):
            raise ValueError(f"{where}.ngram_range: expected [low, high] with 1 <= low <= high")
        if type(meta.get("lowercase")) is not bool:
            raise ValueError(f"{where}.lowercase: expected true or false")
        if meta.get("strip_accents") not in (None, "unicode"):
            raise ValueError(f'{where}.strip_accents: expected null or "unicode"')
        pattern = meta.get("token_pattern")
        if pattern != (TOKEN_PATTERN if analyzer == "word" else None):
            raise ValueError(f"{where}.token_pattern: unsupported token pattern {pattern!r}")
        terms = meta.get("terms")
        if not isinstance(terms, list) or not all(isinstance(t, str) for t in terms):
            raise ValueError(f"{where}.terms: expected a list of strings")
        if len(set(terms)) != len(terms):
            raise ValueError(f"{where}.terms: repeated terms")
        if not isinstance(idf, np.ndarray) or idf.shape != (len(terms),) or idf.dtype.kind != "f":
            raise ValueError(f"{where}: idf must be a float array of one value per term")
        if not np.isfinite(idf).all():
            raise ValueError(f"{where}: idf holds non-finite values")
        return cls(
            analyzer=analyzer,
            ngram_range=(ngrams[0], ngrams[1]),
            lowercase=meta["lowercase"],
            strip_accents=meta["strip_accents"] == "unicode",
            terms=terms,
            idf=idf.astype(np.float32, copy=False),
        )


def _identity(tokens: list[str]) -> list[str]:
    return tokens


BLOCKS = ("word", "char", "entity")


@dataclass
class Featurizer:
    """Fits the vectorizers on a training corpus and turns articles into rows."""

    config: FeatureConfig = field(default_factory=FeatureConfig)
    word: TfidfBlock | None = None
    char: TfidfBlock | None = None
    entity: TfidfBlock | None = None

    @property
    def uses_entities(self) -> bool:
        return self.config.entity_weight > 0

    def _vectorizers(self) -> dict[str, Any]:
        from sklearn.feature_extraction.text import TfidfVectorizer

        cfg = self.config
        vectorizers = {
            "word": TfidfVectorizer(
                ngram_range=cfg.word_ngrams,
                min_df=cfg.word_min_df,
                max_df=cfg.word_max_df,
                sublinear_tf=True,
                strip_accents="unicode",
                max_features=cfg.max_features,
                dtype=np.float32,
            )
        }
        if cfg.char_ngrams:
            vectorizers["char"] = TfidfVectorizer(
                analyzer="char_wb",
                ngram_range=cfg.char_ngrams,
                min_df=cfg.char_min_df,
                max_df=float(cfg.char_max_df),
                sublinear_tf=True,
                max_features=cfg.max_features,
                dtype=np.float32,
            )
        if self.uses_entities:
            vectorizers["entity"] = TfidfVectorizer(
                analyzer=_identity, lowercase=False, sublinear_tf=True, dtype=np.float32
            )
        return vectorizers

    def _stack(self, parts: list[sp.spmatrix]) -> sp.csr_matrix:
        # Rows of each block are L2-normalised; the stack is re-normalised so that
        # adding a block never changes the scale the classifiers see.
        matrix = sp.hstack(parts, format="csr", dtype=np.float32)
        return normalize_rows(matrix)

    def _inputs(
        self,
        articles: Sequence[Article],
        entities: Sequence[Sequence[dict[str, Any]]] | None,
        fitting: bool,
    ) -> dict[str, Sequence[Any]]:
        texts = [article_features_text(a, self.config.title_repeat) for a in articles]
        inputs: dict[str, Sequence[Any]] = {"word": texts, "char": texts}
        if self.uses_entities:
            tokens = [entity_tokens(e, self.config.entity_types) for e in entities or []]
            if len(tokens) != len(texts):
                if fitting:
                    raise ValueError("entity features need one entity list per article")
                tokens = [[] for _ in texts]
            inputs["entity"] = tokens
        return inputs

    def fit_transform(
        self,
        articles: Sequence[Article],
        entities: Sequence[Sequence[dict[str, Any]]] | None = None,
    ) -> sp.csr_matrix:
        """Learn each block's vocabulary and idf (scikit-learn) and transform the corpus.

        The rows are scikit-learn's; `transform` computes the same numbers from the blocks.
        """
        inputs = self._inputs(articles, entities, fitting=True)
        analyzers = {"word": "word", "char": "char_wb", "entity": "tokens"}
        weights = self._weights()
        self.word = self.char = self.entity = None
        parts = []
        for name, vectorizer in self._vectorizers().items():
            try:
                part = vectorizer.fit_transform(inputs[name])
            except ValueError:
                if name != "char":
                    raise
                # Too few articles for char_min_df / char_max_df, or no gram left: the
                # block is left out (its configuration says so, as the bundle checks).
                self.config = replace(self.config, char_ngrams=None)
                continue
            parts.append(part if name == "word" else part * weights[name])
            setattr(self, name, TfidfBlock.from_vectorizer(analyzers[name], vectorizer))
        return self._stack(parts)

    def _weights(self) -> dict[str, float]:
        cfg = self.config
        return {"word": 1.0, "char": cfg.char_weight, "entity": cfg.entity_weight}

    def transform(
        self,
        articles: Sequence[Article],
        entities: Sequence[Sequence[dict[str, Any]]] | None = None,
    ) -> sp.csr_matrix:
        inputs = self._inputs(articles, entities, fitting=False)
        weights = self._weights()
        parts = []
        for name in BLOCKS:
            block = getattr(self, name)
            if block is not None:
                part = block.transform(inputs[name])
                parts.append(part if name == "word" else part * weights[name])
        return self._stack(parts)

    def feature_names(self) -> np.ndarray:
        """Readable names of all columns; character n-grams are marked and not used as evidence."""
        names = [np.array(self.word.terms if self.word else [], dtype=object)]
        if self.char is not None:
            names.append(np.array(["<char>"] * len(self.char.terms), dtype=object))
        if self.entity is not None:
            names.append(np.array(self.entity.terms, dtype=object))
        return np.concatenate(names).astype(object)

    def char_columns(self) -> tuple[int, int] | None:
        """Columns [start, stop) of the character block in `transform`'s rows, or None."""
        if self.char is None:
            return None
        start = len(self.word.terms) if self.word else 0
        return start, start + len(self.char.terms)

    @property
    def n_features(self) -> int:
        return sum(len(b.terms) for b in (self.word, self.char, self.entity) if b is not None)

    # -- state ----------------------------------------------------------------------------

    def to_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """JSON (configuration, each block's analyzer and terms) and arrays (idf per block)."""
        meta: dict[str, Any] = {"config": self.config.to_dict(), "blocks": {}}
        arrays: dict[str, np.ndarray] = {}
        for name in BLOCKS:
            block = getattr(self, name)
            if block is not None:
                meta["blocks"][name], arrays[f"{name}.idf"] = block.to_state()
        return meta, arrays

    @classmethod
    def from_state(cls, meta: dict[str, Any], arrays: dict[str, Any]) -> Featurizer:
        """Rebuild from `to_state`'s output; ValueError names what does not fit."""
        config = meta.get("config")
        blocks = meta.get("blocks")
        if not isinstance(config, dict) or not isinstance(blocks, dict):
            raise ValueError("features: expected 'config' and 'blocks' objects")
        try:
            featurizer = cls(FeatureConfig.from_dict({**SETTINGS_BEFORE_THEY_EXISTED, **config}))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"features.config: {exc}") from exc
        unknown = set(blocks) - set(BLOCKS)
        if unknown or "word" not in blocks:
            raise ValueError(f"features.blocks: expected word[, char, entity]: {sorted(blocks)}")
        if ("char" in blocks) != bool(featurizer.config.char_ngrams) or (
            "entity" in blocks
        ) != featurizer.uses_entities:
            raise ValueError("features.blocks: do not match the feature configuration")
        for name, block in blocks.items():
            setattr(
                featurizer,
                name,
                TfidfBlock.from_state(block, arrays.get(f"{name}.idf"), f"features.blocks.{name}"),
            )
        return featurizer
