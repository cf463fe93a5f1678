"""The governance report on a small crafted corpus; merges applied everywhere."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from tagger.cli import app
from tagger.corpus.article import Article
from tagger.feedback.store import Decision, ShownSuggestion, open_store
from tagger.governance import governance_report, merge_pairs, render_html
from tagger.vocab.renames import RenameMap

DATA = Path(__file__).parent / "data"
runner = CliRunner()


def _article(i: int, tags: list[str], section: str = "World", year: int = 2025) -> Article:
    return Article(
        id=f"a{i}",
        title=f"Story {i}",
        body="text",
        tags=tags,
        section=section,
        published=datetime(year, 1 + i % 12, 1, tzinfo=timezone.utc),
    )


def crafted() -> list[Article]:
    rows: list[tuple[list[str], str, int]] = [
        (["Marco Rubio", "foreign-affairs", "trade", "commerce"], "World", 2025),
        (["Marco Rubio", "foreign-affairs", "trade", "commerce"], "World", 2025),
        (["Marco Rubio", "foreign-affairs", "trade", "commerce"], "World", 2025),
        (["trade", "commerce", "tariffs"], "World", 2025),
        (["Rubio", "foreign-affairs"], "World", 2025),
        (["Rubio", "Foreign Affairs", "tariffs"], "World", 2025),
        (["Sen. Marco Rubio", "tariffs"], "World", 2025),
        (["tariff", "politics"], "Politics", 2025),
        (["Donald Trump", "politics", "Marco Rubio"], "Politics", 2025),
        (["Donald Trump", "politics"], "Politics", 2025),
        (["Melania Trump"], "Politics", 2025),
        (["weather"], "Weather", 2022),
        (["Weather", "storms"], "Weather", 2025),
        (["storms"], "Weather", 2025),
        (["storms"], "Weather", 2025),
    ]
    return [_article(i, tags, section, year) for i, (tags, section, year) in enumerate(rows)]


def test_merge_candidates_find_the_variants_and_nothing_else() -> None:
    findings = governance_report(crafted())["merge_candidates"]
    pairs = {(v, k): None for v, k in merge_pairs(findings)}
    assert set(pairs) == {
        ("Rubio", "Marco Rubio"),
        ("Sen. Marco Rubio", "Marco Rubio"),
        ("Foreign Affairs", "foreign-affairs"),
        ("tariff", "tariffs"),
        ("trade", "commerce"),  # equally used: the longer name is kept
        ("Weather", "weather"),
    }
    by_variant = {v["label"]: v for f in findings for v in f["variants"]}
    assert by_variant["Rubio"]["reason"] == "first name"
    assert by_variant["Rubio"]["count"] == 2 and by_variant["Rubio"]["examples"] == ["a4", "a5"]
    assert by_variant["Sen. Marco Rubio"]["reason"] == "title"
    assert by_variant["Foreign Affairs"]["reason"] == "spelling"
    assert by_variant["trade"]["reason"] == "overlap"
    assert by_variant["tariff"]["reason"] == "plural"
    # 'Trump' alone is not in the corpus; 'Melania Trump' is not a variant of 'Donald Trump'
    assert "Melania Trump" not in by_variant


def test_dead_tags_and_section_collisions() -> None:
    report = governance_report(crafted(), months=12)
    assert [d["tag"] for d in report["dead_tags"]["unused"]] == ["weather"]
    collisions = {(c["section"], c["tag"], c["reason"]) for c in report["section_collisions"]}
    assert ("Politics", "politics", "same name") in collisions
    assert any(c[0] == "Weather" and c[2] == "same name" for c in collisions)
    assert ("Weather", "storms", "same articles") not in collisions  # 3 of 4 Weather articles


def test_feedback_findings(tmp_path: Path) -> None:
    articles = crafted()
    with open_store(tmp_path / "fb.sqlite") as store:
        for a in articles[:4]:
            store.add_article(a)
            ids = store.add_suggestions(
                a.id, [ShownSuggestion("tag", "trade", 0.9), ShownSuggestion("tag", "energy", 0.4)]
            )
            store.add_decisions(
                [
                    Decision(a.id, "ed", "accept", "trade", suggestion_id=ids[0]),
                    Decision(a.id, "ed", "reject", "energy", suggestion_id=ids[1]),
                    Decision(a.id, "ed", "add", "Marco Rubio"),
                ]
            )
        report = governance_report(articles, store=store)
    assert [d["tag"] for d in report["dead_tags"]["never_accepted"]] == ["energy"]
    assert report["dead_tags"]["never_accepted"][0]["rejected"] == 4
    added = report["added_never_suggested"]
    assert [(d["tag"], d["added"]) for d in added] == [("Marco Rubio", 4)]


def test_untagged_entities_and_html(tmp_path: Path) -> None:
    articles = crafted()[:4]
    entities = [[{"name": "Nayib Bukele", "type": "PERSON", "salience": 0.6}]] * 3 + [[]]
    entities[0] = [*entities[0], {"name": "Marco Rubio", "type": "PERSON", "salience": 0.9}]
    report = governance_report(articles, entity_lists=entities)
    assert [(e["entity"], e["articles"]) for e in report["untagged_entities"]] == [
        ("Nayib Bukele", 3)
    ]
    page = render_html(governance_report(crafted()), {"a4": "Rubio <visits>"})
    assert "Rubio &lt;visits&gt;" in page and "<h2>Merge candidates</h2>" in page


def run(args: list[Any]) -> Any:
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    return result


def test_tags_report_and_merge_commands(tmp_path: Path) -> None:
    corpus = tmp_path / "c.jsonl"
    corpus.write_text("".join(json.dumps(a.to_dict()) + "\n" for a in crafted()), encoding="utf-8")
    out = tmp_path / "r.json"
    result = run(["tags", "report", corpus, "-o", out, "--vocab", DATA / "mini.csv"])
    assert result.exit_code == 0 and "6 merge candidate(s)" in result.output
    report = json.loads(out.read_text())
    outside = {d["tag"] for d in report["outside_vocabulary"]}
    assert "Marco Rubio" not in outside and "storms" in outside
    html_out = tmp_path / "r.html"
    assert run(["tags", "report", corpus, "-o", html_out]).exit_code == 0
    assert html_out.read_text().startswith("<!doctype html>")
    assert run(["tags", "report", corpus, "-o", tmp_path / "r.txt"]).exit_code == 2

    renames = tmp_path / "renames.json"
    assert run(["tags", "merge", "Rubio", "Marco Rubio", "--map", renames]).exit_code == 0
    assert run(["tags", "merge", "Sen. Marco Rubio", "Rubio", "--map", renames]).exit_code == 0
    loop = run(["tags", "merge", "Marco Rubio", "Rubio", "--map", renames])
    assert loop.exit_code == 2 and "would loop" in loop.output
    rename_map = RenameMap.load(renames)
    assert rename_map.resolve("Sen. Marco Rubio") == "Marco Rubio"
    after = tmp_path / "after.json"
    run(["tags", "report", corpus, "-o", after, "--renames", renames])
    pairs = merge_pairs(json.loads(after.read_text())["merge_candidates"])
    assert not any("Rubio" in v for v, _ in pairs)


def test_a_rename_map_with_a_key_twice_is_refused_naming_the_file(tmp_path: Path) -> None:
    renames = tmp_path / "renames.json"
    renames.write_text('{"renames": {"Rubio": "Marco Rubio", "Rubio": "Rubio Inc"}}')
    result = run(["tags", "merge", "ICE", "Immigration and Customs Enforcement", "--map", renames])
    assert result.exit_code == 2
    assert f"{renames}: malformed rename map (key 'Rubio' appears twice)" in result.output
    assert "Rubio Inc" in renames.read_text()  # the map the user wrote is left as it was


def test_feedback_export_applies_renames(tmp_path: Path) -> None:
    db = tmp_path / "fb.sqlite"
    with open_store(db) as store:
        a = crafted()[4]
        store.add_article(a)
        store.add_decisions(
            [Decision(a.id, "ed", "add", "Rubio"), Decision(a.id, "ed", "reject", "Sen. Rubio")]
        )
    renames = tmp_path / "renames.json"
    run(["tags", "merge", "Rubio", "Marco Rubio", "--map", renames])
    out = tmp_path / "export.jsonl"
    assert run(["feedback", "export", "--db", db, "-o", out, "--renames", renames]).exit_code == 0
    row = json.loads(out.read_text())
    assert row["tags"] == ["Marco Rubio"]
    assert row["meta"]["negative_tags"] == ["Sen. Rubio"]
    missing = run(["feedback", "export", "--db", db, "-o", out, "--renames", tmp_path / "no.json"])
    assert missing.exit_code == 2


def test_predict_applies_a_rename_map_made_after_training(tiny_model: Path, tmp_path: Path) -> None:
    sample = Path(__file__).resolve().parents[2] / "corpus" / "sample.jsonl"
    renames = tmp_path / "renames.json"
    run(["tags", "merge", "Donald Trump", "Trump (person)", "--map", renames])
    args = ["predict", "-m", tiny_model, sample, "--format", "jsonl", "--no-entities"]
    before = run(args).stdout
    after = run([*args, "--renames", renames]).stdout
    assert '"Donald Trump"' in before and '"Donald Trump"' not in after
    assert after.count('"Trump (person)"') == before.count('"Donald Trump"')
