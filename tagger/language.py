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
    sample = _sample(text)
    if sum(map(str.isalpha, sample)) < MIN_LETTERS:
        return {}
    found: dict[str, float] = dict(load_identifier().rank(sample))
    if expected in found:
        found[expected] *= PRIOR_ODDS
    total = sum(found.values()) or 1.0
    return {code: p / total for code, p in found.items()}


def identify(text: str, expected: str = PIPELINE_LANGUAGE) -> Language:
    """The language of `text` (see the module docstring for how it is decided)."""
    found = probabilities(text, expected)
    if not found:
        return Language(UNDETERMINED, 0.0)
    code = max(found, key=found.__getitem__)
    foreign = (
        expected in found
        and code not in (expected, NO_LANGUAGE)
        and found[expected] < FOREIGN_BELOW
    )
    return Language(code, found[code], foreign)


def identify_articles(
    articles: Sequence[Any], expected: str = PIPELINE_LANGUAGE
) -> tuple[list[Language], list[str]]:
    """Each article's language (from its title and body), and the warnings for those that
    are surely not in `expected`: one line each for the first `MAX_WARNINGS`, then a count."""
    languages = [identify(article.text, expected) for article in articles]
    foreign = [(a, lang) for a, lang in zip(articles, languages, strict=True) if lang.foreign]
    warnings = [
        f"article {a.id!r} is in {lang.code!r} (confidence {lang.confidence:.2f}), "
        f"not {expected!r}: entities and tags may be poor"
        for a, lang in foreign[:MAX_WARNINGS]
    ]
    if len(foreign) > MAX_WARNINGS:
        warnings.append(f"{len(foreign) - MAX_WARNINGS} more article(s) not in {expected!r}")
    return languages, warnings
