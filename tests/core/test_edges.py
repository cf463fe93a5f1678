"""Edge cases found in review: odd encodings, empty and stray files, strict records,
bundle permissions and completeness, output paths, exit codes, what predict accepts."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tagger.api import Tagger
from tagger.bundle import BundleError, read_manifest, verify_files
from tagger.cli import app
from tagger.corpus.article import Article
from tagger.corpus.readers import ReadReport, read_corpus
from tagger.corpus.text import decode_bytes
from tagger.errors import ConfigError

runner = CliRunner()


def run(args: list[Any]) -> Any:
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    return result


def test_utf32_with_bom_is_decoded_as_utf32() -> None:
    text = "Título\n\nCafé crème"
    for encoding in ("utf-32", "utf-32-be"):
        data = text.encode(encoding)
        if encoding == "utf-32-be":
            data = b"\x00\x00\xfe\xff" + data
        decoded, name = decode_bytes(data)
        assert decoded == text and name.startswith("utf-32")


def test_empty_files_are_reported_not_dropped(tmp_path: Path) -> None:
    (tmp_path / "e.jsonl").write_bytes(b"")
    (tmp_path / "ws.jsonl").write_text("\n \n")
    report = ReadReport()
    assert list(read_corpus([tmp_path / "e.jsonl", tmp_path / "ws.jsonl"], report=report)) == []
    assert [s.reason for s in report.skipped] == ["empty file: no records"] * 2


def test_documentation_and_loose_files_in_a_label_tree_are_listed(tmp_path: Path) -> None:
    (tmp_path / "politics").mkdir()
    (tmp_path / "politics" / "001.txt").write_text("Senate votes\n\nThe Senate voted today.")
    (tmp_path / "README.txt").write_text("About this corpus")
    (tmp_path / "stray.txt").write_text("Loose article\n\nNo label folder.")
    report = ReadReport()
    articles = list(read_corpus([tmp_path], report=report))
    assert [a.section for a in articles] == ["politics"]
    reasons = {Path(s.path).name: s.reason for s in report.skipped}
    assert reasons["README.txt"].startswith("documentation file")
    assert reasons["stray.txt"].startswith("not in a label folder")


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        ({"body": "b", "tags": [1, None, "x"]}, "'tags' must be a list of strings"),
        ({"body": "b", "id": {"x": 1}}, "'id' must be a string or a number"),
        ({"body": "b", "authors": [3]}, "'authors'"),
        ({"body": "b", "url": 5}, "'url' must be a string or null"),
    ],
)
def test_records_with_wrong_field_types_are_refused(record: dict, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        Article.from_dict(record)


def test_an_unparseable_date_is_kept_in_meta() -> None:
    article = Article.from_dict({"body": "b", "published": "2025-13-45"})
    assert article.published is None and article.meta["published_raw"] == "2025-13-45"


def test_bundle_is_readable_by_others_and_complete(cli_bundle: Path, tmp_path: Path) -> None:
    mode = cli_bundle.stat().st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o777 & ~umask
    copy = tmp_path / "b"
    shutil.copytree(cli_bundle, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    del manifest["files"]["tags.npz"]
    (copy / "tags.npz").unlink()
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match=r"field 'files': lists no tags\.npz"):
        verify_files(copy, read_manifest(copy))


def test_output_path_errors_are_one_line_refusals(
    cli_bundle: Path, corpus_files: dict[str, Path], tmp_path: Path
) -> None:
    missing = tmp_path / "no" / "such" / "report.json"
    result = run(["evaluate", "--model", cli_bundle, corpus_files["test"], "--json", missing])
    assert result.exit_code == 2
    # refused before the evaluation runs, naming the folder that is missing
    assert f"--report: folder {missing.parent} does not exist" in result.output
    assert "internal error" not in result.output and "Evaluated on" not in result.output


def test_nothing_usable_exits_1(cli_bundle: Path, tmp_path: Path) -> None:
    """Ran, but no usable result: 1 (an input with no article at all is refused: 2)."""
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert run(["corpus", "stats", empty]).exit_code == 2
    unlabeled = tmp_path / "unlabeled.jsonl"
    unlabeled.write_text(json.dumps({"id": "u", "title": "t", "body": "Some text."}) + "\n")
    result = run(["evaluate", "--model", cli_bundle, unlabeled])
    assert result.exit_code == 1 and "no article of the test corpus" in result.output


def test_predict_takes_text_dicts_and_articles(fast_model: Tagger) -> None:
    text = "Senate passes budget\n\nThe Senate passed the spending bill after a debate on taxes."
    from_text = fast_model.predict(text, entities=False)
    from_dict = fast_model.predict({"title": "Senate passes budget", "body": text.split("\n\n")[1]})
    assert from_text.title == "Senate passes budget"
    assert [t.label for t in from_text.tags] == [t.label for t in from_dict.tags]
    with pytest.raises(TypeError):
        fast_model.predict(42, entities=False)  # type: ignore[arg-type]


def test_rule_chosen_tags_say_so(fast_model: Tagger) -> None:
    [s] = fast_model.predict([Article("x", "x", "y z")], entities=False)
    for tag in s.tags:
        if tag.score < (tag.threshold or 0):
            assert tag.source in ("best", "name", "entity")
            assert tag.evidence and tag.evidence[0].kind in ("rule", "entity")


def test_an_entity_model_is_not_silently_skewed(fast_model: Tagger) -> None:
    fast_model.featurizer.config.entity_weight, saved = (
        0.3,
        fast_model.featurizer.config.entity_weight,
    )
    try:
        with pytest.raises(ConfigError, match="trained with entity features"):
            fast_model.predict([Article("x", "t", "b")], entities=False)
    finally:
        fast_model.featurizer.config.entity_weight = saved
