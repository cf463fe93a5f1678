"""Where the tag model's training time goes, on the Reuters development split.

    python bench/tag_train_profile.py ../shared/data/reuters21578 [--config FILE] \\
        [--jobs N] [--cprofile]

Trains on fold 0's split of ModApte training (`stream_dev.dev_split`, as
`reuters_tags.py --dev`; no test article is read) and prints the wall seconds of each
stage of `Tagger.train`: feature extraction (each tf-idf block), the cross-validation
folds' fits, calibration, the NB-weighted member's choice, the second stage, the name
rules, the final fits, and the rest. With `--cprofile` (best with `--jobs 1`, so that the
fits run in this process) the functions with the most cumulative time are printed too:
the plain and the NB-weighted fits (`_liblinear`), sampling, scaling, pruning.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import modapte_90
from stream_dev import dev_split

import tagger.classify as classify
import tagger.features as features
import tagger.train as train_module
from tagger.api import Tagger, TrainConfig
from tagger.overlap import TrainingFilter

SECONDS: dict[str, float] = defaultdict(float)


def timed(owner: Any, name: str, stage: str) -> None:
    """Replace `owner.name` by a wrapper adding its wall seconds to SECONDS[stage]."""
    original: Callable[..., Any] = getattr(owner, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            SECONDS[stage] += time.perf_counter() - start

    setattr(owner, name, wrapper)


def block_timer() -> None:
    """Time each tf-idf block's fit_transform inside Featurizer.fit_transform."""
    original = features.Featurizer._vectorizers

    def vectorizers(self: features.Featurizer) -> dict[str, Any]:
        out = original(self)
        for name, vectorizer in out.items():
            fit = vectorizer.fit_transform

            def fit_transform(docs: Any, _fit: Any = fit, _name: str = name) -> Any:
                start = time.perf_counter()
                try:
                    return _fit(docs)
                finally:
                    SECONDS[f"features: {_name} block"] += time.perf_counter() - start

            vectorizer.fit_transform = fit_transform
        return out

    features.Featurizer._vectorizers = vectorizers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("reuters", help="folder with reut2-*.sgm(.gz)")
    parser.add_argument("--config", type=Path, help="tagger training config (TOML/JSON)")
    parser.add_argument("--jobs", type=int, default=None, help="tags.n_jobs (default: config's)")
    parser.add_argument("--cprofile", action="store_true", help="print the top functions too")
    args = parser.parse_args()

    train, _test, _labels = modapte_90(args.reuters)
    train, test = dev_split(train)
    print(f"dev split of ModApte training: {len(train)} train / {len(test)} test articles")
    config = TrainConfig.from_file(args.config) if args.config else TrainConfig()
    if args.jobs is not None:
        config.tags.n_jobs = args.jobs

    block_timer()
    timed(features.Featurizer, "fit_transform", "features (all blocks, stacking)")
    timed(classify, "_run_chunks", "fits in workers (folds + final)")
    timed(classify, "out_of_fold", "cross-validation (folds' fits, slicing)")
    timed(classify, "calibrate_tags", "calibration (all calls)")
    timed(classify, "nb_member_choice", "NB member choice (incl. its calibration)")
    timed(classify, "second_stage", "second stage (incl. its calibration)")
    timed(classify, "select_out_of_fold", "name and lead rules")
    timed(classify, "_final_fit", "final fits (incl. pruning)")
    timed(train_module, "train_tag_model", "tag model (all)")
    timed(train_module, "corpus_fingerprint", "corpus fingerprint")
    timed(TrainingFilter, "build", "training filter (overlap)")
    profiler = cProfile.Profile() if args.cprofile else None
    start = time.perf_counter()
    cpu = time.process_time()
    if profiler:
        profiler.enable()
    model = Tagger.train(train, config)
    if profiler:
        profiler.disable()
    wall = time.perf_counter() - start
    cpu = time.process_time() - cpu
    children = os.times()
    print(f"training: {wall:.1f} s wall, {cpu:.1f} s CPU in this process, "
          f"{children.children_user + children.children_system:.1f} s CPU in workers; "
          f"tags.n_jobs={config.tags.n_jobs}")  # fmt: skip
    print(f"matrix: {model.featurizer.n_features} features")
    for stage, seconds in sorted(SECONDS.items(), key=lambda kv: -kv[1]):
        print(f"  {seconds:7.2f} s  {100 * seconds / wall:5.1f}%  {stage}")
    print(f"load average at the end: {os.getloadavg()}")
    if profiler:
        stats = pstats.Stats(profiler)
        stats.sort_stats("cumulative").print_stats(45)
        stats.sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    main()
