"""Matching corpus tags to concepts: normalisation, aliases, titles, retired, unmatched."""

from __future__ import annotations

from pathlib import Path

import pytest

from tagger.corpus.article import Article
from tagger.vocab.importers import read_vocabulary_files
from tagger.vocab.match import UnmatchedTags, closest, map_corpus, match_tag
from tagger.vocab.normalise import label_key, strip_title

DATA = Path(__file__).parent / "data"


def test_label_key_ignores_case_hyphens_punctuation_and_accents() -> None:
    assert label_key("Foreign-Affairs") == label_key("foreign affairs") == "foreign affairs"
    assert label_key("  FOREIGN_AFFAIRS ") == "foreign affairs"
    assert label_key("Arts & Culture") == label_key("arts and culture")
    assert label_key("Pérez") == "perez"
    assert label_key("U.S. News") == "u s news"
    assert strip_title(label_key("Sen. Marco Rubio")) == "marco rubio"
    assert strip_title(label_key("Former President Donald Trump")) == "donald trump"
    assert strip_title("senator") == "senator"  # a title alone stays


@pytest.mark.parametrize(
    ("tag", "concept", "how"),
    [
        ("t1", "t1", "id"),
        ("marco rubio", "t1", "label"),
        ("Rubio", "t1", "alias"),
        ("Sen. Marco Rubio", "t1", "alias"),
        ("Senator Marco Rubio", "t1", "title"),
        ("Foreign-Affairs", "t2", "label"),
        ("Rubio Campaign", "t1", "label"),  # retired: its replacement
    ],
)
def test_match_tag(tag: str, concept: str, how: str) -> None:
    vocab = read_vocabulary_files([DATA / "mini.csv"])
    m = match_tag(vocab, tag)
    assert m is not None and m.concept.id == concept and m.how == how
    assert not m.concept.retired


def test_closest_concepts_of_an_unknown_tag() -> None:
    vocab = read_vocabulary_files([DATA / "mini.ttl"])
    assert [c.id for c in closest(vocab, "elektion")] == ["ex:elec"]
    assert [c.id for c in closest(vocab, "politic")] == ["ex:pol"]
    assert "ex:mig" not in [c.id for c in closest(vocab, "migration")]  # never retired


def _corpus() -> list[Article]:
    return [
        Article(id="1", title="a", body="x", tags=["Rubio", "foreign-affairs", "budget"]),
        Article(
            id="2", title="b", body="y", tags=["Sen. Marco Rubio", "budget"], section="US Politics"
        ),
    ]


def test_map_corpus_keep_drop_fail() -> None:
    vocab = read_vocabulary_files([DATA / "mini.csv"])
    kept = _corpus()
    report = map_corpus(kept, vocab, "keep")
    assert kept[0].tags == ["Marco Rubio", "foreign affairs", "budget"]
    assert kept[1].tags == ["Marco Rubio", "budget"]
    assert kept[1].section == "US politics"  # sections that name a concept take its label
    assert report.unmatched == {"budget": 2}
    assert any("'budget' (2)" in line for line in report.lines())
    dropped = _corpus()
    map_corpus(dropped, vocab, "drop")
    assert dropped[1].tags == ["Marco Rubio"]
    refused = _corpus()
    with pytest.raises(UnmatchedTags, match=r"1 tag\(s\) match no concept.*'budget'") as err:
        map_corpus(refused, vocab, "fail")
    assert err.value.exit_code == 1
    assert refused[0].tags == ["Rubio", "foreign-affairs", "budget"]  # nothing changed
