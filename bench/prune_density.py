"""How dense tag weights are at scale, and what pruning rules keep (issue 10).

    python bench/prune_density.py ../shared/data --size 40000 --tags 2000 --sample 12

Builds the corpus of bench/scale_train.py, fits the final model of `--sample` random tags
with tagger's fit (`_fit_one`: LinearSVC's liblinear call, sampled easy negatives) and no
pruning, then for each rule reports the weights kept and the largest change of a decision
value on the held-out 20% (what pruning may move; the L2 rule guarantees at most its
tolerance for any L2-normalised article).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from scale_train import build


def main() -> None:
    import numpy as np

    from tagger.classify import ModelConfig, _column, _fit_one, _FitJob, prune_weights
    from tagger.evaluate import binarize
    from tagger.features import FeatureConfig, Featurizer

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("data", type=Path, help="../shared/data")
    parser.add_argument("--size", type=int, default=40000)
    parser.add_argument("--tags", type=int, default=2000)
    parser.add_argument("--sample", type=int, default=12)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    articles = build(args.data, args.size, args.tags, 0)
    cut = int(0.8 * len(articles))
    train, test = articles[:cut], articles[cut:]
    labels = sorted({t for a in train for t in a.tags})
    rng = np.random.default_rng(args.seed)
    chosen = [labels[i] for i in sorted(rng.choice(len(labels), args.sample, replace=False))]
    featurizer = Featurizer(FeatureConfig())
    x = featurizer.fit_transform(train).astype(np.float64).tocsr()
    x_test = featurizer.transform(test).tocsr()
    print(f"features {x.shape[1]}, training articles {x.shape[0]}, held out {x_test.shape[0]}")
    y = binarize([a.tags for a in train], chosen).tocsc()
    job = _FitJob.of(ModelConfig(), 0)
    rules = [(f"L2<={t}", lambda w, t=t: prune_weights(w, t)) for t in (0.1, 0.2, 0.3, 0.5)]
    rules += [
        (f"|w|>{e}", lambda w, e=e: np.flatnonzero(np.abs(w) > e)) for e in (1e-4, 1e-3, 3e-3)
    ]
    for j, label in enumerate(chosen):
        column = _column(y, j)
        w, _b = _fit_one(x, column, job, job.rng(j))
        if w is None:
            continue
        full = x_test @ w
        cells = [label, f"positives {int(column.sum())}", f"non-zero {np.count_nonzero(w)}"]
        for name, rule in rules:
            keep = rule(w)
            pruned = np.zeros_like(w)
            pruned[keep] = w[keep]
            change = np.abs(x_test @ pruned - full).max()
            cells.append(f"{name}: {len(keep)} (max change {change:.4f})")
        print("; ".join(cells), flush=True)


if __name__ == "__main__":
    main()
