"""Saved HTML pages: article body and metadata via trafilatura, plus what it lacks.

trafilatura finds the body, title, authors, date and site. This module adds the site's
own section and tags (``article:section``/``article:tag`` meta, JSON-LD ``articleSection``
and ``keywords``, breadcrumbs), charset detection from the page itself, and the decision
that a page is not an article (index and list pages, pages with no main text).
"""

from __future__ import annotations

import codecs
import contextlib
import html as html_lib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from tagger.corpus.article import Article, content_id, parse_date
from tagger.corpus.registry import ReadOptions, ReadReport, Source, register_stream
from tagger.corpus.sources import MAX_FILE_BYTES, finish, read_document
from tagger.corpus.text import UndecodableError, clean_text, decode_bytes, looks_binary

MIN_BODY_CHARS = 200  # shorter main text is not an article (teaser, error page, login wall)
LIST_TEASERS = 6  # headline links that make a page without article metadata an index page
# Parsing and extraction take time and memory in proportion to a page's elements: a news
# page has a few thousand, the largest real ones tens of thousands. Larger pages are
# skipped before they are parsed (a 1M-element page took 88 s and 1.7 GB).
MAX_ELEMENTS = 50_000
_ELEMENT = re.compile(r"<[A-Za-z]")

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)
_ARTICLE_TYPES = {
    "article",
    "newsarticle",
    "blogposting",
    "reportagenewsarticle",
    "analysisnewsarticle",
    "opinionnewsarticle",
    "reviewnewsarticle",
    "backgroundnewsarticle",
    "liveblogposting",
    "scholarlyarticle",
    "techarticle",
    "report",
    "posting",
    "socialmediaposting",
}
_LIST_TYPES = {"collectionpage", "itemlist", "searchresultspage", "profilepage"}
_HOME_CRUMBS = {"home", "homepage", "start", "front page", "accueil", "startseite", "inicio"}


@dataclass
class Page:
    """What one HTML page holds; `skip` says why it is not an article (None when it is)."""

    title: str = ""
    body: str = ""
    authors: list[str] = field(default_factory=list)
    published: datetime | None = None
    site: str | None = None
    url: str | None = None
    section: str | None = None
    sections: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    breadcrumbs: list[str] = field(default_factory=list)
    description: str | None = None
    language: str | None = None
    skip: str | None = None


def decode_html(data: bytes) -> tuple[str, str]:
    """Decode a page: BOM, then the page's declared charset, then detection."""
    if data.startswith((codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return decode_bytes(data)
    match = _META_CHARSET.search(data[:4096])
    if match:
        declared = match.group(1).decode("ascii", "replace").lower()
        try:
            codec = codecs.lookup(declared).name
        except LookupError:
            codec = None
        if codec and not codec.startswith("utf-16"):
            if codec in ("latin-1", "iso8859-1", "ascii"):
                codec = "cp1252"  # what browsers do with these labels (WHATWG)
            try:
                return data.decode(codec), codec
            except UnicodeDecodeError:
                pass  # the declaration lies: detect instead
    return decode_bytes(data)


def _texts(value: Any) -> list[str]:
    """Strings from a JSON-LD value that may be a string, a list or {name: ...} objects."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return _texts(value.get("name") or value.get("@value"))
    if isinstance(value, list):
        return [t for item in value for t in _texts(item)]
    return [str(value)]


def _types(node: dict[str, Any]) -> set[str]:
    return {t.lower() for t in _texts(node.get("@type"))}


def _json_ld_nodes(tree: Any) -> Iterator[dict[str, Any]]:
    for script in tree.xpath('//script[@type="application/ld+json"]'):
        text = script.text or ""
        try:
            data = json.loads(text.strip().rstrip(";"), strict=False)
        except json.JSONDecodeError:
            continue
        stack = [data]
        while stack:
            item = stack.pop()
            if isinstance(item, list):
                stack.extend(reversed(item))
            elif isinstance(item, dict):
                yield item
                if isinstance(item.get("@graph"), list):
                    stack.extend(reversed(item["@graph"]))
                main = item.get("mainEntity")
                if isinstance(main, dict | list):
                    stack.append(main)


def _split_keywords(values: list[str]) -> list[str]:
    out = []
    for value in values:
        out.extend(part for part in re.split(r"\s*[,;|]\s*", value) if part)
    return out


def _unique(values: list[str]) -> list[str]:
    seen: dict[str, str] = {}
    for value in values:
        value = " ".join(clean_text(value).split())
        if value and value.lower() not in seen:
            seen[value.lower()] = value
    return list(seen.values())


@dataclass
class _Meta:
    """Metadata the page states in its markup (before trafilatura's own guesses)."""

    article: bool = False
    list_page: bool = False
    headline: str | None = None
    authors: list[str] = field(default_factory=list)
    published: str | None = None
    sections: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    breadcrumbs: list[str] = field(default_factory=list)
    og_type: str | None = None


def _page_meta(tree: Any, has_crumbs: bool = True) -> _Meta:
    meta = _Meta()
    for node in tree.xpath("//head/meta[@content]"):
        key = (node.get("property") or node.get("name") or "").strip().lower()
        value = node.get("content", "").strip()
        if not value:
            continue
        if key == "article:section":
            meta.sections.append(value)
        elif key == "article:tag":
            meta.tags.extend(_split_keywords([value]))
        elif key == "og:type":
            meta.og_type = value.lower()
        elif key in ("article:published_time", "datepublished") and not meta.published:
            meta.published = value
    if meta.og_type == "article":
        meta.article = True
    for node in _json_ld_nodes(tree):
        types = _types(node)
        if types & _ARTICLE_TYPES:
            meta.article = True
            meta.headline = meta.headline or next(iter(_texts(node.get("headline"))), None)
            meta.sections.extend(_split_keywords(_texts(node.get("articleSection"))))
            meta.tags.extend(_split_keywords(_texts(node.get("keywords"))))
            if not meta.authors:
                meta.authors = _texts(node.get("author"))
            if not meta.published:
                meta.published = next(iter(_texts(node.get("datePublished"))), None)
        elif types & _LIST_TYPES:
            meta.list_page = True
        if "breadcrumblist" in types and not meta.breadcrumbs:
            items = node.get("itemListElement") or []
            items = items if isinstance(items, list) else [items]
            ordered = sorted(
                (i for i in items if isinstance(i, dict)),
                key=lambda i: int(i["position"]) if str(i.get("position", "")).isdigit() else 0,
            )
            for item in ordered:
                meta.breadcrumbs.extend(_texts(item.get("name") or item.get("item")))
    if not meta.breadcrumbs and has_crumbs:
        meta.breadcrumbs = _markup_breadcrumbs(tree)
    return meta


def _markup_breadcrumbs(tree: Any) -> list[str]:
    nodes = tree.xpath(
        '//*[contains(@class, "readcrumb") or contains(@id, "readcrumb")'
        ' or contains(@aria-label, "readcrumb") or contains(@class, "READCRUMB")]'
    )
    for node in nodes:
        links = [" ".join(a.text_content().split()) for a in node.xpath(".//a")]
        links = [t for t in links if t and len(t) < 60]
        if links:
            return links
    return []


def _section_from(meta: _Meta, title: str) -> list[str]:
    if meta.sections:
        return _unique(meta.sections)
    crumbs = [
        c for c in meta.breadcrumbs if c.lower() not in _HOME_CRUMBS and c.strip() != title.strip()
    ]
    return _unique(crumbs[-1:])


_BYLINE_PREFIX = re.compile(r"^\s*(?:by|von|par|por|door)\s+", re.I)


def _byline(tree: Any) -> str | None:
    """Authors from the page's byline markup (rel=author, itemprop=author, class byline)."""
    nodes = tree.xpath(
        '//*[@rel="author" or @itemprop="author" or contains(@class, "byline")'
        ' or contains(@class, "author-name")]'
    )
    for node in nodes:
        text = " ".join(node.text_content().split())
        text = _BYLINE_PREFIX.sub("", text)
        text = re.split(
            r"\s*(?:[|•·,]\s*)?(?:\d{1,2} \w+ \d{4}|\w+ \d{1,2}, \d{4}|updated|published)",
            text,
            maxsplit=1,
            flags=re.I,
        )[0]
        names = [n.strip(" ,.") for n in re.split(r",|\band\b|&", text) if n.strip(" ,.")]
        names = [n for n in names if 1 < len(n.split()) <= 5 and not any(c.isdigit() for c in n)]
        if names:
            return "; ".join(names)
    return None


def _teasers(tree: Any) -> int:
    """Headline links: what an index or list page is made of."""
    return len(tree.xpath("//h2[.//a] | //h3[.//a] | //article[.//a]"))


def _metadata(tree: Any, url: str | None, meta: _Meta) -> Any:
    """trafilatura's metadata steps, skipping what the page already stated.

    Mirrors trafilatura.metadata.extract_metadata, but leaves out the licence search,
    runs htmldate in its quick mode, does not search the markup for a title or a date
    that the page's JSON-LD and meta tags already gave, and replaces its author and
    category/tag link searches (each walks the whole tree with dozens of XPath
    expressions: a third of the time of the body extraction) by one byline lookup;
    sections and tags come from meta tags, JSON-LD and breadcrumbs.
    """
    from trafilatura import metadata as tm

    found = tm.examine_meta(tree)
    if found.author and " " not in found.author:
        found.author = None
    # trafilatura guards this call the same way: its JSON-LD code fails on odd input
    with contextlib.suppress(Exception):
        found = tm.extract_meta_json(tree, found)
    if not (found.title or meta.headline):
        found.title = tm.extract_title(tree)
    if not (found.author or meta.authors):
        found.author = _byline(tree)
    found.url = found.url or tm.extract_url(tree, url)
    if found.url:
        found.hostname = tm.extract_domain(found.url, fast=True)
    if not meta.published:
        params = tm.set_date_params(False)
        params["url"] = found.url
        found.date = tm.find_date(tree, **params)
    found.sitename = (found.sitename or tm.extract_sitename(tree) or "").lstrip("@") or None
    found.clean_and_trim()
    return found


def extract_page(data: bytes | str, url: str | None = None) -> Page:
    """Extract one saved page; `Page.skip` is set when it holds no article."""
    import trafilatura
    from lxml import etree

    if isinstance(data, bytes):
        try:
            text, _encoding = decode_html(data)
        except UndecodableError as exc:
            return Page(skip=str(exc))
    else:
        text = data
    if not text.strip():
        return Page(skip="empty file")
    too_big = too_many_elements(text)
    if too_big:
        return Page(skip=too_big)
    # trafilatura's own parser settings: lxml's defaults lose link tails on some pages.
    tree = trafilatura.load_html(text.lstrip("\ufeff"))
    if tree is None:
        return Page(skip="not an article: no HTML document")
    # the markup search walks every element: only when the page mentions breadcrumbs
    meta = _page_meta(tree, has_crumbs="readcrumb" in text or "READCRUMB" in text)
    teasers = _teasers(tree)
    found = _metadata(tree, url, meta)
    # trafilatura drops these elements itself, but only after copying the tree several
    # times: dropping them first gives the same text faster ("form" it handles apart).
    from trafilatura.settings import MANUALLY_CLEANED

    etree.strip_elements(tree, *(t for t in MANUALLY_CLEANED if t != "form"), with_tail=False)
    doc = trafilatura.bare_extraction(
        tree, url=url, include_comments=False, favor_precision=True, include_tables=True
    )
    body = clean_text(getattr(doc, "text", None) or "") if doc is not None else ""
    title = " ".join(clean_text(meta.headline or found.title or "").split())
    paragraphs = [line for line in body.split("\n") if line.strip()]
    if paragraphs and title and " ".join(paragraphs[0].split()) == title:
        paragraphs = paragraphs[1:]  # the headline is the title, not the body
    page = Page(title=title, body="\n\n".join(paragraphs))
    page.site = found.sitename or found.hostname
    page.url = found.url or url
    page.description = found.description
    page.language = getattr(doc, "language", None)
    authors = meta.authors or [a for a in (found.author or "").split("; ") if a]
    page.authors = _unique(authors)
    page.published = parse_date(meta.published) or parse_date(found.date)
    page.breadcrumbs = _unique(meta.breadcrumbs)
    page.sections = _section_from(meta, page.title) or _unique(found.categories or [])
    page.tags = _unique(meta.tags + list(found.tags or []))
    page.section = page.sections[0] if page.sections else None
    if (meta.list_page and not meta.article) or (
        not meta.article and teasers >= LIST_TEASERS and len(body) < 400 * teasers
    ):
        page.skip = "not an article: index or list page"
    elif len(body) < MIN_BODY_CHARS:
        page.skip = "not an article: no main text"
    return page


def too_many_elements(text: str, limit: int = MAX_ELEMENTS) -> str | None:
    """Why a page is too big to parse (more than `limit` elements), or None."""
    if text.count("<") <= limit:
        return None
    for count, _ in enumerate(_ELEMENT.finditer(text), 1):
        if count > limit:
            return f"page too large: more than {limit:,} elements"
    return None


def page_to_article(page: Page, path: Path | None, source: str | None) -> Article:
    """An Article from an extracted page; the id is the page's URL, else the file name."""
    stem = path.name.split(".")[0] if path is not None and path.name else ""
    article_id = page.url or stem or content_id(page.title, page.body)
    meta: dict[str, Any] = {"path": str(path)} if path is not None else {}
    if page.site:
        meta["site"] = page.site
    if len(page.sections) > 1:
        meta["sections"] = page.sections
    if page.breadcrumbs:
        meta["breadcrumbs"] = page.breadcrumbs
    if page.description:
        meta["description"] = page.description
    if page.language:
        meta["language"] = page.language
    return Article(
        id=article_id,
        title=page.title,
        body=page.body,
        section=page.section,
        tags=page.tags,
        published=page.published,
        authors=page.authors,
        url=page.url,
        source=source or page.site,
        meta=meta,
    )


_CLOSED = re.compile(rb"</(?:html|body)\s*>", re.I)
_TAG_START = re.compile(rb"<[A-Za-z!/?]")
_RAW_BLOCK = re.compile(rb"<(script|style)\b.*?</\1\s*>", re.I | re.S)
_ANY_TAG = re.compile(rb"<[^>]*>")
_SENTENCE_DONE = re.compile(r"[.!?…:;\"”’'»)\]]$")


def truncation(data: bytes) -> str | None:
    """Why a page looks cut off, or None: only on evidence, not on missing end tags.

    `</body>` and `</html>` are optional in HTML5, so their absence proves nothing. A
    page is truncated when it ends inside a tag, a comment, a script or style, or when
    its <article> or <main> is never closed and its text stops mid-sentence.
    """
    tail = data[-65536:].rstrip()
    if _CLOSED.search(tail[-4096:]):
        return None
    lowered = tail.lower()
    if lowered.rfind(b"<!--") > lowered.rfind(b"-->"):
        return "truncated page: cut inside a comment"
    for name in (b"script", b"style"):
        if lowered.rfind(b"<" + name) > lowered.rfind(b"</" + name):
            return f"truncated page: cut inside a <{name.decode()}>"
    if _TAG_START.search(tail[tail.rfind(b">") + 1 :]):
        return "truncated page: cut inside a tag"
    whole = data.lower()
    for name in (b"article", b"main"):
        opened = len(re.findall(rb"<" + name + rb"[\s>]", whole))
        if opened > whole.count(b"</" + name):
            text = _ANY_TAG.sub(b" ", _RAW_BLOCK.sub(b" ", tail[-8192:]))
            last = html_lib.unescape(text.decode("utf-8", "replace")).strip()
            if last and not _SENTENCE_DONE.search(last):
                return f"truncated page: <{name.decode()}> not closed and cut mid-sentence"
    return None


@register_stream("html")
def read_html(source: Source, report: ReadReport, options: ReadOptions) -> Iterator[Article]:
    """A saved HTML page (gzipped or not): one article, or a skip saying why not."""
    data = read_document(source, MAX_FILE_BYTES)
    report.records += 1
    name = source.name
    if not data.strip():
        report.skip(name, "empty file")
        return
    if looks_binary(data):
        report.skip(name, "binary data, not text")
        return
    truncated = truncation(data)
    if truncated:
        report.skip(name, truncated)
        return
    page = extract_page(data)
    if page.skip:
        report.skip(name, page.skip)
        return
    article = page_to_article(page, source.path, options.source)
    finished = finish(article, name, report, options, None)
    if finished is not None:
        yield finished
