"""A Reuters-21578 topic vocabulary from the collection's own category descriptions.

    python bench/reuters_vocab.py ../shared/data/reuters21578 /tmp/reuters-topics.tsv

`cat-descriptions_120396.txt` names most topic codes with a label: "Norwegian Krone/Crown
(NKR)", "Money/Foreign Exchange (MONEY-FX)"; the commodity codes are listed bare. One
general rule reads it (nothing is tuned per topic):

- a line "LABEL (CODE)" (an "@*" line end dropped) whose code, lower-cased, is one of the
  topics of `all-topics-strings.lc.txt` gives the concept `code` with the label as written;
- a label with "/" has its alternatives as aliases, in both readings: the word holding the
  slash replaced by either side ("Norwegian Krone", "Norwegian Crown") and the label split
  at the slash into phrases ("Heating Oil", "Gas Oil"); readings that are never written
  cost nothing, and one that misfires is dropped by the name rule's precision;
- the code itself (upper case, as the file writes it) is an alias too, so that a corpus
  whose tags are mapped to the labels (`tagger train --vocab`) still searches it.

A topic without a label (the bare commodity codes) is not in the vocabulary. The output
is the TSV format `tagger vocab import` reads (id, label, aliases separated by "|").
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

LINE = re.compile(r"^(?P<label>[^()]+?)\s*\((?P<code>[A-Z0-9][A-Z0-9.-]*)\)\s*(?:@\*)?\s*$")


def readings(label: str) -> list[str]:
    """The label's alternatives when it holds a slash (see the module's docstring)."""
    if "/" not in label:
        return []
    words = label.split()
    out: list[str] = []
    for i, word in enumerate(words):
        if "/" in word:
            for side in word.split("/"):
                if side:
                    out.append(" ".join([*words[:i], side, *words[i + 1 :]]))
    out += [part.strip() for part in label.split("/") if part.strip()]
    return list(dict.fromkeys(r for r in out if r != label))


def topic_concepts(folder: Path) -> list[tuple[str, str, list[str]]]:
    """(id, label, aliases) for every labelled topic code of the descriptions file."""
    topics = set((folder / "all-topics-strings.lc.txt").read_text().split())
    text = (folder / "cat-descriptions_120396.txt").read_text(encoding="latin-1")
    concepts: dict[str, tuple[str, str, list[str]]] = {}
    for line in text.splitlines():
        m = LINE.match(line.strip())
        if m is None:
            continue
        code = m.group("code")
        label = " ".join(m.group("label").split())
        if code.lower() in topics and code.lower() not in concepts:
            concepts[code.lower()] = (code.lower(), label, [*readings(label), code])
    return list(concepts.values())


def write_tsv(concepts: list[tuple[str, str, list[str]]], out: Path) -> None:
    lines = ["id\tlabel\taliases"]
    lines += [f"{cid}\t{label}\t{'|'.join(aliases)}" for cid, label, aliases in concepts]
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main() -> None:
    if len(sys.argv) != 3:
        sys.exit("usage: reuters_vocab.py REUTERS_FOLDER OUT.tsv")
    folder, out = Path(sys.argv[1]), Path(sys.argv[2])
    concepts = topic_concepts(folder)
    write_tsv(concepts, out)
    print(f"wrote {out}: {len(concepts)} topic concepts with labels")


if __name__ == "__main__":
    main()
