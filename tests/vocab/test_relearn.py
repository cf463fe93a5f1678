"""`tagger learn` keeps the old model's vocabulary and renames, and maps the concept ids
editors' decisions carry."""

from __future__ import annotations

import json
from pathlib import Path

from tagger.corpus.article import Article
from tagger.corpus.readers import read_corpus
from tagger.feedback.store import Decision, SQLiteStore
from tests.vocab.test_cli import SAMPLE, run, vocab_and_config


def test_learn_keeps_the_vocabulary_and_maps_concept_ids(tmp_path: Path) -> None:
    vocab, config = vocab_and_config(tmp_path)
    renames = tmp_path / "renames.json"
    assert run(["tags", "merge", "labor", "work", "--map", renames]).exit_code == 0
    model = tmp_path / "m"
    trained = run(
        ["train", SAMPLE, "-o", model, "--vocab", vocab, "-c", config, "--renames", renames]
    )
    assert trained.exit_code == 0, trained.output

    articles = list(read_corpus([SAMPLE]))[:12]
    db = tmp_path / "fb.db"
    with SQLiteStore(db) as store:
        for a in articles:
            store.add_article(Article(a.id, a.title, a.body))
            decisions = [Decision(a.id, "ann", "add", t) for t in a.tags]
            # an alias ('Rubio'), a title ('Sen.'), and a label only its concept id
            # explains: each counts for Marco Rubio
            decisions.append(Decision(a.id, "ann", "add", "Rubio"))
            decisions.append(Decision(a.id, "ann", "add", "Sen. Marco Rubio"))
            decisions.append(Decision(a.id, "ann", "add", "Rubio trip", concept_id="n:rubio"))
            store.add_decisions(decisions)
            store.mark_done(a.id, "ann")
    out = tmp_path / "m2"
    learned = run(["learn", "-m", model, "--db", db, "-o", out, "--corpus", SAMPLE])
    assert learned.exit_code == 0, learned.output
    assert "tag(s) matched to concepts" in learned.output

    old = json.loads((model / "manifest.json").read_text())
    new = json.loads((out / "manifest.json").read_text())
    assert new["vocabulary"]["fingerprint"] == old["vocabulary"]["fingerprint"]
    assert new["vocabulary"]["concepts"]["Marco Rubio"]["id"] == "n:rubio"
    assert new["renames"] == {"labor": "work"}
    tags = set(new["labels"]["tags"])
    assert "Marco Rubio" in tags and "foreign affairs" in tags and "work" in tags
    assert not tags & {"Rubio", "Sen. Marco Rubio", "Rubio trip", "foreign-affairs", "labor"}
    # the relearned model's predictions carry concept ids without the vocabulary file
    vocab.unlink()
    predicted = run(["predict", "-m", out, SAMPLE, "--format", "jsonl", "--no-entities"])
    rows = [json.loads(line) for line in predicted.stdout.splitlines()]
    ids = {t["label"]: t.get("id") for row in rows for t in row["tags"]}
    assert ids.get("Marco Rubio") == "n:rubio"

    # the vocabulary file gone: learning again matches through the model's own record
    again = tmp_path / "m3"
    relearned = run(["learn", "-m", out, "--db", db, "-o", again, "--corpus", SAMPLE])
    assert relearned.exit_code == 0, relearned.output
    assert "is not at hand" in relearned.output
    third = json.loads((again / "manifest.json").read_text())
    assert third["vocabulary"]["fingerprint"] == old["vocabulary"]["fingerprint"]
    assert "Marco Rubio" in third["labels"]["tags"]
    assert not set(third["labels"]["tags"]) & {"Rubio", "Rubio trip", "foreign-affairs"}


def test_renames_reach_jobs_workers(tiny_model: Path, tmp_path: Path) -> None:
    """predict --renames --jobs 2 gives the same bytes as --jobs 1 (workers rename too)."""
    renames = tmp_path / "renames.json"
    assert (
        run(["tags", "merge", "Donald Trump", "President Trump", "--map", renames]).exit_code == 0
    )
    outputs = []
    for jobs in ("1", "2"):
        args = ["predict", "-m", tiny_model, SAMPLE, "--format", "jsonl", "--no-entities"]
        result = run([*args, "--renames", renames, "--jobs", jobs, "--batch-size", "40"])
        assert result.exit_code == 0, result.output
        outputs.append(result.stdout)
    assert outputs[0] == outputs[1]
    assert '"President Trump"' in outputs[0] and '"Donald Trump"' not in outputs[0]
