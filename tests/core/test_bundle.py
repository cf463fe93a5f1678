"""Bundles: round-trip, atomic saves, and refusal of anything altered, before unpickling."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tagger import bundle as bundle_module
from tagger.api import Tagger
from tagger.bundle import (
    FORMAT_VERSION,
    MANIFEST,
    MODEL_CARD,
    load_bundle,
    read_manifest,
    save_bundle,
    sha256_file,
)
from tagger.corpus.article import Article
from tagger.errors import BundleError


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory, fast_model: Tagger) -> Path:
    path = tmp_path_factory.mktemp("bundles") / "model"
    fast_model.save(path)
    return path


@pytest.fixture
def bundle(saved: Path, tmp_path: Path) -> Path:
    """A fresh copy of the saved bundle that a test may damage."""
    return Path(shutil.copytree(saved, tmp_path / "model"))


@pytest.fixture
def no_unpickling(monkeypatch: pytest.MonkeyPatch) -> None:
    import joblib

    def refuse(*_args: Any, **_kwargs: Any) -> None:
        raise AssertionError("joblib.load was called on a bundle that should be refused")

    monkeypatch.setattr(joblib, "load", refuse)


def edit_manifest(path: Path, change: Any) -> None:
    manifest = json.loads((path / MANIFEST).read_text())
    change(manifest)
    (path / MANIFEST).write_text(json.dumps(manifest))


# -- round trip -------------------------------------------------------------------------------


def test_save_writes_manifest_files_and_model_card(saved: Path, fast_model: Tagger) -> None:
    manifest = json.loads((saved / MANIFEST).read_text())
    assert manifest["format_version"] == FORMAT_VERSION
    assert set(manifest["files"]) == {
        "features.joblib",
        "sections.joblib",
        "tags.joblib",
        MODEL_CARD,
    }
    for name, digest in manifest["files"].items():
        assert sha256_file(saved / name) == digest
    versions = manifest["versions"]
    for package in ("tagger", "scikit-learn", "numpy", "spacy"):
        assert package in versions
    assert versions["scikit-learn"]
    for key in ("created_at", "labels", "thresholds", "corpus", "config", "metrics", "model_id"):
        assert key in manifest, key
    card = (saved / MODEL_CARD).read_text()
    assert card.startswith("# Model card")
    assert "90 articles" in card
    # No staging or retired folders are left next to the bundle.
    assert [p.name for p in saved.parent.iterdir()] == ["model"]


def test_load_round_trip_predicts_the_same(
    saved: Path, fast_model: Tagger, sample_split: Any
) -> None:
    loaded = Tagger.load(saved)
    _, test = sample_split
    articles = [Article.from_dict(r) for r in test]
    before = [s.to_dict() for s in fast_model.predict(articles)]
    after = [s.to_dict() for s in loaded.predict(articles)]
    for a, b in zip(before, after, strict=True):
        a.pop("model"), b.pop("model")
    assert before == after
    assert loaded.model_info["id"] == json.loads((saved / MANIFEST).read_text())["model_id"]
    assert loaded.manifest["labels"] == fast_model.manifest["labels"]


def test_generic_objects_round_trip(tmp_path: Path) -> None:
    objects = {"numbers": np.arange(5), "info": {"a": [1, 2]}}
    manifest = save_bundle(tmp_path / "b", objects, {"name": "x"}, "# card\n")
    assert manifest["name"] == "x"
    again, loaded = load_bundle(tmp_path / "b")
    assert again["files"] == manifest["files"]
    assert loaded["info"] == {"a": [1, 2]}
    assert loaded["numbers"].tolist() == [0, 1, 2, 3, 4]


# -- refusals: nothing is unpickled -------------------------------------------------------------


@pytest.mark.usefixtures("no_unpickling")
def test_tampered_joblib_file_is_refused(bundle: Path) -> None:
    target = bundle / "tags.joblib"
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0xFF
    target.write_bytes(bytes(data))
    with pytest.raises(BundleError, match=r"tags\.joblib: checksum mismatch") as info:
        Tagger.load(bundle)
    assert "altered" in str(info.value)


@pytest.mark.usefixtures("no_unpickling")
def test_tampered_model_card_is_refused(bundle: Path) -> None:
    with (bundle / MODEL_CARD).open("a") as handle:
        handle.write("\nextra line\n")
    with pytest.raises(BundleError, match=r"MODEL_CARD\.md: checksum mismatch"):
        Tagger.load(bundle)


@pytest.mark.usefixtures("no_unpickling")
@pytest.mark.parametrize("name", ["features.joblib", "sections.joblib", MODEL_CARD])
def test_missing_file_is_refused(bundle: Path, name: str) -> None:
    (bundle / name).unlink()
    with pytest.raises(BundleError, match=f"{name}: missing from the bundle"):
        Tagger.load(bundle)


@pytest.mark.usefixtures("no_unpickling")
def test_missing_bundle_and_missing_manifest(tmp_path: Path, bundle: Path) -> None:
    with pytest.raises(BundleError, match="no such model bundle"):
        Tagger.load(tmp_path / "absent")
    a_file = tmp_path / "file.joblib"
    a_file.write_bytes(b"x")
    with pytest.raises(BundleError, match="is a folder"):
        Tagger.load(a_file)
    (bundle / MANIFEST).unlink()
    with pytest.raises(BundleError, match=r"manifest\.json: missing"):
        Tagger.load(bundle)


@pytest.mark.usefixtures("no_unpickling")
@pytest.mark.parametrize("version", [FORMAT_VERSION + 1, 0, None, "1"])
def test_unknown_format_version_is_refused(bundle: Path, version: Any) -> None:
    edit_manifest(bundle, lambda m: m.update(format_version=version))
    with pytest.raises(BundleError, match=r"format version .* is not supported"):
        Tagger.load(bundle)


@pytest.mark.usefixtures("no_unpickling")
def test_incompatible_scikit_learn_is_refused(bundle: Path) -> None:
    edit_manifest(bundle, lambda m: m["versions"].update({"scikit-learn": "0.24.2"}))
    with pytest.raises(BundleError, match=r"built with scikit-learn 0\.24\.2.*installed"):
        Tagger.load(bundle)


@pytest.mark.usefixtures("no_unpickling")
@pytest.mark.parametrize(
    "versions",
    [None, "1.8", ["scikit-learn"], {}, {"scikit-learn": None}, {"scikit-learn": 1.8}],
    ids=["null", "string", "list", "empty", "no-version", "number"],
)
def test_manifest_without_a_usable_scikit_learn_version_is_refused(
    bundle: Path, versions: Any
) -> None:
    edit_manifest(bundle, lambda m: m.update(versions=versions))
    with pytest.raises(BundleError, match="no scikit-learn version"):
        Tagger.load(bundle)


def test_other_patch_release_of_scikit_learn_is_accepted(bundle: Path) -> None:
    installed = bundle_module.package_version("scikit-learn")
    assert installed is not None
    major, minor = installed.split(".")[:2]
    edit_manifest(bundle, lambda m: m["versions"].update({"scikit-learn": f"{major}.{minor}.99"}))
    assert Tagger.load(bundle).tag_model is not None


@pytest.mark.usefixtures("no_unpickling")
def test_extra_joblib_file_is_refused(bundle: Path) -> None:
    shutil.copy(bundle / "tags.joblib", bundle / "payload.joblib")
    with pytest.raises(BundleError, match=r"not in the manifest: payload\.joblib"):
        Tagger.load(bundle)


@pytest.mark.usefixtures("no_unpickling")
@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2, 3]", "malformed manifest"),
        ('{"format_version": 1}', "malformed manifest"),
        ('{"format_version": 1, "files": ["tags.joblib"]}', "malformed manifest"),
        (b"\xff\xfe\x00garbage", "not valid JSON"),
    ],
)
def test_malformed_manifest_is_refused(bundle: Path, content: str | bytes, message: str) -> None:
    path = bundle / MANIFEST
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    with pytest.raises(BundleError, match=message):
        Tagger.load(bundle)


@pytest.mark.usefixtures("no_unpickling")
@pytest.mark.parametrize("name", ["../outside.joblib", ".hidden.joblib", "sub/inner.joblib"])
def test_unsafe_file_names_in_the_manifest_are_refused(bundle: Path, name: str) -> None:
    edit_manifest(bundle, lambda m: m["files"].update({name: "0" * 64}))
    with pytest.raises(BundleError, match="unsafe file name"):
        Tagger.load(bundle)


def test_read_manifest_never_unpickles(bundle: Path, no_unpickling: None) -> None:
    manifest = read_manifest(bundle)
    assert manifest["format_version"] == FORMAT_VERSION


# -- atomic saves --------------------------------------------------------------------------------


def _snapshot(path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(path.iterdir())}


def test_failure_while_writing_leaves_the_old_bundle(
    bundle: Path, fast_model: Tagger, monkeypatch: pytest.MonkeyPatch
) -> None:
    import joblib

    before = _snapshot(bundle)
    real_dump = joblib.dump
    calls = []

    def failing_dump(obj: Any, filename: Any, **kwargs: Any) -> Any:
        calls.append(filename)
        if len(calls) == 2:  # the first file is written, the second fails
            raise OSError("disk full")
        return real_dump(obj, filename, **kwargs)

    monkeypatch.setattr(joblib, "dump", failing_dump)
    with pytest.raises(OSError, match="disk full"):
        fast_model.save(bundle)
    monkeypatch.undo()
    assert _snapshot(bundle) == before
    assert [p.name for p in bundle.parent.iterdir()] == ["model"]  # staging removed
    assert Tagger.load(bundle).tag_model is not None


def test_interrupt_while_writing_leaves_the_old_bundle(
    bundle: Path, fast_model: Tagger, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = _snapshot(bundle)

    def interrupted(*_args: Any, **_kwargs: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(bundle_module, "sha256_file", interrupted)
    with pytest.raises(KeyboardInterrupt):
        fast_model.save(bundle)
    monkeypatch.undo()
    assert _snapshot(bundle) == before
    assert [p.name for p in bundle.parent.iterdir()] == ["model"]


def test_failed_swap_restores_the_old_bundle(
    bundle: Path, fast_model: Tagger, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = _snapshot(bundle)
    real_replace = bundle_module.os.replace
    moves = []

    def flaky_replace(src: Any, dst: Any) -> None:
        moves.append((Path(src).name, Path(dst).name))
        if len(moves) == 2:  # old bundle retired; moving the new one in fails
            raise OSError("rename failed")
        real_replace(src, dst)

    monkeypatch.setattr(bundle_module.os, "replace", flaky_replace)
    with pytest.raises(OSError, match="rename failed"):
        fast_model.save(bundle)
    monkeypatch.undo()
    assert moves[0][0] == "model" and moves[1][1] == "model" and moves[2][1] == "model"
    assert _snapshot(bundle) == before
    assert [p.name for p in bundle.parent.iterdir()] == ["model"]


def test_successful_overwrite_replaces_the_bundle(bundle: Path, fast_model: Tagger) -> None:
    (bundle / "stale.txt").write_text("left from an old version")
    fast_model.save(bundle)
    assert not (bundle / "stale.txt").exists()
    assert [p.name for p in bundle.parent.iterdir()] == ["model"]
    assert Tagger.load(bundle).section_model is not None


def test_a_file_in_the_way_is_not_overwritten(tmp_path: Path, fast_model: Tagger) -> None:
    target = tmp_path / "model"
    target.write_text("precious")
    with pytest.raises(BundleError, match="not a folder"):
        fast_model.save(target)
    assert target.read_text() == "precious"
    assert [p.name for p in tmp_path.iterdir()] == ["model"]
