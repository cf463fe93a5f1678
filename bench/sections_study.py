"""Study of the section model's members and how they are mixed, on bench/sections.py's folds.

    python bench/sections_study.py --bbc ../shared/data/bbc --sample corpus/sample.jsonl \\
        --reuters ../shared/data/reuters21578 [--only NAMES] [--max-folds N]

Per outer fold (the same RepeatedStratifiedKFold as bench/sections.py) the members are fitted
with tagger's own functions on tagger's features: inner 5-fold out-of-fold decision values
(as `train_section_model` computes them) and the final fits' decision values on the held-out
articles. Every way of combining them is then scored on the same held-out articles without
refitting, next to the reference of the same fold. Members: `svm` (word features), `nb` (the
NB-weighted model), `title` (title character 2-5-grams), `lead` (character 2-5-grams of the
title and the body's first 300 characters).
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import print_rows, save_results
from sections import collections, reference_fold

from tagger.api import TrainConfig
from tagger.classify import (
    _fit_multiclass,
    _fit_nb_weighted,
    _folds,
    _title_features,
    choose_title_weight,
    fit_temperature,
    log_loss,
    softmax,
)
from tagger.features import Featurizer


def members(train: list, test: list, y: np.ndarray, n_labels: int, config: TrainConfig) -> dict:
    """Per member: (inner out-of-fold decisions, held-out decisions)."""
    cfg = config.sections
    featurizer = Featurizer(config.features)
    x = featurizer.fit_transform(train)
    x_test = featurizer.transform(test)
    title_block, x_title = _title_features([a.title for a in train], cfg)
    x_title_test = title_block.transform([a.title for a in test]).astype(np.float64)
    leads = [f"{a.title} {(a.body or '')[:300]}" for a in train]
    lead_block, x_lead = _title_features(leads, cfg)
    x_lead_test = lead_block.transform([f"{a.title} {(a.body or '')[:300]}" for a in test]).astype(
        np.float64
    )
    spaces = {
        "svm": (_fit_multiclass, x, x_test),
        "nb": (_fit_nb_weighted, x, x_test),
        "title": (_fit_multiclass, x_title, x_title_test),
    }
    if any((a.body or "").strip() for a in train):  # else the lead is the title
        spaces["lead"] = (_fit_multiclass, x_lead, x_lead_test)
    n = x.shape[0]
    folds = _folds(n, cfg.cv_folds, config.seed, None)
    out = {}
    for name, (fit, xs, xt) in spaces.items():
        oof = np.zeros((n, n_labels))
        for test_idx in folds:
            tr = np.setdiff1d(np.arange(n), test_idx, assume_unique=True)
            coef, intercept = fit(xs[tr], y[tr], n_labels, cfg, config.seed)
            oof[test_idx] = np.asarray(xs[test_idx] @ coef.T) + intercept
        coef, intercept = fit(xs, y, n_labels, cfg, config.seed)
        out[name] = (oof, np.asarray(xt @ coef.T) + intercept)
    return out


def probs_of(decisions: dict, y: np.ndarray) -> dict:
    """Temperature-scaled probabilities (inner OOF, held-out) per member."""
    out = {}
    for name, (oof, held) in decisions.items():
        t = fit_temperature(oof, y)
        out[name] = (softmax(oof / t), softmax(held / t))
    return out


def simplex(names: list[str], step: float) -> list[dict[str, float]]:
    ticks = np.round(np.arange(0, 1 + 1e-9, step), 6)
    out = []
    for combo in itertools.product(ticks, repeat=len(names) - 1):
        rest = 1 - sum(combo)
        if rest >= -1e-9:
            out.append(dict(zip(names, [*combo, max(rest, 0.0)], strict=True)))
    return out


def combiners(p: dict, y: np.ndarray) -> dict[str, np.ndarray]:
    """Held-out probabilities of each way of combining the members."""
    out: dict[str, np.ndarray] = {}
    base_oof = (p["svm"][0] + p["nb"][0]) / 2
    base = (p["svm"][1] + p["nb"][1]) / 2
    out["svm+nb"] = base
    w = choose_title_weight(base_oof, p["title"][0], y, (0.0, 0.2, 0.35, 0.5))
    out["current"] = (1 - w) * base + w * p["title"][1]
    sets = [["svm", "nb", "title"]]
    if "lead" in p:
        w = choose_title_weight(base_oof, p["lead"][0], y, (0.0, 0.2, 0.35, 0.5))
        out["svm+nb, lead by logloss"] = (1 - w) * base + w * p["lead"][1]
        sets.append(["svm", "nb", "title", "lead"])
    for names in sets:
        grid = simplex(names, 0.1)
        best = min(grid, key=lambda g: log_loss(sum(g[k] * p[k][0] for k in names), y))
        out[f"linear pool {'+'.join(names)} by logloss"] = sum(best[k] * p[k][1] for k in names)
        acc = [float(np.mean(sum(g[k] * p[k][0] for k in names).argmax(1) == y)) for g in grid]
        top = max(acc)
        # among the best by accuracy, the lowest log-loss
        ok = [g for g, a in zip(grid, acc, strict=True) if a >= top - 1e-12]
        best = min(ok, key=lambda g: log_loss(sum(g[k] * p[k][0] for k in names), y))
        out[f"linear pool {'+'.join(names)} by accuracy"] = sum(best[k] * p[k][1] for k in names)
        # log-linear pool: weighted sum of log-probabilities
        logs = {
            k: (np.log(np.clip(p[k][0], 1e-12, 1)), np.log(np.clip(p[k][1], 1e-12, 1)))
            for k in names
        }
        best = min(grid, key=lambda g: log_loss(softmax(sum(g[k] * logs[k][0] for k in names)), y))
        out[f"log pool {'+'.join(names)} by logloss"] = softmax(
            sum(best[k] * logs[k][1] for k in names)
        )
    # stacking: multinomial logistic regression on the members' out-of-fold log-probabilities
    from sklearn.linear_model import LogisticRegression

    for names in sets:
        z_oof = np.hstack([np.log(np.clip(p[k][0], 1e-12, 1)) for k in names])
        z_held = np.hstack([np.log(np.clip(p[k][1], 1e-12, 1)) for k in names])
        for c in (0.1, 1.0):
            stack = LogisticRegression(C=c, max_iter=2000).fit(z_oof, y)
            held = np.zeros((len(z_held), p["svm"][1].shape[1]))
            held[:, stack.classes_] = stack.predict_proba(z_held)
            out[f"stacked LR C={c} {'+'.join(names)}"] = held
    return out


def report(name: str, accuracy: dict[str, list[float]]) -> None:
    """The combiners' mean accuracy so far against the reference's on the same folds."""
    ref = accuracy["reference"]
    rows = [("combiner", "accuracy", "- reference", "folds below")]
    for key, values in accuracy.items():
        diffs = [v - r for v, r in zip(values, ref, strict=True)]
        spread = statistics.stdev(values) if len(values) > 1 else 0.0
        rows.append(
            (
                key,
                f"{statistics.mean(values):.4f} ± {spread:.4f}",
                f"{statistics.mean(diffs):+.4f}",
                f"{sum(d < 0 for d in diffs)}/{len(diffs)}",
            )
        )
    print(name, flush=True)
    print_rows(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bbc")
    parser.add_argument("--sample")
    parser.add_argument("--reuters")
    parser.add_argument("--only")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-folds", type=int, default=None)
    args = parser.parse_args()
    from sklearn.model_selection import RepeatedStratifiedKFold

    config = TrainConfig()
    results: dict[str, Any] = {"load_average": os.getloadavg()}
    for name, articles in collections(args).items():
        labels = sorted({a.section for a in articles})
        index = {s: i for i, s in enumerate(labels)}
        y_all = np.array([index[a.section] for a in articles])
        splitter = RepeatedStratifiedKFold(
            n_splits=args.folds, n_repeats=args.repeats, random_state=args.seed
        )
        accuracy: dict[str, list[float]] = {}
        for number, (tr, te) in enumerate(splitter.split(articles, y_all)):
            if args.max_folds is not None and number >= args.max_folds:
                break
            train, test = [articles[i] for i in tr], [articles[i] for i in te]
            ref = reference_fold(train, test, labels)["accuracy"]
            decisions = members(train, test, y_all[tr], len(labels), config)
            p = probs_of(decisions, y_all[tr])
            scores = {f"member {k}": v[1] for k, v in p.items()}
            scores.update(combiners(p, y_all[tr]))
            accuracy.setdefault("reference", []).append(ref)
            for key, held in scores.items():
                accuracy.setdefault(key, []).append(float(np.mean(held.argmax(1) == y_all[te])))
            print(
                f"{name} fold {number + 1}: reference {ref:.4f} current "
                f"{accuracy['current'][-1]:.4f} (load {os.getloadavg()[0]:.1f})",
                flush=True,
            )
            report(name, accuracy)
        results[name] = accuracy
    results["load_average_end"] = os.getloadavg()
    suffix = "_" + args.only.replace(",", "_") if args.only else ""
    print(f"wrote {save_results('sections_study' + suffix, results)}")


if __name__ == "__main__":
    main()
