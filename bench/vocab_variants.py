"""Tag variants injected into 20% of the sample corpus's labels: does training with a
vocabulary's aliases recover the clean corpus's quality, and does the governance report
find the variant pairs?

    python bench/vocab_variants.py corpus/sample.jsonl [--share 0.2] [--seed 0]

Variants are the ones newsrooms produce: case ('Foreign-Affairs', 'ECONOMY'), hyphenation
('foreign affairs', 'Supreme-Court'), a first name dropped ('Rubio'), a title prefixed
('Sen. Marco Rubio', 'President Joe Biden'). `--share` of all tag uses (seeded) are replaced
by a random variant of their tag. Validation part, decided before any run: the split of
`tagger train --holdout 0.2 --seed 0` (`split_for_training`); its labels stay clean (the
truth), the training part is noisy. The vocabulary is what a desk keeps: one concept per
clean tag, people with their surname as an alias (`id,label,aliases` CSV written here).

Figures: held-out micro-F1 of the clean model, of the noisy corpus without a vocabulary, and
with it (`train --vocab` code: map_corpus); the governance report run on the whole noisy
corpus without any vocabulary: recall of the injected (variant, tag) pairs and the share of
reported pairs that are not injected ones.
"""

from __future__ import annotations

import argparse
import copy
import random
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import print_rows, save_results

from tagger.api import Tagger, TrainConfig
from tagger.corpus.readers import read_corpus
from tagger.corpus.split import split_for_training
from tagger.governance import governance_report, merge_pairs
from tagger.vocab.importers import read_vocabulary_files
from tagger.vocab.match import map_corpus

TITLES = {"Marco Rubio": "Sen.", "Joe Biden": "President", "Donald Trump": "President"}


def variants(tag: str) -> list[str]:
    """Realistic misspellings of `tag` (never the tag itself)."""
    out = set()
    words = tag.split()
    if tag in TITLES:  # a person
        out |= {words[-1], f"{TITLES[tag]} {tag}", tag.upper() if len(tag) < 4 else tag.lower()}
    else:
        out |= {tag.upper(), tag.title(), tag.lower()}
        if "-" in tag:
            out |= {tag.replace("-", " "), tag.replace("-", " ").title()}
        elif " " in tag:
            out |= {tag.replace(" ", "-"), tag.replace(" ", "-").lower()}
    out.discard(tag)
    return sorted(out)


def inject(articles: list, share: float, seed: int) -> set[tuple[str, str]]:
    rng = random.Random(seed)
    uses = [(i, j) for i, a in enumerate(articles) for j in range(len(a.tags))]
    pairs = set()
    for i, j in rng.sample(uses, round(share * len(uses))):
        tag = articles[i].tags[j]
        variant = rng.choice(variants(tag))
        articles[i].tags[j] = variant
        pairs.add((variant, tag))
    return pairs


def micro_f1(model: Tagger, test: list) -> float:
    return model.evaluate(test, entities=False)["tags"]["micro_f1"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("corpus")
    parser.add_argument("--share", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    clean = list(read_corpus([args.corpus]))
    noisy = copy.deepcopy(clean)
    injected = inject(noisy, args.share, args.seed)
    uses = sum(len(a.tags) for a in clean)
    changed = sum(a.tags != b.tags for a, b in zip(clean, noisy, strict=True))
    print(
        f"{uses} tag uses, {round(args.share * uses)} replaced by variants "
        f"({len(injected)} distinct variant pairs, {changed} articles changed)"
    )
    tags = sorted({t for a in clean for t in a.tags})
    with tempfile.TemporaryDirectory() as tmp:
        csv_path = Path(tmp) / "desk.csv"
        lines = ["id,label,aliases"]
        for n, tag in enumerate(tags):
            alias = tag.split()[-1] if tag in TITLES else ""
            lines.append(f'desk:{n},"{tag}",{alias}')
        csv_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        vocab = read_vocabulary_files([csv_path])

    def split(articles: list) -> tuple[list, list, list]:
        return split_for_training(articles, 0.2, False, 0, lambda _m: None)

    clean_train, clean_test, groups = split(clean)
    noisy_train, _noisy_test, noisy_groups = split(noisy)
    assert [a.id for a in clean_test] == [a.id for a in _noisy_test]  # one validation part
    config = TrainConfig(seed=0)
    f_clean = micro_f1(Tagger.train(copy.deepcopy(clean_train), config, groups=groups), clean_test)
    plain = copy.deepcopy(noisy_train)
    f_plain = micro_f1(Tagger.train(plain, config, groups=noisy_groups), clean_test)
    mapped = copy.deepcopy(noisy_train)
    report = map_corpus(mapped, vocab, "keep")
    f_vocab = micro_f1(Tagger.train(mapped, config, groups=noisy_groups), clean_test)
    print(
        f"vocabulary matching: {len(report.matched)} spellings matched, "
        f"unmatched {dict(report.unmatched)}"
    )
    rows = [("training corpus", "held-out micro-F1", "share of clean")]
    for name, f in (
        ("clean", f_clean),
        ("noisy, no vocabulary", f_plain),
        ("noisy, --vocab", f_vocab),
    ):
        rows.append((name, f"{f:.4f}", f"{f / f_clean:.3f}"))
    print_rows(rows)

    findings = governance_report(noisy)["merge_candidates"]
    found = set(merge_pairs(findings))
    hits = {p for p in found if p in injected}
    false = sorted(found - injected)
    recall = len(hits) / len(injected)
    false_share = len(false) / len(found) if found else 0.0
    print(
        f"\ngovernance report (no vocabulary) on the noisy corpus: {len(found)} pairs reported, "
        f"{len(hits)} of {len(injected)} injected pairs found (recall {recall:.3f}), "
        f"{len(false)} false (share {false_share:.3f})"
    )
    for pair in false:
        print(f"  false pair: {pair}")
    for pair in sorted(injected - found):
        print(f"  missed: {pair}")
    results = {
        "injected_pairs": len(injected),
        "micro_f1": {"clean": f_clean, "noisy": f_plain, "noisy_vocab": f_vocab},
        "recovered_share": f_vocab / f_clean,
        "governance": {"reported": len(found), "found": len(hits), "recall": recall,
                       "false": len(false), "false_share": false_share},
    }  # fmt: skip
    print(f"results: {save_results('vocab_variants', results)}")


if __name__ == "__main__":
    main()
