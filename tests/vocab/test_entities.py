"""Entities resolve to vocabulary concepts: an entity and a classifier tag are one suggestion."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tagger.entities.suggest import apply_entity_tags
from tagger.suggestions import LabelSuggestion
from tagger.vocab.importers import read_vocabulary_files
from tagger.vocab.training import (
    VocabularyState,
    annotate_entities,
    entity_aliases,
    vocabulary_manifest,
)

DATA = Path(__file__).parent / "data"
LABELS = ["Marco Rubio", "foreign affairs"]


def _manifest() -> dict:
    vocab = read_vocabulary_files([DATA / "mini.csv"])
    return {"vocabulary": vocabulary_manifest(vocab, None, LABELS)}


def test_an_alias_named_entity_selects_the_concepts_tag_once() -> None:
    aliases = entity_aliases(_manifest())
    assert ("Rubio", "Marco Rubio") in aliases
    probs, thresholds = np.array([0.2, 0.9]), np.array([0.5, 0.5])
    tags = [LabelSuggestion("foreign affairs", 0.9, selected=True, threshold=0.5)]
    candidates = [tags[0], LabelSuggestion("Marco Rubio", 0.2, threshold=0.5)]
    entities = [{"name": "Sen. Marco Rubio", "type": "PERSON", "salience": 0.8}]
    # Without the vocabulary the entity's name is not a tag label: nothing happens.
    apply_entity_tags(list(tags), list(candidates), entities, LABELS, probs, thresholds)
    assert not candidates[1].selected
    apply_entity_tags(tags, candidates, entities, LABELS, probs, thresholds, aliases=aliases)
    rubio = [t for t in tags if t.label == "Marco Rubio"]
    assert len(rubio) == 1 and rubio[0].source == "entity"
    assert rubio[0].evidence[0].value == "Sen. Marco Rubio"
    assert [c.label for c in candidates].count("Marco Rubio") == 1


def test_a_wikidata_id_resolves_and_entities_carry_their_concept() -> None:
    csv = DATA.parent / "data" / "mini.csv"
    vocab = read_vocabulary_files([csv])
    vocab.concepts["t1"].exact_match.append("http://www.wikidata.org/entity/Q324546")
    manifest = {"vocabulary": vocabulary_manifest(vocab, None, LABELS)}
    aliases = entity_aliases(manifest)
    probs, thresholds = np.array([0.1, 0.1]), np.array([0.5, 0.5])
    tags: list = []
    candidates: list = []
    entity = {"name": "M. Rubio Jr", "type": "PERSON", "salience": 0.5, "wikidata": "Q324546"}
    apply_entity_tags(tags, candidates, [entity], LABELS, probs, thresholds, aliases=aliases)
    assert [t.label for t in tags] == ["Marco Rubio"]
    state = VocabularyState(manifest, vocab)
    entities = [dict(entity), {"name": "Rubio", "type": "PERSON"}, {"name": "Nobody"}]
    annotate_entities(state, entities)
    assert entities[0]["concept"] == {"id": "t1", "label": "Marco Rubio"}
    assert entities[1]["concept"] == {"id": "t1", "label": "Marco Rubio"}
    assert "concept" not in entities[2]
