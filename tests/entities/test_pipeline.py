"""Choosing and checking the spaCy pipeline: the pinned model's hash, missing or wrong ones."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tagger.entities import pipeline
from tagger.entities.pipeline import (
    BLANK,
    PINNED_MODEL,
    choose_pipeline,
    sha256_file,
    verify_pinned,
)
from tagger.errors import ConfigError


def _pinned_dir() -> Path:
    package = pipeline._package_dir(PINNED_MODEL)
    assert package is not None, "the pinned pipeline is a dependency of the project"
    return pipeline._data_dir(package)


def test_the_installed_pinned_pipeline_passes_the_hash_check() -> None:
    verify_pinned(_pinned_dir())


def test_an_altered_ner_model_file_is_refused(tmp_path: Path) -> None:
    copy = tmp_path / "pinned"
    (copy / "ner").mkdir(parents=True)
    original = _pinned_dir() / "ner" / "model"
    shutil.copyfile(original, copy / "ner" / "model")
    verify_pinned(copy)  # an exact copy passes
    with (copy / "ner" / "model").open("r+b") as handle:
        handle.seek(100)
        byte = handle.read(1)
        handle.seek(100)
        handle.write(bytes([byte[0] ^ 0xFF]))
    assert sha256_file(copy / "ner" / "model") != sha256_file(original)
    with pytest.raises(ConfigError, match="altered"):
        verify_pinned(copy)


def test_a_pinned_folder_without_ner_model_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no NER model"):
        verify_pinned(tmp_path)


def test_default_is_an_installed_pretrained_pipeline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(pipeline.MODEL_ENV, raising=False)
    choice = choose_pipeline(None)
    assert choice.name in (pipeline.PREFERRED_MODEL, PINNED_MODEL)
    assert choice.warning is None
    if choice.name == PINNED_MODEL:
        assert choice.pinned and choice.version == "3.8.0"


def test_en_core_web_sm_is_preferred_when_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    pinned = _pinned_dir().parent

    def fake(name: str) -> Path | None:
        return pinned if name in (pipeline.PREFERRED_MODEL, PINNED_MODEL) else None

    monkeypatch.setattr(pipeline, "_package_dir", fake)
    monkeypatch.delenv(pipeline.MODEL_ENV, raising=False)
    assert choose_pipeline(None).name == pipeline.PREFERRED_MODEL


def test_without_pretrained_pipelines_a_blank_one_warns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pipeline, "_package_dir", lambda name: None)
    monkeypatch.delenv(pipeline.MODEL_ENV, raising=False)
    choice = choose_pipeline(None)
    assert choice.name == BLANK and choice.path is None
    assert "person recall is lower" in (choice.warning or "")


def test_a_missing_pipeline_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="'no_such_pipeline' is not installed"):
        choose_pipeline("no_such_pipeline")


def test_a_pipeline_for_another_spacy_version_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "old_pipeline"
    folder.mkdir()
    meta = {"name": "old", "version": "2.3.1", "spacy_version": ">=2.3.0,<2.4.0"}
    (folder / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"needs spaCy >=2.3.0,<2.4.0"):
        choose_pipeline(str(folder))


def test_the_model_can_be_chosen_by_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(pipeline.MODEL_ENV, "blank:en")
    assert choose_pipeline(None).name == BLANK


def test_loaded_pipeline_has_only_ner_and_the_rulers() -> None:
    from tagger.entities.gazetteer import gazetteer

    nlp = pipeline.load_pipeline(choose_pipeline(PINNED_MODEL), gazetteer())
    assert nlp.pipe_names == ["ner", "agency_ruler", "country_ruler"]
    doc = nlp("The IMF and the U.S. Treasury met in El Salvador.")
    found = {(e.text, e.label_, e.ent_id_) for e in doc.ents}
    assert ("IMF", "AGENCY", "International Monetary Fund") in found
    assert ("U.S. Treasury", "AGENCY", "Treasury Department") in found
    assert ("El Salvador", "COUNTRY", "SV") in found or ("El Salvador", "GPE", "") in found
