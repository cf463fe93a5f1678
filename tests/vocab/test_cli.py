"""`tagger vocab ...`, `train --vocab`, `predict --expand-broader`: end to end."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tagger.cli import app

DATA = Path(__file__).parent / "data"
SAMPLE = Path(__file__).resolve().parents[2] / "corpus" / "sample.jsonl"
runner = CliRunner()

VOCAB_CSV = """id,label,aliases,broader,retired,replaced_by
n:world,world,,,,
n:americas,Central America,,n:world,,
n:sv,El Salvador,Salvador,n:americas,,
n:fa,foreign affairs,foreign policy,n:world,,
n:pol,US politics,,,,
n:rubio,Marco Rubio,Rubio,n:pol,,
n:trump,Donald Trump,Trump,n:pol,,
n:imm,immigration,migration,n:pol,,
n:old,deportations,,n:pol,2020-01-01,n:imm
"""


def run(args: list[Any]) -> Any:
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert "Traceback" not in result.output
    return result


def test_vocab_import_show_search_stats_diff(tmp_path: Path) -> None:
    old, new = tmp_path / "old.sqlite", tmp_path / "new.sqlite"
    assert run(["vocab", "import", DATA / "mini-iptc-2023.json", "-o", old]).exit_code == 0
    result = run(["vocab", "import", DATA / "mini-iptc-2025.json", "-o", new])
    assert result.exit_code == 0 and "5 concepts (4 current, 1 retired" in result.output
    shown = run(["vocab", "show", new, "Election", "--json"])
    data = json.loads(shown.stdout)
    assert data["id"] == "medtop:20000574" and data["ancestors"][0]["id"] == "medtop:11000000"
    assert run(["vocab", "show", new, "nothing"]).exit_code == 1
    found = run(["vocab", "search", new, "polls", "--retired"])
    assert "medtop:20000999  polls" in found.stdout and "[retired]" in found.stdout
    assert run(["vocab", "search", new, "polls"]).exit_code == 1  # retired only
    stats = json.loads(run(["vocab", "stats", new, "--json"]).stdout)
    assert stats["concepts"] == 5 and stats["retired"] == 1 and stats["top_level"] == 2
    diff = run(["vocab", "diff", old, new])
    assert "1 added, 1 retired, 1 relabelled" in diff.stdout
    assert "medtop:20001400 'referendum'" in diff.stdout
    # source files are read on the fly too
    diff2 = json.loads(run(["vocab", "diff", DATA / "mini-iptc-2023.json", new, "--json"]).stdout)
    assert [a["id"] for a in diff2["added"]] == ["medtop:20001400"]


def test_a_failed_import_leaves_the_old_vocabulary(tmp_path: Path) -> None:
    out = tmp_path / "v.sqlite"
    assert run(["vocab", "import", DATA / "mini.csv", "-o", out]).exit_code == 0
    before = out.read_bytes()
    bad = tmp_path / "cycle.csv"
    bad.write_text("id,label,broader\na,A,b\nb,B,a\n", encoding="utf-8")
    result = run(["vocab", "import", DATA / "mini.csv", bad, "-o", out])
    assert result.exit_code == 2
    assert "cycle in broader links" in result.output and result.output.count("\n") == 1
    assert out.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if "partial" in p.name] == []


def vocab_and_config(tmp_path: Path) -> tuple[Path, Path]:
    """The newsroom vocabulary imported, and a quick training config (2 folds)."""
    vocab_csv = tmp_path / "newsroom.csv"
    vocab_csv.write_text(VOCAB_CSV, encoding="utf-8")
    vocab = tmp_path / "newsroom.sqlite"
    assert run(["vocab", "import", vocab_csv, "-o", vocab]).exit_code == 0
    config = tmp_path / "c.toml"
    config.write_text("[tags]\ncv_folds = 2\n[sections]\ncv_folds = 2\n", encoding="utf-8")
    return vocab, config


def test_train_with_vocab_predicts_concepts_and_expands_broader(tmp_path: Path) -> None:
    vocab, config = vocab_and_config(tmp_path)
    model = tmp_path / "m"
    result = run(
        ["train", SAMPLE, "-o", model, "--vocab", vocab, "-c", config, "--unmatched", "drop"]
    )
    assert result.exit_code == 0, result.output
    assert "tag(s) matched to concepts" in result.output
    assert "'foreign-affairs'" not in result.output  # matched by normalisation
    assert "'economy' (35)" in result.output  # unmatched, with its count
    manifest = json.loads((model / "manifest.json").read_text())
    record = manifest["vocabulary"]
    assert record["concepts"]["Marco Rubio"]["id"] == "n:rubio"
    assert set(manifest["labels"]["tags"]) <= {
        "El Salvador", "foreign affairs", "Marco Rubio", "Donald Trump", "immigration"
    }  # fmt: skip
    out = run(
        ["predict", "-m", model, SAMPLE, "--format", "jsonl", "--no-entities", "--expand-broader"]
    )
    assert out.exit_code == 0
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    tags = [t for row in rows for t in row["tags"]]
    assert tags and all(t.get("id", "").startswith("n:") for t in tags)
    for row in rows:
        by_label = {t["label"]: t for t in row["tags"]}
        for t in row["tags"]:
            if t["source"] == "broader":
                child = by_label[t["evidence"][0]["value"]]
                assert t["score"] <= max(
                    x["score"] for x in row["tags"] if x["source"] != "broader"
                )
                assert t["score"] == child["score"]
    assert any(t["source"] == "broader" and t["label"] == "Central America" for t in tags)
    # evaluate reads the raw corpus: its tags are matched as training matched them
    report_path = tmp_path / "eval.json"
    evaluated = run(["evaluate", "-m", model, SAMPLE, "--json", report_path])
    assert evaluated.exit_code == 0 and "test tags matched" in evaluated.output
    unknown = json.loads(report_path.read_text())["tags"].get("unknown_labels", {})
    assert "foreign-affairs" not in unknown and "Rubio" not in unknown
    assert "economy" in unknown  # dropped from training (--unmatched drop): unknown

    # The vocabulary changes after training: immigration retired for 'migration policy'.
    changed_csv = tmp_path / "changed.csv"
    changed_csv.write_text(
        VOCAB_CSV.replace(
            "n:imm,immigration,migration,n:pol,,", "n:imm,immigration,,n:pol,2026-01-01,n:mp"
        )
        + "n:mp,migration policy,migration,n:pol,,\n",
        encoding="utf-8",
    )
    changed = tmp_path / "changed.sqlite"
    assert run(["vocab", "import", changed_csv, "-o", changed]).exit_code == 0
    again = run(
        ["predict", "-m", model, SAMPLE, "--format", "jsonl", "--no-entities", "--vocab", changed]
    )
    assert again.exit_code == 0
    assert "the vocabulary changed since the model was trained" in again.output
    assert "1 retired" in again.output
    labels = {t["label"] for line in again.stdout.splitlines() for t in json.loads(line)["tags"]}
    assert "immigration" not in labels and "migration policy" in labels
    # the file at the recorded path changes: evaluate says so too, with the summary
    vocab.write_bytes(changed.read_bytes())
    evaluated = run(["evaluate", "-m", model, SAMPLE, "--report", report_path])
    assert evaluated.exit_code == 0
    assert "the vocabulary changed since the model was trained" in evaluated.output
    assert "1 retired" in evaluated.output


def test_train_unmatched_fail_and_bad_option(tmp_path: Path) -> None:
    model = tmp_path / "m"
    result = run(
        ["train", SAMPLE, "-o", model, "--vocab", DATA / "mini.csv", "--unmatched", "fail"]
    )
    assert result.exit_code == 1 and "match no concept" in result.output
    assert not model.exists()
    bad = run(["train", SAMPLE, "-o", model, "--vocab", DATA / "mini.csv", "--unmatched", "maybe"])
    assert bad.exit_code == 2 and "--unmatched must be one of" in bad.output


@pytest.mark.parametrize("args", [["--expand-broader"]])
def test_expand_broader_needs_a_vocabulary_model(tiny_model: Path, args: list[str]) -> None:
    result = run(["predict", "-m", tiny_model, SAMPLE, "--no-entities", *args])
    assert result.exit_code == 2 and "needs a model trained with --vocab" in result.output
