"""Load test of `tagger serve` on loopback: concurrent clients mixing suggest and feedback.

    python bench/serve_load.py --model MODEL CORPUS... [--clients 20] [--seconds 60]

Starts the real `tagger serve` command on 127.0.0.1 (a free port, a fresh feedback
database, generated editor tokens), runs the clients for a bounded time, stops the
server, then counts the decisions in the store against the decisions sent.
Reports errors, throughput and p50/p95 latency per endpoint.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import secrets
import sqlite3
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx

from tagger.corpus.readers import read_corpus
from tagger.server.launch import start_serve


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


class Stats:
    def __init__(self) -> None:
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, list[str]] = defaultdict(list)
        self.decisions_sent = 0
        self.decisions_acknowledged = 0

    def record(
        self, endpoint: str, seconds: float, response: httpx.Response | None, ok: int
    ) -> bool:
        self.latency[endpoint].append(seconds)
        if response is None or response.status_code != ok:
            code = response.status_code if response is not None else "no response"
            self.errors[endpoint].append(f"{code}")
            return False
        return True


async def client(
    number: int,
    url: str,
    token: str,
    articles: list[dict[str, Any]],
    stop_at: float,
    stats: Stats,
    batch_share: float,
) -> None:
    rng = random.Random(number)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=url, timeout=60) as http:
        while time.monotonic() < stop_at:
            batch = rng.random() < batch_share
            chosen = rng.sample(articles, 8) if batch else [rng.choice(articles)]
            body = {"articles": chosen} if batch else {"article": chosen[0]}
            endpoint = "suggest (batch of 8)" if batch else "suggest"
            start = time.perf_counter()
            try:
                response = await http.post("/suggest", json=body)
            except httpx.HTTPError as exc:
                stats.record(endpoint, time.perf_counter() - start, None, 200)
                stats.errors[endpoint][-1] = type(exc).__name__
                continue
            if not stats.record(endpoint, time.perf_counter() - start, response, 200):
                continue
            suggestion = response.json()["suggestions"][0]
            candidates = suggestion["tag_candidates"]
            decisions = []
            if candidates:
                decisions.append({"action": "accept", "label": candidates[0]["label"]})
            if len(candidates) > 1:
                decisions.append({"action": "reject", "label": candidates[1]["label"]})
            decisions.append({"action": "add", "label": f"load-{number}-{rng.randrange(50)}"})
            if suggestion.get("section"):
                decisions.append(
                    {"action": "accept", "kind": "section", "label": suggestion["section"]["label"]}
                )
            payload = {"article": chosen[0], "suggestions": suggestion, "decisions": decisions}
            stats.decisions_sent += len(decisions)
            start = time.perf_counter()
            try:
                response = await http.post("/feedback", json=payload, headers=headers)
            except httpx.HTTPError as exc:
                stats.record("feedback", time.perf_counter() - start, None, 201)
                stats.errors["feedback"][-1] = type(exc).__name__
                continue
            if stats.record("feedback", time.perf_counter() - start, response, 201):
                stats.decisions_acknowledged += len(response.json()["decisions"])


class RawHTTP:
    """One kept-alive HTTP/1.1 connection that costs its client almost no CPU.

    httpx spends about a millisecond of CPU a request in Python; 100 of its clients in
    one process on a 2-core machine wait seconds for their own event loop, and that wait
    is then measured as the server's latency. Here a request is one write of bytes built
    by the caller and the answer is read by its Content-Length; nothing else is parsed.
    """

    def __init__(self, host: str, port: int, headers: dict[str, str] | None = None) -> None:
        self.host, self.port = host, port
        fixed = {"Host": f"{host}:{port}", "Content-Type": "application/json", **(headers or {})}
        self.fixed = "".join(f"{k}: {v}\r\n" for k, v in fixed.items())
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.last_answer = time.monotonic()  # when the connection last got an answer

    async def request(
        self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> tuple[int, bytes]:
        """(status, body). Raises OSError or asyncio.IncompleteReadError when the server
        closes the connection (the next request opens a new one)."""
        if self.writer is None or self.writer.is_closing():
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
            self.last_answer = time.monotonic()
        assert self.reader is not None
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        head = f"{method} {path} HTTP/1.1\r\n{self.fixed}{extra}Content-Length: {len(body)}\r\n\r\n"
        try:
            self.writer.write(head.encode("latin-1") + body)
            lines = (await self.reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
            status = int(lines[0].split(" ", 2)[1])
            fields = {
                k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])
            }
            data = await self.reader.readexactly(int(fields.get("content-length", "0")))
        except (OSError, asyncio.IncompleteReadError):
            await self.close()
            raise
        self.last_answer = time.monotonic()
        if fields.get("connection", "").lower() == "close":
            await self.close()
        return status, data

    def idle(self) -> float:
        """Seconds since the connection last got an answer (or opened)."""
        return time.monotonic() - self.last_answer

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()
            self.writer = None


def _proc_stats() -> dict[int, tuple[int, float]]:
    """{pid: (parent pid, user + system CPU seconds)} of every live process (from /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    stats: dict[int, tuple[int, float]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # after the command: state ppid ... utime (12th) stime (13th)
        stats[int(entry.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / tick)
    return stats


def tree_pids(pid: int, stats: dict[int, tuple[int, float]] | None = None) -> list[int]:
    """A process and its live descendants."""
    stats = stats if stats is not None else _proc_stats()
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(child for child, (parent, _) in stats.items() if parent == current)
    return found


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its live descendants (from /proc)."""
    stats = _proc_stats()
    return sum(stats.get(p, (0, 0.0))[1] for p in tree_pids(pid, stats))


def tree_memory_mb(pid: int) -> dict[str, float]:
    """Memory of a process and its live descendants: the sum of their RSS (pages shared
    between them counted in each) and of their PSS (shared pages divided among them),
    in MB, and how many processes."""
    rss = pss = 0.0
    pids = tree_pids(pid)
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines():
                if line.startswith("Rss:"):
                    rss += int(line.split()[1]) / 1024
                elif line.startswith("Pss:"):
                    pss += int(line.split()[1]) / 1024
        except OSError:
            continue
    return {"rss": rss, "pss": pss, "processes": len(pids)}


def sample_articles(corpus: list[str], fmt: str, n: int, chars: int) -> list[dict[str, Any]]:
    """Up to `n` articles of the corpus in a fixed random order, bodies cut to `chars`."""
    pool = list(read_corpus(corpus, fmt))
    random.Random(0).shuffle(pool)
    return [{"id": a.id, "title": a.title, "body": a.body[:chars]} for a in pool[:n]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("corpus", nargs="+", help="articles to send (any readable format)")
    parser.add_argument("--model", required=True, type=Path)
    parser.add_argument("--format", default="auto")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--batch-share", type=float, default=0.1)
    parser.add_argument("--articles", type=int, default=500, help="distinct articles to use")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args()

    articles = sample_articles(args.corpus, args.format, args.articles, 5000)
    work = Path(tempfile.mkdtemp(prefix="serve-load-"))
    db = work / "feedback.db"
    tokens = {f"editor{i}": secrets.token_urlsafe(24) for i in range(args.clients)}
    env = {"TAGGER_TOKENS": ",".join(f"{e}:{t}" for e, t in tokens.items())}
    # every client is 127.0.0.1 and /suggest goes without a token: one rate bucket
    limits = ("--suggest-rate", "0", "--feedback-rate", "0")
    server = start_serve(args.model, db, *limits, log=work / "server.log", env=env)
    url = server.url
    try:
        server.wait_healthy()
        stats = Stats()
        stop_at = time.monotonic() + args.seconds
        started = time.perf_counter()

        async def run_all() -> None:
            await asyncio.gather(
                *(
                    client(i, url, tokens[f"editor{i}"], articles, stop_at, stats, args.batch_share)
                    for i in range(args.clients)
                )
            )

        asyncio.run(run_all())
        elapsed = time.perf_counter() - started
    finally:
        server.stop()
    with sqlite3.connect(db) as conn:
        stored = conn.execute("SELECT COUNT(*) FROM decisions").fetchone()[0]
    requests = sum(len(v) for v in stats.latency.values())
    errors = sum(len(v) for v in stats.errors.values())
    print(f"{args.clients} clients for {elapsed:.1f}s against {url} (model {args.model})")
    print(f"requests {requests} ({requests / elapsed:.1f}/s), errors {errors}")
    print(f"{'endpoint':<22}{'requests':>9}{'errors':>8}{'p50 ms':>9}{'p95 ms':>9}")
    results: dict[str, Any] = {"clients": args.clients, "seconds": elapsed, "endpoints": {}}
    for endpoint, values in sorted(stats.latency.items()):
        p50, p95 = percentile(values, 50) * 1000, percentile(values, 95) * 1000
        n_err = len(stats.errors.get(endpoint, []))
        print(f"{endpoint:<22}{len(values):>9}{n_err:>8}{p50:>9.1f}{p95:>9.1f}")
        results["endpoints"][endpoint] = {
            "requests": len(values),
            "errors": n_err,
            "p50_ms": p50,
            "p95_ms": p95,
            "error_codes": sorted(set(stats.errors.get(endpoint, []))),
        }
    lost = stats.decisions_sent - stored
    print(
        f"decisions sent {stats.decisions_sent}, acknowledged {stats.decisions_acknowledged}, "
        f"in the store afterwards {stored} (missing: {lost})"
    )
    results.update(
        requests=requests,
        errors=errors,
        decisions_sent=stats.decisions_sent,
        decisions_acknowledged=stats.decisions_acknowledged,
        decisions_stored=stored,
    )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    if errors or lost:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
