"""`tagger serve --workers 2` against `--workers 1` on loopback, in the same run.

    python bench/serve_workers.py ../shared/data/bbc --format folders [--model M]
        [--clients 8] [--seconds 30] [--batch 8]

For each worker count: start the real command (rate limits off, a fresh store), let
--clients clients (in a separate process, so the load generator's CPU is not the
server's event loop) post /suggest batches and, after each, one /feedback with the
decisions on its first article, for --seconds; then stop the server and count the
decisions in the store against those acknowledged. Reports /suggest throughput of each,
their ratio (target >= 1.6x on 2 cores) and lost decisions (target 0). BLAS runs one
thread a process in both runs. Without --model it trains a model on the corpus first.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import secrets
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from serve_load import free_port, percentile, stop_server, wait_for
from serve_overload import bench_articles, train_model


async def client(
    number: int,
    url: str,
    token: str,
    articles: list[dict[str, Any]],
    size: int,
    stop_at: float,
    out: dict[str, Any],
) -> None:
    rng = random.Random(number)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=url, timeout=120) as http:
        while time.monotonic() < stop_at:
            chosen = rng.sample(articles, size)
            start = time.perf_counter()
            response = await http.post("/suggest", json={"articles": chosen, "explain": True})
            out["latency"].append(time.perf_counter() - start)
            if response.status_code != 200:
                out["errors"].append(response.status_code)
                continue
            out["suggested"] += 1
            suggestion = response.json()["suggestions"][0]
            decisions = [{"action": "add", "label": f"bench-{number}-{rng.randrange(20)}"}]
            if suggestion.get("section"):
                decisions.append(
                    {"action": "accept", "kind": "section", "label": suggestion["section"]["label"]}
                )
            body = {"article": chosen[0], "suggestions": suggestion, "decisions": decisions}
            answer = await http.post("/feedback", json=body, headers=headers)
            if answer.status_code == 201:
                out["acknowledged"] += len(answer.json()["decisions"])
            else:
                out["errors"].append(answer.status_code)


def load(url: str, tokens: list[str], articles: list[dict[str, Any]], args: Any, queue: Any):
    """In its own process: every client for --seconds; the totals to `queue`."""
    out: dict[str, Any] = {"latency": [], "errors": [], "suggested": 0, "acknowledged": 0}
    stop_at = time.monotonic() + args.seconds

    async def run() -> None:
        await asyncio.gather(
            *(
                client(i, url, tokens[i], articles, args.batch, stop_at, out)
                for i in range(args.clients)
            )
        )

    start = time.perf_counter()
    asyncio.run(run())
    out["seconds"] = time.perf_counter() - start
    queue.put(out)


def measure(workers: int, model: Path, articles: list[dict[str, Any]], args: Any) -> dict:
    work = Path(tempfile.mkdtemp(prefix=f"serve-workers-{workers}-"))
    db = work / "feedback.db"
    tokens = [secrets.token_urlsafe(24) for _ in range(args.clients)]
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "TAGGER_TOKENS": ",".join(f"editor{i}:{t}" for i, t in enumerate(tokens)),
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }
    command = [
        str(Path(sys.executable).with_name("tagger")),
        "serve",
        "--model",
        str(model),
        "--db",
        str(db),
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--suggest-rate",
        "0",
        "--feedback-rate",
        "0",
    ]
    log = (work / "server.log").open("w")
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(url, server)
        with httpx.Client(base_url=url, timeout=60) as http:  # warm every worker up
            for _ in range(4 * workers):
                httpx.post(url + "/suggest", json={"articles": articles[: args.batch]})
            assert http.get("/health").status_code == 200
        queue: multiprocessing.Queue = multiprocessing.Queue()
        process = multiprocessing.Process(target=load, args=(url, tokens, articles, args, queue))
        process.start()
        out = queue.get(timeout=args.seconds + 300)
        process.join(60)
    finally:
        stop_server(server, log, grace=60)
    with sqlite3.connect(db) as conn:
        stored = conn.execute("SELECT COUNT(*) FROM decisions").fetchone()[0]
    out["stored"] = stored
    out["throughput"] = out["suggested"] / out["seconds"]
    out["p50_ms"] = percentile(out["latency"], 50) * 1000
    out["p95_ms"] = percentile(out["latency"], 95) * 1000
    del out["latency"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("corpus", nargs="+")
    parser.add_argument("--format", default="auto")
    parser.add_argument("--model", type=Path)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--chars", type=int, default=4000)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    model = args.model or train_model(
        args.corpus, args.format, Path(tempfile.mkdtemp(prefix="serve-workers-")) / "model"
    )
    articles = bench_articles(args.corpus, args.format, args.chars)
    results: dict[str, Any] = {}
    for workers in (1, 2):
        out = measure(workers, model, articles, args)
        results[f"workers_{workers}"] = out
        print(
            f"--workers {workers}: {out['throughput']:.2f} /suggest batches/s "
            f"(p50 {out['p50_ms']:.0f} ms, p95 {out['p95_ms']:.0f} ms), errors "
            f"{len(out['errors'])}, decisions acknowledged {out['acknowledged']}, "
            f"stored {out['stored']}",
            flush=True,
        )
    ratio = results["workers_2"]["throughput"] / results["workers_1"]["throughput"]
    lost = sum(max(0, r["acknowledged"] - r["stored"]) for r in results.values())
    print(f"throughput ratio --workers 2 / --workers 1: {ratio:.2f}x; lost decisions: {lost}")
    results.update(ratio=ratio, lost=lost, cores=os.cpu_count())
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    if ratio < 1.6 or lost:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
