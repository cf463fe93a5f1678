"""Does editor replay tell a good model from a bad one? Reuters-21578 ModApte, 90 topics.

    python bench/feedback_loop.py ../shared/data/reuters21578 --work /tmp/loop   # first
    python bench/replay_reuters.py ../shared/data/reuters21578 --loop /tmp/loop [--report-dir D]

Takes the models and the feedback store of the editors' loop (`feedback_loop.py`: round-1
and round-5 models, the decisions of rounds 1-5 on training articles). Simulated editors
then review the ModApte test articles as suggested by the round-1 model (the "current"
one), in a copy of that store, and finish each. A damaged model is made from round 5 by
shuffling its tag thresholds among its tags. `replay` scores the three models on the
decided articles none of them was trained on (the loop's own review articles are left
out by the bundles' training hashes) and the script checks:

- replay ranks round 5 above round 1 and above the damaged model (tag F1);
- per tag, replay precision against the precision on the held-out test labels of the same
  articles, for tags with at least 50 decisions (target: within 0.02);
- the HTML reports (`evaluate --report` of round 5 on the test set, `replay --report`):
  size, and the time Chromium takes to load and render each (if Chromium is installed).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import modapte_90
from feedback_loop import simulate_editor

from tagger.api import Tagger
from tagger.feedback.replay import replay
from tagger.feedback.store import SQLiteStore


def damaged_copy(source: Path, out: Path, seed: int) -> Path:
    """Round 5 with its tag thresholds shuffled among its tags (same training record)."""
    model = Tagger.load(source)
    thresholds = list(model.tag_model.thresholds)
    random.Random(seed).shuffle(thresholds)
    model.tag_model.thresholds = thresholds
    model.manifest["name"] = "damaged"
    model.save(out)
    return out


def test_label_precision(model: Tagger, articles: list[Any]) -> dict[str, tuple[int, int]]:
    """Per tag: (true positives, selected) of the model's suggestions on labeled articles."""
    out: dict[str, list[int]] = {}
    for article, s in zip(articles, model.predict(articles, explain=False), strict=True):
        truth = set(article.tags)
        for t in s.tags:
            row = out.setdefault(t.label, [0, 0])
            row[0] += t.label in truth
            row[1] += 1
    return {k: (v[0], v[1]) for k, v in out.items()}


def chromium_render(page: Path) -> float | None:
    """Seconds from navigation to the load event plus a painted frame, or None."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    executable = os.environ.get("TAGGER_CHROMIUM") or shutil.which("chromium")
    if not executable:
        return None
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=executable, headless=True, args=["--no-sandbox"]
        )
        try:
            tab = browser.new_page()
            tab.route(
                "**/*",
                lambda r: r.abort() if not r.request.url.startswith("file:") else r.continue_(),
            )
            started = time.perf_counter()
            tab.goto(page.resolve().as_uri(), wait_until="load")
            tab.evaluate("() => new Promise(r => requestAnimationFrame(() => r()))")
            return time.perf_counter() - started
        finally:
            browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("reuters")
    parser.add_argument("--loop", type=Path, required=True, help="feedback_loop.py --work folder")
    parser.add_argument(
        "--work", type=Path, help="folder for the store copy, damaged model, reports"
    )
    parser.add_argument("--min-decisions", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    work = args.work or args.loop / "replay"
    work.mkdir(parents=True, exist_ok=True)
    print(f"load average {os.getloadavg()[0]:.1f}", flush=True)
    _train, test, _labels = modapte_90(args.reuters)

    db = work / "feedback.db"
    if db.exists():
        db.unlink()
    shutil.copy(args.loop / "feedback.db", db)
    current = Tagger.load(args.loop / "round-1")
    started = time.perf_counter()
    with SQLiteStore(db) as store:
        counts = simulate_editor(store, current, test, "desk", 5)
    print(
        f"editors reviewed {len(test)} test articles: {dict(counts)} "
        f"({time.perf_counter() - started:.0f}s)",
        flush=True,
    )

    damaged = damaged_copy(args.loop / "round-5", work / "damaged", args.seed)
    models = [
        ("round-1", current),
        ("round-5", Tagger.load(args.loop / "round-5")),
        ("damaged", Tagger.load(damaged)),
    ]
    started = time.perf_counter()
    with SQLiteStore(db) as store:
        result = replay(models, store)
    seconds = time.perf_counter() - started
    a = result.articles
    print(
        f"replay: {a['replayed']} of {a['decided']} decided articles replayed "
        f"(trained on: {a['trained_on']}), {seconds:.0f}s for 3 models"
    )
    print(f"{'model':<10}{'prec':>8}{'prec*':>8}{'recall':>8}{'added':>8}{'F1':>8}{'changed':>9}")
    by_name = {}
    for m in result.models:
        t = m["tags"]
        by_name[m["name"]] = t
        print(
            f"{m['name']:<10}{t['precision']:>8.4f}{t['precision_decided']:>8.4f}"
            f"{t['recall']:>8.4f}{t['recall_added'] or 0:>8.4f}{t['f1']:>8.4f}"
            f"{t['changed_share']:>9.1%}"
        )
    ranks = (
        by_name["round-5"]["f1"] > by_name["round-1"]["f1"]
        and by_name["round-5"]["f1"] > by_name["damaged"]["f1"]
    )
    print(f"round 5 ranked above round 1 and the damaged model: {ranks}")

    comparisons = {}
    for name, model in models:
        truth = test_label_precision(model, test)
        rows = [
            r
            for r in next(m for m in result.models if m["name"] == name)["per_tag"]
            if r["decisions"] >= args.min_decisions and r["precision"] is not None
        ]
        diffs = []
        decided_diffs = []
        for r in rows:
            tp, selected = truth.get(r["label"], (0, 0))
            if not selected:
                continue
            diffs.append(abs(r["precision"] - tp / selected))
            if r["precision_decided"] is not None:
                decided_diffs.append(abs(r["precision_decided"] - tp / selected))
        comparisons[name] = {
            "tags": len(diffs),
            "max_abs_diff": max(diffs, default=None),
            "within_0.02": sum(d <= 0.02 for d in diffs),
            "decided_only_max_abs_diff": max(decided_diffs, default=None),
            "decided_only_within_0.02": sum(d <= 0.02 for d in decided_diffs),
        }
        c = comparisons[name]
        print(
            f"{name}: per-tag precision vs test labels, {c['tags']} tags with >= "
            f"{args.min_decisions} decisions: {c['within_0.02']} within 0.02 (max "
            f"|diff| {c['max_abs_diff']:.4f}); explicit decisions only: "
            f"{c['decided_only_within_0.02']} within 0.02 "
            f"(max {c['decided_only_max_abs_diff']:.4f})"
        )

    from tagger.pipeline import run_evaluate
    from tagger.report import replay_figures, write_evaluation_report, write_replay_report

    reports = {}
    started = time.perf_counter()
    evaluation = run_evaluate(models[1][1], test, figures=True)
    page = work / "evaluate-round5.html"
    write_evaluation_report(page, evaluation)
    reports["evaluate"] = (page, time.perf_counter() - started)
    started = time.perf_counter()
    data = result.to_dict()
    data["figures"] = replay_figures(result, db)
    page = work / "replay.html"
    write_replay_report(page, data)
    reports["replay"] = (page, time.perf_counter() - started)
    report_rows = {}
    for name, (page, build) in reports.items():
        size = page.stat().st_size
        render = chromium_render(page)
        report_rows[name] = {"bytes": size, "build_seconds": build, "render_seconds": render}
        shown = "no Chromium" if render is None else f"{render:.2f}s in Chromium"
        print(
            f"{name} report {page}: {size / 1e6:.2f} MB (target < 2 MB), built in "
            f"{build:.1f}s, rendered {shown} (target < 2 s)"
        )
    print(f"load average {os.getloadavg()[0]:.1f}")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "articles": a,
                    "models": {k: v for k, v in by_name.items()},
                    "ranks": ranks,
                    "per_tag_vs_test": comparisons,
                    "reports": report_rows,
                },
                indent=2,
                default=float,
            )
            + "\n"
        )


if __name__ == "__main__":
    main()
