"""Out-of-core training settings chosen on a development split of Reuters ModApte *training*.

    python bench/stream_dev.py ../shared/data/reuters21578 --grid "alpha=1e-5" "epochs=10"
    python bench/stream_dev.py ../shared/data/reuters21578 --by-date --grid "" "bias=1"
    python bench/stream_dev.py ../shared/data/reuters21578 --test

The ModApte test set is the held-out set: settings are compared on `dev_split` (below),
which splits the 7,770 ModApte training articles (90 topics) into a development-training
part and a development-test part by a hash of the article id (every fifth, about 20%;
`--fold` picks which fifth), or with `--by-date` into the earlier 80% and the latest 20% by
date (ModApte's test articles are later than its training articles: the hashed folds do not
see that shift).
Each grid entry is `key=value,...` over `StreamConfig` fields, and `table.key=value` over
the training config's (for example `tags.nb_weighted=false`, `tags.nb_alpha=0.1`; values
as JSON); the in-memory model (`Tagger.train`, default config) trained on the same part
is the reference row. With `--test`, the grid's
runs (the defaults if none is given) are trained on all of ModApte training and measured on
ModApte test: only to confirm settings chosen on the development splits.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import modapte_90, peak_rss_mb, print_rows, save_results, timer

from tagger.api import Tagger, TrainConfig
from tagger.stream_train import StreamConfig, train_streaming


def dev_split(train: list[Any], fold: int = 0) -> tuple[list[Any], list[Any]]:
    """ModApte training articles into (dev-train, dev-test): dev-test holds the articles
    whose id's SHA-1 is `fold` mod 5 (about 20%), independent of order and seed. Folds
    0-4 together are a 5-fold cross-validation of ModApte training."""

    def in_dev_test(article: Any) -> bool:
        return int(hashlib.sha1(article.id.encode()).hexdigest(), 16) % 5 == fold

    return [a for a in train if not in_dev_test(a)], [a for a in train if in_dev_test(a)]


def dev_split_by_date(train: list[Any], share: float = 0.2) -> tuple[list[Any], list[Any]]:
    """ModApte training articles into (dev-train, dev-test) by date: dev-test holds the
    latest `share` of them, as ModApte's test set holds articles later than its training
    set (a split that imitates that shift, which the hashed folds do not)."""
    order = sorted(train, key=lambda a: (a.published.timestamp() if a.published else 0.0, a.id))
    cut = round(len(order) * (1 - share))
    return order[:cut], order[cut:]


def parse(spec: str) -> dict[str, Any]:
    """The `StreamConfig` fields of a grid entry (`table.key` entries: `parse_config`)."""
    out: dict[str, Any] = {}
    for part in filter(None, spec.split(",")):
        key, value = part.split("=", 1)
        if "." in key:
            continue
        field = StreamConfig.__dataclass_fields__[key]
        kind = type(field.default)
        out[key] = value if kind is str else kind(float(value)) if kind is int else kind(value)
    return out


def parse_config(spec: str) -> TrainConfig:
    """The training config of a grid entry: the defaults with its `table.key=value` entries."""
    data: dict[str, dict[str, Any]] = {}
    for part in filter(None, spec.split(",")):
        key, value = part.split("=", 1)
        if "." in key:
            table, field = key.split(".", 1)
            data.setdefault(table, {})[field] = json.loads(value)
    # checked, named by the spec: an unknown key would otherwise measure the defaults unnoticed
    return TrainConfig.from_dict(data, source=spec)


def measure(model: Tagger, test: list[Any]) -> tuple[float, float]:
    tags = model.evaluate(test)["tags"]
    return tags["micro_f1"], tags["macro_f1"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("reuters", help="folder with reut2-*.sgm(.gz)")
    parser.add_argument("--grid", nargs="*", default=[""], help="StreamConfig changes per run")
    parser.add_argument("--test", action="store_true", help="the grid, on ModApte test")
    parser.add_argument("--no-reference", action="store_true")
    parser.add_argument("--fold", type=int, default=0, help="dev_split's fold (0-4)")
    parser.add_argument("--by-date", action="store_true", help="dev-test: the latest 20%%")
    args = parser.parse_args()

    train, test, _labels = modapte_90(args.reuters)
    split = "ModApte"
    if not args.test:
        train, test = dev_split_by_date(train) if args.by_date else dev_split(train, args.fold)
        split = "dev split by date" if args.by_date else f"dev split fold {args.fold}"
    print(f"{split}: {len(train)} train / {len(test)} test")
    config = TrainConfig()
    # CPU s: this process's own, so for the streamed runs only (in memory, tags are fitted
    # in worker processes)
    rows = [("run", "micro-F1", "macro-F1", "train s", "CPU s", "NB-mixed tags")]
    results = []
    if not args.no_reference:
        with timer() as elapsed:
            model = Tagger.train(train, config)
        seconds = elapsed()
        micro, macro = measure(model, test)
        rows.append(("in-memory", f"{micro:.4f}", f"{macro:.4f}", f"{seconds:.0f}", "-", "-"))
        results.append({"run": "in-memory", "micro_f1": micro, "macro_f1": macro, "s": seconds})
        print_rows(rows)
    for spec in args.grid:
        stream = StreamConfig(**parse(spec))
        cpu = time.process_time()
        with timer() as elapsed:
            model = train_streaming(lambda: iter(train), parse_config(spec), stream)
        seconds, cpu = elapsed(), time.process_time() - cpu
        micro, macro = measure(model, test)
        name = f"stream {spec or 'defaults'}"
        member_tags = model.tag_model.cv_metrics.get("nb_member_tags")
        rows.append(
            (name, f"{micro:.4f}", f"{macro:.4f}", f"{seconds:.0f}", f"{cpu:.0f}", str(member_tags))
        )
        results.append(
            {"run": name, "stream": stream.to_dict(), "micro_f1": micro, "macro_f1": macro,
             "s": seconds, "cpu_s": cpu, "nb_member_tags": member_tags}
        )  # fmt: skip
        print_rows(rows)
    print(f"peak memory: {peak_rss_mb():.0f} MB")
    out = save_results(
        "stream_test" if args.test else "stream_dev", {"split": split, "runs": results}
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
