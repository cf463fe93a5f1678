"""Five-fold development cross-validation of ModApte *training* for the tag model.

    python bench/reuters_dev_cv.py ../shared/data/reuters21578 [--reference] \\
        [--variant NAME:tags.key=value,sections.key=value ...] [--folds 0,1,2,3,4] \\
        [--vocab VOCAB [--vocab-only]]

The ModApte test set is not looked at. Fold i trains on the ModApte training articles that
`stream_dev.dev_split(train, i)` keeps for development training and predicts the others
(every training article is predicted once over the five folds). Reported per variant:
micro- and macro-F1 over the pooled predictions of the folds run (macro over the topics
with a true article among them), and the mean and standard deviation of the per-fold
figures. Variants change the defaults (`TrainConfig`) by `table.key=value` (values read as
JSON, else as text); the defaults run first unless a variant is named "defaults" or
`--no-defaults` is given (training is deterministic: an earlier run's defaults stand).
With `--reference`, the plain OvR LinearSVC (`reuters_tags.reference`) is measured on the
same folds in the same run. With `--vocab` (a vocabulary file tagger reads, e.g. the TSV
of `bench/reuters_vocab.py`), each variant runs again with the vocabulary given to training
("NAME+vocab": its concepts' labels and aliases become names the tag name rules search), in
the same run; `--vocab-only` runs only those.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import modapte_90, print_rows, save_results, timer
from stream_dev import dev_split

from tagger.api import Tagger, TrainConfig
from tagger.evaluate import TagCounts, binarize


def variant_config(spec: str) -> tuple[str, TrainConfig]:
    """'NAME:tags.c=0.5,features.title_repeat=3' -> (NAME, the defaults so changed)."""
    name, _, changes = spec.partition(":")
    data: dict[str, dict[str, Any]] = {}
    for part in filter(None, re.split(r",(?![^\[]*\])", changes)):  # not inside [..]
        key, value = part.split("=", 1)
        table, field = key.split(".", 1)
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            parsed = value
        data.setdefault(table, {})[field] = parsed
    # checked like a config file, and named by the spec: a misspelt (or removed) setting
    # would otherwise measure the defaults under the variant's name
    return name or "defaults", TrainConfig.from_dict(data, source=f"--variant {spec}")


def tagger_fold(
    train: list, test: list, labels: list[str], config: TrainConfig, vocabulary: Any = None
) -> tuple:
    """(true, selected, scores) over `labels` for the test articles, and training seconds."""
    with timer() as elapsed:
        model = Tagger.train(train, config, vocabulary=vocabulary)
    seconds = elapsed()
    tag_model = model.tag_model
    x = model.featurizer.transform(test)
    probs = tag_model.predict_proba(x)
    selected = tag_model.choose(probs, [a.title for a in test], [a.body for a in test])
    column = {t: i for i, t in enumerate(labels)}
    where = [column[t] for t in tag_model.labels]
    scores = binarize([[] for _ in test], labels).toarray().astype(float)
    chosen = scores.astype(bool)
    scores[:, where] = probs
    chosen[:, where] = selected
    chosen_by = {
        key: tag_model.cv_metrics[key]
        for key in ("second_stage_tags", "nb_member_tags")
        if key in tag_model.cv_metrics
    }
    if chosen_by:
        print(f"  tags rescored: {chosen_by}", flush=True)
    return binarize([a.tags for a in test], labels), chosen, scores, seconds


def reference_fold(train: list, test: list, labels: list[str]) -> tuple:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.svm import LinearSVC

    present = sorted({t for a in train for t in a.tags})
    with timer() as elapsed:
        vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
        x = vectorizer.fit_transform([f"{a.title}\n{a.body}" for a in train])
        model = OneVsRestClassifier(LinearSVC(random_state=0))
        model.fit(x, binarize([a.tags for a in train], present))
    seconds = elapsed()
    decision = model.decision_function(vectorizer.transform([f"{a.title}\n{a.body}" for a in test]))
    column = {t: i for i, t in enumerate(labels)}
    scores = binarize([[] for _ in test], labels).toarray().astype(float) - 1.0
    scores[:, [column[t] for t in present]] = decision
    return binarize([a.tags for a in test], labels), scores > 0, scores, seconds


def _tagger_runner(config: TrainConfig, labels: list[str], vocabulary: Any = None) -> Any:
    return lambda train, test: tagger_fold(train, test, labels, config, vocabulary)


def load_vocabulary(path: str) -> Any:
    """A vocabulary file as `tagger train --vocab` reads it (SQLite, SKOS, TSV, ...)."""
    from tagger.commands.vocab import load_any

    return load_any(Path(path))


def _spread(values: list[float]) -> float:
    return statistics.stdev(values) if len(values) > 1 else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("reuters", help="folder with reut2-*.sgm(.gz)")
    parser.add_argument("--variant", nargs="*", default=[], help="NAME:table.key=value,...")
    parser.add_argument("--folds", default="0,1,2,3,4")
    parser.add_argument("--reference", action="store_true")
    parser.add_argument(
        "--no-defaults", action="store_true", help="only the variants (defaults measured before)"
    )
    parser.add_argument("--vocab", help="also run each variant with this vocabulary")
    parser.add_argument("--vocab-only", action="store_true", help="only the runs with --vocab")
    args = parser.parse_args()

    train_all, _test, labels = modapte_90(args.reuters)
    folds = [int(f) for f in args.folds.split(",")]
    variants = [variant_config(v) for v in args.variant]
    if not args.no_defaults and not any(name == "defaults" for name, _ in variants):
        variants.insert(0, ("defaults", TrainConfig()))
    runners = []
    vocabulary = load_vocabulary(args.vocab) if args.vocab else None
    for name, config in variants:
        if vocabulary is None or not args.vocab_only:
            runners.append((name, _tagger_runner(config, labels)))
        if vocabulary is not None:
            runners.append((f"{name}+vocab", _tagger_runner(config, labels, vocabulary)))
    if args.reference:
        runners.insert(0, ("reference", lambda tr, te: reference_fold(tr, te, labels)))
    pooled = {name: TagCounts(labels) for name, _ in runners}
    per_fold: dict[str, list[dict[str, float]]] = {name: [] for name, _ in runners}
    for fold in folds:
        train, test = dev_split(train_all, fold)
        for name, run in runners:
            true, chosen, scores, seconds = run(train, test)
            pooled[name].add(true, chosen, scores)
            one = TagCounts(labels)
            one.add(true, chosen, scores)
            m = one.metrics()
            per_fold[name].append(
                {"micro_f1": m["micro_f1"], "macro_f1": m["macro_f1"], "s": seconds}
            )
            print(
                f"fold {fold} {name}: micro-F1 {m['micro_f1']:.4f} macro-F1 {m['macro_f1']:.4f} "
                f"train {seconds:.1f}s (load {os.getloadavg()[0]:.1f})",
                flush=True,
            )
    rows = [
        (
            "variant",
            "pooled micro-F1",
            "pooled macro-F1",
            "fold micro-F1",
            "fold macro-F1",
            "train s",
        )
    ]
    results: dict[str, Any] = {"folds": folds, "variants": args.variant, "vocab": args.vocab}
    for name, _ in runners:
        m = pooled[name].metrics()
        micro = [f["micro_f1"] for f in per_fold[name]]
        macro = [f["macro_f1"] for f in per_fold[name]]
        rows.append(
            (
                name,
                f"{m['micro_f1']:.4f}",
                f"{m['macro_f1']:.4f}",
                f"{statistics.mean(micro):.4f} ± {_spread(micro):.4f}",
                f"{statistics.mean(macro):.4f} ± {_spread(macro):.4f}",
                f"{statistics.mean(f['s'] for f in per_fold[name]):.1f}",
            )
        )
        results[name] = {
            "pooled": m,
            "per_fold": per_fold[name],
        }
    print_rows(rows)
    results["load_average_end"] = os.getloadavg()
    print(f"load average at the end: {os.getloadavg()}")
    print(f"wrote {save_results('reuters_dev_cv', results)}")


if __name__ == "__main__":
    main()
