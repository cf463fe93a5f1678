"""Overload of `tagger serve` on loopback: 100 clients hammering /suggest with entity batches.

    python bench/serve_overload.py ../shared/data/bbc --format folders [--model M]
        [--clients 100] [--seconds 30] [--batch 8]

Starts the real `tagger serve` command (one process, default limits) on 127.0.0.1, then:
1. measures the speed of one client alone (sequential /suggest batches, the reference);
2. runs the burst: every client posts /suggest batches with `"entities": true` as fast as
   it can for --seconds (after a refusal it waits --pause s, not Retry-After), each client
   with its own editor token, while a separate process asks /health every 50 ms and the
   server's memory (RSS) is sampled;
3. measures one client alone again.
Checks: /health p99 < 100 ms; every refused request (503, 429) answered within 1 s; no
500; RSS bounded; the speed after the burst within 10% of the speed before. Without
--model it trains a model on the corpus first (sections and tags it has).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import secrets
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from serve_load import free_port, percentile, stop_server, wait_for

from tagger.corpus.readers import read_corpus


def _json_or_none(line: str) -> dict[str, Any] | None:
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def probe_health(url: str, stop_at: float, out: Any) -> None:
    """In its own process: GET /health every 50 ms until `stop_at`; latencies to `out`."""
    latencies, failures = [], 0
    with httpx.Client(base_url=url, timeout=10) as http:
        while time.time() < stop_at:
            start = time.perf_counter()
            try:
                ok = http.get("/health").status_code == 200
            except httpx.HTTPError:
                ok = False
            latencies.append(time.perf_counter() - start)
            failures += not ok
            time.sleep(0.05)
    out.put((latencies, failures))


def batches(articles: list[dict[str, Any]], size: int, rng: random.Random) -> dict[str, Any]:
    return {"articles": rng.sample(articles, size), "entities": True, "explain": True}


def solo_speed(url: str, articles: list[dict[str, Any]], size: int, seconds: float) -> float:
    """Batches a second for one client alone, sequential requests."""
    rng = random.Random(1)
    done = 0
    with httpx.Client(base_url=url, timeout=600) as http:
        stop = time.monotonic() + seconds
        start = time.perf_counter()
        while time.monotonic() < stop:
            response = http.post("/suggest", json=batches(articles, size, rng))
            if response.status_code == 429:
                # the address's rate bucket is shared with the burst's anonymous requests:
                # honour Retry-After (the wait counts against the measured speed)
                time.sleep(float(response.headers.get("Retry-After", "1")))
                continue
            if response.status_code != 200:
                raise SystemExit(f"solo client got {response.status_code}: {response.text[:200]}")
            done += 1
        return done / (time.perf_counter() - start)


async def hammer(
    number: int,
    http: httpx.AsyncClient,
    token: str,
    articles: list[dict[str, Any]],
    size: int,
    stop_at: float,
    pause: float,
    results: list[tuple[int | str, float]],
) -> None:
    rng = random.Random(number)
    headers = {"Authorization": f"Bearer {token}"}
    while time.monotonic() < stop_at:
        start = time.perf_counter()
        try:
            response = await http.post(
                "/suggest", json=batches(articles, size, rng), headers=headers
            )
            code: int | str = response.status_code
        except httpx.HTTPError as exc:
            code = type(exc).__name__
        results.append((code, time.perf_counter() - start))
        if code != 200:
            await asyncio.sleep(pause)


def bench_articles(corpus: list[str], fmt: str, chars: int) -> list[dict[str, Any]]:
    """500 articles of the corpus in a seeded order, bodies cut to `chars`."""
    pool = list(read_corpus(corpus, fmt))
    random.Random(0).shuffle(pool)
    return [{"id": a.id, "title": a.title, "body": a.body[:chars]} for a in pool[:500]]


def train_model(corpus: list[str], fmt: str, out: Path) -> Path:
    from tagger.api import Tagger

    articles = list(read_corpus(corpus, fmt))
    print(f"training a model on {len(articles)} articles ...", flush=True)
    Tagger.train(articles).save(out)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("corpus", nargs="+")
    parser.add_argument("--format", default="auto")
    parser.add_argument("--model", type=Path)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--solo-seconds", type=float, default=10)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--chars", type=int, default=4000, help="characters kept an article")
    parser.add_argument("--pause", type=float, default=0.05)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="serve-overload-"))
    model = args.model or train_model(args.corpus, args.format, work / "model")
    articles = bench_articles(args.corpus, args.format, args.chars)
    tokens = {f"client{i}": secrets.token_urlsafe(24) for i in range(args.clients)}
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "TAGGER_TOKENS": ",".join(f"{e}:{t}" for e, t in tokens.items()),
        "TAGGER_CACHE_DIR": str(work / "cache"),
    }
    command = [
        str(Path(sys.executable).with_name("tagger")),
        "serve",
        "--model",
        str(model),
        "--db",
        str(work / "feedback.db"),
        "--port",
        str(port),
        "--log-format",
        "json",
    ]
    log = (work / "server.log").open("w")
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    results: dict[str, Any] = {"clients": args.clients, "batch": args.batch}
    try:
        wait_for(url, server)
        solo_speed(url, articles, args.batch, 1)  # warm up: spaCy loaded, caches filled
        before = solo_speed(url, articles, args.batch, args.solo_seconds)
        rss_before = rss_mb(server.pid)
        print(f"one client alone: {before:.2f} batches/s, server RSS {rss_before:.0f} MB")

        stop_at = time.monotonic() + args.seconds
        queue: multiprocessing.Queue = multiprocessing.Queue()
        prober = multiprocessing.Process(
            target=probe_health, args=(url, time.time() + args.seconds, queue)
        )
        prober.start()
        burst: list[tuple[int | str, float]] = []
        rss_peak = rss_before

        async def sample_rss() -> None:
            nonlocal rss_peak
            while time.monotonic() < stop_at:
                rss_peak = max(rss_peak, rss_mb(server.pid))
                await asyncio.sleep(0.5)

        async def run_burst() -> None:
            # one client object (a connection a client): creating 100 httpx clients costs
            # seconds of CPU (an SSL context each) and would delay the first requests
            limits = httpx.Limits(max_connections=args.clients + 10)
            async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as http:
                await asyncio.gather(
                    sample_rss(),
                    *(
                        hammer(
                            i,
                            http,
                            tokens[f"client{i}"],
                            articles,
                            args.batch,
                            stop_at,
                            args.pause,
                            burst,
                        )
                        for i in range(args.clients)
                    ),
                )

        started = time.perf_counter()
        asyncio.run(run_burst())
        elapsed = time.perf_counter() - started
        health, health_failures = queue.get(timeout=60)
        prober.join(30)
        rss_after_burst = rss_mb(server.pid)
        time.sleep(2)
        after = solo_speed(url, articles, args.batch, args.solo_seconds)
    finally:
        stop_server(server, log)

    # the server's own view (JSON access log: arrival to end of response), apart from the
    # time the load generator itself waits for a CPU on a busy machine
    server_side = [
        entry
        for entry in map(_json_or_none, (work / "server.log").read_text().splitlines())
        if entry and entry.get("event") == "access" and entry.get("path") == "/suggest"
    ]
    server_refused = [e["ms"] / 1000 for e in server_side if e["status"] in (503, 429)]
    codes = Counter(code for code, _ in burst)
    refused = [t for code, t in burst if code in (503, 429)]
    served = [t for code, t in burst if code == 200]
    slow_refusals = sum(t > 1.0 for t in refused)
    errors = sum(n for code, n in codes.items() if code not in (200, 429, 503))
    h50, h99 = percentile(health, 50) * 1000, percentile(health, 99) * 1000
    print(f"burst: {args.clients} clients for {elapsed:.1f}s, {len(burst)} requests: {dict(codes)}")
    print(
        f"  served {len(served)} batches ({len(served) / elapsed:.2f}/s), p50 "
        f"{percentile(served, 50):.2f}s p95 {percentile(served, 95):.2f}s"
    )
    print(
        f"  refused {len(refused)}: p99 {percentile(refused, 99) * 1000:.0f} ms, max "
        f"{max(refused, default=0) * 1000:.0f} ms, over 1 s: {slow_refusals}"
    )
    print(
        f"  refused, server side: {len(server_refused)}, p99 "
        f"{percentile(server_refused, 99) * 1000:.1f} ms, max "
        f"{max(server_refused, default=0) * 1000:.1f} ms"
    )
    print(
        f"  /health: {len(health)} probes, p50 {h50:.1f} ms, p99 {h99:.1f} ms, max "
        f"{max(health, default=0) * 1000:.1f} ms, failures {health_failures}"
    )
    print(
        f"  server RSS: {rss_before:.0f} MB before, peak {rss_peak:.0f} MB, "
        f"{rss_after_burst:.0f} MB after"
    )
    print(f"one client alone after the burst: {after:.2f} batches/s ({after / before:.2f}x)")
    checks = {
        "health_p99_under_100ms": h99 < 100 and health_failures == 0,
        "refusals_within_1s": slow_refusals == 0,
        "refusals_within_1s_server_side": max(server_refused, default=0) < 1.0,
        "no_errors": errors == 0,
        "full_speed_after": after >= 0.9 * before,
    }
    print("checks: " + ", ".join(f"{k} {'ok' if v else 'FAILED'}" for k, v in checks.items()))
    results.update(
        seconds=elapsed,
        codes={str(k): v for k, v in codes.items()},
        served_per_second=len(served) / elapsed,
        refused_p99_ms=percentile(refused, 99) * 1000,
        refused_over_1s=slow_refusals,
        refused_server_p99_ms=percentile(server_refused, 99) * 1000,
        refused_server_max_ms=max(server_refused, default=0) * 1000,
        health_p50_ms=h50,
        health_p99_ms=h99,
        health_failures=health_failures,
        rss_mb={"before": rss_before, "peak": rss_peak, "after": rss_after_burst},
        solo_batches_per_second={"before": before, "after": after},
        checks=checks,
    )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    if not all(checks.values()):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
