"""Tag metrics on a held-out split of a small tagged corpus, with the name rule on and off.

    python bench/sample_tags.py corpus/sample.jsonl [--test-size 0.25] [--seeds 0 1 2] \
        [--variant NAME:table.key=value,... ...] [--vocab VOCAB]

A check that the defaults chosen while benchmarking on Reuters do not lose accuracy on
another collection (our own corpus), next to the plain reference measured in the same run.
Each `--variant` (as in `reuters_dev_cv.py`) is trained on the same split with the name rule on.
With `--vocab`, the defaults with the name rule on are trained again with that vocabulary
given to training (its concepts' labels and aliases searched besides each tag's own name).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import print_rows
from reuters_dev_cv import load_vocabulary, variant_config

from tagger.api import Tagger, TrainConfig
from tagger.corpus.readers import read_corpus
from tagger.evaluate import binarize, multilabel_metrics


def reference(train: list, test: list, labels: list[str]) -> dict:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.svm import LinearSVC

    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
    x = vectorizer.fit_transform([f"{a.title}\n{a.body}" for a in train])
    model = OneVsRestClassifier(LinearSVC(random_state=0)).fit(
        x, binarize([a.tags for a in train], labels)
    )
    scores = model.decision_function(vectorizer.transform([f"{a.title}\n{a.body}" for a in test]))
    return multilabel_metrics(binarize([a.tags for a in test], labels), scores > 0, scores, labels)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("corpus")
    parser.add_argument("--test-size", type=float, default=0.25)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--variant", nargs="*", default=[], help="NAME:table.key=value,...")
    parser.add_argument("--vocab", help="also train with this vocabulary")
    args = parser.parse_args()
    variants = [variant_config(v) for v in args.variant]
    vocabulary = load_vocabulary(args.vocab) if args.vocab else None
    from sklearn.model_selection import train_test_split

    articles = sorted((a for a in read_corpus([args.corpus]) if a.tags), key=lambda a: a.id)
    rows = [("seed", "model", "micro-F1", "macro-F1", "P@1")]
    for seed in args.seeds:
        train, test = train_test_split(articles, test_size=args.test_size, random_state=seed)
        labels = sorted({t for a in train for t in a.tags})
        ref = reference(train, test, labels)
        rows.append(
            (
                str(seed),
                "reference",
                f"{ref['micro_f1']:.4f}",
                f"{ref['macro_f1']:.4f}",
                f"{ref['p_at_1']:.4f}",
            )
        )
        runs = [
            (f"tagger, name rule {'on' if rule else 'off'}", rule, None, None) for rule in (0, 1)
        ]
        if vocabulary is not None:
            runs.append(("tagger, name rule on, vocabulary", True, None, vocabulary))
        runs += [(f"tagger, {name}", True, config, None) for name, config in variants]
        for title, name_rule, variant, vocab in runs:
            config = variant or TrainConfig()
            config.seed = seed
            config.tags.name_rule = bool(name_rule)
            result = Tagger.train(train, config, vocabulary=vocab).evaluate(test)["tags"]
            rows.append(
                (
                    str(seed),
                    title,
                    f"{result['micro_f1']:.4f}",
                    f"{result['macro_f1']:.4f}",
                    f"{result['p_at_1']:.4f}",
                )
            )
    print_rows(rows)


if __name__ == "__main__":
    main()
