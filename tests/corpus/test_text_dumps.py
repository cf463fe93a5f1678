"""Scraped text dumps: the article and its metadata, nothing else; clean text intact."""

from __future__ import annotations

import gzip
import shutil
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tagger.corpus.readers import ReadOptions
from tagger.corpus.textdump import LineStats, clean_dump, find_date, split_tags

from .conftest import body_lines, read

PROMO = (
    "Harbour Times readers get a free coffee at the marina kiosk this month with the code PIER24."
)


def test_batch_of_one_source_gives_exact_articles(wild: Path) -> None:
    folder = wild / "dumps" / "harbourtimes"
    articles, report = read([folder])
    assert not report.skipped
    by_id = {a.id: a for a in articles}
    flood = by_id["flood-barrier"]
    assert flood.title == "Harbour Council Approves Flood Barrier After Decade Of Delays"
    assert flood.authors == ["Maria Okafor", "Tom Lindqvist"]
    assert flood.published == datetime(2024, 4, 29, 18, 15, tzinfo=timezone.utc)
    assert flood.section == "News"
    assert flood.meta["sections"] == ["News", "Local"]
    # glued tag line split with the vocabulary the other pages of the batch state
    assert flood.tags == ["Flood defence", "Harbour Council", "climate-adaptation"]
    paragraphs = flood.body.split("\n\n")
    assert paragraphs[0].startswith("Harbour City council voted on Monday night")
    assert paragraphs[-1].endswith("has issued its final permit.")
    assert len(paragraphs) == 5
    assert "“We have talked about this for a decade" in flood.body  # typographic quotes kept
    # the promotion repeated on every page of the source is boilerplate (cross-document)
    assert all(PROMO not in a.body for a in articles)
    rail = by_id["rail-strike"]
    assert rail.title == "Rail Strike Ends As Unions Accept Pay Offer"
    assert (rail.authors, rail.section, rail.tags) == (
        ["Jonas Berg"],
        "Business",
        ["Rail", "Strikes", "Harbour Council"],
    )
    for article in articles:
        page = body_lines(folder / f"{article.id}.txt")
        for paragraph in article.body.split("\n\n"):
            assert paragraph in page  # nothing invented
        for noise in ("SHARES", "Share on", "Login", "syndication", "© 2024", "Tags:", "View All"):
            assert noise not in article.body


def test_without_the_batch_only_in_page_evidence_is_used(wild: Path) -> None:
    path = wild / "dumps" / "harbourtimes" / "flood-barrier.txt"
    (article,), _ = read([path])
    assert PROMO in article.body  # a single page cannot know the promotion repeats
    assert article.tags == ["Flood defence", "Harbour Councilclimate-adaptation"]
    options = ReadOptions(tag_vocabulary=["Harbour Council"])
    (article,), _ = read([path], options=options)
    assert article.tags == ["Flood defence", "Harbour Council", "climate-adaptation"]


def test_wrapped_w3m_style_dump_with_comments(wild: Path) -> None:
    (article,), _ = read([wild / "dumps" / "single" / "solar-grazing-w3m.txt"])
    assert article.title == "Sheep and solar panels: small farms try grazing under the arrays"
    assert article.authors == ["Priya Raman"]
    assert article.published == datetime(2023, 3, 14, tzinfo=timezone.utc)
    assert article.meta["sections"] == ["Farming", "Energy"]
    assert article.tags == ["Farming", "Solar energy", "Sheep"]
    paragraphs = article.body.split("\n\n")
    assert len(paragraphs) == 4  # hard-wrapped lines joined back
    assert paragraphs[0].startswith("A growing number of small farms") and paragraphs[0].endswith(
        "at a time when feed prices keep climbing."
    )
    assert paragraphs[-1].endswith("keeps more moisture in dry summers.")
    for noise in ("geese", "Comments", "Share this", "Photo:", "Ridge road bridge", "rights"):
        assert noise not in article.body


def test_markdown_dump_from_html2text(wild: Path) -> None:
    (article,), _ = read([wild / "dumps" / "single" / "wildfire-html2text.md.txt"], "text")
    assert article.title == "Firefighters contain blaze on northern ridge after three days"
    assert article.authors == ["Daniel Mwangi"]
    assert article.published == datetime(2022, 8, 8, tzinfo=timezone.utc)
    assert article.meta["sections"] == ["Climate", "Wildfires"]
    assert article.tags == ["Wildfires", "Civil protection"]  # link edges separate tags
    assert article.body.startswith("Firefighters said on Sunday that they had contained")
    assert article.body.endswith("where the first flames were reported.")
    for noise in ("](", "http", "Read more", "Heatwave", "Copyright"):
        assert noise not in article.body


def test_clean_article_passes_through_intact(wild: Path) -> None:
    path = wild / "dumps" / "single" / "clean-article.txt"
    (article,), _ = read([path])
    title, _, rest = path.read_text(encoding="utf-8").partition("\n")
    assert article.title == title
    assert article.body == rest.strip()  # subheading "Background" and short lines kept
    assert "cleaned" not in article.meta


def test_text_bad_inputs_are_skipped_with_reasons(tmp_path: Path, wild: Path) -> None:
    (tmp_path / "empty.txt").write_text("  \n\n")
    (tmp_path / "binary.txt").write_bytes(bytes(range(256)) * 8)
    (tmp_path / "unknown.txt").write_bytes(bytes(range(128, 256)) * 20)
    (tmp_path / "menu-only.txt").write_text("• Home\n• News\n• Sport\nLogin\nSubscribe\n")
    with gzip.open(tmp_path / "w3m.txt.gz", "wb") as out:
        out.write((wild / "dumps" / "single" / "solar-grazing-w3m.txt").read_bytes())
    articles, report = read([tmp_path])
    assert [a.id for a in articles] == ["w3m"]
    reasons = {Path(s.path).name: s.reason for s in report.skipped}
    assert reasons == {
        "binary.txt": "binary data, not text",
        "empty.txt": "empty body: the file has no text",
        "menu-only.txt": "not an article: no main text",
        "unknown.txt": "unknown text encoding",
    }


def test_encodings_of_dumps(tmp_path: Path, wild: Path) -> None:
    source = wild / "dumps" / "single" / "solar-grazing-w3m.txt"
    text = source.read_text(encoding="utf-8").replace("Hollins", "Höllins")
    (tmp_path / "a.txt").write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    (tmp_path / "b.txt").write_bytes(text.encode("utf-16"))
    (tmp_path / "c.txt").write_bytes(text.encode("cp1252"))
    articles, report = read([tmp_path])
    assert not report.skipped
    assert len({a.body for a in articles}) == 1
    assert "Höllins" in articles[0].body and "\ufeff" not in articles[0].body


@pytest.mark.parametrize(
    ("glued", "vocabulary", "tags"),
    [
        ("ECBinterest-ratesEuro Zone", [], ["ECB", "interest-rates", "Euro Zone"]),
        ("USNewsDonald Trump", [], ["US", "News", "Donald Trump"]),
        ("McDonaldYouTube", [], ["McDonald", "YouTube"]),
        ("Harbour Councilclimate", ["Harbour Council"], ["Harbour Council", "climate"]),
        ("Rail, Strikes;  Weather", [], ["Rail", "Strikes", "Weather"]),
        # known tags around an unknown word: no one-letter piece, no cut inside 'Senate'
        (
            "FEMASenatedisaster-relief",
            ["FEMA", "disaster-relief"],
            ["FEMA", "Senate", "disaster-relief"],
        ),
        ("DCNFforeign-affairsU.S. News", [], ["DCNF", "foreign-affairs", "U.S. News"]),
        # a short known tag inside a word does not break the word apart
        ("BusinessDonald Trump", ["US"], ["Business", "Donald Trump"]),
        ("AApple News", [], ["AApple News"]),
    ],
)
def test_split_tags(glued: str, vocabulary: list[str], tags: list[str]) -> None:
    assert split_tags(glued, vocabulary) == tags


def test_split_tags_never_gives_one_letter_pieces() -> None:
    for glued, vocabulary in [
        ("FEMASenatedisaster-relief", ["FEMA", "disaster-relief"]),
        ("NATOSummitclimate-talks", ["NATO"]),
        ("EUAid", ["EU"]),
    ]:
        tags = split_tags(glued, vocabulary)
        assert all(len(tag) > 1 for tag in tags), (glued, tags)
        assert "".join(tags) == glued


MENU_PAGE = """Home | News | Politics | Subscribe | Log in

Ferry Timetable Changes Announced For The Summer Season

By Lena Hart
June 3, 2024

The island ferry company will add two late sailings on Fridays and Saturdays from the first \
week of July, the operator said on Monday, after a winter of complaints from residents.

Tickets for the new sailings go on sale next week. The company said the extra crossings \
would be reviewed at the end of September, when the summer timetable ends.

Share on Facebook
Tags: Ferries, Transport
"""


def test_a_menu_line_is_navigation_not_a_breadcrumb() -> None:
    dump = clean_dump(MENU_PAGE)
    assert dump.sections == []
    assert dump.title == "Ferry Timetable Changes Announced For The Summer Season"
    assert (dump.authors, dump.tags) == (["Lena Hart"], ["Ferries", "Transport"])
    assert "Subscribe" not in dump.body and dump.body.startswith("The island ferry company")
    # a flattened menu (no separators, many items) is no breadcrumb either
    flat = clean_dump(MENU_PAGE.replace(" | ", " ", 4))
    assert flat.sections == []


@pytest.mark.parametrize(
    ("line", "sections"),
    [
        ("Home News", ["News"]),
        ("Home > World > Europe", ["World", "Europe"]),
        ("Home » Business", ["Business"]),
        ("News | Politics | Sport | Weather", []),
        ("Home > News > Subscribe", []),
    ],
)
def test_breadcrumbs_still_give_sections(line: str, sections: list[str]) -> None:
    dump = clean_dump(MENU_PAGE.replace("Home | News | Politics | Subscribe | Log in", line))
    assert dump.sections == sections


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("February 4, 2025 at 10:56 am", datetime(2025, 2, 4, 10, 56, tzinfo=timezone.utc)),
        ("Published 14 March 2023", datetime(2023, 3, 14, tzinfo=timezone.utc)),
        ("Updated: Sept. 3, 2021, 4:05 p.m.", datetime(2021, 9, 3, 16, 5, tzinfo=timezone.utc)),
        ("2020-11-30T08:15", datetime(2020, 11, 30, 8, 15, tzinfo=timezone.utc)),
        ("No date on this line", None),
    ],
)
def test_find_date(line: str, expected: datetime | None) -> None:
    found = find_date(line)
    assert (found[0] if found else None) == expected


def test_line_stats_count_pages_per_source_in_fixed_memory() -> None:
    stats = LineStats(width=1 << 12)
    size = stats._table.nbytes
    for i in range(40):
        stats.add_document("a", f"Menu\nSubscribe now\nStory number {i} is unique text {i * 7}.\n")
    stats.add_document("b", "Menu\n")
    assert stats.frequency("a", "Menu") == 40
    assert stats.frequency("a", "menu") == 40  # case and spacing do not matter
    assert stats.frequency("b", "Menu") == 1  # sources are counted apart
    assert stats.is_common("a", "Subscribe now")
    assert not stats.is_common("a", "A line nobody wrote")
    assert stats._table.nbytes == size


def test_clean_dump_reports_wrapped_paragraph_without_a_page_around_it() -> None:
    dump = clean_dump("Just one line of news.\n")
    assert (dump.title, dump.body, dump.clean) == ("", "Just one line of news.", True)


def test_folder_of_mixed_text_and_html_in_auto_mode(tmp_path: Path, wild: Path) -> None:
    shutil.copytree(wild / "dumps" / "harbourtimes", tmp_path / "dumps")
    shutil.copy(wild / "html" / "bridge-jsonld.html", tmp_path / "bridge.html")
    articles, report = read([tmp_path])  # a tree of pages, not a folder per label
    assert len(articles) == 4 and not report.skipped
    assert all(PROMO not in a.body for a in articles)  # the batch pass saw the dump folder


# -- issue 11: rules checked on the validation half of bench/pagesplit.py -------------------

HTML2TEXT_PAGE = """\
[Skip to content](#main)

  * [News](/news)
  * [Sport](/sport)
  * [Weather](/weather)

# Lighthouse Keepers Return To Grey Point After Forty Years

Get our morning briefing. The stories that matter to the coast, delivered before breakfast.

By Ada Morrow

March 3, 2025

The lighthouse at Grey Point will have _resident keepers_ again from June, the harbour \
trust said on Monday, forty years after the last family moved out of the cottages below \
the tower.

[12 Comments](/lighthouse#comments)

Image copyright Coastal Trust

Image caption The cottages were restored over three winters

The trust said the _keepers_ would guide visitors, record the weather four times a day \
and look after the lamp, which has run automatically since 1985.

Volunteers repaired the roofs and the old oil store, and a grant from the county paid \
for new windows facing the sea (Image: COASTAL TRUST)

"People ask for a person, not a machine," said the trust's director, Hal Penrose, who \
grew up in the village and remembers the last keeper's children.

Applications open next week and the trust expects couples as well as single applicants \
to apply for the two posts.

## Comments

Sea Dog: About time too.
"""


def test_html2text_italics_captions_comment_links_and_header_prompts() -> None:
    dump = clean_dump(HTML2TEXT_PAGE)
    paragraphs = dump.body.split("\n\n")
    # the body starts after the byline and date, not with the newsletter prompt above them
    assert paragraphs[0].startswith("The lighthouse at Grey Point will have resident keepers")
    assert "morning briefing" not in dump.body
    # html2text's _italics_ are markup, not part of the words
    assert "_" not in dump.body
    # a link to the comments near the top does not end the article; its comments do
    assert paragraphs[-1].startswith("Applications open next week")
    assert "Sea Dog" not in dump.body and "12 Comments" not in dump.body
    # captions and picture credits are not the article's text
    assert "Image copyright" not in dump.body and "Image caption" not in dump.body
    assert "(Image: COASTAL TRUST)" not in dump.body
    assert len(paragraphs) == 4
    assert (dump.title, dump.authors) == (
        "Lighthouse Keepers Return To Grey Point After Forty Years",
        ["Ada Morrow"],
    )
    assert dump.published == datetime(2025, 3, 3, tzinfo=timezone.utc)
