"""`tagger corpus import` and `tagger corpus dedup` end to end: nothing is silently dropped."""

from __future__ import annotations

import gzip
import io
import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tagger.cli import app

runner = CliRunner()


def run(args: list) -> object:
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert "Traceback" not in result.output
    return result


@pytest.fixture
def messy(tmp_path: Path, wild: Path) -> Path:
    """A folder of everything an archive holds, good and bad."""
    root = tmp_path / "archive"
    (root / "pages").mkdir(parents=True)
    (root / "dumps").mkdir()
    for name in ("bridge-jsonld.html", "harvest-meta.html", "front-page.html", "truncated.html"):
        shutil.copy(wild / "html" / name, root / "pages" / name)
    with gzip.open(root / "pages" / "bridge-copy.html.gz", "wb") as out:
        out.write((wild / "html" / "bridge-jsonld.html").read_bytes())
    for path in (wild / "dumps" / "harbourtimes").iterdir():
        shutil.copy(path, root / "dumps" / path.name)
    (root / "dumps" / "empty.txt").write_bytes(b"")
    (root / "dumps" / "latin.txt").write_bytes(bytes(range(128, 256)) * 20)
    (root / "photo.jpg.txt").write_bytes(b"\xff\xd8\xff\xe0" + bytes(range(256)) * 16)
    (root / "notes.docx").write_bytes(b"PK\x03\x04 whatever")
    (root / "feed.jsonl").write_text(
        json.dumps({"id": "j1", "title": "From a feed", "body": "A body from a JSONL feed."})
        + "\n[1, 2, 3]\n",
        encoding="utf-8",
    )
    return root


def test_import_a_messy_archive(messy: Path, tmp_path: Path) -> None:
    out, skipped = tmp_path / "out.jsonl", tmp_path / "skipped.txt"
    result = run(["corpus", "import", messy, "-o", out, "--skipped", skipped, "--source", "arc"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert {r["title"] for r in rows} >= {
        "Old bridge over the Lune to close for six weeks of repairs",
        "Apple harvest starts two weeks early after hot summer",
        "Harbour Council Approves Flood Barrier After Decade Of Delays",
        "From a feed",
    }
    assert len(rows) == 7  # 3 pages (one a gzipped copy), 3 dumps, 1 JSONL record
    assert all(
        set(r)
        == {
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
        for r in rows
    )
    assert {r["source"] for r in rows} == {"arc"}
    listed = skipped.read_text(encoding="utf-8").splitlines()
    reasons = {line.split(": ", 1)[0].rsplit("/", 1)[1]: line.split(": ", 1)[1] for line in listed}
    assert reasons == {
        "front-page.html": "not an article: index or list page",
        "truncated.html": "truncated page: <article> not closed and cut mid-sentence",
        "empty.txt": "empty body: the file has no text",
        "latin.txt": "unknown text encoding",
        "photo.jpg.txt": "binary data, not text",
        "notes.docx": "unknown format: give --input-format (-f)",
        "feed.jsonl:2": "invalid record: expected a JSON object, got list",
    }
    # every input file is either imported or listed as skipped
    files = {p.name for p in messy.rglob("*") if p.is_file()}
    imported = {Path(r["meta"]["path"]).name for r in rows if "path" in r["meta"]} | {"feed.jsonl"}
    assert files == imported | {k.split(":")[0] for k in reasons}
    assert "1 exact duplicate(s) kept" in result.stderr
    assert "7 written" in result.stderr


def test_strict_import_fails_and_dedup_drops_copies(messy: Path, tmp_path: Path) -> None:
    result = run(["corpus", "import", messy, "-o", tmp_path / "o.jsonl", "--strict", "-q"])
    assert result.exit_code == 1
    assert "--strict" in result.stderr
    skipped = tmp_path / "s.txt"
    out = tmp_path / "d.jsonl"
    result = run(["corpus", "import", messy / "pages", "-o", out, "--dedup", "--skipped", skipped])
    assert result.exit_code == 0
    assert len(out.read_text().splitlines()) == 2
    assert any(
        "exact duplicate of https://valleycourier.example/towns/old-bridge-repairs" in line
        for line in skipped.read_text().splitlines()
    )


def test_huge_file_is_skipped_without_reading_it_all(tmp_path: Path) -> None:
    page = tmp_path / "huge.html"
    with page.open("wb") as handle:
        handle.truncate(200 * 1024 * 1024)  # a sparse 200 MB file: refused by its size
    dump = tmp_path / "huge.txt"
    dump.write_bytes(b"")
    with dump.open("wb") as handle:
        handle.truncate(200 * 1024 * 1024)
    result = run(["corpus", "import", tmp_path, "-o", tmp_path / "o.jsonl"])
    assert result.exit_code == 2  # no article in the input: refused, as by every command
    assert f"{tmp_path}: no article to import" in result.stderr
    assert not (tmp_path / ".o.jsonl.partial").exists()
    assert not (tmp_path / "o.jsonl").exists()
    assert f"{page}: file larger than 100 MB" in result.stderr
    assert f"{dump}: file larger than 100 MB" in result.stderr
    assert "2 skipped (2 file larger than 100 MB)" in result.stderr


def test_canonical_output_imports_again_unchanged(tmp_path: Path, wild: Path) -> None:
    first, second = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    assert run(["corpus", "import", wild / "html", "-o", first]).exit_code == 0
    result = run(["corpus", "import", first, "-o", second, "--format", "jsonl"])
    assert result.exit_code == 0
    assert first.read_text(encoding="utf-8") == second.read_text(encoding="utf-8")


def test_html_folder_with_format_option(tmp_path: Path, wild: Path) -> None:
    folder = tmp_path / "saved"
    folder.mkdir()
    shutil.copy(wild / "html" / "bridge-jsonld.html", folder / "page-without-extension")
    result = run(["corpus", "import", folder, "-o", tmp_path / "o.jsonl", "-f", "html"])
    assert result.exit_code == 0
    (row,) = [json.loads(x) for x in (tmp_path / "o.jsonl").read_text().splitlines()]
    assert row["section"] == "Towns"


def test_dedup_command_reports_and_writes(tmp_path: Path) -> None:
    from .test_dedup_split import corpus

    path = tmp_path / "c.jsonl"
    path.write_text("".join(json.dumps(a.to_dict()) + "\n" for a in corpus()), encoding="utf-8")
    out, report = tmp_path / "clean.jsonl", tmp_path / "dups.jsonl"
    result = run(["corpus", "dedup", path, "-o", out, "--report", report])
    assert result.exit_code == 0, result.output
    assert [json.loads(x)["id"] for x in out.read_text().splitlines()] == [
        "Central bank raises rates again",
        "fair",
    ]
    pairs = [json.loads(x) for x in report.read_text().splitlines()]
    assert [(p["id"], p["kind"]) for p in pairs] == [
        ("exact-copy", "exact"),
        ("republished", "near"),
    ]
    assert "2 duplicate(s): 1 exact, 1 near" in result.stderr


def test_split_command_writes_two_sides(tmp_path: Path) -> None:
    from .test_dedup_split import corpus, dated

    path = tmp_path / "c.jsonl"
    articles = corpus() + dated(8)
    path.write_text("".join(json.dumps(a.to_dict()) + "\n" for a in articles), encoding="utf-8")
    train, test = tmp_path / "train.jsonl", tmp_path / "test.jsonl"
    result = run(["corpus", "split", path, "--train", train, "--test", test, "--split-by-date"])
    assert result.exit_code == 0, result.output
    test_ids = [json.loads(x)["id"] for x in test.read_text().splitlines()]
    assert test_ids == ["a6", "a7"]  # 0.2 of 12 articles: the two newest
    assert len(train.read_text().splitlines()) + len(test_ids) == len(articles)


def test_tag_vocabulary_option_and_first_pass_progress(tmp_path: Path, wild: Path) -> None:
    from tagger.corpus.importer import import_corpus

    vocabulary = tmp_path / "tags.txt"
    vocabulary.write_text("Harbour Council\n", encoding="utf-8")
    out = tmp_path / "o.jsonl"
    page = wild / "dumps" / "harbourtimes" / "flood-barrier.txt"
    result = run(["corpus", "import", page, "-o", out, "--tag-vocabulary", vocabulary])
    assert result.exit_code == 0
    (row,) = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert row["tags"] == ["Flood defence", "Harbour Council", "climate-adaptation"]
    calls: list[tuple[str, int, int]] = []
    sink = io.StringIO()
    import_corpus([wild / "dumps"], sink, "text", progress=lambda *call: calls.append(call))
    assert ("scan text dumps", 6, 6) in calls  # the cross-document pass
    assert calls[-1] == ("import", 6, 6)
    assert len(sink.getvalue().splitlines()) == 6


def test_dedup_exact_only(tmp_path: Path) -> None:
    from .test_dedup_split import corpus

    path = tmp_path / "c.jsonl"
    path.write_text("".join(json.dumps(a.to_dict()) + "\n" for a in corpus()), encoding="utf-8")
    result = run(["corpus", "dedup", path, "--exact-only"])
    assert result.exit_code == 0
    assert "1 duplicate(s): 1 exact, 0 near" in result.stderr
    assert "exact duplicate: exact-copy repeats Central bank raises rates again" in result.stderr


# -- --jobs: input files read by worker processes, the same bytes ----------------------------


def _shards(root: Path, count: int = 5, per: int = 30) -> None:
    """JSONL shards with an exact duplicate across shards, a repaired and a broken record."""
    words = ["".join(chr(97 + (n // 26**k) % 26) for k in range(3)) for n in range(count * per)]
    for shard in range(count):
        rows = [
            json.dumps(
                {"id": f"s{shard}-{i}", "title": "Item", "body": f"Body {words[shard * per + i]}."}
            )
            for i in range(per)
        ]
        rows.append(json.dumps({"id": f"copy{shard}", "title": "Copy", "body": "The same body."}))
        rows.append(f'{{"id": "r{shard}", "title": "x\\ud83d", "body": "Repaired."}}')
        rows.append("[1, 2]")
        (root / f"shard-{shard}.jsonl").write_text("\n".join(rows) + "\n", encoding="utf-8")


def test_import_jobs_give_the_same_bytes(messy: Path, tmp_path: Path) -> None:
    _shards(messy)
    outputs = {}
    for jobs in ("1", "2"):
        out, skipped = tmp_path / f"out{jobs}.jsonl", tmp_path / f"skipped{jobs}.txt"
        result = run(
            ["corpus", "import", messy, "-o", out, "--skipped", skipped, "--dedup", "-j", jobs]
        )
        assert result.exit_code == 0, result.output
        summary = [line for line in result.stderr.splitlines() if line.startswith("read ")]
        outputs[jobs] = (out.read_bytes(), skipped.read_bytes(), summary)
    assert outputs["1"] == outputs["2"]
    rows = outputs["2"][0].decode().splitlines()
    # messy without its duplicate page, the shards' own records, one 'copy', one 'repaired'
    assert len(rows) == 7 - 1 + 5 * 30 + 1 + 1
    assert "9 exact duplicate(s) dropped" in outputs["2"][2][0]
    assert "5 repaired" in outputs["2"][2][0]


def test_import_jobs_leave_pipes_and_big_outputs_to_the_parent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os
    import threading

    from tagger.corpus import importer
    from tagger.corpus.importer import import_corpus

    _shards(tmp_path, count=6, per=12)
    fifo = tmp_path / "feed.pipe"
    os.mkfifo(fifo)
    payload = "".join(
        json.dumps({"id": f"p{i}", "title": "Piped", "body": f"From a pipe {i}."}) + "\n"
        for i in range(5)
    )

    def read(jobs: int) -> tuple[str, str]:
        writer = threading.Thread(target=lambda: fifo.write_text(payload, encoding="utf-8"))
        writer.start()
        sink, report = io.StringIO(), importer.ReadReport()
        paths = [tmp_path / "shard-0.jsonl", fifo, tmp_path]
        result = import_corpus(paths, sink, "auto", report=report, jobs=jobs)
        writer.join()
        facts = (report.files, report.records, report.articles, report.notes, report.repairs)
        return sink.getvalue(), f"{result.summary()} {[str(s) for s in report.skipped]} {facts}"

    one = read(1)
    monkeypatch.setattr(importer, "BATCH_BYTES", 400)  # most batches end up read here
    assert read(2) == one
    assert '"id": "p4"' in one[0]


def test_import_stage_hands_a_batch_over_its_budget_back(tmp_path: Path) -> None:
    from tagger.corpus.importer import Imported, ImportStage
    from tagger.corpus.readers import ReadOptions, ReadUnit, read_corpus

    _shards(tmp_path, count=3, per=10)
    units = [ReadUnit(tmp_path / f"shard-{i}.jsonl", "jsonl") for i in range(3)]
    skip = ReadUnit(tmp_path / "x.doc", "auto", "unknown format: give --input-format (-f)")
    first = sum(len(Imported.of(a).line) for a in read_corpus([units[0].path]))
    stage = ImportStage(ReadOptions(), budget=first)  # the first file's output fits exactly
    done = stage([units[0], skip, units[1], units[2]]).items
    assert [d.unit for d in done] == [units[0], skip, units[1], units[2]]
    assert done[0].report is not None and len(done[0].articles) == 12
    assert done[0].report.skipped[0].line == 13  # its own report: the broken record
    assert [d.report for d in done[1:]] == [None, None, None]  # a skip, then over budget
    assert all(not d.articles for d in done[1:])


def test_import_reads_stdin_in_its_place_among_the_inputs(tmp_path: Path) -> None:
    """`-` is standard input, as for every command that reads articles; with --jobs too."""
    first = tmp_path / "first.jsonl"
    first.write_text(json.dumps({"id": "f1", "title": "File", "body": "From a file."}) + "\n")
    piped = "".join(
        json.dumps({"id": f"s{i}", "title": "Piped", "body": f"From stdin {i}."}) + "\n"
        for i in range(3)
    )
    outputs = []
    for jobs in ("1", "2"):
        out = tmp_path / f"out{jobs}.jsonl"
        args = ["corpus", "import", str(first), "-", "-o", str(out), "-j", jobs]
        result = runner.invoke(app, args, input=piped)
        assert result.exit_code == 0, result.output
        assert "read 2 file(s), 4 record(s): 4 article(s); 4 written" in result.stderr
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]
    ids = [json.loads(line)["id"] for line in outputs[0].decode().splitlines()]
    assert ids == ["f1", "s0", "s1", "s2"]
