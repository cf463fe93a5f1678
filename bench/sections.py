"""Section accuracy on a labeled corpus (BBC by default): tagger against the plain reference.

    python bench/sections.py ../shared/data/bbc [--format folders] [--test-size 0.2] [--seed 0]

A stratified split over the articles sorted by id, with the given seed. The reference is
tf-idf word 1-2-grams + LinearSVC, measured in the same run. Works on any corpus with
sections (e.g. corpus/sample.jsonl), so the same defaults are checked on other collections.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import peak_rss_mb, print_rows, save_results, timer

from tagger.api import Tagger, TrainConfig
from tagger.corpus.readers import read_corpus
from tagger.evaluate import multiclass_metrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("corpus")
    parser.add_argument("--format", default="auto")
    parser.add_argument("--test-size", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--config", type=Path)
    args = parser.parse_args()

    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.model_selection import train_test_split
    from sklearn.svm import LinearSVC

    articles = sorted(
        (a for a in read_corpus([args.corpus], args.format) if a.section), key=lambda a: a.id
    )
    for article in articles:
        article.tags = []  # sections only
    train, test = train_test_split(
        articles,
        test_size=args.test_size,
        random_state=args.seed,
        stratify=[a.section for a in articles],
    )
    labels = sorted({a.section for a in articles})
    print(f"{len(train)} train / {len(test)} test articles, {len(labels)} sections")

    with timer() as elapsed:
        vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
        x = vectorizer.fit_transform([f"{a.title}\n{a.body}" for a in train])
        reference = LinearSVC(random_state=0).fit(x, [a.section for a in train])
    ref_seconds = elapsed()
    predicted = reference.predict(vectorizer.transform([f"{a.title}\n{a.body}" for a in test]))
    ref = multiclass_metrics([a.section for a in test], list(predicted), labels)

    config = TrainConfig.from_file(args.config) if args.config else TrainConfig()
    config.seed = args.seed
    with timer() as elapsed:
        model = Tagger.train(train, config)
    seconds = elapsed()
    ours = model.evaluate(test)["sections"]

    print_rows(
        [
            ("", "accuracy", "macro-F1", "train s"),
            ("reference", f"{ref['accuracy']:.4f}", f"{ref['macro_f1']:.4f}", f"{ref_seconds:.1f}"),
            ("tagger", f"{ours['accuracy']:.4f}", f"{ours['macro_f1']:.4f}", f"{seconds:.1f}"),
        ]
    )
    print(f"peak memory: {peak_rss_mb():.0f} MB")
    name = Path(args.corpus).name.split(".")[0]
    out = save_results(
        f"sections_{name}",
        {
            "reference": {k: v for k, v in ref.items() if k != "per_label"},
            "tagger": {k: v for k, v in ours.items() if k != "per_label"},
            "reference_train_seconds": ref_seconds,
            "tagger_train_seconds": seconds,
            "config": config.to_dict(),
        },
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
