"""Original Reuters-21578 SGML (gzipped or not), read record by record as it streams in."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from tagger.corpus.article import Article, content_id, parse_date
from tagger.corpus.registry import ReadOptions, ReadReport, Source, register_stream
from tagger.corpus.sources import CHUNK, MB, finish
from tagger.errors import InputError

_REUTERS_RECORD = re.compile(r"<REUTERS(?P<attrs>[^>]*)>(?P<content>.*?)</REUTERS>", re.S)
_ATTR = re.compile(r'(\w+)="([^"]*)"')
_D = re.compile(r"<D>(.*?)</D>", re.S)
_NUMERIC_ENTITY = re.compile(r"&#(\d+);")
_OPEN = "<REUTERS"
_CLOSE = "</REUTERS>"


def _tag(content: str, name: str) -> str | None:
    match = re.search(rf"<{name}[^>]*>(.*?)</{name}>", content, re.S)
    return match.group(1) if match else None


def _char(number: int) -> str:
    if number < 32:
        return " "
    if 0xD800 <= number <= 0xDFFF or number > 0x10FFFF:
        return "\ufffd"  # a surrogate or out of range: no character (and no UTF-8)
    return chr(number)


def _sgml_text(text: str) -> str:
    text = _NUMERIC_ENTITY.sub(lambda m: _char(int(m.group(1)[:8])), text)
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return text


def _reflow_wire(text: str) -> str:
    """Join wire copy's hard-wrapped lines into paragraphs (indented lines start one)."""
    paragraphs: list[list[str]] = []
    for raw in text.split("\n"):
        if not raw.strip():
            if paragraphs and paragraphs[-1]:
                paragraphs.append([])
            continue
        if raw.startswith((" ", "\t")) and paragraphs and paragraphs[-1]:
            paragraphs.append([])
        if not paragraphs:
            paragraphs.append([])
        paragraphs[-1].append(raw.strip())
    return "\n\n".join(" ".join(p) for p in paragraphs if p)


def _records(source: Source, options: ReadOptions) -> Iterator[tuple[int, str, str | None]]:
    """(line, attributes, content) of each <REUTERS> record, holding one record at a time."""
    buffer, line, seen, done = "", 1, False, False
    limit = options.max_record_bytes
    while not done:
        chunk = source.stream.read1(CHUNK)
        done = not chunk
        # ASCII with one stray 0xFC byte in the distribution: latin-1 reads any byte
        buffer += chunk.decode("latin-1")
        while True:
            start = buffer.find(_OPEN)
            if start < 0:
                # keep what could be the start of a split "<REUTERS"
                line += buffer.count("\n", 0, max(0, len(buffer) - len(_OPEN)))
                buffer = buffer[max(0, len(buffer) - len(_OPEN)) :]
                break
            seen = True
            end = buffer.find(_CLOSE, start)
            if end < 0:
                line += buffer.count("\n", 0, start)
                buffer = buffer[start:]
                if len(buffer) > limit:
                    yield line, "", ""  # a record without its end: skipped by the caller
                    keep = len(buffer) - len(_OPEN)
                    line += buffer.count("\n", 0, keep)
                    buffer = buffer[keep:]
                elif done:
                    yield line, "", None  # cut off at the end of the input
                break
            line += buffer.count("\n", 0, start)
            match = _REUTERS_RECORD.match(buffer, start, end + len(_CLOSE))
            if match is not None:
                yield line, match.group("attrs"), match.group("content")
            line += buffer.count("\n", start, end + len(_CLOSE))
            buffer = buffer[end + len(_CLOSE) :]
    if not seen:
        raise InputError("no <REUTERS> records: not a Reuters-21578 SGML file")


@register_stream("reuters")
def read_reuters(source: Source, report: ReadReport, options: ReadOptions) -> Iterator[Article]:
    """Original Reuters-21578 SGML (gzipped or not).

    TOPICS become tags; PLACES, PEOPLE, ORGS, EXCHANGES, COMPANIES, DATE and the
    LEWISSPLIT/CGISPLIT/TOPICS attributes are kept in meta (ModApte: lewissplit and
    topics == "YES"). The DATELINE stays at the head of the body, as wire copy prints it.
    """
    path = source.name
    for line, attrs_text, content in _records(source, options):
        report.records += 1
        if content is None:
            report.skip(path, "record cut off: no </REUTERS> before the end of the file", line)
            continue
        if not attrs_text and not content:
            limit = options.max_record_bytes
            report.skip(path, f"record too long: no </REUTERS> within {limit // MB} MB", line)
            continue
        attrs = dict(_ATTR.findall(attrs_text))
        newid = attrs.get("NEWID", "")

        def labels(name: str, content: str = content) -> list[str]:
            block = _tag(content, name) or ""
            return [d.strip() for d in _D.findall(block)]

        text_block = _tag(content, "TEXT") or ""
        title = _sgml_text(_tag(text_block, "TITLE") or "").strip()
        dateline = " ".join(_sgml_text(_tag(text_block, "DATELINE") or "").split())
        body = _tag(text_block, "BODY")
        if body is None:
            # TYPE="BRIEF"/"UNPROC" records: the text sits directly inside <TEXT>.
            body = re.sub(r"<[^>]+>.*?</[^>]+>", "", text_block, flags=re.S)
        body = _reflow_wire(_sgml_text(body))
        body = re.sub(r"\s*Reuter\s*$", "", body).strip()
        if dateline and body:
            body = f"{dateline} {body}"
        date_text = (_tag(content, "DATE") or "").strip()
        article = Article(
            id=f"reuters-{newid}" if newid else content_id(title, body),
            title=title,
            body=body,
            tags=labels("TOPICS"),
            published=parse_date(date_text),
            source=options.source or "reuters21578",
            meta={
                "newid": newid,
                "oldid": attrs.get("OLDID"),
                "lewissplit": attrs.get("LEWISSPLIT"),
                "cgisplit": attrs.get("CGISPLIT"),
                "topics_attr": attrs.get("TOPICS"),
                "places": labels("PLACES"),
                "people": labels("PEOPLE"),
                "orgs": labels("ORGS"),
                "exchanges": labels("EXCHANGES"),
                "companies": labels("COMPANIES"),
                "date": date_text,
                "dateline": dateline,
            },
        )
        finished = finish(article, path, report, options, line)
        if finished is not None:
            yield finished


def modapte_split(articles: Iterable[Article]) -> tuple[list[Article], list[Article]]:
    """Reuters-21578 ModApte train and test sets (TOPICS="YES")."""
    train, test = [], []
    for article in articles:
        if article.meta.get("topics_attr") != "YES":
            continue
        split = article.meta.get("lewissplit")
        if split == "TRAIN":
            train.append(article)
        elif split == "TEST":
            test.append(article)
    return train, test
