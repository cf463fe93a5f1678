"""A corpus mapped to IPTC concepts trains and predicts with concept ids, and tag quality
with the vocabulary is no worse than without it.

    python bench/vocab_mapping.py ../shared/data/bbc \
        ../shared/data/iptc-mediatopics/cptall-en-GB.json \
        [--reuters ../shared/data/reuters21578]

`bench/iptc_mapping.tsv` (made by hand) maps each label to an IPTC Media Topics concept:
the BBC's five sections (as tags) to top-level concepts; Reuters' 90 ModApte topics to 26
current concepts of levels 2-4 (crude, fuel, gas, heat, jet, naphtha, propane -> oil and
gas; the currencies -> currency; crops, oils and meals -> agriculture; ...), so several
topics become one concept.

Validation parts, decided before any run: BBC, the split of `tagger train --holdout 0.2
--seed 0` (`split_for_training`, near-duplicates on one side) in the folders reader's
order; Reuters, the ModApte split.

Without the vocabulary: trained on the corpus's labels; for scoring, predictions are
translated to concepts through the TSV (a concept is chosen when one of its labels is,
scored as its best label). With it: tags are concept ids, matched to the IPTC vocabulary by
`train --vocab`'s code (map_corpus), and predictions carry id, uri and label. Both are
scored on the same concepts in the same run.
"""

from __future__ import annotations

import argparse
import copy
import csv
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import print_rows, save_results, timer

from tagger.api import Tagger, TrainConfig
from tagger.corpus.readers import read_corpus
from tagger.corpus.split import split_for_training
from tagger.evaluate import binarize, multilabel_metrics
from tagger.vocab.importers import read_vocabulary_files
from tagger.vocab.match import map_corpus
from tagger.vocab.training import vocabulary_manifest

MAPPING = Path(__file__).with_name("iptc_mapping.tsv")


def compare(
    corpus: str, train: list, test: list, groups: Any, mapping: dict[str, str], vocab: Any
) -> tuple[dict[str, Any], list[tuple[str, ...]], Any]:
    """Tag quality without and with the vocabulary on one split, scored on concepts."""
    rows = []
    results: dict[str, Any] = {}
    suggestions: Any = None
    for name in ("without vocabulary", "with vocabulary"):
        tr, te = copy.deepcopy(train), copy.deepcopy(test)
        if name == "with vocabulary":
            for a in tr + te:
                a.tags = list(dict.fromkeys(mapping[t] for t in a.tags))  # concept ids
            report = map_corpus(tr, vocab, "fail")
            map_corpus(te, vocab, "fail")
        with timer() as elapsed:
            model = Tagger.train(tr, TrainConfig(seed=0), groups=groups)
        if name == "with vocabulary":
            labels = model.tag_model.labels
            model.manifest["vocabulary"] = vocabulary_manifest(vocab, None, labels, report)
        suggestions = model.predict(te, entities=False, top_k=5)
        labels = list(model.tag_model.labels)
        if name == "without vocabulary":
            # a prediction's tags translated to concepts: a concept is chosen when any
            # of its tags is, scored as its best tag
            concept_of = {k: vocab.get(v).label for k, v in mapping.items()}
            scored = sorted({concept_of[x] for x in labels})
            gold = [list(dict.fromkeys(concept_of[t] for t in a.tags)) for a in te]
        else:
            concept_of = {x: x for x in labels}
            scored = labels
            gold = [a.tags for a in te]
        index = {x: j for j, x in enumerate(scored)}
        probs = np.zeros((len(te), len(scored)))
        chosen = np.zeros((len(te), len(scored)), dtype=bool)
        ids = total = 0
        for i, s in enumerate(suggestions):
            for c in s.tag_candidates:
                j = index[concept_of[c.label]]
                probs[i, j] = max(probs[i, j], c.score)
            for t in s.tags:
                chosen[i, index[concept_of[t.label]]] = True
                total += 1
                ids += t.id is not None
        m = multilabel_metrics(binarize(gold, scored), chosen, probs, scored)
        results[name] = {k: m[k] for k in ("micro_f1", "macro_f1", "p_at_1")}
        results[name]["train_seconds"] = elapsed()
        results[name]["tags_with_id"] = f"{ids}/{total}"
        results[name]["labels"] = len(labels)
        rows.append((corpus, name, f"{len(labels)} -> {len(scored)}", f"{m['micro_f1']:.4f}",
                     f"{m['macro_f1']:.4f}", f"{m['p_at_1']:.4f}", f"{elapsed():.1f}",
                     f"{ids}/{total}"))  # fmt: skip
    return results, rows, suggestions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("bbc", help="the BBC folders (or '-' to skip them)")
    parser.add_argument("iptc", help="an IPTC Media Topics file (cptall-en-GB.json)")
    parser.add_argument("--reuters", help="Reuters-21578 too (ModApte, the 90 topics)")
    args = parser.parse_args()
    with MAPPING.open(encoding="utf-8") as handle:
        table = list(csv.DictReader(handle, delimiter="\t"))
    vocab = read_vocabulary_files([Path(args.iptc)])
    print(f"vocabulary {vocab.release}; load {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    header = ("corpus", "model", "labels -> concepts", "micro-F1", "macro-F1", "P@1",
              "train s", "tags with id")  # fmt: skip
    rows: list[tuple[str, ...]] = [header]
    results: dict[str, Any] = {}
    if args.bbc != "-":
        mapping = {r["label"]: r["concept"] for r in table if r["corpus"] == "bbc"}
        articles = list(read_corpus([args.bbc], "folders"))
        for a in articles:
            a.tags, a.section = [a.section], None
        train, test, groups = split_for_training(articles, 0.2, False, 0, lambda _m: None)
        print(f"BBC: {len(train)} training and {len(test)} held-out articles")
        results["bbc"], more, suggestions = compare("BBC", train, test, groups, mapping, vocab)
        rows += more
        print(f"example prediction: {suggestions[0].to_dict(explain=False)['tags'][:1]}")
    if args.reuters:
        from common import modapte_90

        mapping = {r["label"]: r["concept"] for r in table if r["corpus"] == "reuters"}
        train, test, topics = modapte_90(args.reuters)
        missing = sorted(set(topics) - set(mapping))
        if missing:
            sys.exit(f"{MAPPING}: no concept for the Reuters topic(s) {', '.join(missing)}")
        print(f"Reuters ModApte: {len(train)} training and {len(test)} test articles, "
              f"{len(topics)} topics -> {len(set(mapping.values()))} concepts")  # fmt: skip
        results["reuters"], more, _ = compare("Reuters", train, test, None, mapping, vocab)
        rows += more
    print_rows(rows)
    print(f"results: {save_results('vocab_mapping', results)}")


if __name__ == "__main__":
    main()
