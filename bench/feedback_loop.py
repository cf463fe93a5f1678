"""Does the editors' loop pay off? Reuters-21578 ModApte, 90 topics as tags.

    python bench/feedback_loop.py ../shared/data/reuters21578 [--work DIR] [--char-ngrams]

Train on 20% of the ModApte training articles, then simulate editors on the rest in
five batches: each batch is suggested by the current model and recorded in a feedback
store (SQLite) with the decisions an editor would make (accept correct suggestions,
reject wrong ones, add the missing tags); `learn` then trains the next model from the
20% plus every decision so far. Test micro- and macro-F1 (over the 90 topics) after
each round, next to a model trained on the full labels in the same run.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import modapte_90

from tagger.api import Tagger, TrainConfig
from tagger.corpus.article import Article
from tagger.features import FeatureConfig
from tagger.feedback.learn import heldout_metrics, learn
from tagger.feedback.store import Decision, SQLiteStore, shown_from_suggestions


def simulate_editor(
    store: SQLiteStore, model: Tagger, batch: list[Article], editor: str, top_k: int
) -> Counter[str]:
    """Show each article's suggestions and record what a careful editor decides."""
    counts: Counter[str] = Counter()
    suggestions = model.predict(batch, top_k=top_k, explain=False)
    for article, s in zip(batch, suggestions, strict=True):
        store.add_article(Article(article.id, article.title, article.body))
        shown = shown_from_suggestions(s)
        store.add_suggestions(article.id, shown)
        truth = set(article.tags)
        decisions = []
        seen = set()
        for item in shown:
            if item.kind != "tag":
                continue
            seen.add(item.label)
            if item.label in truth:
                action = "accept"
            elif item.selected:
                action = "reject"
            else:
                continue  # an unselected wrong candidate needs no keystroke
            decisions.append(
                Decision(article.id, editor, action, item.label, suggestion_id=item.id)
            )
        decisions += [Decision(article.id, editor, "add", t) for t in article.tags if t not in seen]
        store.add_decisions(decisions)
        store.mark_done(article.id, editor)
        counts.update(d.action for d in decisions)
    return counts


def fmt(metrics: dict[str, Any]) -> str:
    tags = metrics["tags"]
    return f"micro-F1 {tags['micro_f1']:.4f}  macro-F1 {tags['macro_f1']:.4f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("reuters", help="folder with reut2-*.sgm(.gz)")
    parser.add_argument("--work", type=Path, help="folder for models and the store (temp)")
    parser.add_argument("--initial", type=float, default=0.2)
    parser.add_argument("--batches", type=int, default=5)
    parser.add_argument("--top-k", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--char-ngrams", action="store_true", help="use character n-grams (slower)")
    parser.add_argument(
        "--min-tag-f1",
        type=float,
        help="tags whose out-of-fold F1 stays below this fall back to a 0.5 threshold",
    )
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args()

    work = args.work or Path(tempfile.mkdtemp(prefix="feedback-loop-"))
    work.mkdir(parents=True, exist_ok=True)
    train, test, labels = modapte_90(args.reuters)
    print(f"ModApte: {len(train)} train, {len(test)} test articles, {len(labels)} topics")
    config = TrainConfig(
        features=FeatureConfig() if args.char_ngrams else FeatureConfig(char_ngrams=None),
        seed=args.seed,
        name="reuters-loop",
    )
    if args.min_tag_f1 is not None:
        config.tags.min_tag_f1 = args.min_tag_f1
    started = time.perf_counter()

    full = Tagger.train(train, config)
    full_metrics = heldout_metrics(full, test, labels)
    print(f"full labels ({len(train)} articles): {fmt(full_metrics)}", flush=True)

    order = list(train)
    random.Random(args.seed).shuffle(order)
    n_initial = round(len(order) * args.initial)
    initial, rest = order[:n_initial], order[n_initial:]
    batches = [rest[i :: args.batches] for i in range(args.batches)]
    model_path = work / "round-0"
    Tagger.train(initial, config).save(model_path)
    model = Tagger.load(model_path)
    rows = [
        {
            "round": 0,
            "trained_on": len(initial),
            "metrics": heldout_metrics(model, test, labels)["tags"],
        }
    ]
    print(f"round 0 ({len(initial)} labeled articles): {fmt({'tags': rows[0]['metrics']})}")
    db = work / "feedback.db"
    if db.exists():
        raise SystemExit(f"{db} exists: give an empty --work folder")
    store = SQLiteStore(db)
    for r, batch in enumerate(batches, start=1):
        counts = simulate_editor(store, model, batch, f"editor-{r}", args.top_k)
        out = work / f"round-{r}"
        result = learn(model_path, store, out, corpus=initial, test=test, seed=args.seed)
        # learn scores over the test labels and both models' labels: the 90 topics here.
        model_path, model = out, Tagger.load(out)
        metrics = heldout_metrics(model, test, labels)["tags"]
        rows.append(
            {
                "round": r,
                "trained_on": result.trained_on,
                "decisions": dict(counts),
                "learn_old": result.old["tags"]["micro_f1"],
                "learn_new": result.new["tags"]["micro_f1"],
                "metrics": metrics,
            }
        )
        print(
            f"round {r} (+{len(batch)} reviewed; {dict(counts)}; trained on "
            f"{result.trained_on}): {fmt({'tags': metrics})}  "
            f"[learn printed old {result.old['tags']['micro_f1']:.4f} -> "
            f"new {result.new['tags']['micro_f1']:.4f}]",
            flush=True,
        )
    store_decisions = store.count_decisions()
    store.close()
    gap = full_metrics["tags"]["micro_f1"] - rows[-1]["metrics"]["micro_f1"]
    print()
    print(f"{'round':<6}{'trained on':>11}{'micro-F1':>10}{'macro-F1':>10}")
    for row in rows:
        m = row["metrics"]
        print(
            f"{row['round']:<6}{row['trained_on']:>11}{m['micro_f1']:>10.4f}{m['macro_f1']:>10.4f}"
        )
    fm = full_metrics["tags"]
    print(f"{'full':<6}{len(train):>11}{fm['micro_f1']:>10.4f}{fm['macro_f1']:>10.4f}")
    print(
        f"last round minus full-label model: {-gap:+.4f} micro-F1 "
        f"(target: no more than 0.01 below); {store_decisions} decisions in the store; "
        f"{time.perf_counter() - started:.0f}s"
    )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "config": config.to_dict(),
                    "rounds": rows,
                    "full": fm,
                    "gap": gap,
                    "decisions": store_decisions,
                },
                indent=2,
                default=float,
            )
            + "\n"
        )


if __name__ == "__main__":
    main()
