"""Prediction speed of a saved model on one core, end to end and by stage (issue 10).

    python bench/predict_speed.py /tmp/models/40000/model /tmp/models/40000/test.jsonl
    python bench/predict_speed.py MODEL ARTICLES.jsonl --tree old=/tmp/old --tree new=. \\
        --repeats 2          # the same measurement on two checkouts, alternating: ratios

MODEL is a bundle folder and ARTICLES a JSONL file of articles (bench/scale_train.py
`--keep DIR` writes both). Every measurement runs in a process pinned to one CPU
(`--cpu`), with BLAS/OpenMP pools of one thread, and counts CPU seconds of that process
(they hold on a shared machine where wall seconds do not; both are reported):

- `api`: `Tagger.predict(articles, explain=False)` and `explain=True` on a list, as a
  program calls it (no entities: the model has no entity features);
- `cli`: what `tagger predict MODEL ARTICLES --no-entities -F jsonl` does after loading the
  model: the JSONL reader's generator through `run_predict` (evidence on, as the CLI always
  computes it) into the JSONL writer (to /dev/null);
- `stages`: each stage alone over the same batches of 256 (language identification,
  featurize, tag scores, the rules and the selection, the whole `suggest` with and
  without evidence, serialisation), so that the costs can be compared with the total.

With `--cycle-tags N` the loaded model's tag rows are cycled to N tags (bench/predict_tags.py's
`cycled_model`: each copy a real tag's weights, calibration and threshold, no name rule),
for tag counts no whole model was trained at here.

With `--tree NAME=PATH` (twice or more) the measurement is made in a child process per
checkout (PATH holds the `tagger` package; PYTHONPATH=PATH), the trees alternating for
`--repeats` rounds; the best of the rounds is kept per tree and the ratios are against the
first tree. The load average is printed with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
BATCH = 256


def cpu_time() -> float:
    return time.process_time()


def timed(function: Any, *args: Any, **kwargs: Any) -> tuple[Any, float, float]:
    """(result, CPU seconds, wall seconds) of one call."""
    cpu, wall = time.process_time(), time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.process_time() - cpu, time.perf_counter() - wall


def measure(
    model_dir: Path,
    articles_path: Path,
    count: int,
    profile: bool,
    shortlist_share: bool,
    cycle_tags: int = 0,
) -> dict[str, Any]:
    """Every figure of one checkout, in this (pinned, one-thread) process."""
    from common import one_core

    import tagger
    from tagger.api import Tagger
    from tagger.corpus.readers import read_corpus
    from tagger.language import identify_articles
    from tagger.pipeline import PredictOptions, iter_batches, run_predict
    from tagger.predict import suggest
    from tagger.render import BatchWriter

    result: dict[str, Any] = {"tagger": str(Path(tagger.__file__).parent)}
    with one_core():
        model, cpu, _ = timed(Tagger.load, model_dir)
        result["load_cpu_s"] = cpu
        if cycle_tags and model.tag_model is not None:
            from predict_tags import cycled_model

            model.tag_model = cycled_model(model.tag_model, cycle_tags)
        articles, cpu, _ = timed(lambda: list(read_corpus([articles_path], "jsonl"))[:count])
        result["articles"] = n = len(articles)
        result["read_cpu_ms_per_article"] = 1000 * cpu / n
        tag_model = model.tag_model
        result["tags"] = len(tag_model.labels) if tag_model else 0
        result["weights"] = int(tag_model.coef.nnz) if tag_model else 0
        # the first call builds what is built once per process (the candidate stage,
        # the language identifier, the feature index): reported, not counted below
        _, cpu, _ = timed(model.predict, articles[:20], explain=True)
        result["warm_up_cpu_s"] = cpu

        for explain in (False, True):
            _, cpu, wall = timed(model.predict, articles, explain=explain)
            key = "api_evidence" if explain else "api"
            result[f"{key}_per_cpu_s"] = n / cpu
            result[f"{key}_per_s"] = n / wall

        def cli() -> None:
            options = PredictOptions(entities=False, explain=True)
            stream = read_corpus([articles_path], "jsonl")
            taken = (a for i, a in zip(range(n), stream, strict=False))
            with (
                open(os.devnull, "w", encoding="utf-8") as sink,
                BatchWriter("jsonl", lambda s: s.to_dict(), out=sink) as writer,
            ):
                for batch in run_predict(model, taken, options):
                    writer.write(batch)

        _, cpu, wall = timed(cli)
        result["cli_per_cpu_s"], result["cli_per_s"] = n / cpu, n / wall

        stages: dict[str, float] = {}

        def add(name: str, function: Any, *args: Any, **kwargs: Any) -> Any:
            out, cpu, _ = timed(function, *args, **kwargs)
            stages[name] = stages.get(name, 0.0) + cpu
            return out

        for batch in iter_batches(articles, BATCH):
            add("language", identify_articles, batch)
            x = add("featurize", model.featurizer.transform, batch, None)
            if tag_model is not None:
                # as each checkout's `suggest` asks (its default: with or without the
                # candidate stage)
                probs = add("tag scores", tag_model.predict_proba, x)
                titles, bodies = [a.title for a in batch], [a.body for a in batch]
                add("rules + selection", tag_model.choose, probs, titles, bodies)
            add("suggest", suggest, model, batch, None, explain=False)
            made = add("suggest with evidence", suggest, model, batch, None, explain=True)
            add("serialise", lambda m=made: [json.dumps(s.to_dict()) for s in m])
        result["stage_ms_per_article"] = {k: 1000 * v / n for k, v in stages.items()}
        stage = tag_model.shortlist() if tag_model is not None and shortlist_share else None
        if stage is not None:
            x = model.featurizer.transform(articles[:BATCH])
            scored = stage.predict_proba(tag_model, x)[1]
            result["shortlist_scored_share"] = scored / (x.shape[0] * len(tag_model.labels))
        if profile:
            import cProfile
            import pstats

            profiler = cProfile.Profile()
            profiler.enable()
            cli()
            profiler.disable()
            pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(30)
    return result


def child(args: argparse.Namespace) -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.cpu})
    result = measure(
        args.model, args.articles, args.count, args.profile, args.shortlist_share, args.cycle_tags
    )
    print(json.dumps(result))


def run_tree(path: Path, args: argparse.Namespace) -> dict[str, Any]:
    """The child measurement with PYTHONPATH=path, one thread per pool."""
    env = dict(os.environ, PYTHONPATH=str(path.resolve()))
    env.update(dict.fromkeys(THREAD_VARIABLES, "1"))
    command = [sys.executable, __file__, str(args.model), str(args.articles), "--child"]
    command += ["--articles", str(args.count), "--cpu", str(args.cpu)]
    command += ["--profile"] * args.profile + ["--shortlist-share"] * args.shortlist_share
    command += ["--cycle-tags", str(args.cycle_tags)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"{path}: measurement failed:\n{done.stderr[-3000:]}")
    if args.profile:
        print(done.stderr, file=sys.stderr)
    return json.loads(done.stdout.strip().splitlines()[-1])


FIGURES = ("api_per_cpu_s", "api_evidence_per_cpu_s", "cli_per_cpu_s")


def report(results: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Best of the rounds per tree, and each figure's ratio to the first tree's."""
    best: dict[str, dict[str, Any]] = {}
    for name, runs in results.items():
        chosen = dict(runs[0])
        for key in (*FIGURES, "api_per_s", "api_evidence_per_s", "cli_per_s"):
            chosen[key] = max(r[key] for r in runs)
        chosen["rounds"] = {key: [round(r[key], 1) for r in runs] for key in FIGURES}
        best[name] = chosen
    first = next(iter(best.values()))
    ratios = {name: {key: b[key] / first[key] for key in FIGURES} for name, b in best.items()}
    return {"best": best, "ratios": ratios}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("model", type=Path, help="bundle folder")
    parser.add_argument("articles", type=Path, help="JSONL articles")
    parser.add_argument("--articles", dest="count", type=int, default=2000)
    parser.add_argument("--cpu", type=int, default=0, help="the CPU to pin to")
    parser.add_argument("--tree", action="append", default=[], help="NAME=PATH (repeatable)")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--profile", action="store_true", help="cProfile of the cli run")
    parser.add_argument(
        "--shortlist-share",
        action="store_true",
        help="also build the candidate stage and report the share of (article, tag) it scores",
    )
    parser.add_argument(
        "--cycle-tags",
        type=int,
        default=0,
        help="score a model of N tags made by cycling the model's weight rows (no name rule)",
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    from common import save_results

    trees = [t.split("=", 1) for t in args.tree] or [["this", str(Path(__file__).parents[1])]]
    load_before = os.getloadavg()
    results: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in trees}
    for _ in range(args.repeats):
        for name, path in trees:
            results[name].append(run_tree(Path(path), args))
    out = report(results) | {"load_average": [load_before, os.getloadavg()]}
    for name, best in out["best"].items():
        print(f"-- {name} ({best['tagger']}): {best['tags']} tags, {best['weights']:,} weights")
        print(
            "   articles per CPU second: api {:.0f}, api with evidence {:.0f}, cli {:.0f}"
            " (wall: {:.0f}, {:.0f}, {:.0f})".format(
                *(best[k] for k in FIGURES),
                best["api_per_s"],
                best["api_evidence_per_s"],
                best["cli_per_s"],
            )
        )
        stages = ", ".join(f"{k} {v:.3f}" for k, v in best["stage_ms_per_article"].items())
        print(f"   CPU ms an article: {stages}")
        print(
            f"   load {best['load_cpu_s']:.1f} CPU s, warm-up {best['warm_up_cpu_s']:.1f} CPU s,"
            f" read {best['read_cpu_ms_per_article']:.3f} ms an article"
            + (
                f", shortlist scores {best['shortlist_scored_share']:.1%} of (article, tag)"
                if "shortlist_scored_share" in best
                else ""
            )
        )
        ratio = out["ratios"][name]
        print("   ratio to the first tree: " + ", ".join(f"{k} {v:.2f}" for k, v in ratio.items()))
    print(f"load average before {load_before}, after {os.getloadavg()}")
    save_results("predict_speed", out | {"args": {k: str(v) for k, v in vars(args).items()}})


if __name__ == "__main__":
    main()
