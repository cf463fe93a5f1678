"""False language warnings on English news: Reuters-21578 (ModApte test) and BBC articles.

    .venv/bin/python bench/language.py ../shared/data/reuters21578 ../shared/data/bbc

Every article here is English, so every warning `tagger.language` would give (the one
`predict` and `entities` print: "article ... is in 'xx', not 'en'") is a false one; the
target is none. Prints, per collection, the number of articles, the false warnings, the
languages reported (with how many), the article where English was least probable (the
margin left before a warning), and the identifier's speed.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from pathlib import Path

from tagger.corpus.readers import modapte_split, read_corpus
from tagger.language import FOREIGN_BELOW, PIPELINE_LANGUAGE, identify, probabilities


def english_share(text: str) -> float:
    """The probability the identifier leaves to the pipeline's language, after its prior."""
    return probabilities(text).get(PIPELINE_LANGUAGE, 1.0)


def measure(name: str, articles: list) -> int:
    start = time.process_time()
    languages = [identify(a.text) for a in articles]
    seconds = time.process_time() - start
    false = [(a, lang) for a, lang in zip(articles, languages, strict=True) if lang.foreign]
    codes = Counter(lang.code for lang in languages)
    least = min(
        (a for a, lang in zip(articles, languages, strict=True) if lang.code != "und"),
        key=lambda a: english_share(a.text),
    )
    print(
        f"{name}: {len(articles)} articles, {len(false)} false warnings, "
        f"{len(articles) / seconds:.0f} articles/s (CPU)"
    )
    print(f"  languages reported: {dict(codes.most_common())}")
    print(
        f"  least English: {least.id} P(en) {english_share(least.text):.4f} "
        f"(a warning needs < {FOREIGN_BELOW}): {least.text[:80]!r}"
    )
    for article, lang in false[:10]:
        print(
            f"  FALSE WARNING {article.id} {lang.code} {lang.confidence:.3f} {article.text[:80]!r}"
        )
    return len(false)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("reuters", type=Path)
    parser.add_argument("bbc", type=Path)
    args = parser.parse_args()
    _train, test = modapte_split(read_corpus([args.reuters], "reuters"))
    bbc = list(read_corpus([args.bbc], "folders"))
    total = measure("Reuters ModApte test", test) + measure("BBC", bbc)
    print(f"false warnings in all: {total}")


if __name__ == "__main__":
    main()
