"""`tagger serve --workers 2` against `--workers 1` on loopback, in the same run.

    python bench/serve_workers.py ../shared/data/bbc --format folders [--model M]
        [--clients 16] [--seconds 30] [--batch 8]

For each worker count: start the real command (rate limits off, a model queue as long
as the clients, a fresh store, JSON access log, --model-processes model processes per
worker: 1 by default, so --workers N does model work in N processes) and wait until
every worker serves; then
--clients kept-alive connections (a separate process, the light `serve_load.RawHTTP`
client: request bodies encoded before the clock starts, answers read by their length,
only the JSON needed for the decisions parsed) post /suggest batches and, after each,
one /feedback with decisions on its first article, for --seconds. Then the server stops
and the decisions in the store are counted against those acknowledged.

Reported for each: /suggest batches a second (wall clock), the CPU seconds the server
(supervisor and workers) and the load generator used in that window, the server's
cores in use (CPU seconds / wall seconds), batches per server CPU second, and how the
requests spread over the worker processes (access log), and the memory of the server's
process tree at the end (sum of PSS and of RSS). The ratio of throughputs is the
figure (target >= 1.6x on 2 cores, 0 lost decisions); the CPU figures say why when the
machine is shared: a second worker can only add the CPU the machine gives it.
BLAS runs one thread a process in both runs. Without --model it trains a model first.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import re
import secrets
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from serve_load import RawHTTP, percentile, tree_cpu_seconds, tree_memory_mb
from serve_overload import bench_articles, train_model

from tagger.server.launch import start_serve


async def client(
    number: int,
    port: int,
    token: str,
    bodies: list[tuple[bytes, dict[str, Any]]],
    stop_at: float,
    out: dict[str, Any],
) -> None:
    rng = random.Random(number)
    http = RawHTTP("127.0.0.1", port)
    auth = {"Authorization": f"Bearer {token}"}
    while time.monotonic() < stop_at:
        body, first = bodies[rng.randrange(len(bodies))]
        start = time.perf_counter()
        try:
            status, data = await http.request("POST", "/suggest", body)
        except (OSError, asyncio.IncompleteReadError) as exc:
            out["errors"].append(type(exc).__name__)
            continue
        out["latency"].append(time.perf_counter() - start)
        if status != 200:
            out["errors"].append(status)
            continue
        out["suggested"] += 1
        suggestion = json.loads(data)["suggestions"][0]
        decisions = [{"action": "add", "label": f"bench-{number}-{rng.randrange(20)}"}]
        if suggestion.get("section"):
            decisions.append(
                {"action": "accept", "kind": "section", "label": suggestion["section"]["label"]}
            )
        payload = json.dumps({"article": first, "suggestions": suggestion, "decisions": decisions})
        try:
            status, data = await http.request("POST", "/feedback", payload.encode(), auth)
        except (OSError, asyncio.IncompleteReadError) as exc:
            out["errors"].append(f"feedback {type(exc).__name__}")
            continue
        if status == 201:
            out["acknowledged"] += len(json.loads(data)["decisions"])
        else:
            out["errors"].append(f"feedback {status}")
    await http.close()


def load(port: int, tokens: list[str], bodies: list[Any], args: Any, queue: Any) -> None:
    """In its own process: every client for --seconds; the totals to `queue`."""
    out: dict[str, Any] = {"latency": [], "errors": [], "suggested": 0, "acknowledged": 0}
    stop_at = time.monotonic() + args.seconds

    async def run() -> None:
        await asyncio.gather(
            *(client(i, port, tokens[i], bodies, stop_at, out) for i in range(args.clients))
        )

    cpu = os.times()
    start = time.perf_counter()
    asyncio.run(run())
    out["seconds"] = time.perf_counter() - start
    after = os.times()
    out["client_cpu"] = after.user - cpu.user + after.system - cpu.system
    queue.put(out)


def wait_for_workers(url: str, workers: int, seconds: float = 180) -> None:
    """Until /metrics shows a model loaded in every worker (one pid label each; a worker
    shows there once its start-up is complete, model processes included, and its socket
    listens: connections made before go to the workers that listen, and stay there)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        text = httpx.get(url + "/metrics", timeout=10).text
        pids = set(re.findall(r'tagger_model_info\{[^}]*pid="(\d+)"', text))
        if workers == 1 or len(pids) >= workers:
            return
        time.sleep(0.5)
    raise SystemExit(f"not all {workers} workers came up")


def spread(log: Path) -> list[int]:
    """/suggest requests a worker process served (JSON access log), largest first."""
    pids: Counter[int] = Counter()
    for line in log.read_text().splitlines():
        if '"access"' in line and '"/suggest"' in line:
            pids[json.loads(line)["pid"]] += 1
    return sorted(pids.values(), reverse=True)


def measure(workers: int, model: Path, bodies: list[Any], args: Any) -> dict:
    work = Path(tempfile.mkdtemp(prefix=f"serve-workers-{workers}-"))
    db = work / "feedback.db"
    tokens = [secrets.token_urlsafe(24) for _ in range(args.clients)]
    env = {
        "TAGGER_TOKENS": ",".join(f"editor{i}:{t}" for i, t in enumerate(tokens)),
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }
    options = [
        *("--workers", str(workers), "--suggest-rate", "0", "--feedback-rate", "0"),
        *("--model-processes", str(args.model_processes)),
        # every client may wait for model work: throughput, not refusals
        *("--model-queue", str(args.clients), "--log-format", "json"),
    ]
    server = start_serve(model, db, *options, log=work / "server.log", env=env)
    url, port = server.url, server.port
    try:
        server.wait_healthy()
        wait_for_workers(url, workers)
        for _ in range(4 * workers):  # warm every worker up (new connections)
            httpx.post(
                url + "/suggest",
                content=bodies[0][0],
                headers={"Content-Type": "application/json"},
                timeout=60,
            )
        queue: multiprocessing.Queue = multiprocessing.Queue()
        process = multiprocessing.Process(target=load, args=(port, tokens, bodies, args, queue))
        server_cpu = tree_cpu_seconds(server.pid)
        process.start()
        out = queue.get(timeout=args.seconds + 300)
        out["server_cpu"] = tree_cpu_seconds(server.pid) - server_cpu
        out["memory_mb"] = tree_memory_mb(server.pid)
        process.join(60)
    finally:
        server.stop(grace=60)
    with sqlite3.connect(db) as conn:
        stored = conn.execute("SELECT COUNT(*) FROM decisions").fetchone()[0]
    out["stored"] = stored
    out["throughput"] = out["suggested"] / out["seconds"]
    out["server_cores"] = out["server_cpu"] / out["seconds"]
    out["per_server_cpu_second"] = out["suggested"] / max(out["server_cpu"], 1e-9)
    out["spread"] = spread(work / "server.log")
    out["p50_ms"] = percentile(out["latency"], 50) * 1000
    out["p95_ms"] = percentile(out["latency"], 95) * 1000
    out["errors"] = dict(Counter(map(str, out["errors"])))
    del out["latency"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("corpus", nargs="+")
    parser.add_argument("--format", default="auto")
    parser.add_argument("--model", type=Path)
    parser.add_argument("--clients", type=int, default=16, help="kept-alive connections")
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--chars", type=int, default=4000)
    parser.add_argument(
        "--model-processes",
        type=int,
        default=1,
        help="tagger serve --model-processes (a worker's; 0: threads in the worker)",
    )
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    model = args.model or train_model(
        args.corpus, args.format, Path(tempfile.mkdtemp(prefix="serve-workers-")) / "model"
    )
    articles = bench_articles(args.corpus, args.format, args.chars)
    rng = random.Random(0)
    bodies = []
    for _ in range(200):  # encoded once: the clients' CPU is not the server's
        chosen = rng.sample(articles, args.batch)
        bodies.append((json.dumps({"articles": chosen, "explain": True}).encode(), chosen[0]))
    print(f"load average before: {os.getloadavg()}", flush=True)
    results: dict[str, Any] = {}
    for workers in (1, 2):
        out = measure(workers, model, bodies, args)
        results[f"workers_{workers}"] = out
        print(
            f"--workers {workers}: {out['throughput']:.2f} /suggest batches/s "
            f"(p50 {out['p50_ms']:.0f} ms, p95 {out['p95_ms']:.0f} ms); server CPU "
            f"{out['server_cpu']:.1f} s = {out['server_cores']:.2f} cores, "
            f"{out['per_server_cpu_second']:.2f} batches per server CPU s; load generator CPU "
            f"{out['client_cpu']:.1f} s; requests per worker {out['spread']}; errors "
            f"{out['errors'] or 0}; decisions acknowledged {out['acknowledged']}, "
            f"stored {out['stored']}; server processes {out['memory_mb']['processes']}, PSS "
            f"{out['memory_mb']['pss']:.0f} MB (RSS {out['memory_mb']['rss']:.0f} MB)",
            flush=True,
        )
    ratio = results["workers_2"]["throughput"] / results["workers_1"]["throughput"]
    lost = sum(max(0, r["acknowledged"] - r["stored"]) for r in results.values())
    cores = results["workers_2"]["server_cores"] / results["workers_1"]["server_cores"]
    per_cpu = (
        results["workers_2"]["per_server_cpu_second"]
        / results["workers_1"]["per_server_cpu_second"]
    )
    print(
        f"throughput ratio --workers 2 / --workers 1: {ratio:.2f}x (server cores in use "
        f"{cores:.2f}x, batches per server CPU second {per_cpu:.2f}x); lost decisions: {lost}; "
        f"load average after: {os.getloadavg()}"
    )
    results.update(ratio=ratio, cores_ratio=cores, per_cpu_ratio=per_cpu, lost=lost)
    results.update(cpu_count=os.cpu_count())
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    if ratio < 1.6 or lost:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
