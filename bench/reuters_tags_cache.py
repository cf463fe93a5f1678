"""Cache the tag model's first stage on the five Reuters development folds (a study aid).

    python bench/reuters_tags_cache.py ../shared/data/reuters21578 OUT_DIR [--folds 0,1,2,3,4]

For each development fold (`stream_dev.dev_split`, ModApte *training* only) this trains the
default tagger on the fold's training part and pickles what calibration, threshold and
second-stage variants need without refitting: the out-of-fold decision values kept for
calibration (with the inner folds), the labels, titles and leads of the training part, and
the final model's decision values and labels on the fold's test part, and both parts'
feature matrices.
"""

from __future__ import annotations

import argparse
import pickle
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import modapte_90, timer
from stream_dev import dev_split

import tagger.classify as classify
from tagger.api import Tagger, TrainConfig
from tagger.evaluate import binarize


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("reuters")
    parser.add_argument("out", type=Path)
    parser.add_argument("--folds", default="0,1,2,3,4")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    train_all, _test, labels = modapte_90(args.reuters)
    captured: dict = {}
    original = classify.out_of_fold

    def capture(x, y, folds, *args, **kwargs):
        kept = original(x, y, folds, *args, **kwargs)
        captured.update(kept=kept, folds=folds, y=y.copy())
        return kept

    classify.out_of_fold = capture
    for fold in (int(f) for f in args.folds.split(",")):
        train, test = dev_split(train_all, fold)
        with timer() as elapsed:
            model = Tagger.train(train, TrainConfig())
        seconds = elapsed()
        tm = model.tag_model
        x_test = model.featurizer.transform(test)
        payload = {
            "x_train": model.featurizer.transform(train),
            "x_test": x_test,
            "labels": tm.labels,
            "all_labels": labels,
            "model": tm,
            "kept": captured["kept"],
            "inner_folds": captured["folds"],
            "y_train": captured["y"],
            "train_titles": [a.title for a in train],
            "train_bodies": [a.body for a in train],
            "test_titles": [a.title for a in test],
            "test_bodies": [a.body for a in test],
            "test_decision": tm.decision(x_test),
            "y_test": binarize([a.tags for a in test], tm.labels),
            "y_test_all": binarize([a.tags for a in test], labels),
            "seconds": seconds,
        }
        with open(args.out / f"fold{fold}.pkl", "wb") as handle:
            pickle.dump(payload, handle)
        print(f"fold {fold}: trained in {seconds:.1f}s", flush=True)


if __name__ == "__main__":
    main()
