"""Archive scale on one machine: flat memory, streamed output, speed per core, --jobs.

    python bench/scale.py ../shared/data/reuters21578 [--sizes 10000,100000] [--work DIR]

Inputs are Reuters-21578 texts replicated with new ids (JSONL written under --work, which
defaults to a temporary folder; never into the repository). The model is trained on the
ModApte training articles with the default configuration (or, with --quick-model, on 3,000 of
them with word n-grams and 2 folds), kept in --work/model and reused.
Measured, all in this one run (the machine is shared, so only ratios of the same run count):

1. `tagger predict --no-entities --format jsonl` on each size as a subprocess (BLAS on one
   thread): peak RSS of the process tree (sampled from /proc every 50 ms), wall time,
   articles/s, and the time to the first output line.
2. Throughput per core against today's in-memory path, interleaved: all articles read into
   a list, `Tagger.predict` on that one batch, every line serialised (the pre-pipeline
   `tagger predict`), against `run_predict` over the reader's generator with a flushed
   writer per batch. Same articles, same process, one thread; rates per wall second and per
   CPU second (the latter holds on a shared machine). `--sizes ""` measures only this.
3. `tagger entities --no-cache --format jsonl`, `--jobs 2` against `--jobs 1`, interleaved:
   wall time (spaCy loads included) and whether the outputs are byte-identical.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import modapte_90, one_core, save_results

ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def tree_rss_kb(root: int) -> int:
    """Resident memory of `root` and all its descendants, in KiB (from /proc)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            parents[int(entry)] = int(fields[1])
        except (OSError, IndexError, ValueError):
            continue
    tree, frontier = {root}, [root]
    while frontier:
        pid = frontier.pop()
        for child, parent in parents.items():
            if parent == pid and child not in tree:
                tree.add(child)
                frontier.append(child)
    total = 0
    for pid in tree:
        try:
            with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as handle:
                for line in handle:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            continue
    return total


def run_measured(command: list[str], env: dict[str, str]) -> dict[str, Any]:
    """Run `command`, reading its stdout: seconds, first-line seconds, lines, peak tree RSS."""
    start = time.perf_counter()
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, **env}
    )
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, tree_rss_kb(process.pid))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    assert process.stdout is not None and process.stderr is not None
    first = None
    lines = 0
    digest = __import__("hashlib").sha256()
    for line in process.stdout:
        if first is None:
            first = time.perf_counter() - start
        lines += 1
        digest.update(line)
    stderr = process.stderr.read().decode(errors="replace")
    code = process.wait()
    seconds = time.perf_counter() - start
    done.set()
    sampler.join()
    if code != 0:
        raise SystemExit(f"{' '.join(command)} failed ({code}):\n{stderr}")
    return {
        "seconds": seconds,
        "first_line_seconds": first,
        "lines": lines,
        "peak_rss_mb": peak / 1024,
        "sha256": digest.hexdigest(),
    }


def write_input(path: Path, texts: list[dict[str, Any]], n: int) -> Path:
    """n articles cycling through `texts`, each with a new id."""
    if path.exists():
        return path
    partial = path.with_suffix(".partial")
    with partial.open("w", encoding="utf-8") as handle:
        for i in range(n):
            handle.write(json.dumps({**texts[i % len(texts)], "id": f"s{i}"}) + "\n")
    partial.replace(path)
    return path


def tagger_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "tagger.cli", *args]


def in_memory_vs_streamed(model: Any, path: Path, repeats: int) -> dict[str, Any]:
    """Articles/s of today's in-memory path and of the pipeline, interleaved, one thread."""
    from tagger.corpus.readers import read_corpus
    from tagger.pipeline import PredictOptions, run_predict
    from tagger.render import BatchWriter

    sink = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115
    rates: dict[str, list[float]] = {"in_memory": [], "streamed": []}
    cpu_rates: dict[str, list[float]] = {"in_memory": [], "streamed": []}
    with one_core():
        model.predict(list(read_corpus([path]))[:200], entities=False)  # warm-up
        for _ in range(repeats):
            start, cpu = time.perf_counter(), time.process_time()
            articles = list(read_corpus([path]))
            suggestions = model.predict(articles, entities=False)
            for s in suggestions:
                sink.write(json.dumps(s.to_dict(), ensure_ascii=False) + "\n")
            sink.flush()
            rates["in_memory"].append(len(articles) / (time.perf_counter() - start))
            cpu_rates["in_memory"].append(len(articles) / (time.process_time() - cpu))
            del articles, suggestions

            start, cpu = time.perf_counter(), time.process_time()
            writer = BatchWriter("jsonl", lambda s: s.to_dict(), out=sink)
            options = PredictOptions(entities=False)
            for batch in run_predict(model, read_corpus([path]), options):
                writer.write(batch)
            rates["streamed"].append(writer.count / (time.perf_counter() - start))
            cpu_rates["streamed"].append(writer.count / (time.process_time() - cpu))
    best = {k: max(v) for k, v in rates.items()}
    best_cpu = {k: max(v) for k, v in cpu_rates.items()}
    return {
        "rates": rates,
        "best": best,
        "ratio": best["streamed"] / best["in_memory"],
        # articles per CPU second: what a core gives, whatever else the machine runs
        "cpu_rates": cpu_rates,
        "best_cpu": best_cpu,
        "cpu_ratio": best_cpu["streamed"] / best_cpu["in_memory"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("reuters", help="folder with reut2-*.sgm(.gz)")
    parser.add_argument("--sizes", default="10000,100000", help="predict input sizes")
    parser.add_argument("--work", type=Path, help="folder for inputs and the model")
    parser.add_argument("--speed-articles", type=int, default=10000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--entity-articles", type=int, default=300)
    parser.add_argument("--skip-entities", action="store_true")
    parser.add_argument("--only-entities", action="store_true")
    parser.add_argument(
        "--entity-batch", type=int, default=16, help="entities --batch-size (several per job)"
    )
    parser.add_argument(
        "--quick-model", action="store_true", help="train a smaller model (shared machine)"
    )
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="tagger-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"work folder: {work}")

    from tagger.api import Tagger, TrainConfig

    train, test, _labels = modapte_90(args.reuters)
    texts = [{"title": a.title, "body": a.body} for a in train + test]
    mean = sum(len(t["body"]) for t in texts) // len(texts)
    print(f"{len(texts)} Reuters texts (ModApte with topics), mean body {mean} characters")
    bundle = work / "model"
    if not (bundle / "manifest.json").exists():
        started = time.perf_counter()
        config = TrainConfig(name="reuters-scale")
        if args.quick_model:  # word n-grams, 2 folds, 3,000 articles: minutes, not tens
            from tagger.classify import ModelConfig
            from tagger.features import FeatureConfig

            config.features = FeatureConfig(char_ngrams=None)
            config.tags, config.sections = ModelConfig(cv_folds=2), ModelConfig(cv_folds=2)
            train = train[:3000]
        Tagger.train(train, config).save(bundle)
        print(f"trained the model in {time.perf_counter() - started:.0f} s")
    model = Tagger.load(bundle)
    results: dict[str, Any] = {"texts": len(texts), "sizes": {}}

    sizes = [] if args.only_entities else [int(s) for s in args.sizes.split(",") if s]
    for n in sizes:
        path = write_input(work / f"in-{n}.jsonl", texts, n)
        command = tagger_command(
            "predict", "-m", str(bundle), str(path), "--no-entities", "-F", "jsonl", "-q"
        )
        measured = run_measured(command, ONE_THREAD)
        assert measured["lines"] == n, measured
        measured["articles_per_second"] = n / measured["seconds"]
        results["sizes"][n] = measured
        print(
            f"predict --no-entities, {n:>9,} articles: peak RSS {measured['peak_rss_mb']:7.1f} MB,"
            f" {measured['seconds']:7.1f} s ({measured['articles_per_second']:,.0f}/s), first"
            f" line after {measured['first_line_seconds']:.2f} s"
        )
    if len(sizes) > 1:
        low, high = results["sizes"][sizes[0]], results["sizes"][sizes[-1]]
        results["rss_growth"] = high["peak_rss_mb"] / low["peak_rss_mb"] - 1
        print(
            f"peak RSS at {sizes[-1]:,} vs {sizes[0]:,}: {100 * results['rss_growth']:+.1f}%"
            " (target within 10%)"
        )

    speed_path = write_input(work / f"in-{args.speed_articles}.jsonl", texts, args.speed_articles)
    if not args.only_entities:
        speed = in_memory_vs_streamed(model, speed_path, args.repeats)
        results["per_core"] = speed
        print(
            f"one thread, {args.speed_articles:,} articles, best of {args.repeats}: in-memory "
            f"{speed['best']['in_memory']:,.0f}/s, streamed {speed['best']['streamed']:,.0f}/s:"
            f" {100 * speed['ratio']:.0f}% (target >= 90%); per CPU second: in-memory "
            f"{speed['best_cpu']['in_memory']:,.0f}/s, streamed "
            f"{speed['best_cpu']['streamed']:,.0f}/s: {100 * speed['cpu_ratio']:.0f}%"
        )

    if not args.skip_entities:
        # distinct texts (the cache is off anyway): the Reuters test articles
        rows = [{"id": f"e{i}", "title": a.title, "body": a.body} for i, a in enumerate(test)]
        path = work / f"entities-{args.entity_articles}.jsonl"
        path.write_text(
            "".join(json.dumps(r) + "\n" for r in rows[: args.entity_articles]), encoding="utf-8"
        )
        runs: dict[str, list[dict[str, Any]]] = {"1": [], "2": []}
        for jobs in ("1", "2", "2", "1"):  # interleaved: ABBA
            command = tagger_command(
                "entities", str(path), "--no-cache", "-F", "jsonl", "-q", "--jobs", jobs,
                "--batch-size", str(args.entity_batch),
            )  # fmt: skip
            runs[jobs].append(run_measured(command, ONE_THREAD))
        same = {r["sha256"] for rs in runs.values() for r in rs}
        best = {jobs: min(r["seconds"] for r in rs) for jobs, rs in runs.items()}
        n = args.entity_articles
        results["entities"] = {
            "articles": n,
            "seconds": {k: [r["seconds"] for r in v] for k, v in runs.items()},
            "speedup": best["1"] / best["2"],
            "identical": len(same) == 1,
        }
        print(
            f"entities --no-cache, {n} articles: --jobs 1 {best['1']:.1f} s "
            f"({n / best['1']:.1f}/s), --jobs 2 {best['2']:.1f} s ({n / best['2']:.1f}/s): "
            f"{best['1'] / best['2']:.2f}x"
            f" (target >= 1.7x); outputs identical: {len(same) == 1}"
        )
    out = save_results("scale", results)
    print(f"results in {out}")


if __name__ == "__main__":
    main()
