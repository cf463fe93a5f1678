"""Readers: every format becomes Articles, and every record that does not is reported."""

from __future__ import annotations

import codecs
import gzip
import json
import shutil
from pathlib import Path

import pytest

from tagger.corpus.article import Article
from tagger.corpus.readers import (
    ReadOptions,
    ReadReport,
    detect_format,
    modapte_split,
    read_corpus,
    read_stdin,
    write_jsonl,
)
from tagger.errors import InputError

from .conftest import FIXTURES

REUTERS = FIXTURES / "reut2-sample.sgm"


def read(
    paths: list[Path], fmt: str = "auto", options: ReadOptions | None = None
) -> tuple[list[Article], ReadReport]:
    report = ReadReport()
    articles = list(read_corpus(paths, fmt, report, options))
    return articles, report


def record(i: int, **extra: object) -> str:
    data = {"id": f"a{i}", "title": f"Title {i}", "body": f"Body of article {i}.", **extra}
    return json.dumps(data)


# -- JSONL --------------------------------------------------------------------------------


def test_jsonl_skips_bad_lines_with_file_line_and_reason(tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl"
    lines = [
        record(1, section="Politics", tags=["a", "b"]),
        "",  # blank lines are not records
        "{not json",
        json.dumps({"id": "nobody", "title": "Title only"}),
        json.dumps([1, 2, 3]),
        json.dumps({"id": "badtags", "body": "x", "tags": 7}),
        record(2),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    seen = []
    report = ReadReport(on_skip=seen.append)
    articles = list(read_corpus([path], "auto", report))

    # a headline-only record is an article, as over HTTP (a newsflash)
    assert [a.id for a in articles] == ["a1", "nobody", "a2"]
    assert not any("nobody" in str(skip) for skip in report.skipped)
    assert articles[0].section == "Politics" and articles[0].tags == ["a", "b"]
    assert (articles[1].title, articles[1].body) == ("Title only", "")
    assert (report.files, report.records, report.articles) == (1, 6, 3)
    assert [(s.line, s.reason.split(":")[0]) for s in report.skipped] == [
        (3, "invalid JSON"),
        (5, "invalid record"),
        (6, "invalid record"),
    ]
    assert seen == report.skipped  # reported as they happen
    assert all(s.path == str(path) for s in report.skipped)
    assert str(report.skipped[0]).startswith(f"{path}:3: invalid JSON")
    summary = report.summary()
    assert "3 article(s)" in summary and "3 skipped" in summary
    assert "2 invalid record" in summary and "1 invalid JSON" in summary


def test_jsonl_with_utf8_bom_and_crlf(tmp_path: Path) -> None:
    path = tmp_path / "bom.jsonl"
    path.write_bytes(codecs.BOM_UTF8 + (record(1) + "\r\n" + record(2) + "\r\n").encode())
    articles, report = read([path])
    assert [a.id for a in articles] == ["a1", "a2"]
    assert not report.skipped


def test_jsonl_in_utf16(tmp_path: Path) -> None:
    path = tmp_path / "wide.jsonl"
    text = record(1, title="Zürich café") + "\n" + record(2) + "\n"
    path.write_bytes(text.encode("utf-16"))  # with BOM
    articles, report = read([path])
    assert [a.title for a in articles] == ["Zürich café", "Title 2"]
    assert not report.skipped


def test_jsonl_line_in_cp1252_is_decoded_not_lost(tmp_path: Path) -> None:
    path = tmp_path / "legacy.jsonl"
    line = json.dumps(
        {"id": "c", "title": "Café in Köln", "body": "Prices rose 5 €."}, ensure_ascii=False
    )
    path.write_bytes(record(1).encode() + b"\n" + line.encode("cp1252") + b"\n")
    articles, report = read([path])
    assert [a.title for a in articles] == ["Title 1", "Café in Köln"]
    assert articles[1].body == "Prices rose 5 €."
    assert not report.skipped


def test_gzipped_jsonl(tmp_path: Path) -> None:
    path = tmp_path / "corpus.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write(record(1) + "\n" + record(2) + "\n")
    assert detect_format(path) == "jsonl"
    articles, _report = read([path])
    assert [a.id for a in articles] == ["a1", "a2"]


def test_binary_file_named_jsonl_is_skipped_as_a_whole(tmp_path: Path) -> None:
    path = tmp_path / "image.jsonl"
    path.write_bytes(bytes(range(256)) * 16)
    articles, report = read([path])
    assert articles == []
    assert len(report.skipped) == 1
    assert report.skipped[0].path == str(path)
    assert "binary" in report.skipped[0].reason


def test_text_fields_are_cleaned_and_source_filled(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    path.write_text(
        json.dumps({"id": "x", "title": "  A &amp; B ", "body": "line\r\n\n\n\nnext  word"}) + "\n"
    )
    (article,), _ = read([path], options=ReadOptions(source="wire"))
    assert article.title == "A & B"
    assert article.body == "line\n\nnext word"
    assert article.source == "wire"


def test_write_jsonl_round_trips(tmp_path: Path) -> None:
    articles = [
        Article(id="1", title="Café", body="Körper", section="S", tags=["t"], meta={"k": [1]}),
        Article(id="2", body="only body"),
    ]
    path = tmp_path / "out.jsonl"
    with path.open("w", encoding="utf-8") as handle:
        assert write_jsonl(articles, handle) == 2
    again, report = read([path])
    assert again == articles
    assert not report.skipped


def test_missing_path_and_unknown_format_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        read([tmp_path / "absent.jsonl"])
    with pytest.raises(InputError, match="unknown format"):
        read([tmp_path], fmt="yaml")


def test_unknown_files_in_a_folder_are_reported(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_text(record(1) + "\n")
    (tmp_path / "notes.docx").write_bytes(b"PK\x03\x04")
    (tmp_path / ".hidden.jsonl").write_text("{broken\n")
    articles, report = read([tmp_path])
    assert [a.id for a in articles] == ["a1"]
    assert [(Path(s.path).name, s.reason) for s in report.skipped] == [
        ("notes.docx", "unknown format: give --input-format (-f)")
    ]


# -- CSV ----------------------------------------------------------------------------------


def test_csv_with_default_column_names(tmp_path: Path) -> None:
    path = tmp_path / "news.csv"
    path.write_text(
        "article_id,headline,text,category,keywords,date,byline\n"
        'n1,Rates rise,"The bank raised rates, again.",Business,economy;rates|banks,'
        "2024-03-05,Ana Ruiz and Tom Lee\n"
        'n2,"Storm ""Ana"" hits",Heavy rain fell.,US News,,,\n',
        encoding="utf-8",
    )
    articles, report = read([path])
    assert not report.skipped
    first, second = articles
    assert (first.id, first.title, first.body) == (
        "n1",
        "Rates rise",
        "The bank raised rates, again.",
    )
    assert first.section == "Business"
    assert first.tags == ["economy", "rates", "banks"]
    assert first.authors == ["Ana Ruiz", "Tom Lee"]
    assert first.published is not None and first.published.year == 2024
    assert second.title == 'Storm "Ana" hits' and second.tags == []


def test_csv_column_mapping(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text(
        "Story,Desk,Slug,Topics\nA long story.,World News,s-1,war;peace\n", encoding="utf-8"
    )
    options = ReadOptions(
        csv_columns={"body": "story", "section": "Desk", "id": "slug", "tags": "topics"}
    )
    (article,), report = read([path], options=options)
    assert not report.skipped
    assert (article.id, article.body, article.section) == ("s-1", "A long story.", "World News")
    assert article.tags == ["war", "peace"]


def test_csv_mapping_to_an_absent_column_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text("story,desk\nx,y\n")
    articles, report = read([path], options=ReadOptions(csv_columns={"body": "copy"}))
    assert articles == []
    assert [s.reason for s in report.skipped] == ["column 'copy' (for body) not in the header"]


def test_csv_without_a_body_column_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text("title,desk\nx,y\n")
    articles, report = read([path])
    assert articles == []
    assert "no body column" in report.skipped[0].reason


def test_csv_bad_rows_are_skipped_with_their_line(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    path.write_text(
        "id,title,body\n"
        "1,One,First body.\n"
        "2,Two,Second body.,unexpected extra\n"
        "3,Three,\n"
        '4,Four,"A body\nover two lines."\n',
        encoding="utf-8",
    )
    articles, report = read([path])
    assert [a.id for a in articles] == ["1", "3", "4"]  # "3": a headline-only record
    assert articles[2].body == "A body\nover two lines."
    assert [(s.line, s.reason.split(":")[0]) for s in report.skipped] == [(3, "malformed row")]
    assert report.records == 4


def test_semicolon_csv_and_tsv_are_recognised(tmp_path: Path) -> None:
    semi = tmp_path / "semi.csv"
    semi.write_text("id;title;body\n1;One;Body, with a comma.\n2;Two;Another body.\n")
    tsv = tmp_path / "tabs.tsv"
    tsv.write_text("id\ttitle\tbody\n9\tNine\tTab separated, body.\n")
    articles, report = read([semi, tsv])
    assert [(a.id, a.body) for a in articles] == [
        ("1", "Body, with a comma."),
        ("2", "Another body."),
        ("9", "Tab separated, body."),
    ]
    assert not report.skipped


def test_csv_in_cp1252(tmp_path: Path) -> None:
    path = tmp_path / "legacy.csv"
    path.write_bytes("id,title,body\n1,Café,“Quoted” in Zürich — 5 €.\n".encode("cp1252"))
    (article,), _ = read([path])
    assert article.title == "Café"
    assert article.body == "“Quoted” in Zürich — 5 €."


# -- folder per label -------------------------------------------------------------------------


def make_bbc_like(root: Path) -> Path:
    (root / "business").mkdir(parents=True)
    (root / "sport").mkdir()
    (root / "business" / "001.txt").write_text(
        "Profits up at bank\n\nThe bank said profits rose.\n\nShares gained.\n", encoding="utf-8"
    )
    (root / "business" / "002.txt").write_bytes(
        "Café chain sold for £3bn\n\nThe café chain was sold to a rival.\n".encode("latin-1")
    )
    (root / "sport" / "001.txt").write_text("Late goal wins derby\n\nA late goal won it.\n")
    (root / "sport" / "003.txt").write_bytes(bytes(range(256)) * 4)
    (root / "sport" / "004.txt").write_text("Title only\n")
    return root


def test_folders_reader(tmp_path: Path) -> None:
    root = make_bbc_like(tmp_path / "bbc")
    assert detect_format(root) == "folders"
    articles, report = read([root])
    by_id = {a.id: a for a in articles}
    assert sorted(by_id) == ["business/001", "business/002", "sport/001"]
    first = by_id["business/001"]
    assert (first.section, first.title) == ("business", "Profits up at bank")
    assert first.body == "The bank said profits rose.\n\nShares gained."
    assert first.meta["path"] == "business/001.txt"
    latin = by_id["business/002"]
    assert latin.title == "Café chain sold for £3bn"  # latin-1 decoded, not mangled
    assert latin.body == "The café chain was sold to a rival."
    assert by_id["sport/001"].section == "sport"
    skipped = {Path(s.path).name: s.reason for s in report.skipped}
    assert "binary" in skipped["003.txt"]
    assert skipped["004.txt"].startswith("empty body")
    assert (report.files, report.records, report.articles) == (5, 5, 3)


# -- Reuters-21578 SGML ---------------------------------------------------------------------


@pytest.fixture(params=["plain", "gzip"])
def reuters_file(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    if request.param == "plain":
        return REUTERS
    path = tmp_path / "reut2-sample.sgm.gz"
    with gzip.open(path, "wb") as handle:
        handle.write(REUTERS.read_bytes())
    return path


def test_reuters_records(reuters_file: Path) -> None:
    assert detect_format(reuters_file) == "reuters"
    articles, report = read([reuters_file])
    assert not report.skipped
    assert report.records == 4
    by_id = {a.id: a for a in articles}
    assert sorted(by_id) == ["reuters-101", "reuters-102", "reuters-103", "reuters-104"]

    wheat = by_id["reuters-101"]
    assert wheat.title == "FARM OFFICIALS WEIGH NEW WHEAT OFFER TO MOSCOW"
    assert wheat.tags == ["grain", "wheat"]
    assert wheat.source == "reuters21578"
    assert wheat.meta["places"] == ["usa", "ussr"]
    assert wheat.meta["people"] == ["lyng"]
    assert wheat.meta["orgs"] == []
    assert wheat.meta["lewissplit"] == "TRAIN"
    assert wheat.meta["cgisplit"] == "TRAINING-SET"
    assert wheat.meta["topics_attr"] == "YES"
    assert (wheat.meta["newid"], wheat.meta["oldid"]) == ("101", "9001")
    assert wheat.meta["date"] == "3-MAR-1987 09:14:22.31"
    assert wheat.meta["dateline"] == "WASHINGTON, March 3 -"
    assert wheat.published is not None
    assert (wheat.published.year, wheat.published.month, wheat.published.day) == (1987, 3, 3)
    # Dateline first, wire lines joined into paragraphs, entities decoded, sign-off dropped.
    assert wheat.body.startswith(
        "WASHINGTON, March 3 - Agriculture department officials are studying a further"
    )
    paragraphs = wheat.body.split("\n\n")
    assert len(paragraphs) == 2
    assert paragraphs[1] == (
        "Secretary Lyng told reporters no decision had been taken & that prices would be "
        "<reviewed> next week."
    )
    assert "Reuter" not in wheat.body

    crude = by_id["reuters-102"]
    assert crude.tags == ["crude"]
    assert crude.meta["orgs"] == ["opec"] and crude.meta["lewissplit"] == "TEST"

    unproc = by_id["reuters-103"]
    assert unproc.tags == [] and unproc.meta["topics_attr"] == "NO"
    assert unproc.meta["exchanges"] == ["lse"]
    assert "London shares closed firmer" in unproc.body

    brief = by_id["reuters-104"]
    assert brief.title == "BANK OF JAPAN SAID TO BUY DOLLARS IN TOKYO"
    assert brief.tags == ["money-fx"]


def test_modapte_split_uses_lewissplit_and_topics_attribute() -> None:
    articles, _ = read([REUTERS])
    train, test = modapte_split(articles)
    assert [a.id for a in train] == ["reuters-101", "reuters-104"]
    assert [a.id for a in test] == ["reuters-102"]


def test_reuters_record_without_text_is_skipped_with_its_line(tmp_path: Path) -> None:
    text = REUTERS.read_text(encoding="latin-1")
    empty = (
        '<REUTERS TOPICS="YES" LEWISSPLIT="TRAIN" CGISPLIT="TRAINING-SET" OLDID="9005" '
        'NEWID="105">\n<DATE>11-APR-1987 10:00:00.00</DATE>\n<TOPICS><D>acq</D></TOPICS>\n'
        "<TEXT>&#2;\n<TITLE></TITLE><BODY> Reuter\n&#3;</BODY></TEXT>\n</REUTERS>\n"
    )
    path = tmp_path / "reut2-extra.sgm"
    path.write_text(text + empty, encoding="latin-1")
    expected_line = text.count("\n") + 1
    articles, report = read([path])
    assert len(articles) == 4
    (skip,) = report.skipped
    assert skip.line == expected_line
    assert "reuters-105" in skip.reason


def test_sgml_file_that_is_not_reuters_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "other.sgm"
    path.write_text("<DOC><TEXT>Nothing here</TEXT></DOC>\n")
    articles, report = read([path])
    assert articles == []
    assert "not a Reuters-21578 SGML file" in report.skipped[0].reason


def test_reuters_folder_with_gzipped_and_plain_files(tmp_path: Path) -> None:
    shutil.copy(REUTERS, tmp_path / "reut2-000.sgm")
    with gzip.open(tmp_path / "reut2-001.sgm.gz", "wb") as handle:
        handle.write(REUTERS.read_bytes().replace(b'NEWID="1', b'NEWID="2'))
    articles, report = read([tmp_path])
    assert report.files == 2
    assert len({a.id for a in articles}) == 8


# -- plain text and stdin ---------------------------------------------------------------------


def test_plain_text_file(tmp_path: Path) -> None:
    path = tmp_path / "story-7.txt"
    path.write_bytes("Ärger in Köln\n\nDie Stadt stritt über den Haushalt.\n".encode("latin-1"))
    (article,), report = read([path])
    assert not report.skipped
    assert article.id == "story-7"
    assert article.title == "Ärger in Köln"
    assert article.body == "Die Stadt stritt über den Haushalt."


def test_single_line_text_is_a_body_without_title(tmp_path: Path) -> None:
    path = tmp_path / "one.txt"
    path.write_text("Just one line of news.\n")
    (article,), _ = read([path])
    assert (article.title, article.body) == ("", "Just one line of news.")


def test_empty_text_file_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "empty.txt"
    path.write_text("\n\n")
    articles, report = read([path])
    assert articles == []
    assert report.skipped[0].reason.startswith("empty body")


def test_stdin_jsonl_with_a_bad_line() -> None:
    data = (record(1) + "\n{oops\n" + record(2) + "\n").encode()
    report = ReadReport()
    articles = list(read_stdin(data, report))
    assert [a.id for a in articles] == ["a1", "a2"]
    assert [(s.path, s.line) for s in report.skipped] == [("<stdin>", 2)]
    assert (report.records, report.articles) == (3, 2)


def test_stdin_plain_text_is_one_article() -> None:
    report = ReadReport()
    (article,) = read_stdin(b"Headline here\n\nBody text follows.\n", report)
    assert (article.title, article.body) == ("Headline here", "Body text follows.")
    assert article.id.startswith("sha1-")


def test_stdin_binary_is_skipped() -> None:
    report = ReadReport()
    assert list(read_stdin(bytes(range(256)) * 4, report)) == []
    assert report.skipped[0].path == "<stdin>"
    assert "binary" in report.skipped[0].reason


# -- damaged files end as skips, never as crashes ------------------------------------------------


def test_truncated_gzip_is_reported_as_unreadable(tmp_path: Path) -> None:
    good = tmp_path / "good.jsonl"
    good.write_text(record(1) + "\n")
    for name in ("cut.jsonl.gz", "cut.csv.gz", "reut2-cut.sgm.gz"):
        data = gzip.compress(("id,body\n" + "x" * 20000 + "\n").encode())
        (tmp_path / name).write_bytes(data[: len(data) // 2])
    articles, report = read(sorted(tmp_path.iterdir()))
    assert [a.id for a in articles] == ["a1"]
    reasons = {Path(s.path).name: s.reason for s in report.skipped}
    assert set(reasons) == {"cut.jsonl.gz", "cut.csv.gz", "reut2-cut.sgm.gz"}
    assert all(r.startswith("unreadable: ") for r in reasons.values())


def test_broken_utf16_keeps_the_lines_before_the_damage(tmp_path: Path) -> None:
    path = tmp_path / "wide.jsonl"
    path.write_bytes((record(1) + "\n").encode("utf-16") + b"\x00")  # odd byte count
    articles, report = read([path])
    assert [a.id for a in articles] == ["a1"]
    assert [s.reason.split(":")[0] for s in report.skipped] == ["unreadable"]


def test_deeply_nested_json_is_an_invalid_line(tmp_path: Path) -> None:
    path = tmp_path / "deep.jsonl"
    path.write_text("[" * 100_000 + "\n" + record(2) + "\n")
    articles, report = read([path])
    assert [a.id for a in articles] == ["a2"]
    assert [(s.line, s.reason) for s in report.skipped] == [(1, "invalid JSON: nested too deeply")]
    stdin_report = ReadReport()
    data = ('{"x": ' + "[" * 100_000 + "\n" + record(3)).encode()
    assert [a.id for a in read_stdin(data, stdin_report)] == ["a3"]
    assert [(s.line, s.reason) for s in stdin_report.skipped] == [
        (1, "invalid JSON: nested too deeply")
    ]
