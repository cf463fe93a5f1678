"""Malicious bundles: each kind is refused, and its payload's side effect never happens.

A payload here is a pickle whose unpickling creates a marker folder. Every refusal is
checked both ways: the loader says no (one line, exit 2 from the command line) and the
marker does not exist afterwards. Files a test plants carry their correct sha256 in the
manifest, as an attacker who can write the folder would do: checksums catch damage,
not intent, so these refusals come from what the files are, not from their hashes.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import shutil
import tracemalloc
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from tagger.api import Tagger
from tagger.bundle import KEY_ENV, MANIFEST, sha256_file
from tagger.cli import app
from tagger.errors import BundleError


class Payload:
    """Unpickling this creates `marker`: the side effect that must never happen."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (os.mkdir, (self.marker,))


@pytest.fixture(autouse=True)
def _no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)


@pytest.fixture
def bundle(tiny_model: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(tiny_model, tmp_path / "model"))


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    return tmp_path / "payload-ran"


@pytest.fixture
def article(tmp_path: Path) -> Path:
    path = tmp_path / "article.txt"
    path.write_text("Senate passes the budget\n\nThe Senate passed the budget on Tuesday.\n")
    return path


def manifest_of(path: Path) -> dict[str, Any]:
    return json.loads((path / MANIFEST).read_text())


def write_manifest(path: Path, manifest: dict[str, Any]) -> None:
    (path / MANIFEST).write_text(json.dumps(manifest))


def rehash(path: Path, extra: tuple[str, ...] = ()) -> None:
    """Record the current sha256 of every listed file (and of `extra`), as an attacker would."""
    manifest = manifest_of(path)
    for name in [*manifest["files"], *extra]:
        manifest["files"][name] = sha256_file(path / name)
    write_manifest(path, manifest)


def replace_member(npz: Path, member: str, data: bytes) -> None:
    """Swap one .npy inside an .npz for the given bytes."""
    with zipfile.ZipFile(npz) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    members[member] = data
    with zipfile.ZipFile(npz, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)


def npy_header(shape: tuple[int, ...], descr: str = "<f8") -> bytes:
    buffer = io.BytesIO()
    header = {"descr": descr, "fortran_order": False, "shape": shape}
    np.lib.format.write_array_header_1_0(buffer, header)
    return buffer.getvalue()


def refused_everywhere(path: Path, article: Path, message: str, *, in_model: bool = False) -> None:
    """The API, `predict` and `evaluate` all refuse, in one line, exit 2; so does `info`,
    unless the harm is inside a model file (`in_model`): info parses none of them (it
    checks the manifest, checksums and model id) and prints the manifest."""
    with pytest.raises(BundleError, match=message):
        Tagger.load(path)
    runner = CliRunner()
    info = runner.invoke(app, ["info", str(path)])
    if in_model:
        assert info.exit_code == 0, info.output
        assert json.loads(info.stdout) == json.loads((path / "manifest.json").read_text())
    for args in (
        *([] if in_model else [["info", path]]),
        ["predict", "--model", path, "--no-entities", article],
        ["evaluate", "--model", path, article],
    ):
        result = runner.invoke(app, [str(a) for a in args])
        assert result.exit_code == 2, result.output
        errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and "internal error" not in errors[0], result.stderr
        assert result.stdout == ""


# -- pickles ------------------------------------------------------------------------------------


def test_a_format_1_bundle_with_a_joblib_payload_runs_nothing(
    tmp_path: Path, marker: Path, article: Path
) -> None:
    import joblib

    old = tmp_path / "old"
    old.mkdir()
    joblib.dump(Payload(marker), old / "features.joblib")
    (old / "MODEL_CARD.md").write_text("# Model card\n")
    manifest = {
        "format_version": 1,
        "name": "old",
        "files": {n: sha256_file(old / n) for n in ("features.joblib", "MODEL_CARD.md")},
    }
    write_manifest(old, manifest)
    refused_everywhere(old, article, "format-1 bundle")
    result = CliRunner().invoke(app, ["bundle", "convert", str(old), str(tmp_path / "new")])
    assert result.exit_code == 2 and "--trust" in result.stderr
    assert not marker.exists()
    assert not (tmp_path / "new").exists()


def test_a_pickle_in_place_of_an_array_file_runs_nothing(
    bundle: Path, marker: Path, article: Path
) -> None:
    (bundle / "tags.npz").write_bytes(pickle.dumps(Payload(marker)))
    rehash(bundle)
    refused_everywhere(bundle, article, r"tags\.npz: not a valid array file", in_model=True)
    assert not marker.exists()


def test_an_object_array_inside_the_npz_runs_nothing(
    bundle: Path, marker: Path, article: Path
) -> None:
    buffer = io.BytesIO()
    np.save(buffer, np.array([Payload(marker)], dtype=object), allow_pickle=True)
    replace_member(bundle / "tags.npz", "intercept.npy", buffer.getvalue())
    rehash(bundle)
    refused_everywhere(bundle, article, "object arrays need pickle", in_model=True)
    assert not marker.exists()


def test_a_payload_as_an_extra_unlisted_file_runs_nothing(
    bundle: Path, marker: Path, article: Path
) -> None:
    import joblib

    for name in ("payload.joblib", "features.joblib"):
        joblib.dump(Payload(marker), bundle / name)
        refused_everywhere(bundle, article, f"files not in the manifest: {name}")
        (bundle / name).unlink()
    assert not marker.exists()


def test_a_listed_pickle_the_model_does_not_use_is_refused(
    bundle: Path, marker: Path, article: Path
) -> None:
    import joblib

    joblib.dump(Payload(marker), bundle / "extra.joblib")
    rehash(bundle, extra=("extra.joblib",))
    refused_everywhere(bundle, article, "field 'files': unsafe file name 'extra.joblib'")
    assert not marker.exists()


# -- paths --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["../outside.json", "/etc/passwd", "sub/inner.json", ".hidden.md"])
def test_a_manifest_naming_files_outside_the_folder_is_refused(
    bundle: Path, article: Path, name: str
) -> None:
    outside = bundle.parent / "outside.json"
    outside.write_text("{}")
    manifest = manifest_of(bundle)
    manifest["files"][name] = "0" * 64
    write_manifest(bundle, manifest)
    refused_everywhere(bundle, article, "field 'files': unsafe file name")


def test_a_symlinked_file_inside_the_bundle_is_refused(bundle: Path, article: Path) -> None:
    # The link's target has the very content that was hashed: following it would pass.
    elsewhere = bundle.parent / "features-elsewhere.json"
    shutil.copy(bundle / "features.json", elsewhere)
    (bundle / "features.json").unlink()
    os.symlink(elsewhere, bundle / "features.json")
    refused_everywhere(bundle, article, "a symbolic link inside the bundle")
    (bundle / "features.json").unlink()
    os.symlink("/dev/zero", bundle / "features.json")
    refused_everywhere(bundle, article, "a symbolic link inside the bundle")


def test_a_symlinked_manifest_is_refused(bundle: Path, article: Path) -> None:
    shutil.move(bundle / MANIFEST, bundle.parent / "real-manifest.json")
    os.symlink(bundle.parent / "real-manifest.json", bundle / MANIFEST)
    refused_everywhere(bundle, article, "a symbolic link inside the bundle")


def test_a_bundle_folder_that_is_a_symlink_loop_is_refused(tmp_path: Path, article: Path) -> None:
    os.symlink(tmp_path / "b", tmp_path / "a")
    os.symlink(tmp_path / "a", tmp_path / "b")
    refused_everywhere(tmp_path / "a", article, "a symbolic link loop")


def test_extra_unlisted_files_and_folders_are_refused(bundle: Path, article: Path) -> None:
    (bundle / "notes.txt").write_text("harmless?")
    refused_everywhere(bundle, article, "files not in the manifest: notes.txt")
    (bundle / "notes.txt").unlink()
    (bundle / "sub").mkdir()
    refused_everywhere(bundle, article, "files not in the manifest: sub")


# -- sizes -------------------------------------------------------------------------------------


def test_an_array_header_claiming_terabytes_is_refused_before_allocating(
    bundle: Path, article: Path
) -> None:
    claim = npy_header((1 << 40,)) + b"\0" * 64  # 8 TiB claimed, 64 bytes present
    replace_member(bundle / "tags.npz", "intercept.npy", claim)
    rehash(bundle)
    refused_everywhere(
        bundle, article, r"intercept\.npy: claims|header claims shape", in_model=True
    )


def test_an_array_header_larger_than_its_data_allocates_nothing(bundle: Path) -> None:
    """100 MB claimed under the size cap, a few bytes present: refused, nothing allocated."""
    replace_member(
        bundle / "tags.npz", "intercept.npy", npy_header((25_000_000,), "<f4") + b"\0" * 8
    )
    rehash(bundle)
    tracemalloc.start()
    try:
        with pytest.raises(BundleError, match="refusing before allocating"):
            Tagger.load(bundle)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20_000_000


def test_a_zip_member_claiming_a_huge_size_is_refused(bundle: Path, article: Path) -> None:
    """A central directory that claims gigabytes for a few stored bytes (a zip bomb's lie)."""
    data = bytearray((bundle / "tags.npz").read_bytes())
    pos = data.find(b"PK\x01\x02")
    while pos >= 0:
        name_length = int.from_bytes(data[pos + 28 : pos + 30], "little")
        if data[pos + 46 : pos + 46 + name_length] == b"intercept.npy":
            data[pos + 24 : pos + 28] = (0xFFFFFFF0).to_bytes(4, "little")
            break
        pos = data.find(b"PK\x01\x02", pos + 4)
    assert pos >= 0
    (bundle / "tags.npz").write_bytes(bytes(data))
    rehash(bundle)
    refused_everywhere(bundle, article, r"intercept\.npy: claims \d+ bytes", in_model=True)


def test_a_huge_manifest_is_refused_unread(bundle: Path, article: Path) -> None:
    manifest = manifest_of(bundle)
    manifest["warnings"] = ["x" * (9 << 20)]
    write_manifest(bundle, manifest)
    refused_everywhere(bundle, article, r"manifest\.json: \d+ bytes, more than")


def test_a_deeply_nested_manifest_is_refused(bundle: Path, article: Path) -> None:
    (bundle / MANIFEST).write_text('{"a":' * 100_000 + "0" + "}" * 100_000)
    refused_everywhere(bundle, article, "JSON nested too deeply")
    (bundle / MANIFEST).write_text("[" * 100_000 + "]" * 100_000)
    refused_everywhere(bundle, article, "JSON nested too deeply")


# -- model files that parse but lie ------------------------------------------------------------


def test_a_sparse_matrix_with_indices_out_of_range_is_refused(bundle: Path, article: Path) -> None:
    """Weights stored as CSR whose column index points far outside the matrix."""
    tags = bundle / "tags.npz"
    with zipfile.ZipFile(tags) as archive:
        members = {n: archive.read(n) for n in archive.namelist() if not n.startswith("coef")}
        names = archive.namelist()
        if "coef.npy" in names:  # dense weights
            rows, columns = np.load(io.BytesIO(archive.read("coef.npy"))).shape
        else:  # sparse weights: their stored shape
            rows, columns = np.load(io.BytesIO(archive.read("coef.csr_shape.npy"))).tolist()
    members["coef.csr_data.npy"] = _npy(np.ones(1, dtype=np.float32))
    members["coef.csr_indices.npy"] = _npy(np.array([10**9], dtype=np.int32))
    members["coef.csr_indptr.npy"] = _npy(np.array([0] + [1] * rows, dtype=np.int32))
    members["coef.csr_shape.npy"] = _npy(np.array([rows, columns], dtype=np.int64))
    with zipfile.ZipFile(tags, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    rehash(bundle)
    refused_everywhere(bundle, article, "sparse 'coef' is malformed", in_model=True)


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def test_a_name_rule_with_its_own_regular_expression_is_refused(
    bundle: Path, article: Path
) -> None:
    """Patterns come from the labels; a bundle never picks a regex to run (ReDoS)."""
    state = json.loads((bundle / "tags.json").read_text())
    assert state["name_rule"] is not None
    state["name_rule"]["patterns"][0] = "(a+)+$"
    (bundle / "tags.json").write_text(json.dumps(state))
    rehash(bundle)
    refused_everywhere(
        bundle, article, "name_rule.patterns: do not match the tag labels", in_model=True
    )


def test_a_token_pattern_in_the_features_is_refused(bundle: Path, article: Path) -> None:
    state = json.loads((bundle / "features.json").read_text())
    state["blocks"]["word"]["token_pattern"] = "(x+x+)+y"
    (bundle / "features.json").write_text(json.dumps(state))
    rehash(bundle)
    refused_everywhere(bundle, article, "unsupported token pattern", in_model=True)


def test_the_untouched_copy_loads(bundle: Path) -> None:
    """The fixture itself is a good bundle: each refusal above is the planted change's."""
    assert Tagger.load(bundle).tag_model is not None
