"""Editors' completion from a vocabulary: the server's endpoints and the terminal review."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from tagger.vocab.editing import EditorVocabulary
from tagger.vocab.importers import read_vocabulary_files
from tagger.vocab.store import write_vocabulary

VOCAB_CSV = """id,label,aliases,broader,retired,replaced_by
desk:pol,US politics,,,,
desk:rubio,Marco Rubio,Rubio|Sen. Marco Rubio,desk:pol,,
desk:trump,Donald Trump,Trump,desk:pol,,
desk:rc,Rubio campaign,,desk:pol,2024-01-01,desk:rubio
desk:budget,federal budget,federal-budget,desk:pol,,
"""
TOKEN = "ann-token-0123456789abcdef"


@pytest.fixture
def vocab_file(tmp_path: Path) -> Path:
    csv = tmp_path / "desk.csv"
    csv.write_text(VOCAB_CSV, encoding="utf-8")
    out = tmp_path / "desk.vocab"
    write_vocabulary(read_vocabulary_files([csv]), out)
    return out


def test_completion_ids_parents_and_never_retired(vocab_file: Path) -> None:
    model = SimpleNamespace(manifest={}, tag_model=SimpleNamespace(labels=["economy", "Rubio"]))
    vocab = EditorVocabulary(model, vocab_file)
    found = vocab.complete("rub")
    assert [c["label"] for c in found] == ["Marco Rubio", "Rubio"]  # alias -> its concept
    assert found[0]["id"] == "desk:rubio"
    assert found[0]["parent"] == {"id": "desk:pol", "label": "US politics"}
    assert found[1]["id"] is None  # the model's own plain label
    assert all(c["label"] != "Rubio campaign" for c in vocab.complete("rubio c"))
    assert vocab.concept_id("Marco Rubio") == "desk:rubio"
    assert vocab.concept_id("Rubio campaign") is None  # retired
    assert vocab.concept_id("economy") is None
    assert vocab.describe("federal budget") == "desk:budget · in US politics"
    vocab.close()
    assert EditorVocabulary(model).if_any() is None  # no vocabulary at all


def test_server_completes_labels_and_stores_concept_ids(
    tiny_model: Path, tmp_path: Path, vocab_file: Path
) -> None:
    from fastapi.testclient import TestClient

    from tagger.server.app import ServerConfig, create_app

    config = ServerConfig(
        model=tiny_model,
        db=tmp_path / "fb.db",
        tokens={TOKEN: "ann"},
        vocab=vocab_file,
        model_processes=0,  # the model in this process: a model process costs 2 CPU s
    )
    app = create_app(config)
    with TestClient(app, base_url="http://localhost") as client:
        done = client.get("/vocab/complete", params={"q": "sen. marco"}).json()
        assert [c["label"] for c in done["concepts"]] == ["Marco Rubio"]
        assert done["concepts"][0]["parent"]["label"] == "US politics"
        labels = client.get("/labels").json()
        assert labels["concepts"]["Marco Rubio"]["id"] == "desk:rubio"
        article = {"id": "v1", "title": "Rubio visits", "body": "Marco Rubio went to Panama."}
        decisions = [
            {"action": "add", "label": "Marco Rubio"},  # id filled by the server
            {"action": "add", "label": "federal budget", "concept_id": "desk:budget"},
            {"action": "add", "label": "Panama"},
        ]
        response = client.post(
            "/feedback",
            json={"article": article, "decisions": decisions},
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        assert response.status_code == 201, response.text
        stored = {d.label: d.concept_id for d in app.state.store.decisions("v1")}
    assert stored == {"Marco Rubio": "desk:rubio", "federal budget": "desk:budget", "Panama": None}


def test_terminal_review_completes_from_the_vocabulary(
    tiny_model: Path, tmp_path: Path, vocab_file: Path
) -> None:
    from tagger.api import Tagger
    from tagger.corpus.article import Article
    from tagger.feedback.review import ReviewSession
    from tagger.feedback.store import open_store

    model = Tagger.load(tiny_model)
    article = Article(id="r1", title="Rubio in Panama", body="Marco Rubio visited Panama.")
    with open_store(tmp_path / "fb.db") as store:
        session = ReviewSession(
            model, [article], store, "ann", vocabulary=EditorVocabulary(model, vocab_file)
        )
        session.handle("+")
        for key in "sen. marco":
            session.handle(key)
        assert session.completions()[0] == "Marco Rubio"
        session.handle("tab")
        assert session.buffer == "Marco Rubio"
        session.handle("enter")
        # an accept when the model had it as a candidate, else an add: the id either way
        added = [d for d in store.decisions("r1") if d.action in ("add", "accept")]
    assert [(d.label, d.concept_id) for d in added] == [("Marco Rubio", "desk:rubio")]
