"""Both IPTC Media Topics releases: import time, counts against the data README, the diff,
and lookup speed.

    python bench/vocab_iptc.py ../shared/data/iptc-mediatopics [--work DIR]

Imports `cptall-en-GB.ttl` (SKOS Turtle, 2023-10-02) and `cptall-en-GB.json` (IPTC JSON,
2025-10-09) with `tagger vocab import`'s code path (read, check, write the SQLite file),
prints every count next to the one in the data README, lists the diff's added and retired
concepts, and times lookups of every preferred label (and of mixed-case variants) in memory
and straight from the SQLite file.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import print_rows, save_results, timer

from tagger.vocab.diff import diff_vocabularies
from tagger.vocab.importers import read_vocabulary_files
from tagger.vocab.stats import vocabulary_stats
from tagger.vocab.store import VocabularyStore, read_vocabulary, write_vocabulary

# The counts in ../shared/data/iptc-mediatopics/README.md (rdflib 7.6 / Python json there).
README = {
    "ttl": {"concepts": 1372, "retired": 273, "current": 1099, "top_level": 17, "max_depth": 6,
            "current_per_level": "17/121/496/395/65/5", "with_definition": 1372,
            "with_alt_label": 0, "with_hidden_label": 0, "current_with_subject_code": 874,
            "with_subject_code": 1131, "with_wikidata": 1286},
    "json": {"concepts": 1392, "retired": 308, "current": 1084, "top_level": 17, "max_depth": 6,
             "current_per_level": "17/120/515/378/49/5", "with_definition": 1392,
             "with_alt_label": 0, "with_hidden_label": 0, "current_with_subject_code": 844,
             "with_subject_code": 1131, "with_wikidata": 1306},
    "diff": {"added": 20, "added_already_retired": 1, "retired": 34, "relabelled": 43},
}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("data")
    parser.add_argument("--work", default=None)
    args = parser.parse_args()
    data = Path(args.data)
    work = Path(args.work or tempfile.mkdtemp(prefix="vocab-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    results: dict = {}
    vocabs = {}
    rows = [("count", "ttl (tagger)", "ttl (README)", "json (tagger)", "json (README)")]
    stats = {}
    for kind, name in (("ttl", "cptall-en-GB.ttl"), ("json", "cptall-en-GB.json")):
        cpu = time.process_time()
        with timer() as elapsed:
            vocab = read_vocabulary_files([data / name])
            write_vocabulary(vocab, work / f"{kind}.sqlite")
        results[f"import_seconds_{kind}"] = elapsed()
        results[f"import_cpu_seconds_{kind}"] = time.process_time() - cpu
        vocabs[kind] = read_vocabulary(work / f"{kind}.sqlite")
        s = vocabulary_stats(vocabs[kind])
        s["current_per_level"] = "/".join(str(v) for v in s["current_per_level"].values())
        stats[kind] = s
    mismatches = 0
    for key in README["ttl"]:
        a, b = stats["ttl"][key], stats["json"][key]
        mismatches += (a != README["ttl"][key]) + (b != README["json"][key])
        rows.append((key, str(a), str(README["ttl"][key]), str(b), str(README["json"][key])))
    print_rows(rows)
    print(f"\ncounts differing from the README: {mismatches}")
    print(
        f"import (read + check + write SQLite), wall (CPU of this process): "
        f"ttl {results['import_seconds_ttl']:.2f} s ({results['import_cpu_seconds_ttl']:.2f} s), "
        f"json {results['import_seconds_json']:.2f} s ({results['import_cpu_seconds_json']:.2f} s)"
    )

    diff = diff_vocabularies(vocabs["ttl"], vocabs["json"])
    added_retired = sum(1 for a in diff.added if a["retired"])
    print(f"\ndiff 2023 -> 2025: {diff.summary()} ({added_retired} added already retired)")
    print("  README: 20 added (1 already retired), 34 retired, 43 relabelled")
    # Independent check of the diff from the raw files.
    old_ids, new_ids = set(vocabs["ttl"].concepts), set(vocabs["json"].concepts)
    old_current = {c.id for c in vocabs["ttl"].current()}
    new_retired = {c.id for c in vocabs["json"] if c.retired}
    exact_added = sorted(new_ids - old_ids) == [a["id"] for a in diff.added]
    exact_retired = sorted(old_current & new_retired) == [r["id"] for r in diff.retired]
    print(f"  added list exact: {exact_added}; retired list exact: {exact_retired}")
    results.update(
        stats=stats,
        diff=diff.summary(),
        diff_exact={"added": exact_added, "retired": exact_retired},
        mismatches=mismatches,
    )

    vocab = vocabs["json"]
    rng = random.Random(0)
    queries = [c.label for c in vocab]
    queries += [q.upper() for q in rng.sample(queries, 300)]
    queries += [c.id for c in rng.sample(list(vocab), 300)]
    vocab.lookup("warm up")  # builds the label index once
    start, cpu = time.perf_counter(), time.process_time()
    misses = sum(vocab.lookup(q) is None for q in queries)
    memory_us = (time.perf_counter() - start) / len(queries) * 1e6
    memory_cpu_us = (time.process_time() - cpu) / len(queries) * 1e6
    with VocabularyStore(work / "json.sqlite") as store:
        store.lookup("warm up")
        start, cpu = time.perf_counter(), time.process_time()
        store_misses = sum(store.lookup(q) is None for q in queries)
        store_us = (time.perf_counter() - start) / len(queries) * 1e6
        store_cpu_us = (time.process_time() - cpu) / len(queries) * 1e6
        start = time.perf_counter()
        for q in queries[:300]:
            store.complete(q[:3])
        complete_us = (time.perf_counter() - start) / 300 * 1e6
    print(
        f"\nlookup of {len(queries)} labels/ids, wall (CPU): in memory {memory_us:.1f} µs "
        f"({memory_cpu_us:.1f} µs) each, {misses} not found; SQLite {store_us:.1f} µs "
        f"({store_cpu_us:.1f} µs) each, {store_misses} not found; "
        f"completion of a 3-letter prefix {complete_us:.0f} µs"
    )
    results.update(
        lookup_us_memory=memory_us,
        lookup_cpu_us_memory=memory_cpu_us,
        lookup_us_sqlite=store_us,
        lookup_cpu_us_sqlite=store_cpu_us,
        complete_us=complete_us,
    )
    print(f"results: {save_results('vocab_iptc', results)}")


if __name__ == "__main__":
    main()
