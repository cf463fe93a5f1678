"""Decisions under load, client retries and a kill -9 of the server: none lost, none twice.

    python bench/decision_crash.py --model MODEL [--clients 20] [--seconds 60]
    python bench/decision_crash.py --sync-cost [--clients 20] [--seconds 10]

Starts the real `tagger serve` on 127.0.0.1 (a free port, a fresh feedback database,
generated editor tokens). Each client posts decisions to /feedback, each request with
its own Idempotency-Key and labels no other request uses. A client resends a request
with the same key at random (a response "lost" on the way back) and whenever a request
fails (connection refused or reset, timeout, 5xx), until it is acknowledged or the run
ends. Half-way the server is killed with SIGKILL and started again on the same database.

At the end the store is checked against what was acknowledged: every acknowledged
decision is stored exactly once (0 missing, 0 duplicates), no request is stored twice
even if it was never acknowledged, and `PRAGMA integrity_check` says ok.

`--sync-cost` measures what synchronous=FULL costs against NORMAL: threads committing
one request's decisions each through the store, in the same run, on the same disk.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tagger.server.launch import ServeProcess, free_port, start_serve

MAX_ATTEMPTS = 400  # per request: bounded even if the server never comes back


@dataclass
class Tally:
    requests: int = 0  # distinct requests (keys)
    acknowledged: dict[str, list[str]] = field(default_factory=dict)  # key -> labels
    sent_labels: dict[str, list[str]] = field(default_factory=dict)  # key -> labels
    attempts: int = 0
    deliberate_retries: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    replayed_same: int = 0  # retries answered with the first response
    replayed_different: int = 0


def article(client: int, n: int) -> dict[str, str]:
    """The same id always has the same text (a stored id with another text is a 409)."""
    return {
        "id": f"crash-{client}-{n}",
        "title": f"Council vote {client}-{n}",
        "body": f"The council of district {client} voted on item {n} on Monday.",
    }


async def one_client(
    number: int, url: str, token: str, stop_at: float, tally: Tally, retry_share: float
) -> None:
    rng = random.Random(number)
    headers = {"Authorization": f"Bearer {token}"}
    seq = 0
    timeout = httpx.Timeout(10.0, connect=2.0)
    async with httpx.AsyncClient(base_url=url, timeout=timeout) as http:
        while time.monotonic() < stop_at:
            seq += 1
            key = f"c{number}-r{seq}-{secrets.token_hex(4)}"
            labels = [f"c{number} r{seq} d{j}" for j in range(rng.randint(1, 3))]
            body = {
                "article": article(number, rng.randrange(20)),
                "decisions": [{"action": "add", "label": label} for label in labels],
            }
            tally.requests += 1
            tally.sent_labels[key] = labels
            first: Any = None
            attempts = 0
            while attempts < MAX_ATTEMPTS and time.monotonic() < stop_at + 30:
                attempts += 1
                tally.attempts += 1
                try:
                    response = await http.post(
                        "/feedback", json=body, headers={**headers, "Idempotency-Key": key}
                    )
                except httpx.HTTPError as exc:
                    tally.failures[type(exc).__name__] += 1
                    await asyncio.sleep(0.1 + rng.random() * 0.2)
                    continue
                if response.status_code != 201:
                    tally.failures[str(response.status_code)] += 1
                    if response.status_code < 500:
                        break  # refused for good: nothing to retry
                    await asyncio.sleep(0.1 + rng.random() * 0.2)
                    continue
                answer = response.json()
                if first is None:
                    first = answer
                    tally.acknowledged[key] = labels
                elif answer == first:
                    tally.replayed_same += 1
                else:
                    tally.replayed_different += 1
                # a response lost on its way back: the client cannot know, it resends
                if rng.random() < retry_share and time.monotonic() < stop_at:
                    tally.deliberate_retries += 1
                    continue
                break


def wait_for(url: str, process: subprocess.Popen, seconds: float = 180) -> float:
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        if process.poll() is not None:
            raise SystemExit(f"tagger serve exited with {process.returncode}")
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                return time.monotonic() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit("tagger serve did not come up")


def check_store(db: Path, tally: Tally) -> dict[str, Any]:
    with sqlite3.connect(db) as conn:
        integrity = [r[0] for r in conn.execute("PRAGMA integrity_check")]
        stored = Counter(r[0] for r in conn.execute("SELECT label FROM decisions"))
        keys = conn.execute("SELECT COUNT(*) FROM requests").fetchone()[0]
    acknowledged = [label for labels in tally.acknowledged.values() for label in labels]
    missing = [label for label in acknowledged if stored[label] == 0]
    duplicates = {label: n for label, n in stored.items() if n > 1}
    unacknowledged = {
        key: labels for key, labels in tally.sent_labels.items() if key not in tally.acknowledged
    }
    stored_unacknowledged = sum(
        1 for labels in unacknowledged.values() if any(stored[label] for label in labels)
    )
    # a request is stored whole or not at all
    partial = sum(
        1
        for labels in tally.sent_labels.values()
        if 0 < sum(1 for label in labels if stored[label]) < len(labels)
    )
    return {
        "integrity_check": "; ".join(integrity),
        "decisions_stored": sum(stored.values()),
        "decisions_acknowledged": len(acknowledged),
        "acknowledged_missing": len(missing),
        "duplicates": len(duplicates),
        "partial_requests": partial,
        "requests_unacknowledged": len(unacknowledged),
        "unacknowledged_but_stored": stored_unacknowledged,
        "idempotency_keys_stored": keys,
    }


def sync_cost(threads: int, seconds: float) -> None:
    """Commits per second through SQLiteStore with synchronous=FULL and NORMAL."""
    from tagger.feedback.store import Decision, SQLiteStore

    results: dict[str, float] = {}
    for mode in ("FULL", "NORMAL", "FULL", "NORMAL"):  # twice each, interleaved
        store = SQLiteStore(Path(tempfile.mkdtemp(prefix="sync-cost-")) / "f.db")
        commits = [0] * threads
        stop_at = time.monotonic() + seconds

        def work(
            n: int,
            store: SQLiteStore = store,
            mode: str = mode,
            commits: list[int] = commits,
            stop_at: float = stop_at,
        ) -> None:
            store._conn().execute(f"PRAGMA synchronous={mode}")
            while time.monotonic() < stop_at:
                labels = [f"t{n} {commits[n]} {j}" for j in range(3)]
                store.add_decisions([Decision(f"a{n}", f"ed{n}", "add", x) for x in labels])
                commits[n] += 1

        workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        store.close()
        rate = sum(commits) / seconds
        results[mode] = max(results.get(mode, 0.0), rate)
        print(f"synchronous={mode}: {rate:.0f} commits/s ({threads} threads, {seconds:.0f} s)")
    print(
        f"best of two: FULL {results['FULL']:.0f}/s, NORMAL {results['NORMAL']:.0f}/s, "
        f"FULL/NORMAL = {results['FULL'] / results['NORMAL']:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", type=Path)
    parser.add_argument("--sync-cost", action="store_true", help="FULL against NORMAL only")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--retry-share", type=float, default=0.2, help="resend after a 201")
    parser.add_argument("--no-kill", action="store_true", help="the same load, no kill -9")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args()
    if args.sync_cost:
        sync_cost(args.clients, args.seconds)
        return
    if args.model is None:
        parser.error("--model is required (except with --sync-cost)")

    work = Path(tempfile.mkdtemp(prefix="decision-crash-"))
    db = work / "feedback.db"
    tokens = {f"editor{i}": secrets.token_urlsafe(24) for i in range(args.clients)}
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {"TAGGER_TOKENS": ",".join(f"{e}:{t}" for e, t in tokens.items())}
    logs = iter(range(1, 1000))

    def start() -> ServeProcess:  # the same port and database each time, a log each
        log = work / f"server-{next(logs)}.log"
        return start_serve(args.model, db, "--host", "127.0.0.1", log=log, env=env, port=port)

    server = start()
    tally = Tally()
    kill: dict[str, float] = {}
    try:
        wait_for(url, server.process)
        stop_at = time.monotonic() + args.seconds
        started = time.perf_counter()

        def killer() -> None:
            """In a thread of its own: on time however busy the clients' event loop is."""
            nonlocal server
            time.sleep(max(0.0, args.seconds / 2 - (time.perf_counter() - started)))
            os.kill(server.pid, signal.SIGKILL)
            server.process.wait()
            kill["at_s"] = time.perf_counter() - started
            server = start()
            kill["restart_s"] = wait_for(url, server.process)

        async def run_all() -> None:
            tasks = [
                one_client(i, url, tokens[f"editor{i}"], stop_at, tally, args.retry_share)
                for i in range(args.clients)
            ]
            await asyncio.gather(*tasks)

        thread = threading.Thread(target=killer, daemon=True)
        if not args.no_kill:
            thread.start()
        asyncio.run(run_all())
        if not args.no_kill:
            thread.join(240)
        elapsed = time.perf_counter() - started
    finally:
        server.stop()
    result = check_store(db, tally)
    result.update(
        clients=args.clients,
        seconds=round(elapsed, 1),
        requests=tally.requests,
        requests_acknowledged=len(tally.acknowledged),
        attempts=tally.attempts,
        deliberate_retries=tally.deliberate_retries,
        retries_answered_with_first_response=tally.replayed_same,
        retries_answered_differently=tally.replayed_different,
        failed_attempts=dict(tally.failures),
        killed_at_s=round(kill.get("at_s", 0.0), 1) or None,
        restart_s=round(kill.get("restart_s", 0.0), 1) or None,
    )
    print(f"{args.clients} clients for {elapsed:.1f} s against {url} (model {args.model})")
    if kill:
        print(f"kill -9 at {kill['at_s']:.1f} s, serving again {kill['restart_s']:.1f} s later")
    for name, value in result.items():
        print(f"  {name}: {value}")
    ok = (
        result["integrity_check"] == "ok"
        and result["acknowledged_missing"] == 0
        and result["duplicates"] == 0
        and result["partial_requests"] == 0
        and result["retries_answered_differently"] == 0
    )
    print("PASS" if ok else "FAIL", f"(database {db})")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
