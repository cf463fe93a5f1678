"""Switching a registry's `current` while clients call /suggest: no request may fail, and
every response must name the version that produced it.

    python bench/registry_switch.py [CORPUS...] [--clients 20] [--seconds 60] [--every 3]

Trains two different models on the corpus (default: corpus/sample.jsonl; v1 on half of
it, v2 on all of it, so their model ids and tag sets differ) into a fresh registry,
starts the real `tagger serve --model REGISTRY`, runs N clients posting /suggest for a
bounded time while the main thread promotes v2, v1, v2, ... every `--every` seconds
(`Registry.promote`, as `tagger models promote` does), then checks every response:
status 200, `model.version` one of the two, `model.id` that version's id, every
suggestion naming the same version, and every suggested tag known to that version.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from serve_load import percentile

from tagger.api import Tagger, TrainConfig
from tagger.classify import ModelConfig
from tagger.corpus.readers import read_corpus
from tagger.features import FeatureConfig
from tagger.registry import Registry
from tagger.server.launch import start_serve

SAMPLE = Path(__file__).resolve().parents[1] / "corpus" / "sample.jsonl"


def train(articles: list[Any], name: str) -> Tagger:
    config = TrainConfig(
        features=FeatureConfig(char_ngrams=None),
        tags=ModelConfig(cv_folds=2),
        sections=ModelConfig(cv_folds=2),
        name=name,
    )
    return Tagger.train(articles, config)


async def client(
    i: int, url: str, articles: list[dict[str, Any]], stop_at: float, out: list[dict[str, Any]]
) -> None:
    rng = random.Random(i)
    async with httpx.AsyncClient(base_url=url, timeout=60) as http:
        while time.monotonic() < stop_at:
            body = {"article": rng.choice(articles), "top_k": 5, "explain": False}
            start = time.perf_counter()
            record: dict[str, Any] = {"at": time.time()}
            try:
                response = await http.post("/suggest", json=body)
                record["status"] = response.status_code
                if response.status_code == 200:
                    record["body"] = response.json()
            except httpx.HTTPError as exc:
                record["status"] = type(exc).__name__
            record["ms"] = (time.perf_counter() - start) * 1000
            out.append(record)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("corpus", nargs="*", default=[str(SAMPLE)])
    parser.add_argument("--format", default="auto")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--every", type=float, default=3.0, help="seconds between promotions")
    parser.add_argument("--watch-interval", type=float, default=0.2)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--articles", type=int, default=2000, help="training articles, at most")
    args = parser.parse_args()

    pool = list(read_corpus(args.corpus, args.format))
    random.Random(0).shuffle(pool)
    pool = pool[: args.articles]
    work = Path(tempfile.mkdtemp(prefix="registry-switch-"))
    registry = Registry.init(work / "news")
    started = time.perf_counter()
    for part in (pool[: len(pool) // 2], pool):
        train(part, "news").save(registry.path)
    print(f"trained v1 and v2 in {time.perf_counter() - started:.1f}s", file=sys.stderr)
    registry.promote("v1")
    facts = {
        v: (registry.manifest(v)["model_id"], set(registry.manifest(v)["labels"]["tags"]))
        for v in ("v1", "v2")
    }
    assert facts["v1"][0] != facts["v2"][0], "the two versions must differ"
    articles = [{"title": a.title, "body": a.body[:4000]} for a in pool]
    options = ["--watch-interval", str(args.watch_interval), "--workers", str(args.workers)]
    # 20 clients at once: queue every request rather than answer 503 (a refusal is a
    # failed request here)
    options += ["--suggest-rate", "0", "--model-queue", str(args.clients * 2)]
    options += ["--max-in-flight", str(args.clients * 4)]
    server = start_serve(registry.path, work / "feedback.db", *options, log=work / "server.log")
    url = server.url
    records: list[dict[str, Any]] = []
    switches: list[tuple[float, str]] = []
    try:
        server.wait_healthy()
        stop_at = time.monotonic() + args.seconds

        async def switcher() -> None:
            target = "v2"
            while time.monotonic() + args.every < stop_at:
                await asyncio.sleep(args.every)
                await asyncio.to_thread(registry.promote, target)
                switches.append((time.time(), target))
                target = "v1" if target == "v2" else "v2"

        async def run_all() -> None:
            await asyncio.gather(
                switcher(),
                *(client(i, url, articles, stop_at, records) for i in range(args.clients)),
            )

        started = time.perf_counter()
        asyncio.run(run_all())
        elapsed = time.perf_counter() - started
    finally:
        server.stop()
    failed = [r for r in records if r["status"] != 200]
    wrong = 0
    by_version: Counter[str] = Counter()
    for r in records:
        if r["status"] != 200:
            continue
        model = r["body"]["model"]
        version = model.get("version")
        by_version[str(version)] += 1
        model_id, tags = facts.get(version, (None, set()))
        ok = model["id"] == model_id and all(
            s["model"].get("version") == version
            and s["model"]["id"] == model_id
            and all(t["label"] in tags for t in s["tags"] + s["tag_candidates"])
            for s in r["body"]["suggestions"]
        )
        wrong += not ok
    ms = [r["ms"] for r in records]
    load = os.getloadavg()
    print(
        f"{args.clients} clients for {elapsed:.1f}s, {len(switches)} promotions "
        f"(every {args.every:g}s), {args.workers} server worker(s), watch {args.watch_interval:g}s;"
        f" load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}"
    )
    print(
        f"/suggest: {len(records)} requests ({len(records) / elapsed:.1f}/s), "
        f"p50 {percentile(ms, 50):.0f} ms, p95 {percentile(ms, 95):.0f} ms"
    )
    print(f"answered by version: {dict(sorted(by_version.items()))}")
    print(f"failed requests: {len(failed)} {Counter(str(r['status']) for r in failed)}")
    print(f"responses not matching the version they name: {wrong}")
    bad = failed or wrong or len(by_version) < 2
    print("FAIL" if bad else "OK: 0 failed, every response names the version that produced it")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
