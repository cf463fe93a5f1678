"""Which language an article is written in (py3langid: a naive Bayes model of byte n-grams
over 140 languages, shipped in the wheel as a 4.5 MB numpy file, nothing downloaded).

The pipeline is English (spaCy's English model, English features): an article that is
surely in another language gets one warning, since its entities and tags will be poor.
"Surely" matters more than "maybe": a warning that fires on English wire copy (upper-case
headlines, tables of figures) teaches editors to ignore warnings. So

- the identifier reads the title and the start of the body (`SAMPLE_CHARS`), with lines
  written mostly in capitals lowered first (the model was trained on running text, and
  Reuters headlines in capitals otherwise read as Malay or Indonesian);
- its probabilities get a prior for the pipeline's language (`PRIOR_ODDS`: a newsroom's
  articles are expected in its language); the language reported is the most probable one
  after that prior, or "und" (undetermined) for a text with fewer than `MIN_LETTERS`
  letters and "zxx" for one with no linguistic content (tables of figures);
- an article is flagged as foreign only when, after the prior, the pipeline's language
  keeps less than `FOREIGN_BELOW` of the probability and the text has enough letters.

On Reuters (ModApte test) and BBC articles the lowest probability of English is far above
that bound (see bench/language.py), while a sentence of Spanish, French or German news
is far below it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

PIPELINE_LANGUAGE = "en"
SAMPLE_CHARS = 1_000  # the title and the start of the body: enough for a clear decision
MIN_LETTERS = 20  # fewer letters (a bare headline, a table): no judgement ("und")
PRIOR_ODDS = 20.0  # the pipeline's language is this many times likelier a priori
FOREIGN_BELOW = 0.01  # flag when the pipeline's language keeps less than this probability
MAX_WARNINGS = 5  # per batch: then one line counts the rest
UNDETERMINED = "und"
NO_LANGUAGE = "zxx"  # the model's class for text without linguistic content

_IDENTIFIER: Any = None


@dataclass(frozen=True)
class Language:
    """The language of one text: an ISO 639 code, its probability, and whether the text is
    surely not in the pipeline's language."""

    code: str
    confidence: float
    foreign: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "confidence": round(self.confidence, 4)}


def load_identifier() -> Any:
    """py3langid's identifier with probabilities, loaded once per process (about 0.5 s on
    a quiet machine; `tagger.pipeline.warm_up` and the server load it before any request)."""
    global _IDENTIFIER
    if _IDENTIFIER is None:
        from py3langid.langid import MODEL_FILE, LanguageIdentifier

        _IDENTIFIER = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    return _IDENTIFIER


def _sample(text: str) -> str:
    """The text the identifier reads: its start, lines mostly in capitals lowered."""
    lines = []
    for line in text[:SAMPLE_CHARS].split("\n"):
        # map over str methods: a generator expression per character cost more than the
        # identifier itself
        letters = sum(map(str.isalpha, line))
        if letters and sum(map(str.isupper, line)) > 0.5 * letters:
            line = line.lower()
        lines.append(line)
    return "\n".join(lines)


def probabilities(text: str, expected: str = PIPELINE_LANGUAGE) -> dict[str, float]:
    """Each language's probability for `text`, after the prior for `expected`; empty when
    the text has too few letters to judge."""
    scorer = batch_scorer()
    found = _with_prior(scorer, [text], expected)[0]
    if found is None:
        return {}
    order = np.argsort(-found, kind="stable")
    return {scorer.labels[j]: float(found[j]) for j in order}


def identify(text: str, expected: str = PIPELINE_LANGUAGE) -> Language:
    """The language of `text` (see the module docstring for how it is decided)."""
    return identify_texts([text], expected)[0]


def identify_texts(texts: Sequence[str], expected: str = PIPELINE_LANGUAGE) -> list[Language]:
    """`identify` on many texts at once (one vectorised pass: `BatchScorer`)."""
    scorer = batch_scorer()
    rows = _with_prior(scorer, texts, expected)
    known = scorer.index.get(expected)
    out = []
    for found in rows:
        if found is None:
            out.append(Language(UNDETERMINED, 0.0))
            continue
        best = int(found.argmax())
        code = scorer.labels[best]
        foreign = bool(
            known is not None
            and code not in (expected, NO_LANGUAGE)
            and found[known] < FOREIGN_BELOW
        )
        out.append(Language(code, float(found[best]), foreign))
    return out


def _with_prior(
    scorer: BatchScorer, texts: Sequence[str], expected: str
) -> list[np.ndarray | None]:
    """Per text, the probability of each label (`scorer.labels`) after the prior for
    `expected`, or None for a text with fewer than `MIN_LETTERS` letters."""
    samples = [_sample(text) for text in texts]
    judged = [i for i, sample in enumerate(samples) if sum(map(str.isalpha, sample)) >= MIN_LETTERS]
    out: list[np.ndarray | None] = [None] * len(texts)
    if not judged:
        return out
    found = scorer.probabilities([samples[i] for i in judged]).astype(np.float64)
    known = scorer.index.get(expected)
    if known is not None:
        found[:, known] *= PRIOR_ODDS
    total = found.sum(axis=1, keepdims=True)
    found /= np.where(total > 0, total, 1.0)
    for row, i in enumerate(judged):
        out[i] = found[row]
    return out


class BatchScorer:
    """py3langid's probabilities (`LanguageIdentifier.rank` with normalised probabilities)
    for many texts in one vectorised pass.

    py3langid walks each text's bytes through its automaton in a Python loop (about 0.35 ms
    for 1,000 bytes) and scores each text with a float16 product (about 0.2 ms). The
    automaton is an Aho-Corasick automaton: its state after any text is the trie node of
    the longest suffix of the text that is a node, so it depends only on the last `depth`
    bytes (the deepest node, 6 bytes). Here every byte position of every text is stepped
    `depth` times from the root over its window, all positions at once (numpy gathers), and
    the feature counts of all the texts are scored by one sparse product. A self-check at
    construction compares the states with py3langid's own walk on a mixed-script text;
    where they differ the walk is used (`vectorised` False). The scores equal py3langid's
    up to float32 rounding (sums in another order).
    """

    CHECK_TEXT = (
        "Reuters - LME copper stocks fell 2,150 tonnes. El Gobierno aprobó la reforma. "
        "Der Minister sagte: Genehmigungen künftig. Ελληνικά, русский, 中文, 日本語, العربية."
    )

    def __init__(self, identifier: Any) -> None:
        self.identifier = identifier
        moves = identifier.tk_nextmove
        self.moves = np.frombuffer(moves, dtype=np.dtype(f"u{moves.itemsize}"))
        self.rowbase = np.asarray(identifier.tk_row, dtype=np.int32) << 8
        self.output = np.asarray(identifier.tk_output, dtype=np.int64)
        self.table = identifier.nb_ptc  # (features, classes), float16
        self.prior = np.asarray(identifier.nb_pc, dtype=np.float32)
        classes = list(identifier.nb_classes)
        self.labels = list(dict.fromkeys(classes))
        self.index = {label: j for j, label in enumerate(self.labels)}
        # rank() keeps each label's first column; an alias column is added into it
        self.first = np.array([classes.index(label) for label in self.labels])
        self.aliases = list(identifier._alias_pairs)
        self.depth = self._depth()
        check = [identifier._encode(self.CHECK_TEXT)]
        self.vectorised = bool(np.array_equal(self._states(check), self._walk(check)[0]))

    def _depth(self) -> int:
        """The largest distance of any state from the root (breadth-first)."""
        seen = np.zeros(len(self.output), dtype=bool)
        seen[0] = True
        frontier, depth = np.array([0]), 0
        steps = np.arange(256)
        while len(frontier):
            reached = np.zeros(len(seen), dtype=bool)
            for part in np.array_split(frontier, -(-len(frontier) // 4096)):
                reached[self.moves[(self.rowbase[part][:, None] + steps).ravel()]] = True
            frontier = np.flatnonzero(reached & ~seen)
            seen[frontier] = True
            depth += 1 if len(frontier) else 0
        return depth

    def _states(self, encoded: Sequence[bytes]) -> np.ndarray:
        """The automaton's state after each byte of each text (texts concatenated)."""
        data = np.frombuffer(b"".join(encoded), dtype=np.uint8).astype(np.int32)
        n, d = len(data), self.depth
        lengths = np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded))
        state = np.zeros(n, dtype=np.int64)
        if n >= d:  # every window of d bytes, from the root (one gather a step)
            inner = np.zeros(n - d + 1, dtype=np.uint32)
            for j in range(d):
                inner = self.moves[self.rowbase[inner] + data[j : n - d + 1 + j]]
            state[d - 1 :] = inner
        # the first d - 1 bytes of each text: windows cut at the text's start
        offset = np.repeat(np.cumsum(lengths) - lengths, np.minimum(lengths, d - 1))
        early = offset + (
            np.arange(len(offset))
            - np.repeat(
                np.cumsum(np.minimum(lengths, d - 1)) - np.minimum(lengths, d - 1),
                np.minimum(lengths, d - 1),
            )
        )
        head = np.zeros(len(early), dtype=np.int64)
        for j in range(d):
            source = early - (d - 1) + j
            moved = self.moves[self.rowbase[head] + data[np.maximum(source, 0)]]
            head = np.where(source >= offset, moved, head)
        state[early] = head
        return state

    def _walk(self, encoded: Sequence[bytes]) -> tuple[np.ndarray, np.ndarray]:
        """py3langid's own walk (one Python step a byte): states and text of each byte."""
        moves, rowbase = self.identifier.tk_nextmove, self.identifier._rowbase
        states: list[int] = []
        owner: list[int] = []
        for i, text in enumerate(encoded):
            state = 0
            for letter in text:
                state = moves[rowbase[state] + letter]
                states.append(state)
            owner.extend([i] * len(text))
        return np.asarray(states, dtype=np.int64), np.asarray(owner, dtype=np.int64)

    def probabilities(self, samples: Sequence[str]) -> np.ndarray:
        """(texts x labels) float32 probabilities, as `rank` gives them (before any prior)."""
        import scipy.sparse as sp

        encoded = [self.identifier._encode(sample) for sample in samples]
        n = len(encoded)
        if self.vectorised:
            states = self._states(encoded)
            lengths = np.fromiter(map(len, encoded), dtype=np.int64, count=n)
            owner = np.repeat(np.arange(n), lengths)
        else:
            states, owner = self._walk(encoded)
        feature = self.output[states]
        hit = feature >= 0
        # counts per (text, feature) by one sort; then only the features that occur
        width = len(self.table)
        keys, counts = np.unique(owner[hit] * width + feature[hit], return_counts=True)
        rows, columns = keys // width, keys % width
        used = np.zeros(width, dtype=bool)
        used[columns] = True
        position = np.cumsum(used) - 1
        used = np.flatnonzero(used)
        indptr = np.searchsorted(rows, np.arange(n + 1))
        x = sp.csr_matrix(
            (np.log1p(counts.astype(np.float32)), position[columns], indptr), (n, len(used))
        )
        scores = np.asarray(x @ self.table[used].astype(np.float32)) + self.prior
        scores[np.diff(x.indptr) == 0] = 0.0  # no feature: uniform (py3langid's 0.0 scores)
        # the length temperature of py3langid (T = sqrt(bytes)), then a softmax per text
        scale = 1.0 / np.sqrt(np.maximum([len(e) for e in encoded], 1)).astype(np.float32)
        scores *= scale[:, None]
        scores = np.exp(scores - scores.max(axis=1, keepdims=True))
        scores /= scores.sum(axis=1, keepdims=True)
        for i, j in self.aliases:
            scores[:, i] += scores[:, j]
        return scores[:, self.first]


_SCORER: BatchScorer | None = None


def batch_scorer() -> BatchScorer:
    """The vectorised scorer over `load_identifier()`'s model, made once per process."""
    global _SCORER
    if _SCORER is None:
        _SCORER = BatchScorer(load_identifier())
    return _SCORER


def identify_articles(
    articles: Sequence[Any], expected: str = PIPELINE_LANGUAGE
) -> tuple[list[Language], list[str]]:
    """Each article's language (from its title and body), and the warnings for those that
    are surely not in `expected`: one line each for the first `MAX_WARNINGS`, then a count."""
    languages = identify_texts([article.text for article in articles], expected)
    foreign = [(a, lang) for a, lang in zip(articles, languages, strict=True) if lang.foreign]
    warnings = [
        f"article {a.id!r} is in {lang.code!r} (confidence {lang.confidence:.2f}), "
        f"not {expected!r}: entities and tags may be poor"
        for a, lang in foreign[:MAX_WARNINGS]
    ]
    if len(foreign) > MAX_WARNINGS:
        warnings.append(f"{len(foreign) - MAX_WARNINGS} more article(s) not in {expected!r}")
    return languages, warnings
