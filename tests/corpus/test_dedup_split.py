"""Duplicates (exact and near) and train/test splits that keep them on one side."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tagger.cli import app
from tagger.corpus.article import Article
from tagger.corpus.dedup import deduplicate, find_duplicates
from tagger.corpus.split import split_indices, train_test_split
from tagger.errors import ConfigError, InputError

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "corpus" / "sample.jsonl"

WIRE = [
    "The central bank raised its main interest rate by a quarter of a point on Thursday, "
    "the third increase this year, and said further moves would depend on wage growth.",
    "Policymakers voted seven to two for the rise. The two dissenters wanted to wait for "
    "another month of inflation figures before acting again.",
    "Mortgage lenders said they expected to pass the increase on to customers with "
    "variable-rate loans within weeks, adding about forty euros a month to a typical bill.",
    "The governor told reporters that the labour market remained tight and that firms were "
    "still struggling to fill vacancies in construction, care and hospitality.",
    "Markets had expected the move. The currency rose slightly against the dollar after the "
    "announcement and government bond yields were little changed by the afternoon.",
    "The bank will publish new forecasts for growth and prices at its next meeting in "
    "September, when economists expect it to hold rates steady.",
]
OTHER = (
    "The county fair opened on Saturday with a record number of entries in the livestock "
    "competition. Organisers said more than twelve thousand visitors came on the first day, "
    "helped by sunshine after a week of rain, and the pie contest drew forty bakers."
)


def wire_story(first: str | None = None, title: str = "Bank raises rates") -> Article:
    paragraphs = ([first] if first else []) + WIRE
    return Article(id=title, title=title, body="\n\n".join(paragraphs))


def corpus() -> list[Article]:
    original = wire_story(title="Central bank raises rates again")
    exact = Article(
        id="exact-copy",
        title="Rates up",
        body="\n".join(p.upper() for p in WIRE).replace(" ", "  "),  # case and spacing only
    )
    republished = wire_story(
        first="LONDON (Harbour Wire) - Homeowners face higher bills after a decision by "
        "policymakers that surprised nobody in the City.",
        title="Homeowners face higher bills as rates rise",
    )
    republished.id = "republished"
    unrelated = Article(id="fair", title="County fair opens", body=OTHER)
    return [original, unrelated, exact, republished]


def test_exact_and_near_duplicates_are_found_and_grouped() -> None:
    articles = corpus()
    report = find_duplicates(articles)
    kinds = {(d.index, d.original, d.kind) for d in report.duplicates}
    assert kinds == {(2, 0, "exact"), (3, 0, "near")}
    near = next(d for d in report.duplicates if d.kind == "near")
    assert 0.5 <= near.similarity < 1.0
    assert report.groups[0] == report.groups[2] == report.groups[3] != report.groups[1]
    assert report.summary().startswith("2 duplicate(s): 1 exact, 1 near")


def test_deduplicate_keeps_the_first_of_each_group() -> None:
    kept, report = deduplicate(corpus())
    assert (report.exact, report.near) == (1, 1)
    assert [a.id for a in kept] == ["Central bank raises rates again", "fair"]
    kept_exact, _ = deduplicate(corpus(), near=False)
    assert [a.id for a in kept_exact] == [
        "Central bank raises rates again",
        "fair",
        "republished",
    ]


def test_unrelated_stories_on_one_topic_are_not_duplicates() -> None:
    a = Article(id="a", body=" ".join(WIRE[:3]))
    b = Article(id="b", body=" ".join(WIRE[3:]))
    assert find_duplicates([a, b]).duplicates == []


def dated(n: int) -> list[Article]:
    start = datetime(2024, 1, 1, tzinfo=timezone.utc)
    return [
        Article(
            id=f"a{i}",
            body=f"Story {i}: " + " ".join(f"word{i}x{j}" for j in range(30)),
            published=start + timedelta(days=i),
        )
        for i in range(n)
    ]


def test_random_split_keeps_groups_on_one_side_and_is_seeded() -> None:
    articles = dated(20)
    groups = [i // 4 for i in range(20)]  # five groups of four
    split = split_indices(articles, 0.4, seed=3, groups=groups)
    assert len(split.test) == 8
    for g in set(groups):
        sides = {i in split.test for i in range(20) if groups[i] == g}
        assert len(sides) == 1
    again = split_indices(articles, 0.4, seed=3, groups=groups)
    assert again.test == split.test
    assert split_indices(articles, 0.4, seed=4, groups=groups).test != split.test


def test_split_by_date_holds_out_the_newest() -> None:
    articles = dated(10)
    articles.append(Article(id="undated", body="No date here at all, just words."))
    split = split_indices(articles, 0.3, by_date=True, groups=list(range(11)))
    assert [articles[i].id for i in split.test] == ["a7", "a8", "a9"]
    assert 10 in split.train  # undated articles stay in training


def test_split_with_near_duplicates_found_automatically() -> None:
    articles = corpus() + dated(6)
    train, test, groups = train_test_split(articles, 0.5, seed=1)
    wire_ids = {"Central bank raises rates again", "exact-copy", "republished"}
    in_test = {a.id for a in test} & wire_ids
    assert in_test in (set(), wire_ids)  # the three copies never straddle the split
    assert len(groups) == len(train)


def test_split_refuses_bad_fractions_and_undated_corpora() -> None:
    with pytest.raises(ConfigError):
        split_indices(dated(5), 1.5)
    with pytest.raises(InputError, match="no article has a published date"):
        split_indices(
            [Article(id="x", body="a b c"), Article(id="y", body="d e f")], 0.5, by_date=True
        )


def test_train_with_holdout_and_split_by_date(tmp_path: Path) -> None:
    rows = [json.loads(line) for line in SAMPLE.read_text(encoding="utf-8").splitlines()]
    by_section: dict[str, list[dict]] = {}
    for row in rows:
        by_section.setdefault(row["section"], []).append(row)
    picked = [r for rs in by_section.values() for r in rs[:10]]
    picked.append({**picked[0], "id": "copy-of-first"})  # an exact duplicate
    path = tmp_path / "corpus.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in picked), encoding="utf-8")
    result = CliRunner().invoke(
        app, ["train", str(path), "-o", str(tmp_path / "m"), "--split-by-date", "-q"]
    )
    assert result.exit_code == 0, result.output
    assert "held out" not in result.stderr  # --quiet
    assert "accuracy" in result.stdout.lower()
    result = CliRunner().invoke(
        app, ["train", str(path), "-o", str(tmp_path / "m2"), "--holdout", "0.25"]
    )
    assert result.exit_code == 0, result.output
    assert "1 duplicate(s): 1 exact" in result.stderr
    assert "held out 15 of 61 article(s), at random (seed 0)" in result.stderr
    result = CliRunner().invoke(
        app, ["train", str(path), "-o", str(tmp_path / "m3"), "--holdout", "2"]
    )
    assert result.exit_code == 2
    assert "between 0 and 1" in result.stderr


def test_a_holdout_of_zero_is_refused_not_read_as_the_default(tmp_path: Path) -> None:
    """`--holdout 0` held out the default 20% (0 is falsy); it is refused as 1 is."""
    from tagger.corpus.split import split_for_training

    articles = [
        Article(id=f"a{i}", title=f"T{i}", body=f"Body number {i} here.") for i in range(10)
    ]
    with pytest.raises(ConfigError, match="between 0 and 1, got 0"):
        split_for_training(articles, 0.0, False, 0, lambda _m: None)
    corpus = tmp_path / "c.jsonl"
    corpus.write_text("".join(json.dumps(a.to_dict()) + "\n" for a in articles))
    train, test = tmp_path / "train.jsonl", tmp_path / "test.jsonl"
    args = ["corpus", "split", str(corpus), "--train", str(train), "--test", str(test)]
    result = CliRunner().invoke(app, [*args, "--holdout", "0"])
    assert result.exit_code == 2
    assert "between 0 and 1, got 0" in result.output
    assert not train.exists() and not test.exists()
