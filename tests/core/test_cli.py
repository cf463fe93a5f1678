"""End-to-end CLI: train on a slice of the sample corpus, predict, evaluate, info, corpus stats.

Bad input never ends in a traceback: one line naming the file (and line), skips counted in
the summary, --strict turns skips into exit 1, refusals exit 2.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tagger.api import Tagger
from tagger.cli import app
from tagger.corpus.article import Article

from .conftest import sample_records, write_jsonl

runner = CliRunner()


def run(args: list[str], stdin: bytes | str | None = None) -> Any:
    result = runner.invoke(app, [str(a) for a in args], input=stdin)
    # Whatever happened, the user sees no traceback and the exit is deliberate.
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert "Traceback" not in result.output
    return result


def error_lines(result: Any) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("error:")]


def skip_lines(result: Any) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("skipped ")]


def predict_jsonl(bundle: Path, *inputs: Any, extra: tuple[str, ...] = ()) -> list[dict]:
    result = run(
        ["predict", "--model", bundle, "--format", "jsonl", "--no-entities", *extra, *inputs]
    )
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


@pytest.fixture(scope="module")
def tiny_records() -> list[dict[str, Any]]:
    """Four articles from each section: enough for a quick training run."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for record in sample_records():
        groups.setdefault(record["section"], []).append(record)
    return [r for rows in groups.values() for r in rows[:4]]


# -- train --------------------------------------------------------------------------------------


def test_train_reports_metrics_and_writes_a_bundle(cli_training: dict[str, Any]) -> None:
    bundle = cli_training["bundle"]
    err = cli_training["stderr"]
    assert "read 1 file(s), 90 record(s): 90 article(s)" in err
    assert "sections (6): cross-validated accuracy" in err
    assert "cross-validated micro-F1" in err
    assert f"saved bundle {bundle}" in err
    assert cli_training["stdout"] == ""  # stdout stays clean for data
    assert {p.name for p in bundle.iterdir()} >= {"manifest.json", "MODEL_CARD.md"}
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["corpus"]["articles"] == 90
    assert manifest["config"]["seed"] == 0
    assert manifest["name"] == "slice"


def test_train_with_options_bad_records_and_rare_labels(
    tmp_path: Path, tiny_records: list[dict[str, Any]]
) -> None:
    records = [dict(r) for r in tiny_records]
    records[0]["section"] = records[0]["section"].lower()  # a case variant
    records[1]["tags"] = [*records[1]["tags"], "one-off-tag"]
    records.append({**records[2], "id": "lonely", "section": "Obituaries"})
    corpus = tmp_path / "tiny.jsonl"
    lines = [json.dumps(r) for r in records]
    lines.insert(3, '{"id": "broken", "title": ')  # line 4
    lines.insert(6, json.dumps({"id": "nothing", "title": " ", "body": ""}))  # line 7
    corpus.write_text("\n".join(lines) + "\n")
    out = tmp_path / "models" / "tiny"

    result = run(
        [
            "train",
            corpus,
            "--out",
            out,
            "--seed",
            "3",
            "--min-precision",
            "0.8",
            "--name",
            "tiny-model",
        ]
    )
    assert result.exit_code == 0, result.output
    skips = skip_lines(result)
    assert len(skips) == 2
    assert skips[0].startswith(f"skipped {corpus}:4: invalid JSON")
    assert skips[1] == f"skipped {corpus}:7: empty article: no title and no body: 'nothing'"
    assert "2 skipped (1 invalid JSON, 1 empty article)" in result.stderr
    assert "merged label variants" in result.stderr
    assert "section(s) seen once" in result.stderr and "Obituaries" in result.stderr
    assert "tag(s) seen once: their threshold is shared" in result.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["name"] == "tiny-model"
    assert manifest["config"]["seed"] == 3
    assert manifest["config"]["tags"]["min_precision"] == 0.8
    assert manifest["corpus"]["articles"] == len(records)
    assert "Obituaries" in manifest["labels"]["sections"]

    strict = run(["train", corpus, "--out", tmp_path / "strict", "--strict"])
    assert strict.exit_code == 1
    assert error_lines(strict) == ["error: 2 record(s) skipped and --strict was given"]
    assert not (tmp_path / "strict").exists()


def test_train_refusals(tmp_path: Path, corpus_files: dict[str, Path]) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    result = run(["train", empty, "--out", tmp_path / "m"])
    assert result.exit_code == 2
    assert error_lines(result) == [f"error: {empty}: no article to train on"]

    missing = run(["train", tmp_path / "absent.jsonl", "--out", tmp_path / "m"])
    assert missing.exit_code == 2
    assert error_lines(missing) == [f"error: {tmp_path / 'absent.jsonl'}: no such file or folder"]

    unlabelled = tmp_path / "plain.jsonl"
    write_jsonl(unlabelled, [{"id": "1", "body": "text"}, {"id": "2", "body": "more"}])
    assert run(["train", unlabelled, "--out", tmp_path / "m"]).exit_code == 2

    precision = run(
        ["train", corpus_files["train"], "--out", tmp_path / "m", "--min-precision", "0"]
    )
    assert precision.exit_code == 2
    assert "--min-precision" in error_lines(precision)[0]

    bad_config = tmp_path / "bad.toml"
    bad_config.write_text("seed = = 1\n")
    config = run(["train", corpus_files["train"], "--out", tmp_path / "m", "-c", bad_config])
    assert config.exit_code == 2
    assert str(bad_config) in error_lines(config)[0]
    assert not (tmp_path / "m").exists()


def test_usage_errors_exit_2() -> None:
    result = run(["predict", "some.txt"])  # no --model
    assert result.exit_code == 2
    assert "--model" in result.output
    assert run(["no-such-command"]).exit_code == 2


# -- predict --------------------------------------------------------------------------------------


def test_predict_jsonl_contract(cli_bundle: Path, corpus_files: dict[str, Path]) -> None:
    test_records = [json.loads(line) for line in corpus_files["test"].read_text().splitlines()]
    rows = predict_jsonl(cli_bundle, corpus_files["test"])
    assert [row["id"] for row in rows] == [r["id"] for r in test_records]
    manifest = json.loads((cli_bundle / "manifest.json").read_text())
    model = Tagger.load(cli_bundle)
    expected = model.predict([Article.from_dict(r) for r in test_records])
    some_tags = False
    for row, want in zip(rows, expected, strict=True):
        section = row["section"]
        assert section["label"] in manifest["labels"]["sections"]
        assert 0.0 <= section["score"] <= 1.0
        assert row["entities"] == []
        tags = row["tags"]
        # Exactly the tags the model selects, best first, each with its evidence.
        assert [t["label"] for t in tags] == [t.label for t in want.tags]
        assert [t["score"] for t in tags] == sorted((t["score"] for t in tags), reverse=True)
        for tag in tags:
            some_tags = True
            assert tag["selected"] is True
            assert tag["label"] in manifest["labels"]["tags"]
            assert 0.0 <= tag["score"] <= 1.0
            assert isinstance(tag["evidence"], list)
            for evidence in tag["evidence"]:
                assert {"kind", "value", "weight"} <= set(evidence)
        selected_candidates = {t["label"] for t in row["tag_candidates"] if t["selected"]}
        assert selected_candidates <= {t["label"] for t in tags}
    assert some_tags
    assert any(t["evidence"] for row in rows for t in row["tags"])


def test_predict_json_and_table(cli_bundle: Path, corpus_files: dict[str, Path]) -> None:
    base = ["predict", "--model", cli_bundle, "--no-entities", corpus_files["test"]]
    plain = run([*base, "--format", "json"])
    assert plain.exit_code == 0
    data = json.loads(plain.stdout)
    assert isinstance(data, list) and len(data) == 18
    # JSON is for programs: the evidence is always there, as in JSONL.
    assert all("evidence" in t for row in data for t in row["tags"])
    assert data == json.loads(run([*base, "--format", "json", "--explain"]).stdout)

    table = run([*base, "--top-k", "2"])
    assert table.exit_code == 0
    first = json.loads(corpus_files["test"].read_text().splitlines()[0])
    assert first["title"] in table.stdout
    assert table.stdout.count("section:") == 18
    assert "read 1 file(s), 18 record(s): 18 article(s)" in table.stderr


def test_predict_top_k(cli_bundle: Path, corpus_files: dict[str, Path]) -> None:
    rows = predict_jsonl(cli_bundle, corpus_files["test"], extra=("--top-k", "1"))
    wide = predict_jsonl(cli_bundle, corpus_files["test"], extra=("--top-k", "6"))
    for narrow, full in zip(rows, wide, strict=True):
        assert len(narrow["tag_candidates"]) == 1
        assert len(narrow["section_candidates"]) == 1
        assert len(full["section_candidates"]) == 6
        # --top-k limits the candidates shown, never the tags the model selects.
        assert narrow["tags"] == full["tags"]
    assert run(["predict", "--model", cli_bundle, "-k", "0", corpus_files["test"]]).exit_code == 2


def test_predict_from_stdin(cli_bundle: Path, corpus_files: dict[str, Path]) -> None:
    lines = corpus_files["test"].read_text().splitlines()[:3]
    result = run(
        ["predict", "--model", cli_bundle, "--format", "jsonl", "--no-entities", "-"],
        stdin="\n".join(lines) + "\n",
    )
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["id"] for r in rows] == [json.loads(line)["id"] for line in lines]

    text = "Senate passes budget\n\nThe Senate passed the federal budget after a long debate.\n"
    result = run(
        ["predict", "--model", cli_bundle, "--format", "jsonl", "--no-entities", "-"],
        stdin=text.encode(),
    )
    (row,) = [json.loads(line) for line in result.stdout.splitlines()]
    assert row["title"] == "Senate passes budget"
    assert row["section"] is not None


@pytest.mark.parametrize("fmt", ["jsonl", "json", "table"])
def test_output_keeps_text_that_looks_like_markup(cli_bundle: Path, fmt: str) -> None:
    title = "Fans cheer :fire: [bold]win[/bold] at 10:100: rally"
    record = {"id": "x:thumbs_up:", "title": title, "body": "The team won the final."}
    result = run(
        ["predict", "--model", cli_bundle, "--format", fmt, "--no-entities", "-"],
        stdin=json.dumps(record) + "\n",
    )
    assert result.exit_code == 0, result.output
    assert title in result.stdout
    if fmt != "table":
        rows = (
            [json.loads(line) for line in result.stdout.splitlines()]
            if fmt == "jsonl"
            else (json.loads(result.stdout))
        )
        assert (rows[0]["id"], rows[0]["title"]) == ("x:thumbs_up:", title)


def test_predict_folder_with_bad_files(cli_bundle: Path, tmp_path: Path) -> None:
    folder = tmp_path / "inbox"
    folder.mkdir()
    (folder / "a.txt").write_text("Storm hits coast\n\nA storm hit the coast on Monday.\n")
    (folder / "b.txt").write_bytes(
        "Café owners protest\n\nCafé owners in Genève protested the tax.\n".encode("latin-1")
    )
    (folder / "c.txt").write_bytes(bytes(range(256)) * 8)
    (folder / "d.jsonl").write_text('{"id": "j1", "body": "Markets rose."}\n{oops\n')
    args = ["predict", "--model", cli_bundle, "--format", "jsonl", "--no-entities", folder]
    result = run(args)
    assert result.exit_code == 0
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["id"] for r in rows] == ["a", "b", "j1"]
    assert rows[1]["title"] == "Café owners protest"
    assert skip_lines(result) == [
        f"skipped {folder / 'c.txt'}: binary data, not text",
        f"skipped {folder / 'd.jsonl'}:2: invalid JSON: Expecting property name enclosed in "
        "double quotes at column 2",
    ]
    assert "2 skipped" in result.stderr

    strict = run([*args, "--strict"])
    assert strict.exit_code == 1
    assert len(strict.stdout.splitlines()) == 3  # results still written
    assert error_lines(strict) == ["error: 2 record(s) skipped and --strict was given"]


def test_predict_with_nothing_readable(cli_bundle: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x", "title": "", "body": "\\u00a0"}\n')
    result = run(["predict", "--model", cli_bundle, "--no-entities", bad])
    assert result.exit_code == 2
    assert skip_lines(result) == [f"skipped {bad}:1: empty article: no title and no body: 'x'"]
    assert error_lines(result) == [f"error: {bad}: no article to predict"]


def test_a_headline_only_record_gets_the_suggestions_the_api_gives(
    cli_bundle: Path, tmp_path: Path
) -> None:
    flash = tmp_path / "flash.jsonl"
    flash.write_text('{"id": "f1", "title": "Senate passes the federal budget"}\n')
    rows = predict_jsonl(cli_bundle, flash)
    expected = Tagger.load(cli_bundle).predict(
        [Article(id="f1", title="Senate passes the federal budget", body="")]
    )[0]
    assert [r["id"] for r in rows] == ["f1"]
    assert rows[0]["section"]["label"] == expected.section.label
    assert [t["label"] for t in rows[0]["tags"]] == [t.label for t in expected.tags]


def test_missing_bundle_is_refused(tmp_path: Path, corpus_files: dict[str, Path]) -> None:
    absent = tmp_path / "absent"
    for args in (
        ["predict", "--model", absent, "--no-entities", corpus_files["test"]],
        ["evaluate", "--model", absent, corpus_files["test"]],
        ["info", absent],
    ):
        result = run(args)
        assert result.exit_code == 2
        assert error_lines(result) == [f"error: {absent}: no such model bundle"]


def test_tampered_bundle_is_refused(
    cli_bundle: Path, tmp_path: Path, corpus_files: dict[str, Path]
) -> None:
    bundle = Path(shutil.copytree(cli_bundle, tmp_path / "model"))
    target = bundle / "features.npz"
    data = bytearray(target.read_bytes())
    data[100] ^= 0x01
    target.write_bytes(bytes(data))
    for args in (
        ["predict", "--model", bundle, "--no-entities", corpus_files["test"]],
        ["evaluate", "--model", bundle, corpus_files["test"]],
        ["info", bundle],
    ):
        result = run(args)
        assert result.exit_code == 2
        (line,) = error_lines(result)
        assert line.startswith(f"error: {target}: checksum mismatch")
        assert result.stdout == ""


def test_unexpected_errors_exit_1_without_traceback(
    cli_bundle: Path, corpus_files: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr("tagger.predict.suggest", broken)
    result = run(["predict", "--model", cli_bundle, "--no-entities", corpus_files["test"]])
    assert result.exit_code == 1
    (line,) = error_lines(result)
    assert line.startswith("error: internal error: RuntimeError: boom")


# -- evaluate, info, corpus stats ------------------------------------------------------------------


def test_evaluate_with_json_report(
    cli_bundle: Path, corpus_files: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "report.json"
    result = run(["evaluate", "--model", cli_bundle, corpus_files["test"], "--json", out])
    assert result.exit_code == 0, result.output
    assert "Evaluated on 18 articles" in result.stdout
    assert "accuracy" in result.stdout and "micro P/R/F1" in result.stdout
    report = json.loads(out.read_text())
    assert report["articles"] == 18
    for key in ("accuracy", "macro_f1"):
        assert 0.0 <= report["sections"][key] <= 1.0
    for key in (
        "micro_precision",
        "micro_recall",
        "micro_f1",
        "macro_precision",
        "macro_recall",
        "macro_f1",
        "p_at_1",
        "p_at_3",
        "f1_at_5",
    ):
        assert 0.0 <= report["tags"][key] <= 1.0, key
    assert {row["label"] for row in report["sections"]["per_label"]} >= {"Politics", "Faith"}
    # The reported accuracy is that of the predictions the CLI gives.
    truth = {
        json.loads(line)["id"]: json.loads(line)["section"]
        for line in corpus_files["test"].read_text().splitlines()
    }
    rows = predict_jsonl(cli_bundle, corpus_files["test"])
    right = sum(row["section"]["label"] == truth[row["id"]] for row in rows)
    assert report["sections"]["accuracy"] == pytest.approx(right / len(rows))


def test_evaluate_bad_input(
    cli_bundle: Path, tmp_path: Path, corpus_files: dict[str, Path]
) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    result = run(["evaluate", "--model", cli_bundle, empty])
    assert result.exit_code == 2
    assert error_lines(result) == [f"error: {empty}: no article to evaluate on"]

    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text(corpus_files["test"].read_text() + "not json at all\n")
    ok = run(["evaluate", "--model", cli_bundle, mixed, "-q"])
    assert ok.exit_code == 0
    strict = run(["evaluate", "--model", cli_bundle, mixed, "--strict"])
    assert strict.exit_code == 1
    assert skip_lines(strict) == [f"skipped {mixed}:19: invalid JSON: Expecting value at column 1"]


def test_info_prints_the_verified_manifest(
    cli_bundle: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import joblib

    monkeypatch.setattr(joblib, "load", lambda *a, **k: pytest.fail("info unpickled a file"))
    result = run(["info", cli_bundle])
    assert result.exit_code == 0
    manifest = json.loads(result.stdout)
    assert manifest == json.loads((cli_bundle / "manifest.json").read_text())


def test_info_reads_the_manifest_without_loading_the_model(
    cli_bundle: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tagger.bundle
    from tagger.api import Tagger

    def refuse(*_args: Any, **_kwargs: Any) -> Any:
        pytest.fail("info loaded the model")

    monkeypatch.setattr(tagger.bundle, "read_arrays", refuse)
    monkeypatch.setattr(Tagger, "load", refuse)
    result = run(["info", cli_bundle])
    assert result.exit_code == 0, result.output
    assert (
        json.loads(result.stdout)["model_id"]
        == json.loads((cli_bundle / "manifest.json").read_text())["model_id"]
    )


def test_corpus_stats(corpus_files: dict[str, Path], tmp_path: Path) -> None:
    result = run(["corpus", "stats", corpus_files["train"], "--json"])
    assert result.exit_code == 0
    stats = json.loads(result.stdout)
    assert stats["articles"] == 90
    assert set(stats["sections"].values()) == {15}
    assert stats["duplicate_ids"] == {}

    table = run(["corpus", "stats", corpus_files["train"]])
    assert "90 articles" in table.stdout
    assert "duplicate ids: none" in table.stdout

    dup = tmp_path / "dup.jsonl"
    dup.write_text('{"id": "x", "body": "one"}\n{"id": "x", "body": "two"}\n')
    stats_dup = run(["corpus", "stats", dup, "--json"])
    assert json.loads(stats_dup.stdout)["duplicate_ids"] == {"x": 2}


def test_corpus_stats_reports_undecodable_files(tmp_path: Path) -> None:
    folder = tmp_path / "texts"
    folder.mkdir()
    (folder / "good.txt").write_text("Title\n\nBody.\n")
    (folder / "image.txt").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    result = run(["corpus", "stats", folder, "--json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["articles"] == 1
    assert skip_lines(result) == [f"skipped {folder / 'image.txt'}: binary data, not text"]
    assert "1 skipped (1 binary data, not text)" in result.stderr
    assert run(["corpus", "stats", folder, "--strict"]).exit_code == 1


def test_interrupt_exits_130(
    cli_bundle: Path, corpus_files: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(*_args: Any, **_kwargs: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr("tagger.predict.suggest", interrupted)
    result = run(["predict", "--model", cli_bundle, "--no-entities", corpus_files["test"]])
    assert result.exit_code == 130
    assert error_lines(result) == ["error: interrupted"]


def test_csv_column_mapping_on_the_command_line(cli_bundle: Path, tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text(
        "Slug,Story,Desk,Topics\n"
        "s-1,The Senate passed the federal budget after a long debate.,Politics,Congress\n"
        "s-2,,Business,\n"
    )
    mapping = [
        "--csv-column",
        "body=story",
        "--csv-column",
        "section=Desk",
        "--csv-column",
        "id=slug",
        "--csv-column",
        "tags=topics",
    ]
    result = run(["corpus", "stats", path, "--json", *mapping])
    assert result.exit_code == 0, result.output
    stats = json.loads(result.stdout)
    assert (stats["articles"], stats["sections"], stats["tags"]) == (
        1,
        {"Politics": 1},
        {"Congress": 1},
    )
    assert skip_lines(result) == [f"skipped {path}:3: empty article: no title and no body: 's-2'"]
    rows = predict_jsonl(cli_bundle, path, extra=tuple(mapping))
    assert [r["id"] for r in rows] == ["s-1"]

    unmapped = run(["corpus", "stats", path])
    assert skip_lines(unmapped)[0].endswith("no body column: name one with --csv-column body=NAME")
    absent = run(["corpus", "stats", path, "--csv-column", "body=copy"])
    assert "column 'copy' (for body) not in the header" in skip_lines(absent)[0]
    for bad in ("body", "colour=Desk"):
        refused = run(["corpus", "stats", path, "--csv-column", bad])
        assert refused.exit_code == 2
        assert error_lines(refused)[0].startswith("error: --csv-column")


def test_train_on_a_corpus_too_small_is_refused(tmp_path: Path) -> None:
    corpus = write_jsonl(
        tmp_path / "one.jsonl", [{"id": "a", "body": "hello world", "section": "S", "tags": ["t"]}]
    )
    result = run(["train", corpus, "--out", tmp_path / "m"])
    assert result.exit_code == 2
    (line,) = error_lines(result)
    assert line.startswith("error: cannot learn features from 1 article(s)")
    assert not (tmp_path / "m").exists()


def test_predict_with_empty_stdin_is_refused(cli_bundle: Path) -> None:
    result = run(["predict", "--model", cli_bundle, "--no-entities", "-"], stdin=b"")
    assert result.exit_code == 2
    assert error_lines(result) == ["error: <stdin>: no article to predict"]
    # no made-up id ("article 'sha1-…'") for an article that never was
    assert skip_lines(result) == ["skipped <stdin>: empty body: no text"]


def test_error_lines_escape_control_characters_in_file_names(
    cli_bundle: Path, tmp_path: Path
) -> None:
    """A file name is untrusted text: the final error line escapes it as the skip lines do
    (an OSC title change or a bell must not reach the terminal)."""
    name = tmp_path / "e\x1b]0;owned\x07.jsonl"
    name.write_text("")
    result = run(["predict", "--model", cli_bundle, name, "--no-entities"])
    assert result.exit_code == 2
    assert not [c for c in result.stderr if ord(c) < 32 and c != "\n"]
    assert "e\\u001b]0;owned\\u0007.jsonl" in error_lines(result)[0]


def test_stats_tables_show_labels_as_written_not_as_markup(tmp_path: Path) -> None:
    """Labels come from the input file: `[bold]` or `[link=...]` in one is text (it must
    not style the table or emit a terminal hyperlink), and an escaped control character
    is shown whole, not cut to the width of the raw one."""
    records = [
        {"id": "1", "body": "one", "section": "[bold red]Sec[/bold red]", "tags": ["[blink]b"]},
        {
            "id": "2",
            "body": "two",
            "section": "S\u202e31mec",
            "tags": ["[link=https://x.example]c"],
        },
    ]
    corpus = tmp_path / "c.jsonl"
    write_jsonl(corpus, records)
    result = run(["corpus", "stats", corpus])
    assert result.exit_code == 0, result.output
    for label in ("[bold red]Sec[/bold red]", "[blink]b", "[link=https://x.example]c"):
        assert label in result.stdout
    assert "S\\u202e31mec" in result.stdout
    assert "\x1b" not in result.stdout


def test_evaluate_table_shows_unknown_labels_as_written(cli_bundle: Path, tmp_path: Path) -> None:
    test = tmp_path / "t.jsonl"
    write_jsonl(test, [{"id": "1", "body": "The senate voted.", "tags": ["[bold]odd[/bold]"]}])
    result = run(["evaluate", "--model", cli_bundle, test])
    assert "[bold]odd[/bold]" in result.stdout


@pytest.mark.parametrize("fmt", ["jsonl", "json"])
def test_json_output_escapes_c1_and_bidi_controls(cli_bundle: Path, fmt: str) -> None:
    """JSON escapes C0 itself; a bidi override in an id (which the readers keep: it is
    legitimate in running text) would reach a terminal raw. Escaped, the JSON holds the
    same data: the id as read (the readers turn C0 and C1 controls into spaces)."""
    from tagger.hygiene import sanitize_text

    article_id = "id\x9b31m\u202ex\x1b"
    record = {"id": article_id, "title": "Senate vote", "body": "The Senate voted today."}
    for command in (
        ["predict", "--model", cli_bundle, "--no-entities", "-F", fmt, "-"],
        ["entities", "-F", fmt, "-"],
    ):
        result = run(command, stdin=json.dumps(record) + "\n")
        assert result.exit_code == 0, result.output
        assert not {"\x9b", "\u202e", "\x1b"} & set(result.stdout)
        rows = (
            [json.loads(line) for line in result.stdout.splitlines()]
            if fmt == "jsonl"
            else json.loads(result.stdout)
        )
        assert rows[0]["id"] == sanitize_text(article_id, newlines=False) == "id 31m\u202ex "


def test_corpus_stats_json_escapes_c1_and_bidi_controls(tmp_path: Path) -> None:
    corpus = tmp_path / "c.jsonl"
    write_jsonl(corpus, [{"id": "1", "body": "one", "tags": ["t\x9b1m", "u\u202eg"]}])
    result = run(["corpus", "stats", corpus, "--json"])
    assert not {"\x9b", "\u202e"} & set(result.stdout)
    assert set(json.loads(result.stdout)["tags"]) == {"t 1m", "u\u202eg"}  # C1: a space


def test_evaluate_refuses_a_report_path_that_is_its_test_corpus(
    cli_bundle: Path, tmp_path: Path
) -> None:
    """`--report` naming the test corpus (a slip of the shell) replaced the corpus with
    the report; it is refused before anything is read, as corpus split and dedup do."""
    test = tmp_path / "test.jsonl"
    write_jsonl(test, [{"id": "1", "body": "The senate voted.", "tags": ["congress"]}])
    before = test.read_bytes()
    result = run(["evaluate", "--model", cli_bundle, test, "--report", test])
    assert result.exit_code == 2
    assert error_lines(result) == [f"error: {test}: --report would overwrite an input ({test})"]
    assert test.read_bytes() == before


@pytest.mark.parametrize("command", ["predict", "import"])
def test_quiet_still_names_each_skipped_record_and_counts_them(
    cli_bundle: Path, tmp_path: Path, command: str
) -> None:
    """--quiet drops progress and chatter, not the errors in the input: a corrupt record
    gets its line and the summary counts it; a clean input prints nothing."""
    good = sample_records()[:3]
    dirty = tmp_path / "dirty.jsonl"
    lines = [json.dumps(r) for r in good]
    lines.insert(1, '{"id": "broken", "title": ')
    dirty.write_text("\n".join(lines) + "\n", encoding="utf-8")
    clean = tmp_path / "clean.jsonl"
    clean.write_text("\n".join(json.dumps(r) for r in good) + "\n", encoding="utf-8")

    def invoke(source: Path) -> Any:
        if command == "predict":
            args = ["predict", "--model", cli_bundle, "--no-entities", "-F", "jsonl", source]
        else:
            args = ["corpus", "import", source, "-o", tmp_path / f"out-{source.stem}.jsonl"]
        return run([*args, "--quiet"])

    result = invoke(dirty)
    assert result.exit_code == 0
    assert [line for line in skip_lines(result) if "dirty.jsonl" in line and ":2" in line]
    assert "1 skipped" in result.stderr or "skipped 1" in result.stderr, result.stderr
    quiet = invoke(clean)
    assert quiet.exit_code == 0 and quiet.stderr.strip() == ""
