"""Output paths of `corpus import`, `dedup` and `split`: checked first, never half-written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tagger.cli import app
from tagger.corpus.importer import atomic_output

runner = CliRunner()

GOOD = (
    "Bridge to close for repairs\n\nThe old bridge over the river closes on Monday for six weeks.\n"
)


def run(args: list) -> object:
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert "Traceback" not in result.output
    assert "internal error" not in result.output
    return result


def corpus(tmp_path: Path, n: int = 6) -> Path:
    path = tmp_path / "corpus.jsonl"
    rows = [
        {"id": f"a{i}", "title": f"Story {i}", "body": f"Body number {i} about topic {i * 7}."}
        for i in range(n)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def hidden_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".partial"))


def test_split_refuses_to_overwrite_its_input(tmp_path: Path) -> None:
    src = corpus(tmp_path)
    before = src.read_bytes()
    result = run(["corpus", "split", src, "--train", src, "--test", src])
    assert result.exit_code == 2
    assert "same file" in result.output or "overwrite an input" in result.output
    assert src.read_bytes() == before


@pytest.mark.parametrize("option", ["--train", "--test"])
def test_split_refuses_an_input_as_either_output(tmp_path: Path, option: str) -> None:
    src = corpus(tmp_path)
    before = src.read_bytes()
    other = "--test" if option == "--train" else "--train"
    # the same file spelled differently still resolves to the input
    spelled = tmp_path / "sub" / ".." / src.name
    (tmp_path / "sub").mkdir()
    result = run(["corpus", "split", src, option, spelled, other, tmp_path / "x.jsonl"])
    assert result.exit_code == 2
    assert "overwrite an input" in result.output
    assert src.read_bytes() == before
    assert not (tmp_path / "x.jsonl").exists()


def test_split_refuses_train_and_test_in_one_file(tmp_path: Path) -> None:
    src = corpus(tmp_path)
    same = tmp_path / "both.jsonl"
    result = run(["corpus", "split", src, "--train", same, "--test", same])
    assert result.exit_code == 2
    assert "same file" in result.output
    assert not same.exists()


def test_split_refuses_a_missing_folder_before_writing(tmp_path: Path) -> None:
    src = corpus(tmp_path)
    train = tmp_path / "train.jsonl"
    result = run(["corpus", "split", src, "--train", train, "--test", tmp_path / "no" / "t.jsonl"])
    assert result.exit_code == 2
    assert "does not exist" in result.output
    assert not train.exists()  # nothing written before the refusal


def test_import_refuses_a_missing_output_folder(tmp_path: Path) -> None:
    (tmp_path / "good.txt").write_text(GOOD, encoding="utf-8")
    out = tmp_path / "nonexistent" / "dir" / "out.jsonl"
    result = run(["corpus", "import", tmp_path / "good.txt", "-o", out])
    assert result.exit_code == 2
    assert "does not exist" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_import_refuses_a_folder_as_output(tmp_path: Path) -> None:
    (tmp_path / "good.txt").write_text(GOOD, encoding="utf-8")
    target = tmp_path / "outdir"
    target.mkdir()
    result = run(["corpus", "import", tmp_path / "good.txt", "-o", target])
    assert result.exit_code == 2
    assert "is a folder" in result.output
    assert hidden_files(tmp_path) == [] and list(target.iterdir()) == []


def test_import_checks_skipped_before_writing_the_output(tmp_path: Path) -> None:
    (tmp_path / "good.txt").write_text(GOOD, encoding="utf-8")
    out = tmp_path / "out.jsonl"
    result = run(
        ["corpus", "import", tmp_path / "good.txt", "-o", out, "--skipped", "/nonexistent/x.txt"]
    )
    assert result.exit_code == 2
    assert "--skipped" in result.output
    assert not out.exists()
    assert hidden_files(tmp_path) == []


def test_import_of_a_missing_input_leaves_no_partial_file(tmp_path: Path) -> None:
    (tmp_path / "good.txt").write_text(GOOD, encoding="utf-8")
    out = tmp_path / "s2.jsonl"
    result = run(["corpus", "import", tmp_path / "nonexistent", tmp_path / "good.txt", "-o", out])
    assert result.exit_code == 2
    assert "nonexistent" in result.output
    assert not out.exists()
    assert hidden_files(tmp_path) == []


@pytest.mark.skipif(
    not hasattr(__import__("os"), "geteuid") or __import__("os").geteuid() == 0,
    reason="root can write anywhere",
)
def test_import_refuses_a_read_only_folder(tmp_path: Path) -> None:
    (tmp_path / "good.txt").write_text(GOOD, encoding="utf-8")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        result = run(["corpus", "import", tmp_path / "good.txt", "-o", locked / "out.jsonl"])
    finally:
        locked.chmod(0o700)
    assert result.exit_code == 2
    assert "not writable" in result.output


def test_import_that_writes_nothing_fails_and_keeps_the_old_output(tmp_path: Path) -> None:
    binary = tmp_path / "blob.txt"
    binary.write_bytes(b"\x00\x01\x02\xff\xfe" * 2000)
    out, skipped = tmp_path / "out.jsonl", tmp_path / "skipped.txt"
    out.write_text('{"id": "old"}\n', encoding="utf-8")
    result = run(["corpus", "import", binary, "-o", out, "--skipped", skipped])
    assert result.exit_code == 2  # refused like every command's input with no article
    assert f"{binary}: no article to import" in result.output
    assert out.read_text(encoding="utf-8") == '{"id": "old"}\n'
    assert "blob.txt" in skipped.read_text(encoding="utf-8")  # still says why
    assert hidden_files(tmp_path) == []


def test_dedup_refuses_bad_outputs(tmp_path: Path) -> None:
    src = corpus(tmp_path)
    before = src.read_bytes()
    assert run(["corpus", "dedup", src, "-o", src]).exit_code == 2
    assert src.read_bytes() == before
    result = run(["corpus", "dedup", src, "--report", tmp_path])
    assert result.exit_code == 2 and "is a folder" in result.output
    result = run(["corpus", "dedup", src, "-o", tmp_path / "no" / "out.jsonl"])
    assert result.exit_code == 2 and "does not exist" in result.output
    result = run(["corpus", "dedup", src, "-o", tmp_path / "same", "--report", tmp_path / "same"])
    assert result.exit_code == 2 and "same file" in result.output


def test_split_and_dedup_still_write_good_outputs(tmp_path: Path) -> None:
    src = corpus(tmp_path, 10)
    train, test = tmp_path / "train.jsonl", tmp_path / "test.jsonl"
    assert run(["corpus", "split", src, "--train", train, "--test", test]).exit_code == 0
    ids = [json.loads(line)["id"] for p in (train, test) for line in p.read_text().splitlines()]
    assert sorted(ids) == sorted(f"a{i}" for i in range(10))
    out = tmp_path / "dedup.jsonl"
    assert run(["corpus", "dedup", src, "-o", out, "--report", tmp_path / "r.jsonl"]).exit_code == 0
    assert len(out.read_text().splitlines()) == 10
    assert hidden_files(tmp_path) == []


def test_atomic_output_removes_the_partial_file_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "out.jsonl"
    target.write_text("before\n", encoding="utf-8")
    with pytest.raises(RuntimeError), atomic_output(target) as handle:
        handle.write("half\n")
        raise RuntimeError("boom")
    assert target.read_text(encoding="utf-8") == "before\n"
    assert hidden_files(tmp_path) == []


def test_dedup_refuses_an_input_with_no_article(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    result = run(["corpus", "dedup", empty, "-o", out])
    assert result.exit_code == 2
    assert f"error: {empty}: no article to deduplicate" in result.output
    assert not out.exists()
