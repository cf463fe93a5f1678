"""Overload of `tagger serve` on loopback: 100 clients hammering /suggest with entity batches.

    python bench/serve_overload.py ../shared/data/bbc --format folders [--model M]
        [--clients 100] [--seconds 30] [--batch 8]

Starts the real `tagger serve` command (one process, default limits) on 127.0.0.1, then:
1. measures the speed of one client alone (sequential /suggest batches, the reference);
2. runs the burst: every client, on its own kept-alive connection with its own editor
   token, posts /suggest batches with `"entities": true` as fast as it can for --seconds
   (after a refusal it waits --pause s, not Retry-After), while a separate process asks
   /health every 50 ms, another (one light client) posts a batch every 200 ms, and the
   memory of the server's whole process tree (serving process and model processes: the
   sum of their RSS, and of their PSS, which counts shared pages once) is sampled;
3. measures one client alone again.
The 100 clients share one process (the light `serve_load.RawHTTP` client, bodies encoded
beforehand); how late its event loop wakes up is measured too, since their latencies
include it. Refusal latency is reported three ways: as the 100 clients see it, as the
light client in its own process sees it, and as the server logs it (arrival of the
headers to the end of the answer). Client errors are listed with how long their
connection had been idle. Checks: /health p99 < 100 ms; every refused request (503, 429)
answered within 1 s; no 500; RSS bounded; the speed after the burst within 10% of the
speed before. Without
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
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from serve_load import RawHTTP, percentile, tree_cpu_seconds, tree_memory_mb

from tagger.corpus.readers import read_corpus
from tagger.server.launch import start_serve


def _json_or_none(line: str) -> dict[str, Any] | None:
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


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
    port: int,
    token: str,
    bodies: list[bytes],
    stop_at: float,
    pause: float,
    results: list[tuple[int | str, float]],
    errors: list[dict[str, Any]],
) -> None:
    """One client on its own kept-alive connection (the light RawHTTP client)."""
    rng = random.Random(number)
    http = RawHTTP("127.0.0.1", port, {"Authorization": f"Bearer {token}"})
    while time.monotonic() < stop_at:
        idle = http.idle()
        start = time.perf_counter()
        try:
            code: int | str = (await http.request("POST", "/suggest", rng.choice(bodies)))[0]
        except (OSError, asyncio.IncompleteReadError) as exc:
            code = type(exc).__name__
            # how long the connection had been idle: past the server's keep-alive timeout
            # the server closed it as the request went out
            errors.append({"error": code, "idle_before_s": round(idle, 3)})
        results.append((code, time.perf_counter() - start))
        if code != 200:
            await asyncio.sleep(pause)
    await http.close()


async def loop_lag(stop_at: float, lags: list[float]) -> None:
    """How late the load generator's own event loop wakes up (its clients wait as long)."""
    while time.monotonic() < stop_at:
        start = time.perf_counter()
        await asyncio.sleep(0.05)
        lags.append(time.perf_counter() - start - 0.05)


def probe_refusals(port: int, token: str, body: bytes, stop_at: float, out: Any) -> None:
    """In its own process, one light client: a /suggest batch every 200 ms during the
    burst (refused while the queue is full); (status, seconds) pairs to `out`. The server
    as an unstarved client sees it."""
    results: list[tuple[int | str, float]] = []

    async def run() -> None:
        http = RawHTTP("127.0.0.1", port, {"Authorization": f"Bearer {token}"})
        while time.time() < stop_at:
            start = time.perf_counter()
            try:
                code: int | str = (await http.request("POST", "/suggest", body))[0]
            except (OSError, asyncio.IncompleteReadError) as exc:
                code = type(exc).__name__
            results.append((code, time.perf_counter() - start))
            await asyncio.sleep(0.2)
        await http.close()

    asyncio.run(run())
    out.put(results)


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
    parser.add_argument(
        "--model-processes", type=int, default=1, help="tagger serve --model-processes"
    )
    parser.add_argument("--model-nice", type=int, default=10, help="tagger serve --model-nice")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="serve-overload-"))
    model = args.model or train_model(args.corpus, args.format, work / "model")
    articles = bench_articles(args.corpus, args.format, args.chars)
    tokens = {f"client{i}": secrets.token_urlsafe(24) for i in range(args.clients)}
    tokens["probe"] = secrets.token_urlsafe(24)
    rng = random.Random(0)
    # encoded before the burst: the clients' CPU goes to sending, not to JSON
    bodies = [json.dumps(batches(articles, args.batch, rng)).encode() for _ in range(50)]
    env = {
        "TAGGER_TOKENS": ",".join(f"{e}:{t}" for e, t in tokens.items()),
        "TAGGER_CACHE_DIR": str(work / "cache"),
    }
    db = work / "feedback.db"
    options = ["--log-format", "json", "--model-processes", str(args.model_processes)]
    options += ["--model-nice", str(args.model_nice)]
    server = start_serve(model, db, *options, log=work / "server.log", env=env)
    url, port = server.url, server.port
    results: dict[str, Any] = {"clients": args.clients, "batch": args.batch}
    try:
        server.wait_healthy()
        solo_speed(url, articles, args.batch, 1)  # warm up: spaCy loaded, caches filled
        before = solo_speed(url, articles, args.batch, args.solo_seconds)
        memory_before = tree_memory_mb(server.pid)
        print(
            f"one client alone: {before:.2f} batches/s; server: {memory_before['processes']} "
            f"processes, RSS {memory_before['rss']:.0f} MB, PSS {memory_before['pss']:.0f} MB"
        )

        stop_at = time.monotonic() + args.seconds
        queue: multiprocessing.Queue = multiprocessing.Queue()
        refusal_queue: multiprocessing.Queue = multiprocessing.Queue()
        prober = multiprocessing.Process(
            target=probe_health, args=(url, time.time() + args.seconds, queue)
        )
        refusal_prober = multiprocessing.Process(
            target=probe_refusals,
            args=(port, tokens["probe"], bodies[0], time.time() + args.seconds, refusal_queue),
        )
        prober.start()
        refusal_prober.start()
        burst: list[tuple[int | str, float]] = []
        error_details: list[dict[str, Any]] = []
        lags: list[float] = []
        memory_peak = dict(memory_before)

        async def sample_rss() -> None:
            while time.monotonic() < stop_at:
                now = tree_memory_mb(server.pid)
                for key in ("rss", "pss", "processes"):
                    memory_peak[key] = max(memory_peak[key], now[key])
                await asyncio.sleep(0.5)

        async def run_burst() -> None:
            await asyncio.gather(
                sample_rss(),
                loop_lag(stop_at, lags),
                *(
                    hammer(
                        i,
                        port,
                        tokens[f"client{i}"],
                        bodies,
                        stop_at,
                        args.pause,
                        burst,
                        error_details,
                    )
                    for i in range(args.clients)
                ),
            )

        server_cpu = tree_cpu_seconds(server.pid)
        client_cpu = os.times()
        started = time.perf_counter()
        asyncio.run(run_burst())
        elapsed = time.perf_counter() - started
        client_times = os.times()
        client_cpu_s = client_times.user - client_cpu.user + client_times.system - client_cpu.system
        server_cpu_s = tree_cpu_seconds(server.pid) - server_cpu
        probed = refusal_queue.get(timeout=120)
        refusal_prober.join(30)
        health, health_failures = queue.get(timeout=60)
        prober.join(30)
        memory_after = tree_memory_mb(server.pid)
        time.sleep(2)
        after = solo_speed(url, articles, args.batch, args.solo_seconds)
    finally:
        server.stop()

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
    probe_refused = [t for code, t in probed if code in (503, 429)]
    probe_errors = [code for code, _ in probed if code not in (200, 429, 503)]
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
        f"  the load generator: {client_cpu_s:.1f} CPU s in {elapsed:.1f} s; its event loop "
        f"woke late by p50 {percentile(lags, 50) * 1000:.0f} ms, p99 "
        f"{percentile(lags, 99) * 1000:.0f} ms, max {max(lags, default=0) * 1000:.0f} ms "
        "(its clients' latencies include that)"
    )
    print(
        f"  refused, one light client in its own process (a batch every 200 ms): "
        f"{len(probe_refused)} of {len(probed)}, p50 {percentile(probe_refused, 50) * 1000:.0f} "
        f"ms, p99 {percentile(probe_refused, 99) * 1000:.0f} ms, max "
        f"{max(probe_refused, default=0) * 1000:.0f} ms, over 1 s: "
        f"{sum(t > 1.0 for t in probe_refused)}, errors {probe_errors or 0}"
    )
    for detail in error_details:
        print(f"  client error: {detail}")
    print(
        f"  server CPU {server_cpu_s:.1f} s ({server_cpu_s / elapsed:.2f} cores); "
        f"load average {os.getloadavg()}"
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
        f"  server memory (all {memory_after['processes']:.0f} processes): RSS "
        f"{memory_before['rss']:.0f} MB before, peak {memory_peak['rss']:.0f} MB, "
        f"{memory_after['rss']:.0f} MB after; PSS {memory_before['pss']:.0f} MB before, "
        f"peak {memory_peak['pss']:.0f} MB, {memory_after['pss']:.0f} MB after"
    )
    print(f"one client alone after the burst: {after:.2f} batches/s ({after / before:.2f}x)")
    checks = {
        "health_p99_under_100ms": h99 < 100 and health_failures == 0,
        "refusals_within_1s": slow_refusals == 0,
        "refusals_within_1s_light_client": all(t <= 1.0 for t in probe_refused)
        and not probe_errors,
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
        refused_light_client_p99_ms=percentile(probe_refused, 99) * 1000,
        refused_light_client_max_ms=max(probe_refused, default=0) * 1000,
        client_errors=error_details,
        load_generator={
            "cpu_s": client_cpu_s,
            "loop_lag_p99_ms": percentile(lags, 99) * 1000,
            "loop_lag_max_ms": max(lags, default=0) * 1000,
        },
        server_cpu_s=server_cpu_s,
        refused_server_p99_ms=percentile(server_refused, 99) * 1000,
        refused_server_max_ms=max(server_refused, default=0) * 1000,
        health_p50_ms=h50,
        health_p99_ms=h99,
        health_failures=health_failures,
        memory_mb={"before": memory_before, "peak": memory_peak, "after": memory_after},
        model_processes=args.model_processes,
        model_nice=args.model_nice,
        solo_batches_per_second={"before": before, "after": after},
        checks=checks,
    )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    if not all(checks.values()):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
