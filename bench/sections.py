"""Sections on several single-label collections: tagger against the plain reference, by
repeated stratified cross-validation (the protocol, fixed before any tuning).

    python bench/sections.py --bbc ../shared/data/bbc --sample corpus/sample.jsonl \\
        --reuters ../shared/data/reuters21578 [--folds 5] [--repeats 2] [--seed 0] [--config F]

Collections (each one label per article):
  bbc               the BBC news folders (2,225 articles, 5 sections)
  sample            the bundled sample corpus (its sections)
  reuters-1topic    Reuters-21578 articles of the ModApte train and test parts with exactly
                    one topic, topics with at least 20 such articles (the topic is the section)
  reuters-headlines the same articles, title only: short news in capitals
Protocol: articles sorted by id; scikit-learn's RepeatedStratifiedKFold (--folds x --repeats,
random_state --seed); on every fold the reference (tf-idf word 1-2-grams, sublinear tf,
LinearSVC C=1 on "title\\nbody") and tagger (Tagger.train with the given config, defaults
otherwise, sections only) train on the same articles and predict the same held-out ones.
Reported: mean and standard deviation of accuracy and macro-F1 over the folds for both, the
mean paired difference, and on how many folds tagger is below the reference.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import print_rows, save_results, timer

from tagger.api import Tagger, TrainConfig
from tagger.corpus.article import Article
from tagger.corpus.readers import modapte_split, read_corpus
from tagger.evaluate import multiclass_metrics

MIN_TOPIC_ARTICLES = 20


def _sections_only(articles: list[Article]) -> list[Article]:
    kept = sorted((a for a in articles if a.section), key=lambda a: a.id)
    for article in kept:
        article.tags = []
    return kept


def reuters_one_topic(
    path: str, titles_only: bool = False, parsed: list[Article] | None = None
) -> list[Article]:
    """ModApte train + test articles with exactly one topic, frequent topics only
    (`parsed`: the ModApte train + test articles already read from `path`)."""
    if parsed is None:
        train, test = modapte_split(read_corpus([path], "reuters"))
        parsed = train + test
    single = [a for a in parsed if len(a.tags) == 1]
    counts = Counter(a.tags[0] for a in single)
    out = []
    for a in single:
        if counts[a.tags[0]] < MIN_TOPIC_ARTICLES or not a.title.strip():
            continue
        body = "" if titles_only else a.body
        out.append(Article(id=a.id, title=a.title, body=body, section=a.tags[0]))
    return _sections_only(out)


def collections(args: argparse.Namespace) -> dict[str, list[Article]]:
    wanted = set(args.only.split(",")) if args.only else None

    def want(name: str) -> bool:
        return wanted is None or name in wanted

    found: dict[str, list[Article]] = {}
    if args.bbc and want("bbc"):
        found["bbc"] = _sections_only(list(read_corpus([args.bbc], "folders")))
    if args.sample and want("sample"):
        found["sample"] = _sections_only(list(read_corpus([args.sample], "auto")))
    if args.reuters and (want("reuters-1topic") or want("reuters-headlines")):
        train, test = modapte_split(read_corpus([args.reuters], "reuters"))  # read once
        if want("reuters-1topic"):
            found["reuters-1topic"] = reuters_one_topic(args.reuters, parsed=train + test)
        if want("reuters-headlines"):
            found["reuters-headlines"] = reuters_one_topic(
                args.reuters, titles_only=True, parsed=train + test
            )
    return found


def reference_fold(train: list[Article], test: list[Article], labels: list[str]) -> dict:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.svm import LinearSVC

    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
    x = vectorizer.fit_transform([f"{a.title}\n{a.body}" for a in train])
    model = LinearSVC(random_state=0).fit(x, [a.section for a in train])
    predicted = model.predict(vectorizer.transform([f"{a.title}\n{a.body}" for a in test]))
    return multiclass_metrics([a.section for a in test], list(predicted), labels)


def tagger_fold(train: list[Article], test: list[Article], config: TrainConfig) -> dict:
    model = Tagger.train(train, config)
    return model.evaluate(test)["sections"]


def summary(values: list[float]) -> tuple[float, float]:
    return statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def run(name: str, articles: list[Article], args: argparse.Namespace) -> dict[str, Any]:
    from sklearn.model_selection import RepeatedStratifiedKFold

    labels = sorted({a.section for a in articles})  # type: ignore[misc]
    y = [a.section for a in articles]
    splitter = RepeatedStratifiedKFold(
        n_splits=args.folds, n_repeats=args.repeats, random_state=args.seed
    )
    config = TrainConfig.from_file(args.config) if args.config else TrainConfig()
    config.seed = args.seed
    folds: list[dict[str, Any]] = []
    print(f"{name}: {len(articles)} articles, {len(labels)} sections", flush=True)
    for number, (train_idx, test_idx) in enumerate(splitter.split(articles, y)):
        train = [articles[i] for i in train_idx]
        test = [articles[i] for i in test_idx]
        with timer() as elapsed:
            ref = reference_fold(train, test, labels)
        ref_seconds = elapsed()
        with timer() as elapsed:
            ours = tagger_fold(train, test, config)
        seconds = elapsed()
        folds.append(
            {
                "reference": {"accuracy": ref["accuracy"], "macro_f1": ref["macro_f1"]},
                "tagger": {"accuracy": ours["accuracy"], "macro_f1": ours["macro_f1"]},
                "reference_seconds": ref_seconds,
                "tagger_seconds": seconds,
            }
        )
        print(
            f"  fold {number + 1}: reference {ref['accuracy']:.4f}, tagger "
            f"{ours['accuracy']:.4f} ({ref_seconds:.0f}s / {seconds:.0f}s)",
            flush=True,
        )
    out: dict[str, Any] = {"articles": len(articles), "sections": len(labels), "folds": folds}
    for metric in ("accuracy", "macro_f1"):
        ref_values = [f["reference"][metric] for f in folds]
        our_values = [f["tagger"][metric] for f in folds]
        diffs = [o - r for o, r in zip(our_values, ref_values, strict=True)]
        out[metric] = {
            "reference": summary(ref_values),
            "tagger": summary(our_values),
            "difference": summary(diffs),
            "folds_below_reference": sum(d < 0 for d in diffs),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bbc", help="the BBC folders (../shared/data/bbc)")
    parser.add_argument("--sample", help="the sample corpus (corpus/sample.jsonl)")
    parser.add_argument("--reuters", help="Reuters-21578 folder (reut2-*.sgm.gz)")
    parser.add_argument("--only", help="comma-separated collection names to run")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--config", type=Path, help="tagger training config (TOML/JSON)")
    args = parser.parse_args()
    found = collections(args)
    if not found:
        parser.error("give at least one collection (--bbc, --sample, --reuters)")
    results: dict[str, Any] = {
        "protocol": f"{args.folds}-fold x {args.repeats} repeated stratified CV, seed {args.seed}",
        "load_average": os.getloadavg(),
    }
    for name, articles in found.items():
        results[name] = run(name, articles, args)
    rows = [("collection", "metric", "reference", "tagger", "tagger - ref", "folds below")]
    for name in found:
        for metric in ("accuracy", "macro_f1"):
            m = results[name][metric]
            rows.append(
                (
                    name,
                    metric,
                    f"{m['reference'][0]:.4f} ± {m['reference'][1]:.4f}",
                    f"{m['tagger'][0]:.4f} ± {m['tagger'][1]:.4f}",
                    f"{m['difference'][0]:+.4f} ± {m['difference'][1]:.4f}",
                    f"{m['folds_below_reference']}/{len(results[name]['folds'])}",
                )
            )
    print_rows(rows)
    results["load_average_end"] = os.getloadavg()
    print(f"load average {results['load_average']} -> {results['load_average_end']}")
    name = "sections_cv" + (f"_{args.only.replace(',', '_')}" if args.only else "")
    print(f"wrote {save_results(name, results)}")


if __name__ == "__main__":
    main()
