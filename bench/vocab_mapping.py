"""A corpus mapped to IPTC top-level concepts trains and predicts with concept ids, and tag
quality with the vocabulary is no worse than without it.

    python bench/vocab_mapping.py ../shared/data/bbc \
        ../shared/data/iptc-mediatopics/cptall-en-GB.json

The BBC's five sections become tags; `bench/iptc_mapping.tsv` (hand-made) maps each to an
IPTC Media Topics top-level concept. Validation part, decided before any run: the split of
`tagger train --holdout 0.2 --seed 0` (`split_for_training`, near-duplicates kept on one
side) of the articles in the order the folders reader gives them.

Without the vocabulary: trained on the BBC labels, predictions translated to concept ids
through the TSV for scoring. With it: tags are concept ids, matched to the IPTC vocabulary
by `train --vocab`'s code (map_corpus), and predictions carry id, uri and label.
(The TSV's Reuters rows show why Reuters is not used here: its 90 topics fall into two
top-level concepts, economy and labour.)
"""

from __future__ import annotations

import argparse
import copy
import csv
import sys
from pathlib import Path

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("bbc")
    parser.add_argument("iptc")
    args = parser.parse_args()
    with MAPPING.open(encoding="utf-8") as handle:
        mapping = {r["label"]: r["concept"] for r in csv.DictReader(handle, delimiter="\t")
                   if r["corpus"] == "bbc"}  # fmt: skip
    vocab = read_vocabulary_files([Path(args.iptc)])
    articles = list(read_corpus([args.bbc], "folders"))
    for a in articles:
        a.tags, a.section = [a.section], None
    train, test, groups = split_for_training(articles, 0.2, False, 0, lambda _m: None)
    print(f"{len(train)} training and {len(test)} held-out articles; vocabulary {vocab.release}")

    rows = [("model", "labels", "micro-F1", "macro-F1", "P@1", "train s", "tags with id")]
    results = {}
    for name in ("without vocabulary", "with vocabulary"):
        tr, te = copy.deepcopy(train), copy.deepcopy(test)
        if name == "with vocabulary":
            for a in tr + te:
                a.tags = [mapping[t] for t in a.tags]  # corpus tags are concept ids
            report = map_corpus(tr, vocab, "fail")
            map_corpus(te, vocab, "fail")
        with timer() as elapsed:
            model = Tagger.train(tr, TrainConfig(seed=0), groups=groups)
        if name == "with vocabulary":
            labels = model.tag_model.labels
            model.manifest["vocabulary"] = vocabulary_manifest(vocab, None, labels, report)
        suggestions = model.predict(te, entities=False, top_k=5)
        labels = model.tag_model.labels
        probs = [[0.0] * len(labels) for _ in te]
        chosen = [[False] * len(labels) for _ in te]
        ids = total = 0
        for i, s in enumerate(suggestions):
            for c in s.tag_candidates:
                probs[i][labels.index(c.label)] = c.score
            for t in s.tags:
                chosen[i][labels.index(t.label)] = True
                total += 1
                ids += t.id is not None
        import numpy as np

        if name == "without vocabulary":
            concept_of = {k: vocab.get(v).label for k, v in mapping.items()}
            gold = [[concept_of[t] for t in a.tags] for a in te]
            labels = [concept_of[x] for x in labels]
        else:
            gold = [a.tags for a in te]
        m = multilabel_metrics(binarize(gold, labels), np.array(chosen), np.array(probs), labels)
        results[name] = {k: m[k] for k in ("micro_f1", "macro_f1", "p_at_1")}
        results[name]["train_seconds"] = elapsed()
        results[name]["tags_with_id"] = f"{ids}/{total}"
        rows.append((name, ", ".join(sorted(labels))[:60], f"{m['micro_f1']:.4f}",
                     f"{m['macro_f1']:.4f}", f"{m['p_at_1']:.4f}", f"{elapsed():.1f}",
                     f"{ids}/{total}"))  # fmt: skip
    print_rows(rows)
    example = suggestions[0].to_dict(explain=False)["tags"][:1]
    print(f"example prediction: {example}")
    print(f"results: {save_results('vocab_mapping', results)}")


if __name__ == "__main__":
    main()
