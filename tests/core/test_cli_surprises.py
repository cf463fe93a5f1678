"""A command line without surprises (issue 11, item 7): the config schema, --version, -h,
`python -m tagger`, one meaning per option name, list options, commands in workflow order."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tagger import __version__
from tagger.cli import app
from tagger.cli_rules import WORKFLOW

SAMPLE = Path(__file__).resolve().parents[2] / "corpus" / "sample.jsonl"
runner = CliRunner()


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("[tags]\ncvfolds = 3\n", "'tags.cvfolds' in [tags] (did you mean cv_folds?)"),
        ('[tags]\nc = "x"\n', "tags.c: input should be a valid number"),
        ("[features]\nword_ngrams = [1, 'a']\n", "features.word_ngrams.1:"),
        ("[stream]\nepoch = 2\n", "'stream.epoch' in [stream] (did you mean epochs?)"),
        (
            "[stream]\nprune_tolerance = -0.1\n",
            "stream.prune_tolerance: input should be greater than or equal to 0",
        ),
        (
            "[stream]\ncalibration_per_tag = 0\n",
            "stream.calibration_per_tag: input should be greater than or equal to 1",
        ),
        ("[tags]\ncv_folds = 1\n", "tags.cv_folds: input should be greater than or equal to 2"),
        ("tags = 3\n", "tags: should be a table"),
        (
            '[sections]\nname_rule = "maybe"\n',
            "sections.name_rule: input should be a valid boolean",
        ),
        ("[tags]\nc = inf\n", "tags.c: input should be a finite number"),
        ("[tags]\nthreshold_shrinkage = 1e999\n", "tags.threshold_shrinkage: input should be a"),
        ("[features]\nword_ngrams = [2, 1]\n", "features.word_ngrams: the lower bound 2 is"),
        ("[sections]\ntitle_chars = [5, 2]\n", "sections.title_chars: the lower bound 5 is"),
        ("[features]\nchar_ngrams = [0, 0]\n", "features.char_ngrams: n-grams are at least 1"),
        ("[features]\nword_ngrams = [0, 2]\n", "features.word_ngrams: n-grams are at least 1"),
        # true/false is not a number (it was taken as 1 or 0: chunk = true streamed one
        # article a minibatch, for hours)
        ("[stream]\nchunk = true\n", "stream.chunk: should be a number, not true or false"),
        ("[tags]\nc = false\n", "tags.c: should be a number, not true or false"),
        ("[stream]\nalpha = true\n", "stream.alpha: should be a number, not true or false"),
    ],
)
def test_config_schema_refuses_with_exit_2_naming_the_key(
    tmp_path: Path, text: str, named: str
) -> None:
    config = tmp_path / "c.toml"
    config.write_text(text, encoding="utf-8")
    out = tmp_path / "m"
    result = runner.invoke(app, ["train", str(SAMPLE), "-o", str(out), "-c", str(config)])
    assert result.exit_code == 2, result.output
    assert named in result.output and str(config) in result.output
    assert "internal error" not in result.output and "Traceback" not in result.output
    assert not out.exists()


def test_a_config_that_is_not_text_is_refused_in_one_line(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_bytes(b"seed = 1\n\xd0\xff\x00\x01")
    result = runner.invoke(
        app, ["train", str(SAMPLE), "-o", str(tmp_path / "m"), "-c", str(config)]
    )
    assert result.exit_code == 2, result.output
    assert f"{config}: cannot read config (not UTF-8 text, byte 9)" in result.output
    assert "internal error" not in result.output


def test_config_json_is_checked_too_and_good_values_pass(tmp_path: Path) -> None:
    from tagger.api import TrainConfig
    from tagger.errors import ConfigError

    bad = tmp_path / "c.json"
    bad.write_text(json.dumps({"features": {"title_repeats": 2}}), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"unknown key 'features.title_repeats'"):
        TrainConfig.from_file(bad)
    # JSON's last-wins would silently drop one of the two values; TOML refuses it itself
    bad.write_text('{"tags": {"c": 1, "c": 2}}', encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"{bad}: invalid config file \(key 'c' appears twice"):
        TrainConfig.from_file(bad)
    bad.write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    with pytest.raises(ConfigError, match="invalid config file"):
        TrainConfig.from_file(bad)
    good = tmp_path / "good.toml"
    good.write_text(
        "seed = 3\n[features]\nword_ngrams = [1, 3]\n[tags]\nc = 2\nmin_precision = 0.9\n"
        "[stream]\nepochs = 2\nout_of_core = true\n",
        encoding="utf-8",
    )
    config = TrainConfig.from_file(good)
    assert config.features.word_ngrams == (1, 3) and config.tags.c == 2.0
    assert config.tags.min_precision == 0.9 and config.stream == {"epochs": 2, "out_of_core": True}
    assert config.sections.cv_folds == 5  # untouched defaults stay


def test_version_short_help_and_python_m() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout.strip() == f"tagger {__version__}"
    short = runner.invoke(app, ["-h"])
    assert short.exit_code == 0 and "Usage: tagger" in short.stdout
    sub = runner.invoke(app, ["corpus", "split", "-h"])
    assert sub.exit_code == 0 and "--train" in sub.stdout
    proc = subprocess.run(
        [sys.executable, "-m", "tagger", "--version"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0 and proc.stdout.strip() == f"tagger {__version__}"


def test_help_lists_commands_in_workflow_order() -> None:
    result = runner.invoke(app, ["--help"], env={"COLUMNS": "120"})
    listed = [
        line.split()[1]
        for line in result.stdout.splitlines()
        if line.startswith("│ ") and len(line.split()) > 2 and line.split()[1] in WORKFLOW
    ]
    assert listed == [c for c in WORKFLOW if c in listed]
    assert listed[:4] == ["corpus", "vocab", "train", "evaluate"]
    assert listed.index("learn") > listed.index("feedback") > listed.index("serve")


def test_one_meaning_per_option_name(tiny_model: Path, tmp_path: Path) -> None:
    """-f/--input-format is always the input's format, -F/--output-format the output's;
    --json is always a flag (evaluate writes its report with --report)."""
    predicted = runner.invoke(
        app,
        [
            *["predict", "-m", str(tiny_model), str(SAMPLE), "--output-format", "jsonl"],
            *["--no-entities", "--input-format", "jsonl", "-q"],
        ],
    )
    assert predicted.exit_code == 0, predicted.output
    assert json.loads(predicted.stdout.splitlines()[0])["id"]
    report = tmp_path / "r.json"
    evaluated = runner.invoke(
        app,
        ["evaluate", "-m", str(tiny_model), str(SAMPLE), "--report", str(report), "-f", "jsonl"],
    )
    assert evaluated.exit_code == 0, evaluated.output
    assert "tags" in json.loads(report.read_text())
    stats = runner.invoke(
        app, ["corpus", "stats", str(SAMPLE), "--input-format", "jsonl", "--json"]
    )
    assert stats.exit_code == 0 and json.loads(stats.stdout)["articles"] == 252
    for command in (["train", "X", "-o", "Y"], ["evaluate", "X", "-m", "M"], ["corpus", "stats"]):
        helped = runner.invoke(app, [*command[:2], "--help"] if command[0] == "corpus" else
                               [command[0], "--help"], env={"COLUMNS": "200"})  # fmt: skip
        assert "--input-format" in helped.stdout and "--format " not in helped.stdout
    for command in ("predict", "entities"):
        helped = runner.invoke(app, [command, "--help"], env={"COLUMNS": "200"})
        assert "--output-format" in helped.stdout and "--format " not in helped.stdout


def test_old_spellings_work_with_a_deprecation_warning(tiny_model: Path, tmp_path: Path) -> None:
    old = runner.invoke(
        app,
        ["predict", "-m", str(tiny_model), str(SAMPLE), "--format", "jsonl", "--no-entities", "-q"],
    )
    assert old.exit_code == 0
    assert "--format is deprecated: use --output-format" in old.stderr
    assert json.loads(old.stdout.splitlines()[0])["id"]
    report = tmp_path / "r.json"
    evaluated = runner.invoke(
        app,
        ["evaluate", "-m", str(tiny_model), str(SAMPLE), f"--json={report}", "--format", "auto"],
    )
    assert evaluated.exit_code == 0, evaluated.output
    assert "--json is deprecated: use --report" in evaluated.stderr
    assert "--format is deprecated: use --input-format" in evaluated.stderr
    assert "tags" in json.loads(report.read_text())
    stats = runner.invoke(app, ["corpus", "stats", str(SAMPLE), "--format", "jsonl", "--json"])
    assert stats.exit_code == 0 and "use --input-format" in stats.stderr


def test_list_options_take_several_values_after_one_flag(tmp_path: Path) -> None:
    """`learn --corpus a b` reads both files (it was refused: one --corpus per file)."""
    from tagger.cli_rules import rewrite_args

    halves = [tmp_path / "a.jsonl", tmp_path / "b.jsonl"]
    lines = SAMPLE.read_text(encoding="utf-8").splitlines(keepends=True)
    halves[0].write_text("".join(lines[:126]), encoding="utf-8")
    halves[1].write_text("".join(lines[126:]), encoding="utf-8")
    result = runner.invoke(
        app,
        [
            *["learn", "-m", "nowhere", "--db", str(tmp_path / "no.db"), "-o", str(tmp_path / "o")],
            *["--corpus", str(halves[0]), str(halves[1]), "--holdout", "0.2"],
        ],
    )
    # both files pass the parser (and are read): the run stops later, at the store
    assert result.exit_code == 2 and "no such feedback database" in result.output
    assert "unexpected extra argument" not in result.output.lower()
    learn = app_command("learn")
    spread = rewrite_args(None, learn, "learn", ["--corpus", "a", "b", "--test=c", "d", "-q"])
    assert spread == ["--corpus", "a", "--corpus", "b", "--test=c", "--test", "d", "-q"]
    # a command with positional arguments keeps them apart from list options
    train = app_command("train")
    args = ["--csv-column", "body=text", "corpus.csv"]
    assert rewrite_args(None, train, "train", args) == args


def app_command(name: str) -> object:
    import typer

    group = typer.main.get_command(app)
    return group.commands[name]  # type: ignore[attr-defined]


def test_evaluate_warns_when_test_articles_are_training_articles(
    tiny_model: Path, tmp_path: Path, load_sample
) -> None:
    """The tiny model was trained on the even sample articles (the bundle keeps a Bloom
    filter of its training texts): evaluating on the whole sample says so."""
    report = tmp_path / "r.json"
    seen = runner.invoke(app, ["evaluate", "-m", str(tiny_model), str(SAMPLE), "--report", report])
    assert seen.exit_code == 0, seen.output
    assert "126 of 252 test articles (50%) are in the model's training corpus" in seen.stderr
    assert json.loads(report.read_text())["training_overlap"] == 126
    unseen = tmp_path / "odd.jsonl"  # new ids and retyped spacing do not hide a copy
    rows = [a.to_dict() for a in load_sample()[1::2]]
    copied = dict(load_sample()[0].to_dict(), id="copy-0")
    copied["body"] = "  " + copied["body"].replace(" ", "  ")
    unseen.write_text("".join(json.dumps(r) + "\n" for r in [*rows, copied]), encoding="utf-8")
    result = runner.invoke(app, ["evaluate", "-m", str(tiny_model), str(unseen)])
    assert result.exit_code == 0, result.output
    assert "1 of 127 test articles (1%) are in the model's training corpus" in result.stderr


def test_learn_without_a_clean_test_set_says_why_no_change_is_shown(
    tiny_model: Path, tmp_path: Path, load_sample
) -> None:
    from tagger.feedback.learn import format_learn_result, learn
    from tagger.feedback.store import Decision, SQLiteStore

    db = tmp_path / "few.db"
    with SQLiteStore(db) as store:
        for a in load_sample()[1:9:2]:  # four reviews: too few to hold out alone
            store.add_article(a)
            store.add_decisions([Decision(a.id, "ann", "add", t) for t in a.tags])
        leaky = learn(tiny_model, store, tmp_path / "m2", corpus=load_sample()[::2])
        clean = learn(
            tiny_model, store, tmp_path / "m3", corpus=load_sample()[::2],
            test=load_sample()[11:80:2],
        )  # fmt: skip
    text = format_learn_result(leaky)
    assert "old and new not comparable: the old model was trained on" in text
    assert "held-out articles: its figures there are inflated" in text
    rows = [line for line in text.splitlines() if line.startswith("tags ")]
    assert rows and all(line.split()[-1] == "n/a" for line in rows)
    assert clean.not_comparable is None
    rows = [line for line in format_learn_result(clean).splitlines() if line.startswith("tags ")]
    assert rows and all(line.split()[-1][0] in "+-" for line in rows)


@pytest.mark.parametrize(
    "args",
    [
        ["train", str(SAMPLE), "-o", "OUT", "--policy", "BIN"],
        ["train", str(SAMPLE), "-o", "OUT", "--renames", "BIN"],
        ["predict", "--model", "MODEL", str(SAMPLE), "--renames", "BIN", "--no-entities"],
        ["tags", "merge", "a", "b", "--map", "BIN"],
    ],
)
def test_an_option_file_that_is_not_text_is_refused_in_one_line(
    tmp_path: Path, tiny_model: Path, args: list[str]
) -> None:
    binary = tmp_path / "file.bin"
    binary.write_bytes(b"\x7fELF\x02\x01\x01\x00\xd0\xff\xfe" * 10)
    swap = {"BIN": str(binary), "OUT": str(tmp_path / "m"), "MODEL": str(tiny_model)}
    result = runner.invoke(app, [swap.get(a, a) for a in args])
    assert result.exit_code == 2, result.output
    assert f"{binary}: " in result.output and "not UTF-8 text" in result.output
    assert "internal error" not in result.output


@pytest.mark.parametrize(
    ("command", "purpose"),
    [
        (["train", "--out", "{tmp}/m"], "to train on"),
        (["predict", "-m", "{model}"], "to predict"),
        (["evaluate", "-m", "{model}"], "to evaluate on"),
        (["entities"], "to analyse"),
        (["corpus", "stats"], "to describe"),
        (["corpus", "import", "-o", "{tmp}/out.jsonl"], "to import"),
    ],
)
def test_an_input_with_no_article_is_refused_alike_by_every_command(
    tmp_path: Path, tiny_model: Path, command: list[str], purpose: str
) -> None:
    """One exit code (2, refused) and one message for the same unusable input, whichever
    command reads it; the skipped file is still named."""
    blob = tmp_path / "blob.jsonl"
    blob.write_bytes(b"\x00\x01\x02\xff" * 500)
    args = [a.format(tmp=tmp_path, model=tiny_model) for a in command]
    result = runner.invoke(app, [*args, str(blob)])
    assert result.exit_code == 2, result.output
    assert f"error: {blob}: no article {purpose}" in result.output
    assert f"skipped {blob}" in result.output
    assert not (tmp_path / "out.jsonl").exists()
