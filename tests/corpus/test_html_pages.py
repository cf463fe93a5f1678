"""Saved HTML pages: body, metadata, the site's section and tags, and non-article skips."""

from __future__ import annotations

import gzip
import shutil
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tagger.corpus.html import decode_html, extract_page, truncation

from .conftest import read


def test_json_ld_page_gives_body_and_all_metadata(wild: Path) -> None:
    (article,), report = read([wild / "html" / "bridge-jsonld.html"])
    assert not report.skipped
    assert article.id == "https://valleycourier.example/towns/old-bridge-repairs"
    assert article.url == article.id
    assert article.title == "Old bridge over the Lune to close for six weeks of repairs"
    assert article.authors == ["Priya Raman", "Sam Otieno"]
    assert article.published == datetime(2023, 3, 2, 7, 30, tzinfo=timezone.utc)
    assert article.section == "Towns"
    assert article.tags == ["Bridges", "Roadworks", "Eastbrook"]
    assert article.source == "Valley Courier"
    assert article.meta["breadcrumbs"] == ["Home", "Towns"]
    paragraphs = article.body.split("\n\n")
    assert len(paragraphs) == 4
    assert paragraphs[0].startswith("The stone bridge that carries the ridge road")
    assert paragraphs[-1].endswith("saying that businesses remained open.")
    for noise in (
        "Share on Facebook",
        "Related stories",
        "comments",
        "All rights reserved",
        "Log in",
        "Ridge road resurfacing",
    ):
        assert noise not in article.body


def test_meta_tags_breadcrumbs_and_declared_cp1252(wild: Path) -> None:
    (article,), _ = read([wild / "html" / "harvest-meta.html"])
    assert article.title == "Apple harvest starts two weeks early after hot summer"
    assert article.authors == ["Lucía Fernández"]
    assert article.section == "Business"  # article:section wins over breadcrumbs
    assert article.meta["breadcrumbs"] == ["Home", "Business", "Farming"]
    assert article.tags == ["Agriculture", "Weather"]
    assert "growers’ association" in article.body  # 0x92 in windows-1252
    assert "newsletter" not in article.body


def test_breadcrumbs_give_the_section_when_nothing_else_does() -> None:
    page = extract_page(
        """<html><head><title>Dog show</title></head><body>
        <ul class="breadcrumbs"><li><a href="/">Home</a></li><li><a href="/life">Life</a></li>
        <li><a href="/life/pets">Pets</a></li></ul><article><h1>Dog show draws record crowd</h1>
        <p>"""
        + "A record crowd of more than four thousand people came to the county dog show. " * 5
        + "</p></article></body></html>"
    )
    assert page.skip is None
    assert page.breadcrumbs == ["Home", "Life", "Pets"]
    assert page.section == "Pets"


def test_index_login_and_truncated_pages_are_skipped_with_reasons(wild: Path) -> None:
    articles, report = read([wild / "html"])
    assert sorted(a.meta["path"].rsplit("/", 1)[1] for a in articles) == [
        "bridge-jsonld.html",
        "harvest-meta.html",
    ]
    reasons = {Path(s.path).name: s.reason for s in report.skipped}
    assert reasons == {
        "front-page.html": "not an article: index or list page",
        "login.html": "not an article: no main text",
        "truncated.html": "truncated page: <article> not closed and cut mid-sentence",
    }
    assert report.files == 5


def test_html5_pages_without_the_optional_end_tags_are_read(tmp_path: Path, wild: Path) -> None:
    page = (wild / "html" / "bridge-jsonld.html").read_text(encoding="utf-8")
    bare = page.replace("</body>", "").replace("</html>", "").rstrip()
    assert "</body>" not in bare and "</html>" not in bare
    (tmp_path / "no-end-tags.html").write_text(bare, encoding="utf-8")
    # and a page that stops after its article, without </main>, <footer> or end tags
    short = bare[: bare.index("</article>") + len("</article>")]
    (tmp_path / "ends-after-article.html").write_text(short, encoding="utf-8")
    articles, report = read([tmp_path])
    assert not report.skipped, [str(s) for s in report.skipped]
    assert [a.title for a in articles] == [
        "Old bridge over the Lune to close for six weeks of repairs"
    ] * 2
    assert articles[0].body == articles[1].body


@pytest.mark.parametrize(
    ("ending", "reason"),
    [
        ('<p>The works end in May.</p><div class="foot', "cut inside a tag"),
        ("<p>The works end in May.</p><!-- footer starts", "cut inside a comment"),
        ("<p>The works end in May.</p><script>var x = 1;", "cut inside a <script>"),
        ("<p>The works end in May and the road", "<article> not closed and cut mid-sentence"),
        ("<p>The works end in May.</p>", None),  # closed sentence: no evidence of a cut
        ("<p>The works end in May and the road</p></article>", None),  # article closed
    ],
)
def test_truncation_needs_evidence(ending: str, reason: str | None) -> None:
    page = "<!DOCTYPE html><html><head><title>Works</title></head><body><article>" + ending
    found = truncation(page.encode("utf-8"))
    assert (found and found.removeprefix("truncated page: ")) == reason


def test_gzipped_page_empty_and_binary_files(tmp_path: Path, wild: Path) -> None:
    with gzip.open(tmp_path / "bridge.html.gz", "wb") as out:
        out.write((wild / "html" / "bridge-jsonld.html").read_bytes())
    (tmp_path / "empty.html").write_bytes(b"")
    (tmp_path / "image.html").write_bytes(bytes(range(256)) * 8)
    page = (wild / "html" / "bridge-jsonld.html").read_bytes()
    (tmp_path / "cut.html.gz").write_bytes(gzip.compress(page)[:300])  # a cut gzip stream
    articles, report = read([tmp_path])
    assert [a.title for a in articles] == [
        "Old bridge over the Lune to close for six weeks of repairs"
    ]
    reasons = {Path(s.path).name: s.reason for s in report.skipped}
    assert reasons["empty.html"] == "empty file"
    assert reasons["image.html"] == "binary data, not text"
    assert "truncated" in reasons["cut.html.gz"]


def test_utf16_page_and_lying_charset_declaration() -> None:
    html = (
        "<html><head><meta charset='utf-8'></head><body><article><h1>Zürich</h1><p>"
        + "Die Straße nach Zürich war am Montag wegen Bauarbeiten gesperrt. " * 6
        + "</p></article></body></html>"
    )
    text, encoding = decode_html(html.encode("utf-16"))
    assert encoding == "utf-16-le" and "Straße" in text
    # declared utf-8, actually latin-1: the declaration is not trusted blindly
    text, encoding = decode_html(html.encode("latin-1"))
    assert "Straße" in text and encoding != "utf-8"


def test_html_format_is_detected_for_folders_of_pages(tmp_path: Path, wild: Path) -> None:
    shutil.copy(wild / "html" / "harvest-meta.html", tmp_path / "a.htm")
    shutil.copy(wild / "html" / "bridge-jsonld.html", tmp_path / "b.xhtml")
    articles, report = read([tmp_path], "auto")
    assert len(articles) == 2 and not report.skipped
