"""Prediction speed with many tags, on weight rows of a real large corpus (issue 10).

    python bench/predict_tags.py ../shared/data --size 40000 --tags 2000 --fit 40
    python bench/predict_tags.py ../shared/data --size 40000 --tags 2000,10000 --fit 40 \
        --keep /tmp/cycled --no-measure   # models for bench/predict_speed.py

A whole model of 2,000 tags at 40,000 articles takes about an hour to train here, so this
bench trains `--fit` random tags of the bench/scale_train.py corpus for real
(`train_tag_model`: cross-validation, calibration, final fit, pruning) and makes a model of
`--tags` rows by cycling them (each copy under its own name; no name rule). The weights per
tag, their features and their calibration are those of the real corpus; what differs is
that copies of a tag fall in one cluster of the candidate stage, where different tags would
loosen its bounds, so the candidate stage's figure is optimistic. The figure without it
(every tag scored: the full sparse product) bounds the scoring cost from above.

With `--keep DIR` the cycled model of each `--tags` value is saved as DIR/TAGS/model with
the held-out articles as DIR/TAGS/test.jsonl, for bench/predict_speed.py (every tag scored
there: copies of a tag weigh the same features as the tag, so the cost of the product, of
the calibration and of the evidence per tag is that of the real tags).

Reports, on one core without entities and without evidence, articles per CPU second (they
hold on a shared machine) and per wall second of
`Tagger.predict` over `--articles` held-out articles (with and without the candidate stage),
the size of the weights as the bundle stores them and where the time goes (`--profile`).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import one_core, save_results, timer
from scale_train import build, deflated_bytes


def cycled_model(model, tags: int):  # type: ignore[no-untyped-def]
    """A TagModel of `tags` rows cycling the rows of `model`."""
    import numpy as np

    from tagger.classify import TagModel

    rows = np.arange(tags) % len(model.labels)
    return TagModel(
        labels=[f"tag{j}-{model.labels[r]}" for j, r in enumerate(rows)],
        coef=model.coef[rows],
        intercept=model.intercept[rows],
        platt_a=model.platt_a[rows],
        platt_b=model.platt_b[rows],
        thresholds=[model.thresholds[r] for r in rows],
        best_tag_floor=model.best_tag_floor,
    )


def main() -> None:
    import numpy as np

    from tagger.api import Tagger
    from tagger.classify import train_tag_model
    from tagger.evaluate import binarize
    from tagger.features import Featurizer
    from tagger.train import TrainConfig

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("data", type=Path, help="../shared/data")
    parser.add_argument("--size", type=int, default=40000)
    parser.add_argument("--tags", default="2000", help="tags of the cycled model(s): N[,N...]")
    parser.add_argument("--fit", type=int, default=40, help="tags trained for real")
    parser.add_argument("--articles", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--keep", type=Path, default=None, help="save the cycled models here")
    parser.add_argument("--no-measure", action="store_true", help="only build (and --keep)")
    args = parser.parse_args()
    sizes = [int(t) for t in args.tags.split(",")]
    args.tags = sizes[0]

    articles = build(args.data, args.size, args.tags, args.seed)
    cut = int(0.8 * len(articles))
    train, test = articles[:cut], articles[cut:][: args.articles]
    labels = sorted({t for a in train for t in a.tags})
    rng = np.random.default_rng(args.seed)
    chosen = [labels[i] for i in sorted(rng.choice(len(labels), args.fit, replace=False))]
    config = TrainConfig()
    featurizer = Featurizer(config.features)
    x = featurizer.fit_transform(train)
    y = binarize([a.tags for a in train], chosen)
    with timer() as elapsed:
        fitted = train_tag_model(x, y, chosen, config.tags)
    fit_seconds = elapsed()
    if args.keep:
        from tagger.train import corpus_fingerprint

        manifest = {
            "name": "cycled",
            "config": config.to_dict(),
            "corpus": {
                "fingerprint": corpus_fingerprint(train),
                "articles": len(train),
                "with_section": 0,
                "with_tags": len(train),
            },
            "entities": None,
            "warnings": [f"bench: {args.fit} fitted tags cycled to the tag count"],
        }
        for tags in sizes:
            folder = args.keep / str(tags)
            folder.mkdir(parents=True, exist_ok=True)
            kept = Tagger(featurizer, None, cycled_model(fitted, tags), dict(manifest))
            kept.save(folder / "model")
            with (folder / "test.jsonl").open("w", encoding="utf-8") as out:
                for article in test:
                    out.write(json.dumps(article.to_dict(), ensure_ascii=False) + "\n")
            print(json.dumps({"kept": str(folder), "tags": tags}), flush=True)
    if args.no_measure:
        return
    model = Tagger(featurizer, None, cycled_model(fitted, args.tags))
    tag_model = model.tag_model
    result = {
        "train_articles": len(train),
        "features": int(x.shape[1]),
        "tags": args.tags,
        "fitted_tags": args.fit,
        "fit_seconds": fit_seconds,
        "weights_per_tag": tag_model.coef.nnz / args.tags,
        "weights_in_bundle_mb": deflated_bytes(tag_model.coef) / 1e6,
        "load_average": os.getloadavg(),
    }
    with one_core():
        model.predict(test[:100], explain=False)  # warm-up: the candidate stage is built
        for name, shortlist in (("candidate stage", True), ("every tag scored", False)):
            original = tag_model.predict_proba
            if not shortlist:
                tag_model.predict_proba = lambda x, _s=True, f=original: f(x, False)  # type: ignore[method-assign]
            cpu = time.process_time()
            with timer() as elapsed:
                model.predict(test, explain=False)
            result[f"articles_per_cpu_second ({name})"] = len(test) / (time.process_time() - cpu)
            result[f"articles_per_second ({name})"] = len(test) / elapsed()
            if args.profile:
                profiler = cProfile.Profile()
                profiler.enable()
                model.predict(test, explain=False)
                profiler.disable()
                print(f"-- {name}")
                pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
            tag_model.predict_proba = original  # type: ignore[method-assign]
    print(json.dumps(result, indent=1))
    save_results("predict_tags", result | {"args": vars(args) | {"data": str(args.data)}})


if __name__ == "__main__":
    main()
