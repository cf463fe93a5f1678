"""Label normalisation (case and whitespace variants merged, and reported) and corpus stats."""

from __future__ import annotations

from datetime import datetime, timezone

from tagger.corpus.article import Article
from tagger.corpus.stats import corpus_stats
from tagger.labels import normalise_labels


def test_section_and_tag_variants_merge_into_the_most_common_form() -> None:
    articles = [
        Article(id="1", body="b", section="Politics", tags=["Donald Trump", "economy"]),
        Article(id="2", body="b", section="Politics", tags=["Donald Trump"]),
        Article(id="3", body="b", section="politics", tags=["donald trump", "Economy"]),
        Article(id="4", body="b", section=" Politics ", tags=["Donald  Trump", "economy"]),
        Article(id="5", body="b", section="World  News", tags=["economy", "ECONOMY", " "]),
        Article(id="6", body="b", section="World News", tags=[]),
    ]
    notes = normalise_labels(articles)
    assert [a.section for a in articles] == [
        "Politics",
        "Politics",
        "Politics",
        "Politics",
        "World News",
        "World News",
    ]
    assert articles[0].tags == ["Donald Trump", "economy"]
    assert articles[2].tags == ["Donald Trump", "economy"]
    assert articles[3].tags == ["Donald Trump", "economy"]
    # Variants in one article collapse into one tag; blank tags are dropped.
    assert articles[4].tags == ["economy"]
    joined = "\n".join(notes)
    assert "'politics'" in joined and "' Politics '" in joined and "'Politics'" in joined
    assert "'World  News'" in joined
    assert "'donald trump'" in joined and "'ECONOMY'" in joined
    assert len(notes) == 4  # Politics, World News, Donald Trump, economy


def test_nothing_to_merge_means_no_notes_and_no_change() -> None:
    articles = [
        Article(id="1", body="b", section="Business", tags=["trade"]),
        Article(id="2", body="b", section="Faith", tags=["religion", "trade"]),
    ]
    assert normalise_labels(articles) == []
    assert [(a.section, a.tags) for a in articles] == [
        ("Business", ["trade"]),
        ("Faith", ["religion", "trade"]),
    ]


def test_blank_section_becomes_none() -> None:
    articles = [Article(id="1", body="b", section="  ")]
    normalise_labels(articles)
    assert articles[0].section is None


def test_corpus_stats_counts_labels_missing_fields_and_duplicates() -> None:
    when = datetime(2024, 1, 1, tzinfo=timezone.utc)
    articles = [
        Article(
            id="a",
            title="T",
            body="one two three",
            section="S1",
            tags=["x", "y"],
            published=when,
            authors=["A"],
            url="u",
        ),
        Article(id="b", title="", body="one", section="S1", tags=["x"]),
        Article(id="a", title="T", body="one two three four five", section="S2"),
    ]
    stats = corpus_stats(articles)
    assert stats["articles"] == 3
    assert stats["sections"] == {"S1": 2, "S2": 1}
    assert stats["tags"] == {"x": 2, "y": 1}
    assert stats["distinct_tags"] == 2
    assert stats["tags_per_article"] == 1.0
    assert stats["body_words"] == {"min": 1, "median": 3, "max": 5}
    assert stats["missing"]["title"] == 1
    assert stats["missing"]["tags"] == 1
    assert stats["missing"]["published"] == 2
    assert stats["missing"]["body"] == 0
    assert stats["duplicate_ids"] == {"a": 2}


def test_corpus_stats_of_nothing() -> None:
    stats = corpus_stats([])
    assert stats["articles"] == 0
    assert stats["body_words"] == {"min": 0, "median": 0, "max": 0}
    assert stats["duplicate_ids"] == {}
