"""Cache the tag model's first stage on the five Reuters development folds (a study aid).

    python bench/reuters_tags_cache.py ../shared/data/reuters21578 OUT_DIR [--folds 0,1,2,3,4] \
        [--scales]

For each development fold (`stream_dev.dev_split`, ModApte *training* only) this trains the
default tagger on the fold's training part and pickles what calibration, threshold and
second-stage variants need without refitting: the out-of-fold decision values kept for
calibration (with the inner folds), the labels, titles and leads of the training part, and
the final model's decision values and labels on the fold's test part, and both parts'
feature matrices.

With `--scales` the fits run in this process (one worker: the same models, results do not
depend on the workers) and every binary fit's weight vector is measured as it is made:
per tag, for each inner cross-validation fold and for the final fit, the L2 norm of the
plain SVM's weights and of the plain SVM averaged with its NB-weighted member (the weights
the out-of-fold mixed scores and a mixed tag's final model use), and the standard
deviation of x @ w over the fold's training part (all of it, the same articles for every
inner fold and the final fit). Saved as the payload's "scales" (`reuters_tags_study.py
--study scale`).
"""

from __future__ import annotations

import argparse
import pickle
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
from common import modapte_90, timer
from stream_dev import dev_split

import tagger.classify as classify
from tagger.api import Tagger, TrainConfig
from tagger.evaluate import binarize

SCALE_KEYS = ("plain_norm", "mixed_norm", "plain_sd", "mixed_sd")


class ScaleRecorder:
    """Wraps `classify._fit_with_member` (in this process) to measure each fit's weights:
    `records[(fold, tag)]` = {plain_norm, plain_sd, and with a member mixed_norm,
    mixed_sd}; fold -1 is the final fit. `x` is the matrix the sd is measured on."""

    def __init__(self) -> None:
        self.records: dict[tuple[int, int], dict[str, float]] = {}
        self.x = None
        self.tag = -1
        self.fit = classify._fit_with_member
        self.rng = classify._FitJob.rng

    def install(self) -> None:
        recorder = self

        def rng(job, tag):  # the tag of the fit about to run (`_FitJob.rng` is called first)
            recorder.tag = int(tag)
            return recorder.rng(job, tag)

        def fit(x, column, job, rng_, view):
            w, b, member = recorder.fit(x, column, job, rng_, view)
            if w is not None and recorder.x is not None:
                row = {"plain_norm": float(np.linalg.norm(w)), "plain_sd": recorder.sd(w)}
                if member is not None:
                    mixed = 0.5 * (w + member[0])
                    row.update(mixed_norm=float(np.linalg.norm(mixed)), mixed_sd=recorder.sd(mixed))
                recorder.records[(job.fold, recorder.tag)] = row
            return w, b, member

        classify._FitJob.rng = rng
        classify._fit_with_member = fit

    def sd(self, w: np.ndarray) -> float:
        return float(np.std(self.x @ w))

    def arrays(self, n_tags: int, k: int, source: np.ndarray) -> dict[str, np.ndarray]:
        """Per key: (tags x k) fold values and (tags,) final values, NaN where no fit
        (a constant model, or no member); a tag with the same articles as an earlier one
        (`same_labels`) takes that tag's."""
        out: dict[str, np.ndarray] = {}
        for key in SCALE_KEYS:
            folds = np.full((n_tags, k), np.nan)
            final = np.full(n_tags, np.nan)
            for j in range(n_tags):
                s = int(source[j])
                for f in range(k):
                    folds[j, f] = self.records.get((f, s), {}).get(key, np.nan)
                final[j] = self.records.get((-1, s), {}).get(key, np.nan)
            out[f"fold_{key}"], out[f"final_{key}"] = folds, final
        return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("reuters")
    parser.add_argument("out", type=Path)
    parser.add_argument("--folds", default="0,1,2,3,4")
    parser.add_argument("--scales", action="store_true", help="measure every fit's weights")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    train_all, _test, labels = modapte_90(args.reuters)
    captured: dict = {}
    original = classify.out_of_fold

    def capture(x, y, folds, *args, **kwargs):
        kept = original(x, y, folds, *args, **kwargs)
        captured.update(kept=kept, folds=folds, y=y.copy())
        return kept

    def capture_scales(x, y, folds, *args, **kwargs):
        recorder.x, recorder.records = x, {}
        return capture(x, y, folds, *args, **kwargs)

    recorder = ScaleRecorder()
    if args.scales:
        recorder.install()
    classify.out_of_fold = capture_scales if args.scales else capture
    for fold in (int(f) for f in args.folds.split(",")):
        train, test = dev_split(train_all, fold)
        with timer() as elapsed:
            config = TrainConfig()
            if args.scales:
                config.tags.n_jobs = 1  # the fits in this process, where they are measured
            model = Tagger.train(train, config)
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
        if args.scales:
            y = captured["y"]
            source = classify.same_labels(y)
            payload["scales"] = recorder.arrays(y.shape[1], len(captured["folds"]), source)
            recorder.x = None
        with open(args.out / f"fold{fold}.pkl", "wb") as handle:
            pickle.dump(payload, handle)
        print(f"fold {fold}: trained in {seconds:.1f}s", flush=True)


if __name__ == "__main__":
    main()
