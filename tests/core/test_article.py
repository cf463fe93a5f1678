"""The Article record: canonical dict/JSON round-trip, aliases, errors, ids and dates."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from tagger.corpus.article import Article, content_id, parse_date


def full_article() -> Article:
    return Article(
        id="a-1",
        title="Senate passes budget",
        body="The Senate passed the budget on Friday.\n\nThe vote was close.",
        section="Politics",
        tags=["Congress", "federal-budget"],
        published=datetime(2024, 3, 5, 14, 30, tzinfo=timezone(timedelta(hours=-5))),
        authors=["Ana Ruiz", "Tom Lee"],
        url="https://example.org/a-1",
        source="sample",
        meta={"desk": "national", "n": 3},
    )


def test_round_trip_through_dict_and_json() -> None:
    article = full_article()
    data = article.to_dict()
    assert set(data) == {
        "id",
        "title",
        "body",
        "section",
        "tags",
        "published",
        "authors",
        "url",
        "source",
        "meta",
    }
    assert Article.from_dict(data) == article
    assert Article.from_dict(json.loads(json.dumps(data))) == article


def test_round_trip_of_a_minimal_article() -> None:
    article = Article(id="x", body="Only a body.")
    again = Article.from_dict(article.to_dict())
    assert again == article
    assert again.section is None and again.tags == [] and again.published is None


def test_to_dict_copies_lists_and_meta() -> None:
    article = full_article()
    data = article.to_dict()
    data["tags"].append("changed")
    data["meta"]["desk"] = "changed"
    assert article.tags == ["Congress", "federal-budget"]
    assert article.meta["desk"] == "national"


def test_text_joins_title_and_body() -> None:
    assert Article(id="1", title="T", body="B").text == "T\n\nB"
    assert Article(id="1", body="B").text == "B"
    assert Article(id="1", title="T").text == "T"


def test_aliases_and_string_lists() -> None:
    article = Article.from_dict(
        {
            "id": 42,
            "headline": "Headline",
            "text": "Body text.",
            "tags": "economy; trade, tariffs",
            "author": "Ana Ruiz and Tom Lee",
            "date": "2024-03-05",
        }
    )
    assert article.id == "42"
    assert article.title == "Headline"
    assert article.body == "Body text."
    assert article.tags == ["economy", "trade", "tariffs"]
    assert article.authors == ["Ana Ruiz", "Tom Lee"]
    assert article.published == datetime(2024, 3, 5, tzinfo=timezone.utc)


def test_missing_id_gets_a_stable_content_id() -> None:
    first = Article.from_dict({"title": "T", "body": "B"})
    second = Article.from_dict({"id": "  ", "title": "T", "body": "B"})
    other = Article.from_dict({"title": "T", "body": "C"})
    assert first.id == second.id == content_id("T", "B")
    assert first.id.startswith("sha1-")
    assert other.id != first.id
    assert Article.from_dict({"body": "B"}, default_id="file-3").id == "file-3"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([1, 2], "expected a JSON object"),
        ("text", "expected a JSON object"),
        ({"title": 5, "body": "b"}, "'title' must be a string"),
        ({"body": ["a", "b"]}, "'body' must be a string"),
        ({"body": "b", "tags": {"a": 1}}, "'tags' must be a list"),
        ({"body": "b", "section": 3}, "'section' must be a string"),
        ({"body": "b", "meta": ["x"]}, "'meta' must be an object"),
    ],
)
def test_from_dict_rejects_wrong_types_with_a_reason(data: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Article.from_dict(data)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-03-05T14:30:00Z", datetime(2024, 3, 5, 14, 30, tzinfo=timezone.utc)),
        ("2024-03-05T14:30:00+02:00", datetime(2024, 3, 5, 12, 30, tzinfo=timezone.utc)),
        ("26-FEB-1987 15:01:01.79", datetime(1987, 2, 26, 15, 1, 1, 790000, tzinfo=timezone.utc)),
        ("March 5, 2024", datetime(2024, 3, 5, tzinfo=timezone.utc)),
        ("2024/03/05", datetime(2024, 3, 5, tzinfo=timezone.utc)),
    ],
)
def test_parse_date_formats(text: str, expected: datetime) -> None:
    parsed = parse_date(text)
    assert parsed == expected
    assert parsed is not None and parsed.tzinfo is not None


@pytest.mark.parametrize("value", [None, "", "not a date", "31/31/2024"])
def test_parse_date_gives_none_when_absent_or_unparseable(value: object) -> None:
    assert parse_date(value) is None
