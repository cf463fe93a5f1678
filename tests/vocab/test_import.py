"""Importing SKOS (Turtle, RDF/XML, JSON-LD), IPTC JSON and CSV; the store; diff; bad input."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tagger.vocab.diff import diff_vocabularies
from tagger.vocab.importers import read_vocabulary_files
from tagger.vocab.model import VocabError
from tagger.vocab.stats import vocabulary_stats
from tagger.vocab.store import VocabularyStore, read_vocabulary, write_vocabulary

DATA = Path(__file__).parent / "data"


def test_turtle_concepts_labels_hierarchy_and_retirement() -> None:
    vocab = read_vocabulary_files([DATA / "mini.ttl"])
    assert len(vocab) == 5
    pol = vocab.get("ex:pol")
    assert pol is not None and pol.label == "politics"  # en-GB chosen for --lang en, not de
    assert pol.alt_labels == ["political affairs"]
    assert pol.definition == "Government and its affairs"
    assert pol.top and pol.uri == "http://example.org/topics/pol"
    elec = vocab.get("ex:elec")
    assert elec.broader == ["ex:pol"] and elec.hidden_labels == ["elections"]
    assert elec.related == ["ex:imm"]
    # https and http Wikidata IRIs become one spelling
    assert elec.exact_match == ["http://www.wikidata.org/entity/Q40231"] and elec.wikidata == [
        "Q40231"
    ]
    # narrower filled from broader (ex:imm only says broader ex:soc)
    assert "ex:imm" in vocab.get("ex:soc").narrower
    mig = vocab.get("ex:mig")
    assert mig.retired == "2023-05-01" and mig.replaced_by == "ex:imm"
    assert vocab.replacement("ex:mig").id == "ex:imm"
    assert vocab.release == "2024-01-01"
    assert [c.id for c in vocab.ancestors("ex:elec")] == ["ex:pol"]
    assert vocab.depth("ex:elec") == 2


def test_rdfxml_and_jsonld_read_the_same_concepts() -> None:
    xml = read_vocabulary_files([DATA / "mini.rdf"])
    jsonld = read_vocabulary_files([DATA / "mini.jsonld"])
    for vocab in (xml, jsonld):
        elec = vocab.lookup("election")
        assert elec is not None and elec.uri == "http://example.org/topics/elec"
        assert [p.label for p in vocab.parents(elec.id)] == ["politics"]
    assert xml.lookup("Vote").label == "election"  # an alternative label


def test_iptc_json_ids_mappings_and_replacement_from_the_change_note() -> None:
    vocab = read_vocabulary_files([DATA / "mini-iptc-2025.json"])
    assert vocab.release == "2025-10-09T12:00:00+00:00"
    assert {c.id for c in vocab.top_concepts()} == {"medtop:11000000", "medtop:04000000"}
    polls = vocab.get("medtop:20000999")
    assert polls.retired and polls.replaced_by == "medtop:20000574"
    # broader holds URIs and narrower qcodes in IPTC JSON: both become ids
    assert vocab.get("medtop:20001400").broader == ["medtop:11000000"]
    assert "medtop:20001400" in vocab.get("medtop:11000000").narrower
    stats = vocabulary_stats(read_vocabulary_files([DATA / "mini-iptc-2023.json"]))
    assert stats["concepts"] == 4 and stats["top_level"] == 2 and stats["retired"] == 0
    assert stats["with_subject_code"] == 1 and stats["with_wikidata"] == 1
    assert stats["current_per_level"] == {"1": 2, "2": 2}


def test_csv_aliases_broader_by_label_and_retired_replacement() -> None:
    vocab = read_vocabulary_files([DATA / "mini.csv"])
    rubio = vocab.lookup("rubio")
    assert rubio is not None and rubio.id == "t1"
    assert rubio.broader == ["t3"]
    assert vocab.lookup("FOREIGN-POLICY").id == "t2"
    assert vocab.replacement("t4").id == "t1"


def test_files_merge_by_id_so_a_table_adds_aliases_to_iptc(tmp_path: Path) -> None:
    extra = tmp_path / "aliases.tsv"
    extra.write_text("id\tlabel\taliases\nmedtop:20000574\t\tvote|ballot\n", encoding="utf-8")
    vocab = read_vocabulary_files([DATA / "mini-iptc-2025.json", extra])
    assert vocab.lookup("ballot").id == "medtop:20000574"
    assert vocab.get("medtop:20000574").label == "election"


def test_store_round_trip_lookup_and_completion(tmp_path: Path) -> None:
    vocab = read_vocabulary_files([DATA / "mini.ttl"])
    out = tmp_path / "v.sqlite"
    fingerprint = write_vocabulary(vocab, out)
    again = read_vocabulary(out)
    assert again.fingerprint() == fingerprint == vocab.fingerprint()
    assert again.meta["fingerprint"] == fingerprint
    with VocabularyStore(out) as store:
        assert store.lookup("Political-Affairs").id == "ex:pol"
        assert store.lookup("q40231").id == "ex:elec"  # a Wikidata id
        assert store.lookup("migration").id == "ex:mig"  # retired concepts still resolve
        assert store.lookup("nothing here") is None
        done = store.complete("el")
        assert [c["id"] for c in done] == ["ex:elec"]
        assert done[0]["parent"] == {"id": "ex:pol", "label": "politics"}
        assert store.complete("mig") == []  # never a retired concept
        start = time.perf_counter()
        for _ in range(200):
            store.lookup("elections")
        assert time.perf_counter() - start < 5  # sanity only; bench/vocab_iptc.py times it


def test_diff_lists_added_retired_relabelled() -> None:
    old = read_vocabulary_files([DATA / "mini-iptc-2023.json"])
    new = read_vocabulary_files([DATA / "mini-iptc-2025.json"])
    diff = diff_vocabularies(old, new)
    assert [a["id"] for a in diff.added] == ["medtop:20001400"]
    assert [r["id"] for r in diff.retired] == ["medtop:20000999"]
    assert diff.relabelled == [
        {"id": "medtop:11000000", "old": "politics", "new": "politics and government"}
    ]
    assert diff.moved == [] and diff.removed == []
    assert diff.summary() == "1 added, 1 retired, 1 relabelled"


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


SKOS_HEAD = (
    "@prefix skos: <http://www.w3.org/2004/02/skos/core#> .\n@prefix ex: <http://e.org/> .\n"
)


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("bad.ttl", SKOS_HEAD + 'ex:a a skos:Concept ;\n  skos:prefLabel "a"\nex:b a skos:Concept .\n',  # noqa: E501
         "line 5, column 1: malformed turtle"),
        ("bad.json", '{"conceptSet": [\n  {"qcode": "x:1",}\n]}', "line 2, column 19: malformed JSON"),  # noqa: E501
        ("bad.rdf", '<?xml version="1.0"?>\n<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n<a>\n</rdf:RDF>\n',
         "line 4, column 2: malformed xml"),
        ("nolabel.ttl", SKOS_HEAD + "ex:a a skos:Concept .\n", "concept ex:a has no preferred label"),  # noqa: E501
        ("cycle.ttl", SKOS_HEAD + 'ex:a a skos:Concept ; skos:prefLabel "a" ; skos:broader ex:b .\n'
         'ex:b a skos:Concept ; skos:prefLabel "b" ; skos:broader ex:a .\n',
         "cycle in broader links: ex:a > ex:b > ex:a"),
        ("dup.csv", "id,label\n1,Foreign Affairs\n2,foreign-affairs\n",
         "concepts 1 and 2 have the same preferred label 'foreign-affairs'"),
        ("loop.csv", "id,label,retired,replaced_by\n1,a,2020,2\n2,b,2020,1\n",
         "replacement chain loops: 1 -> 2 -> 1"),
        ("dangling.csv", "id,label,broader\n1,a,9\n", "concept 1 has broader 9, which is not in"),
    ],
)  # fmt: skip
def test_bad_vocabularies_are_refused_with_one_line(
    tmp_path: Path, name: str, text: str, message: str
) -> None:
    path = _write(tmp_path, name, text)
    with pytest.raises(VocabError) as err:
        read_vocabulary_files([path])
    assert message in str(err.value)
    assert str(path) in str(err.value) and "\n" not in str(err.value)
    assert err.value.exit_code == 2


def test_retired_concepts_may_share_a_label_with_current_ones(tmp_path: Path) -> None:
    path = _write(tmp_path, "ok.csv", "id,label,retired,replaced_by\n1,polls,2020,2\n2,polls,,\n")
    vocab = read_vocabulary_files([path])
    assert vocab.lookup("polls").id == "2"  # the current one wins


def test_a_long_line_that_is_not_rdf_is_not_repeated_in_the_error(tmp_path: Path) -> None:
    """N-Triples given a JSONL export: rdflib quotes the whole line; one short line it is."""
    path = _write(tmp_path, "export.nt", '{"id": "x", "body": "' + "word " * 2000 + '"}\n')
    with pytest.raises(VocabError) as err:
        read_vocabulary_files([path])
    assert str(err.value).startswith(f"{path}: malformed nt: ")
    assert len(str(err.value)) < 300 + len(str(path))
