"""Editors working one review queue through the HTTP API, some walking away from leases.

    python bench/queue_load.py --model MODEL CORPUS... [--editors 10] [--seconds 60]
        [--lease 5] [--abandon 0.1] [--workers 1]

Starts the real `tagger serve` (a fresh store, a short --lease), pushes the articles with
`POST /queue` (as a CMS would), then runs N editors for a bounded time: each leases its
next article (`POST /queue/next`), and either finishes it (`POST /feedback`, done) after
a short think, or abandons it (walks away for longer than the lease). Afterwards it
waits out the last leases and checks, from the store and the clients' logs:

- no article reviewed twice (one `reviews` row and one finishing editor per article),
- none lost (every pushed article is in the queue, done or waiting),
- every abandoned article came back: nobody else got it before its lease ran out, and it
  was leased again after that or is waiting,
- no two editors held one article at once, and decisions acknowledged = stored.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import random
import secrets
import sqlite3
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx
from serve_load import percentile, sample_articles

from tagger.server.launch import start_serve


class Log:
    def __init__(self) -> None:
        self.leases: list[dict[str, Any]] = []  # every lease a client was given
        self.abandoned: list[dict[str, Any]] = []
        self.finished: dict[str, list[str]] = defaultdict(list)  # article -> editors (201)
        self.refused: list[tuple[str, str, int]] = []  # (article, editor, status) on finishing
        self.errors: list[str] = []
        self.empty = 0
        self.busy = 0
        self.next_ms: list[float] = []
        self.decisions_acknowledged = 0


async def editor(
    name: str, url: str, token: str, stop_at: float, lease: float, abandon: float, log: Log
) -> None:
    rng = random.Random(name)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60) as http:
        while time.monotonic() < stop_at:
            start = time.perf_counter()
            try:
                response = await http.post("/queue/next", json={})
            except httpx.HTTPError as exc:
                log.errors.append(f"next: {type(exc).__name__}")
                continue
            if response.status_code == 503:  # model work queue full: retry shortly
                log.busy += 1
                await asyncio.sleep(0.2)
                continue
            if response.status_code != 200:
                log.errors.append(f"next: {response.status_code} {response.text[:120]}")
                continue
            log.next_ms.append((time.perf_counter() - start) * 1000)
            data = response.json()
            if data["article"] is None:
                log.empty += 1
                await asyncio.sleep(0.5)
                continue
            held = data["lease"]
            log.leases.append(held)
            article_id = held["article_id"]
            if rng.random() < abandon:  # the editor walks away: the lease must run out
                log.abandoned.append(held)
                await asyncio.sleep(lease + rng.uniform(0.5, 2.0))
                continue
            await asyncio.sleep(rng.uniform(0.05, 0.3))  # reading and deciding
            suggestions = data["suggestions"][0]
            decisions = [{"action": "add", "label": f"checked-by-{name}"}]
            if suggestions["tags"]:
                decisions.append({"action": "accept", "label": suggestions["tags"][0]["label"]})
            body = {
                "article_id": article_id,
                "suggestions": suggestions,
                "decisions": decisions,
                "done": True,
            }
            try:
                response = await http.post("/feedback", json=body)
            except httpx.HTTPError as exc:
                log.errors.append(f"feedback: {type(exc).__name__}")
                continue
            if response.status_code == 201:
                log.finished[article_id].append(name)
                log.decisions_acknowledged += len(response.json()["decisions"])
            else:
                log.refused.append((article_id, name, response.status_code))


def check(db: Path, pushed: list[str], log: Log) -> dict[str, Any]:
    with sqlite3.connect(db) as conn:
        rows = {
            r[0]: {"done_by": r[1], "lease_until": r[2]}
            for r in conn.execute("SELECT article_id, done_by, lease_until FROM queue")
        }
        reviews = dict(conn.execute("SELECT article_id, COUNT(*) FROM reviews GROUP BY article_id"))
        deciders = dict(
            conn.execute("SELECT article_id, COUNT(DISTINCT editor) FROM decisions GROUP BY 1")
        )
        stored = conn.execute("SELECT COUNT(*) FROM decisions").fetchone()[0]
    by_article: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for held in log.leases:
        by_article[held["article_id"]].append(held)
    overlaps = 0
    for leases in by_article.values():
        leases.sort(key=lambda h: h["leased_at"])
        for earlier, later in itertools.pairwise(leases):
            if earlier["editor"] != later["editor"] and later["leased_at"] < earlier["until"]:
                overlaps += 1
    returned, early = 0, 0
    now = time.time()
    for lost in log.abandoned:
        others = [
            h
            for h in by_article[lost["article_id"]]
            if h["leased_at"] > lost["leased_at"] and h["editor"] != lost["editor"]
        ]
        early += sum(h["leased_at"] < lost["until"] for h in others)
        row = rows.get(lost["article_id"], {})
        waiting = row.get("done_by") is None and (row.get("lease_until") or 0) <= now
        again = any(h["leased_at"] >= lost["until"] for h in by_article[lost["article_id"]])
        returned += bool(again or waiting)
    done = [a for a, r in rows.items() if r["done_by"] is not None]
    return {
        "pushed": len(pushed),
        "in_queue": len(set(pushed) & set(rows)),
        "lost": len(set(pushed) - set(rows)),
        "done": len(done),
        "waiting_at_end": sum(
            1 for r in rows.values() if r["done_by"] is None and (r["lease_until"] or 0) <= now
        ),
        "reviewed_twice": sum(1 for n in reviews.values() if n > 1)
        + sum(1 for eds in log.finished.values() if len(eds) > 1),
        "decided_by_several": sum(1 for n in deciders.values() if n > 1),
        "done_without_review_row": sum(1 for a in done if reviews.get(a) != 1),
        "leases": len(log.leases),
        "overlapping_leases": overlaps,
        "abandoned": len(log.abandoned),
        "abandoned_back": returned,
        "abandoned_taken_before_expiry": early,
        "finish_refused": len(log.refused),
        "decisions_acknowledged": log.decisions_acknowledged,
        "decisions_stored": stored,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("corpus", nargs="+")
    parser.add_argument("--model", required=True, type=Path)
    parser.add_argument("--format", default="auto")
    parser.add_argument("--editors", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--lease", type=float, default=5.0)
    parser.add_argument("--abandon", type=float, default=0.1, help="share of leases abandoned")
    parser.add_argument("--articles", type=int, default=3000)
    parser.add_argument("--workers", type=int, default=1, help="server processes")
    args = parser.parse_args()

    articles = sample_articles(args.corpus, args.format, args.articles, 4000)
    work = Path(tempfile.mkdtemp(prefix="queue-load-"))
    db = work / "feedback.db"
    tokens = {f"editor{i}": secrets.token_urlsafe(24) for i in range(args.editors)}
    tokens["cms"] = secrets.token_urlsafe(24)
    options = ["--lease", str(args.lease), "--workers", str(args.workers)]
    options += ["--suggest-rate", "0", "--feedback-rate", "0"]
    env = {"TAGGER_TOKENS": ",".join(f"{e}:{t}" for e, t in tokens.items())}
    server = start_serve(args.model, db, *options, log=work / "server.log", env=env)
    url = server.url
    log = Log()
    try:
        server.wait_healthy()
        cms = {"Authorization": f"Bearer {tokens['cms']}"}
        pushed: list[str] = []
        started = time.perf_counter()
        for i in range(0, len(articles), 50):
            response = httpx.post(
                url + "/queue", json={"articles": articles[i : i + 50]}, headers=cms, timeout=300
            )
            response.raise_for_status()
            pushed += response.json()["added"]
        push_seconds = time.perf_counter() - started
        stop_at = time.monotonic() + args.seconds

        async def run_all() -> None:
            await asyncio.gather(
                *(
                    editor(name, url, tokens[name], stop_at, args.lease, args.abandon, log)
                    for name in tokens
                    if name != "cms"
                )
            )

        started = time.perf_counter()
        asyncio.run(run_all())
        elapsed = time.perf_counter() - started
        time.sleep(args.lease + 0.5)  # let the last abandoned leases run out
        counts = httpx.get(url + "/queue", timeout=30).json()
    finally:
        server.stop()
    result = check(db, pushed, log)
    load = os.getloadavg()
    print(
        f"{args.editors} editors, {elapsed:.1f}s, lease {args.lease:g}s, abandon "
        f"{args.abandon:.0%}, {args.workers} server worker(s); load average "
        f"{load[0]:.1f} {load[1]:.1f} {load[2]:.1f}"
    )
    print(f"pushed {len(pushed)} articles with POST /queue in {push_seconds:.1f}s")
    print(
        f"/queue/next: {len(log.next_ms)} answered, p50 {percentile(log.next_ms, 50):.0f} ms, "
        f"p95 {percentile(log.next_ms, 95):.0f} ms; empty {log.empty}, busy (503) {log.busy}, "
        f"errors {len(log.errors)}"
    )
    print(
        f"server counts after the run: {counts['waiting']} waiting, {counts['leased']} leased, "
        f"{counts['done']} done"
    )
    for key, value in result.items():
        print(f"  {key:<32}{value}")
    bad = (
        result["lost"]
        or result["reviewed_twice"]
        or result["decided_by_several"]
        or result["done_without_review_row"]
        or result["overlapping_leases"]
        or result["abandoned_taken_before_expiry"]
        or result["abandoned_back"] != result["abandoned"]
        or result["decisions_acknowledged"] != result["decisions_stored"]
        or log.errors
    )
    if log.errors:
        print("errors:", sorted(set(log.errors))[:10])
    print("FAIL" if bad else "OK: none reviewed twice, none lost, every abandoned one back")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
