"""Reuters-21578 ModApte, 90 topics as tags: tagger against the plain reference.

    python bench/reuters_tags.py ../shared/data/reuters21578 [--config FILE] [--dev] \\
        [--vocab VOCAB]

With `--dev`, the ModApte test set is not looked at: both models train on the
development-training part of ModApte *training* and are scored on its development-test
part (`stream_dev.dev_split`: the articles whose id's SHA-1 is 0 mod 5, about 20%).
Settings are chosen with `--dev`; the test set only confirms them. `--vocab` gives tagger's
training a vocabulary (e.g. `bench/reuters_vocab.py`'s TSV): its concepts' labels and
aliases become names the tag name rules search.

The reference is tf-idf word 1-2-grams + one-vs-rest LinearSVC with threshold 0,
measured in the same run. Reports micro/macro F1, training wall time (threshold
tuning included), prediction speed on one core without entities, and peak memory.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    modapte_90,
    one_core,
    peak_rss_mb,
    print_rows,
    save_results,
    timer,
    tree_cpu_seconds,
)
from stream_dev import dev_split

from tagger.api import Tagger, TrainConfig
from tagger.evaluate import binarize, multilabel_metrics


def reference(train: list, test: list, labels: list[str]) -> tuple[dict, float, float]:
    """Metrics of the plain reference on `test`, and its training wall and CPU seconds."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.svm import LinearSVC

    start = tree_cpu_seconds()
    with timer() as elapsed:
        vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
        x = vectorizer.fit_transform([f"{a.title}\n{a.body}" for a in train])
        y = binarize([a.tags for a in train], labels)
        model = OneVsRestClassifier(LinearSVC(random_state=0)).fit(x, y)
    seconds = elapsed()
    cpu = tree_cpu_seconds() - start
    scores = model.decision_function(vectorizer.transform([f"{a.title}\n{a.body}" for a in test]))
    y_test = binarize([a.tags for a in test], labels)
    return multilabel_metrics(y_test, scores > 0, scores, labels), seconds, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("reuters", help="folder with reut2-*.sgm(.gz)")
    parser.add_argument("--config", type=Path, help="tagger training config (TOML/JSON)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--dev", action="store_true", help="development split of ModApte training, not test"
    )
    parser.add_argument("--vocab", type=Path, help="vocabulary given to tagger's training")
    args = parser.parse_args()

    train, test, labels = modapte_90(args.reuters)
    split = "ModApte"
    if args.dev:
        train, test = dev_split(train)
        labels = sorted({t for a in train for t in a.tags})
        split = "dev split of ModApte training"
    print(f"{split}: {len(train)} train / {len(test)} test articles, {len(labels)} topics")

    ref_metrics, ref_seconds, ref_cpu = reference(train, test, labels)
    config = TrainConfig.from_file(args.config) if args.config else TrainConfig()
    config.seed = args.seed
    vocabulary = None
    if args.vocab is not None:
        from tagger.commands.vocab import load_any

        vocabulary = load_any(args.vocab)
    start = tree_cpu_seconds()
    with timer() as elapsed:
        model = Tagger.train(train, config, vocabulary=vocabulary)
    train_seconds = elapsed()
    train_cpu = tree_cpu_seconds() - start
    result = model.evaluate(test)["tags"]

    with one_core():
        model.predict(test[:50])  # warm-up
        with timer() as elapsed:
            model.predict(test, explain=True)
        predict_rate = len(test) / elapsed()
        with timer() as elapsed:
            model.predict(test, explain=False)
        predict_rate_plain = len(test) / elapsed()

    rows = [
        ("", "micro-F1", "macro-F1", "micro-P", "micro-R", "P@1", "train s"),
        (
            "reference",
            f"{ref_metrics['micro_f1']:.4f}",
            f"{ref_metrics['macro_f1']:.4f}",
            f"{ref_metrics['micro_precision']:.4f}",
            f"{ref_metrics['micro_recall']:.4f}",
            f"{ref_metrics['p_at_1']:.4f}",
            f"{ref_seconds:.1f}",
        ),
        (
            "tagger",
            f"{result['micro_f1']:.4f}",
            f"{result['macro_f1']:.4f}",
            f"{result['micro_precision']:.4f}",
            f"{result['micro_recall']:.4f}",
            f"{result['p_at_1']:.4f}",
            f"{train_seconds:.1f}",
        ),
    ]
    print_rows(rows)
    print(f"training time ratio tagger/reference: {train_seconds / ref_seconds:.2f}x")
    print(
        f"training CPU s (workers included): reference {ref_cpu:.1f}, "
        f"tagger {train_cpu:.1f}, ratio {train_cpu / ref_cpu:.2f}x"
    )
    print(
        f"prediction, one core, no entities: {predict_rate:.0f} articles/s with evidence, "
        f"{predict_rate_plain:.0f} articles/s without"
    )
    print(f"peak memory: {peak_rss_mb():.0f} MB")
    print(f"load average at the end: {os.getloadavg()}")
    out = save_results(
        "reuters_tags_dev" if args.dev else "reuters_tags",
        {
            "reference": {k: v for k, v in ref_metrics.items() if k != "per_label"},
            "reference_train_seconds": ref_seconds,
            "tagger": {k: v for k, v in result.items() if k != "per_label"},
            "tagger_train_seconds": train_seconds,
            "train_time_ratio": train_seconds / ref_seconds,
            "reference_cpu_seconds": ref_cpu,
            "tagger_train_cpu_seconds": train_cpu,
            "predict_articles_per_second": predict_rate,
            "predict_articles_per_second_no_evidence": predict_rate_plain,
            "peak_rss_mb": peak_rss_mb(),
            "load_average": os.getloadavg(),
            "config": config.to_dict(),
        },
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
