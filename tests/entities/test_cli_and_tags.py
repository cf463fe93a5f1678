"""`tagger entities`, `tagger train --entities`, and entity-based tag suggestions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from tagger.cli import app
from tagger.entities.suggest import apply_entity_tags, entity_tags
from tagger.suggestions import LabelSuggestion

runner = CliRunner()

ARTICLES = [
    {
        "id": "a1",
        "title": "Rubio Visits Panama Canal",
        "body": (
            "PANAMA CITY (Reuters) - Secretary of State Marco Rubio toured the Panama Canal "
            "on Sunday with President Jose Raul Mulino. Rubio said the State Department "
            "would press China on its ports. Mulino said Panama keeps control of the canal."
        ),
        "tags": ["Marco Rubio", "foreign-affairs"],
    },
    {
        "id": "a2",
        "title": "Grain prices climb",
        "body": (
            "CHICAGO, March 3 - Wheat futures rose as the Agriculture Department cut its crop "
            "estimate. Traders said demand from Egypt was strong."
        ),
        "tags": ["trade"],
    },
]


@pytest.fixture()
def corpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TAGGER_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / "articles.jsonl"
    path.write_text("".join(json.dumps(a) + "\n" for a in ARTICLES), encoding="utf-8")
    return path


def run(args: list[Any]) -> Any:
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    return result


def test_entities_json_output(corpus: Path) -> None:
    result = run(["entities", corpus, "--format", "json", "-q"])
    assert result.exit_code == 0, result.output
    records = json.loads(result.stdout)
    assert [r["id"] for r in records] == ["a1", "a2"]
    first = {(e["name"], e["type"]) for e in records[0]["entities"]}
    assert {("Marco Rubio", "PERSON"), ("Panama", "COUNTRY"), ("China", "COUNTRY")} <= first
    assert ("State Department", "AGENCY") in first
    assert (Path(corpus.parent / "cache" / "entities.sqlite")).is_file()


def test_entities_types_and_inferred_filters(corpus: Path) -> None:
    result = run(["entities", corpus, "--format", "jsonl", "--types", "COUNTRY", "-q"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert all(e["type"] == "COUNTRY" for r in lines for e in r["entities"])
    us = [e for e in lines[1]["entities"] if e["name"] == "United States"]
    assert us and us[0]["inferred"]
    result = run(["entities", corpus, "-F", "jsonl", "-t", "COUNTRY", "--no-inferred", "-q"])
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert not any(e["inferred"] for r in lines for e in r["entities"])
    assert "Egypt" in {e["name"] for e in lines[1]["entities"]}


def test_entities_table_and_no_cache(corpus: Path) -> None:
    result = run(["entities", corpus, "--no-cache"])
    assert result.exit_code == 0, result.output
    assert "Marco Rubio" in result.stdout and "PERSON" in result.stdout
    assert not (corpus.parent / "cache" / "entities.sqlite").exists()


def test_a_title_only_text_from_stdin_is_headed_by_its_text(corpus: Path) -> None:
    result = runner.invoke(app, ["entities", "-", "--no-cache"], input="Talks in Panama\n")
    assert result.exit_code == 0, result.output
    first = result.stdout.splitlines()[0]
    assert first.startswith("Talks in Panama  sha1-"), first
    assert "Panama" in result.stdout.splitlines()[2]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--types", "PEOPLE"], "unknown entity type(s) PEOPLE"),
        (["--spacy-model", "no_such_pipeline"], "'no_such_pipeline' is not installed"),
    ],
)
def test_entities_refusals_are_one_line(corpus: Path, args: list[str], message: str) -> None:
    result = run(["entities", corpus, *args])
    assert result.exit_code == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and message in errors[0]


def _entity(name: str, kind: str, salience: float) -> dict[str, Any]:
    return {"name": name, "type": kind, "salience": salience, "inferred": False}


def test_entity_tags_match_names_aliases_and_need_salience() -> None:
    labels = ["Donald Trump", "USA", "economy", "IMF", "El Salvador"]
    found = entity_tags(
        [
            _entity("Donald Trump", "PERSON", 0.6),
            _entity("United States", "COUNTRY", 0.5),
            _entity("International Monetary Fund", "AGENCY", 0.3),
            _entity("El Salvador", "COUNTRY", 0.05),
            _entity("economy", "ORG", 0.9),
        ],
        labels,
    )
    assert sorted(labels[i] for i in found) == ["Donald Trump", "IMF", "USA"]


def test_apply_entity_tags_adds_suggestions_and_evidence() -> None:
    labels = ["Donald Trump", "economy", "El Salvador"]
    probs = np.array([0.05, 0.9, 0.4])
    thresholds = np.array([0.5, 0.5, 0.5])
    economy = LabelSuggestion("economy", 0.9, selected=True, threshold=0.5)
    salvador = LabelSuggestion("El Salvador", 0.4, selected=False, threshold=0.5)
    tags, candidates = [economy], [economy, salvador]
    entities = [_entity("Donald Trump", "PERSON", 0.7), _entity("El Salvador", "COUNTRY", 0.5)]
    apply_entity_tags(tags, candidates, entities, labels, probs, thresholds)
    by_label = {t.label: t for t in tags}
    assert set(by_label) == {"economy", "Donald Trump", "El Salvador"}
    trump = by_label["Donald Trump"]
    assert trump.source == "entity" and trump.selected and trump.score == pytest.approx(0.05)
    assert [(e.kind, e.value) for e in trump.evidence] == [("entity", "Donald Trump")]
    assert by_label["El Salvador"] is salvador and salvador.source == "entity"
    assert by_label["economy"].source == "model"


def test_train_with_entities_and_predict_suggests_entity_tags(corpus: Path, tmp_path: Path) -> None:
    from tagger.api import Tagger, TrainConfig
    from tagger.corpus.article import Article
    from tagger.entities import analyze_articles
    from tagger.features import FeatureConfig

    # A tiny corpus: the tag "Marco Rubio" has three examples, too few to learn well.
    records = []
    for i in range(12):
        about_rubio = i % 4 == 0
        records.append(
            Article(
                id=f"t{i}",
                title="Rubio in talks" if about_rubio else f"Harvest report {i}",
                body=(
                    "Secretary of State Marco Rubio met leaders. Rubio spoke."
                    if about_rubio
                    else f"Farmers in Kansas expect a good harvest of wheat number {i}."
                ),
                tags=["Marco Rubio"] if about_rubio else ["farming"],
            )
        )
    config = TrainConfig(features=FeatureConfig(char_ngrams=None, word_min_df=1, entity_weight=1))
    config.tags.cv_folds = 2
    entities = analyze_articles(records, cache_dir=tmp_path)
    model = Tagger.train(records, config, entities=entities)
    assert model.featurizer.uses_entities
    assert any(n.startswith("PERSON=Marco Rubio") for n in model.featurizer.feature_names())
    new = Article(
        id="new",
        title="Rubio meets Mulino in Panama",
        body="Secretary of State Marco Rubio flew to Panama City to meet President Mulino.",
    )
    new_entities = analyze_articles([new], cache_dir=tmp_path)
    suggestion = model.predict(new, entities=new_entities)
    rubio = [t for t in suggestion.tags if t.label == "Marco Rubio"]
    assert rubio and any(e.kind == "entity" for e in rubio[0].evidence)
    assert suggestion.entities == new_entities[0]


def test_entity_never_selects_a_tag_under_a_precision_policy() -> None:
    """A tag with a precision target (allowed False) is chosen by its threshold only:
    a salient entity naming it adds evidence to a selected tag but selects no other."""
    labels = ["Donald Trump", "economy", "El Salvador"]
    probs = np.array([0.05, 0.9, 0.4])
    thresholds = np.array([0.5, 0.5, 0.5])
    economy = LabelSuggestion("economy", 0.9, selected=True, threshold=0.5)
    tags, candidates = [economy], [economy]
    entities = [_entity("Donald Trump", "PERSON", 0.7), _entity("El Salvador", "COUNTRY", 0.5)]
    apply_entity_tags(
        tags, candidates, entities, labels, probs, thresholds, allowed=[False, True, True]
    )
    assert sorted(t.label for t in tags) == ["El Salvador", "economy"]
    assert all(t.label != "Donald Trump" for t in candidates)
