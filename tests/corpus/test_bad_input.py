"""Bad input found by fuzzing the readers (issue 8): one bad record costs one record.

Each test names the case; none of them may end in a traceback, lose good records, or
block or grow without bound.
"""

from __future__ import annotations

import io
import json
import os
import threading
import tracemalloc
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tagger.cli import app
from tagger.corpus.readers import (
    ReadOptions,
    ReadReport,
    read_corpus,
    read_stdin,
    read_stdin_stream,
)

from .conftest import read

MB = 1024 * 1024
runner = CliRunner()


def record(i: int, **extra: object) -> str:
    data = {"id": f"a{i}", "title": f"Title {i}", "body": f"Body of article {i}.", **extra}
    return json.dumps(data)


def jsonl(tmp_path: Path, lines: list[str], name: str = "c.jsonl") -> Path:
    path = tmp_path / name
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


# -- one bad record stops nothing --------------------------------------------------------------


def test_lone_surrogate_in_any_field_is_replaced_and_the_record_kept(tmp_path: Path) -> None:
    # a truncated emoji from a JavaScript export, in the title, a tag, meta keys and values
    bad = (
        '{"id": "s1", "title": "Cut \\ud83d", "body": "Body \\udc00 here.", '
        '"tags": ["x\\ud83d"], "meta": {"k\\ud83d": ["v\\ud83d"]}}'
    )
    path = jsonl(tmp_path, [record(1), bad, '{"id": "ok", "body": "\\ud83d\\ude00 pair"}'])
    articles, report = read([path])
    assert [a.id for a in articles] == ["a1", "s1", "ok"]
    kept = articles[1]
    assert kept.title == "Cut \ufffd" and kept.body == "Body \ufffd here."
    assert kept.tags == ["x\ufffd"] and kept.meta == {"k\ufffd": ["v\ufffd"]}
    assert articles[2].body == "\U0001f600 pair"  # a valid pair is one character, untouched
    assert not report.skipped
    assert report.repairs == {"lone surrogate replaced by U+FFFD": 1}
    assert report.notes == [f"{path}:2: kept after repair: lone surrogate replaced by U+FFFD"]
    assert "1 repaired" in report.summary()
    # and what is kept can be written as UTF-8
    json.dumps(kept.to_dict(), ensure_ascii=False).encode("utf-8")


def test_a_key_given_twice_keeps_the_record_with_its_last_value_and_a_note(
    tmp_path: Path,
) -> None:
    twice = '{"id": "d1", "title": "First", "body": "Body text.", "title": "Second"}'
    other = '{"id": "d2", "body": "x", "meta": {"a": 1, "b": 1}}'
    path = jsonl(tmp_path, [record(1), twice, other])
    articles, report = read([path])
    assert [a.id for a in articles] == ["a1", "d1", "d2"]
    assert articles[1].title == "Second" and articles[1].body == "Body text."
    assert not report.skipped
    assert report.repairs == {"a key given twice in one object; its last value kept": 1}
    assert report.notes == [
        f"{path}:2: kept after repair: a key given twice in one object; its last value kept"
    ]


def test_import_writes_a_record_with_a_lone_surrogate(tmp_path: Path) -> None:
    src = jsonl(tmp_path, [record(1), '{"id": "s1", "title": "\\ud83d", "body": "Text."}'])
    out = tmp_path / "out.jsonl"
    result = runner.invoke(app, ["corpus", "import", str(src), "-o", str(out)])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [(r["id"], r["title"]) for r in rows] == [("a1", "Title 1"), ("s1", "\ufffd")]


def test_integer_longer_than_4300_digits_skips_one_record(tmp_path: Path) -> None:
    path = jsonl(tmp_path, [record(1), '{"id": ' + "7" * 5000 + ', "body": "x"}', record(3)])
    articles, report = read([path])
    assert [a.id for a in articles] == ["a1", "a3"]
    (skip,) = report.skipped
    assert (skip.path, skip.line) == (str(path), 2)
    assert skip.reason.startswith("invalid JSON: Exceeds the limit (4300 digits)")


def test_csv_field_over_50_mb_skips_one_row(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    with path.open("w", encoding="utf-8") as out:
        out.write("id,title,body\n1,First,Body one.\n")
        out.write("2,Huge," + "x" * (50 * MB + 10) + "\n")
        out.write("3,Third,Body three.\n")
    articles, report = read([path])
    assert [a.id for a in articles] == ["1", "3"]
    (skip,) = report.skipped
    assert (skip.line, skip.reason) == (3, "malformed row: a field larger than 50 MB")


def test_unterminated_csv_quote_costs_only_its_own_row(tmp_path: Path) -> None:
    path = tmp_path / "quote.csv"
    path.write_text(
        'id,title,body\n1,First,Body one.\n2,"Bad title,Body two.\n3,Third,Body three.\n'
        '4,"Multi\nline",Body four.\n',
        encoding="utf-8",
    )
    articles, report = read([path])
    assert [a.id for a in articles] == ["1", "3", "4"]
    assert articles[2].title == "Multi\nline"  # a quoted line break is still read
    (skip,) = report.skipped
    assert skip.line == 3  # the row with the open quote, not the row it swallowed
    assert skip.reason.startswith("malformed row: a quote that is not closed")


# -- records lost -------------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_utf16_jsonl_without_bom_reads_every_record(tmp_path: Path, encoding: str) -> None:
    lines = [record(i, body=f"Café {i} \u2028 naïve") for i in range(252)]
    path = tmp_path / "wide.jsonl"
    path.write_bytes("".join(line + "\n" for line in lines).encode(encoding))
    articles, report = read([path])
    assert len(articles) == 252 and not report.skipped
    assert articles[7].body.startswith("Café 7")


@pytest.mark.parametrize("kind", ["jsonl", "csv"])
def test_one_nul_byte_skips_its_record_not_the_file(tmp_path: Path, kind: str) -> None:
    if kind == "jsonl":
        data = record(1) + "\n" + record(2).replace("Body", "Bo\x00dy") + "\n" + record(3) + "\n"
        expected = ["a1", "a3"]
    else:
        data = "id,title,body\n1,One,Body one.\n2,Two,Bo\x00dy two.\n3,Three,Body three.\n"
        expected = ["1", "3"]
    path = tmp_path / f"nul.{kind}"
    path.write_bytes(data.encode())
    articles, report = read([path])
    assert [a.id for a in articles] == expected
    (skip,) = report.skipped
    assert skip.line == (2 if kind == "jsonl" else 3)
    assert "NUL byte" in skip.reason


def test_a_folder_that_cannot_be_read_gets_a_skip_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "corpus"
    (root / "locked").mkdir(parents=True)
    jsonl(root, [record(1)], "a.jsonl")
    jsonl(root / "locked", [record(2)], "b.jsonl")
    locked = str(root / "locked")
    real_scandir = os.scandir

    def scandir(path: object = ".") -> object:  # what chmod 000 does, even for root
        if os.fspath(path) == locked:  # type: ignore[arg-type]
            raise PermissionError(13, "Permission denied", locked)
        return real_scandir(path)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "scandir", scandir)
    articles, report = read([root])
    assert [a.id for a in articles] == ["a1"]
    assert [(s.path, s.reason) for s in report.skipped] == [
        (locked, "unreadable folder: Permission denied")
    ]


def test_stdin_first_line_not_json_does_not_make_one_text_article() -> None:
    data = ("id,title,body\n" + record(1) + "\n" + record(2) + "\n").encode()
    report = ReadReport()
    articles = list(read_stdin(data, report))
    assert [a.id for a in articles] == ["a1", "a2"]
    assert [(s.line, s.reason.split(":")[0]) for s in report.skipped] == [(1, "invalid JSON")]


def test_stdin_honours_the_input_format() -> None:
    text = b"Headline here\n\nBody text follows.\n"
    report = ReadReport()
    assert list(read_stdin(text, report, fmt="jsonl")) == []
    assert [s.line for s in report.skipped] == [1, 3]  # JSONL asked: two bad lines
    csv_report = ReadReport()
    (article,) = read_stdin(b"id,body\nx1,From a CSV pipe.\n", csv_report, fmt="csv")
    assert (article.id, article.body) == ("x1", "From a CSV pipe.")


@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\x85", "\x0c", "\r", "\x1c"])
def test_line_separators_inside_a_json_string_do_not_split_a_record(
    tmp_path: Path, separator: str
) -> None:
    # raw, as a JavaScript export writes them (JSON wants control characters escaped, but
    # a record is not lost for that)
    line = '{"id": "x", "body": "one' + separator + 'two"}'
    data = (line + "\n" + record(2) + "\n").encode()
    report = ReadReport()
    articles = list(read_stdin(data, report))
    assert [a.id for a in articles] == ["x", "a2"]
    assert articles[0].body.startswith("one") and articles[0].body.endswith("two")
    assert not report.skipped
    path = tmp_path / "wide.jsonl"
    path.write_bytes(data.decode().encode("utf-16"))  # read by a text decoder, not lines
    articles, file_report = read([path])
    assert [a.id for a in articles] == ["x", "a2"] and not file_report.skipped


# -- unbounded work ---------------------------------------------------------------------------


class Endless(io.RawIOBase):
    """A stream that never ends a line (like /dev/zero, but text): 64 KB a read."""

    def __init__(self, byte: bytes = b"a") -> None:
        self.block = byte * 65536
        self.served = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        n = min(len(buffer), len(self.block))
        buffer[:n] = self.block[:n]
        self.served += n
        return n


def test_a_stream_with_no_line_end_is_bounded() -> None:
    options = ReadOptions(max_record_bytes=1 * MB, max_skim_bytes=8 * MB)
    stream = Endless()
    report = ReadReport()
    tracemalloc.start()
    try:
        articles = list(read_stdin_stream(stream, report, options, "jsonl"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert articles == []
    assert [(s.line, s.reason) for s in report.skipped] == [
        (1, "record too long: no line end within 1 MB"),
        (None, "line 1: no line end within 8 MB: rest of the file skipped"),
    ]
    assert stream.served < 12 * MB
    assert peak < 6 * MB


def test_dev_zero_named_jsonl_is_skipped_at_once(tmp_path: Path) -> None:
    link = tmp_path / "zero.jsonl"
    link.symlink_to("/dev/zero")
    articles, report = read([link])
    assert articles == []
    assert [s.reason for s in report.skipped] == ["binary data, not text"]
    stdin_report = ReadReport()
    with open("/dev/zero", "rb") as zero:
        assert list(read_stdin_stream(zero, stdin_report)) == []
    assert [s.reason for s in stdin_report.skipped] == ["binary data, not text"]


def test_a_page_with_a_million_elements_is_skipped_before_parsing(tmp_path: Path) -> None:
    path = tmp_path / "huge.html"
    path.write_text("<html><body>" + "<p>x</p>" * 150_000 + "</body></html>", encoding="utf-8")
    articles, report = read([path])
    assert articles == []
    assert [s.reason for s in report.skipped] == ["page too large: more than 50,000 elements"]


def _in_thread(func, timeout: float = 20.0):  # type: ignore[no-untyped-def]
    box: dict[str, object] = {}
    thread = threading.Thread(target=lambda: box.setdefault("result", func()), daemon=True)
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), "the reader blocked"
    return box["result"]


def test_a_fifo_without_a_writer_does_not_block_forever(tmp_path: Path) -> None:
    fifo = tmp_path / "feed.jsonl"
    os.mkfifo(fifo)
    good = jsonl(tmp_path, [record(1)], "good.jsonl")
    report = ReadReport()
    options = ReadOptions(fifo_timeout=0.3)
    articles = _in_thread(lambda: list(read_corpus([fifo, good], "auto", report, options)))
    assert [a.id for a in articles] == ["a1"]
    assert [(s.path, s.reason) for s in report.skipped] == [
        (str(fifo), "named pipe: no writer opened it within 0.3 s")
    ]


def test_a_fifo_inside_an_input_folder_is_skipped_at_once(tmp_path: Path) -> None:
    """A folder walk reads regular files only: a pipe in it is named and skipped, without
    waiting for a writer (given as an input of its own, a pipe is read)."""
    folder = tmp_path / "archive"
    folder.mkdir()
    os.mkfifo(folder / "feed.jsonl")
    jsonl(folder, [record(1)], "good.jsonl")
    report = ReadReport()
    options = ReadOptions(fifo_timeout=30)
    articles = _in_thread(lambda: list(read_corpus([folder], "auto", report, options)))
    assert [a.id for a in articles] == ["a1"]
    [skip] = report.skipped
    assert skip.path == str(folder / "feed.jsonl")
    assert skip.reason.startswith("not a regular file (a pipe, socket or device)")


def test_a_fifo_with_a_writer_is_read(tmp_path: Path) -> None:
    fifo = tmp_path / "feed.jsonl"
    os.mkfifo(fifo)

    def write() -> None:
        with open(fifo, "w", encoding="utf-8") as out:
            out.write(record(1) + "\n" + record(2) + "\n")

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    articles, report = _in_thread(lambda: read([fifo]))
    assert [a.id for a in articles] == ["a1", "a2"] and not report.skipped


def test_process_substitution_is_read_as_a_stream() -> None:
    # `tagger predict <(cat x.jsonl)`: a /dev/fd pipe with no name to detect a format by
    read_end, write_end = os.pipe()

    def write() -> None:
        with os.fdopen(write_end, "wb") as out:
            out.write(("not a record\n" + record(1) + "\n" + record(2) + "\n").encode())

    threading.Thread(target=write, daemon=True).start()
    try:
        articles, report = _in_thread(lambda: read([f"/dev/fd/{read_end}"]))
    finally:
        os.close(read_end)
    assert [a.id for a in articles] == ["a1", "a2"]
    assert [s.line for s in report.skipped] == [1]


def test_a_bom_at_the_start_of_a_later_line_is_ignored(tmp_path: Path) -> None:
    # `cat a.jsonl b.jsonl` of two files saved with a UTF-8 BOM
    part = b"\xef\xbb\xbf" + (record(1) + "\n").encode()
    path = tmp_path / "joined.jsonl"
    path.write_bytes(part + part.replace(b'"a1"', b'"a2"'))
    articles, report = read([path])
    assert [a.id for a in articles] == ["a1", "a2"] and not report.skipped


def test_a_truncated_record_is_named_in_plain_words(tmp_path: Path) -> None:
    path = jsonl(tmp_path, [record(1), '{"id": "x", "title": "broken', record(3)])
    articles, report = read([path])
    assert [a.id for a in articles] == ["a1", "a3"]
    (skip,) = report.skipped
    assert (skip.line, skip.reason) == (
        2,
        "invalid JSON: Unterminated string starting at column 22",
    )


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "stdin"])
def test_every_field_a_reader_returns_is_clean_not_only_title_and_body(
    tmp_path: Path, fmt: str
) -> None:
    """Ids, sections, tags, authors, url, source and meta pass the same hygiene as title
    and body (no C0 or C1 control character; lone surrogates repaired), whichever reader."""
    dirty = {
        "id": "a\x1b[31m1\x9b",
        "title": "Title",
        "body": "Body of the article.",
        "section": "Poli\x07tics",
        "tags": ["immi\x01gration", "trade\x85"],  # (a NUL is a malformed CSV row)
        "authors": ["Ann\x1b]8;;x\x07 Lee"],
        "url": "https://example.org/\x7fa",
        "source": "wire\x0b",
    }
    if fmt == "csv":
        import csv

        path = tmp_path / "c.csv"
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["id", "title", "body", "section", "tags", "url"])
            writer.writerow(
                [dirty[k] for k in ("id", "title", "body", "section")]
                + ["|".join(dirty["tags"]), dirty["url"]]
            )
        report = ReadReport()
        articles = list(read_corpus([path], report=report))
        assert not report.skipped, report.skipped
    elif fmt == "stdin":
        line = json.dumps({**dirty, "meta": {"desk\x1b": "x\x9by"}}) + "\n"
        stream = io.BytesIO(line.encode())
        articles = list(read_stdin_stream(stream, ReadReport(), ReadOptions(), "jsonl"))
    else:
        line = json.dumps({**dirty, "meta": {"desk\x1b": "x\x9by"}})
        articles = list(read_corpus([jsonl(tmp_path, [line])], report=ReadReport()))
    assert len(articles) == 1
    data = articles[0].to_dict()
    text = json.dumps(data, ensure_ascii=False)
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in text if c not in "\n\t")
    assert data["id"].startswith("a ") and "1" in data["id"]
    assert data["section"] == "Poli tics"
    assert [t.strip() for t in data["tags"]] == ["immi gration", "trade"]
