"""JSONL, the canonical format: one JSON object a line with the Article fields, streamed.

One bad line costs one skipped record, named with its line: invalid JSON, nesting too
deep, an integer longer than Python converts (4,300 digits), a NUL byte, a record over the
size limit, a record whose fields have the wrong types. Lines end at "\\n" only, and raw
control characters inside strings (a CR, a form feed) are accepted rather than lost. A
lone surrogate ('\\ud83d', half an emoji cut by a JavaScript export) cannot be written
as UTF-8: it is replaced by U+FFFD and the record kept, with a note in the read report. A
key given twice in one object keeps its last value, as JSON readers do, with a note too.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator

from tagger.corpus.article import Article
from tagger.corpus.registry import ReadOptions, ReadReport, Source, register_stream
from tagger.corpus.sources import SURROGATE_REPAIR, finish, replace_surrogates, text_lines
from tagger.errors import DuplicateKey, unique_keys

# One category for every key, so that the read report's counts stay few.
DUPLICATE_KEY_REPAIR = "a key given twice in one object; its last value kept"

# A \\uD800-\\uDFFF escape: the only way a lone surrogate gets into parsed JSON.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def parse_record(
    text: str, name: str, number: int, report: ReadReport, options: ReadOptions
) -> Article | None:
    """One JSONL line as an Article (counted as a record), or None and a skip saying why."""
    report.records += 1
    if text.startswith("\ufeff"):
        text = text[1:]  # a BOM inside the stream: files with BOMs joined by `cat`
    if "\x00" in text:
        report.skip(name, "invalid JSON: NUL byte in the record", number)
        return None
    try:
        # strict=False: control characters (a raw CR or form feed) inside strings are kept
        data = json.loads(text, strict=False, object_pairs_hook=unique_keys)
    except DuplicateKey:
        data = json.loads(text, strict=False)  # as every JSON reader does: the last value
        report.repair(name, DUPLICATE_KEY_REPAIR, number)
    except json.JSONDecodeError as exc:
        # some messages end in "at" ("Unterminated string starting at"): one "at" only
        report.skip(
            name, f"invalid JSON: {exc.msg.removesuffix(' at')} at column {exc.colno}", number
        )
        return None
    except RecursionError:
        report.skip(name, "invalid JSON: nested too deeply", number)
        return None
    except ValueError as exc:  # an integer longer than int() converts (4,300 digits)
        report.skip(name, f"invalid JSON: {str(exc).split(';')[0]}", number)
        return None
    if _SURROGATE_ESCAPE.search(text):
        data, replaced = replace_surrogates(data)
        if replaced:
            report.repair(name, SURROGATE_REPAIR, number)
    try:
        article = Article.from_dict(data, default_id=None)
    except ValueError as exc:
        report.skip(name, f"invalid record: {exc}", number)
        return None
    return finish(article, name, report, options, number, title_is_enough=True)


def read_lines(
    lines: Iterable[tuple[int, str | None, str]],
    name: str,
    report: ReadReport,
    options: ReadOptions,
) -> Iterator[Article]:
    """Articles from (line number, text, reason) lines; blank lines are no records."""
    for number, text, reason in lines:
        if text is None:
            report.records += 1
            report.skip(name, reason, number)
            continue
        if not text.strip():
            continue
        article = parse_record(text, name, number, report, options)
        if article is not None:
            yield article


@register_stream("jsonl")
def read_jsonl(source: Source, report: ReadReport, options: ReadOptions) -> Iterator[Article]:
    """The canonical format: one JSON object a line with the Article fields."""
    yield from read_lines(text_lines(source, options), source.name, report, options)
