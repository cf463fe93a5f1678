"""Model bundles: a folder of joblib files plus a manifest with versions and checksums.

Loading verifies the manifest (format, versions, sha256 of every file) before
anything is unpickled: joblib files run code when loaded, so only a bundle whose
files are exactly those that were written is ever opened.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from tagger import __version__
from tagger.errors import BundleError

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
MODEL_CARD = "MODEL_CARD.md"


def package_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def runtime_versions() -> dict[str, str | None]:
    return {
        "tagger": __version__,
        "scikit-learn": package_version("scikit-learn"),
        "numpy": package_version("numpy"),
        "scipy": package_version("scipy"),
        "spacy": package_version("spacy"),
        "joblib": package_version("joblib"),
    }


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_bundle(
    out: Path,
    objects: dict[str, Any],
    manifest: dict[str, Any],
    model_card: str,
) -> dict[str, Any]:
    """Write a bundle atomically: into a temporary folder, then swapped into place."""
    import joblib

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    # mkdtemp makes a private (0700) folder; a bundle is read by other accounts
    # (a service running `tagger serve`), so give it the usual permissions.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(staging, 0o777 & ~umask)
    try:
        files: dict[str, str] = {}
        for name, obj in objects.items():
            filename = f"{name}.joblib"
            joblib.dump(obj, staging / filename, compress=3)
            files[filename] = sha256_file(staging / filename)
        (staging / MODEL_CARD).write_text(model_card, encoding="utf-8")
        files[MODEL_CARD] = sha256_file(staging / MODEL_CARD)
        full = {
            "format_version": FORMAT_VERSION,
            "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "versions": runtime_versions(),
            **manifest,
            "files": files,
        }
        (staging / MANIFEST).write_text(json.dumps(full, indent=2, ensure_ascii=False) + "\n")
        _swap_into_place(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return full


def _swap_into_place(staging: Path, out: Path) -> None:
    if not out.exists():
        os.replace(staging, out)
        return
    if not out.is_dir():
        raise BundleError(f"{out}: exists and is not a folder; not overwritten")
    retired = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
    retired.rmdir()
    os.replace(out, retired)
    try:
        os.replace(staging, out)
    except BaseException:
        os.replace(retired, out)
        raise
    shutil.rmtree(retired, ignore_errors=True)


def read_manifest(path: Path) -> dict[str, Any]:
    """The manifest of a bundle, checked for format and versions (nothing unpickled)."""
    path = Path(path)
    if not path.exists():
        raise BundleError(f"{path}: no such model bundle")
    if not path.is_dir():
        raise BundleError(f"{path}: a model bundle is a folder with {MANIFEST}")
    manifest_path = path / MANIFEST
    if not manifest_path.exists():
        raise BundleError(f"{manifest_path}: missing; not a tagger model bundle")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"{manifest_path}: not valid JSON ({exc})") from exc
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        raise BundleError(f"{manifest_path}: malformed manifest (no file list)")
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise BundleError(
            f"{manifest_path}: bundle format version {version!r} is not supported by tagger "
            f"{__version__} (expects {FORMAT_VERSION}); retrain the model"
        )
    versions = manifest.get("versions")
    built_with = versions.get("scikit-learn") if isinstance(versions, dict) else None
    if not isinstance(built_with, str) or not built_with:
        raise BundleError(
            f"{manifest_path}: malformed manifest (no scikit-learn version), so its models "
            "cannot be checked for compatibility; retrain the model"
        )
    installed = package_version("scikit-learn")
    if installed and _minor(built_with) != _minor(installed):
        raise BundleError(
            f"{path}: built with scikit-learn {built_with}, but {installed} is installed; "
            f"pickled models are only safe within one minor version: retrain the model "
            f"or install scikit-learn=={built_with}"
        )
    return manifest


def _minor(version: str) -> tuple[str, ...]:
    return tuple(version.split(".")[:2])


def verify_files(path: Path, manifest: dict[str, Any]) -> None:
    """Every listed file present with its recorded sha256; no extra joblib files."""
    listed = manifest["files"]
    for filename, expected in listed.items():
        if "/" in filename or "\\" in filename or filename.startswith("."):
            raise BundleError(f"{path}: manifest lists an unsafe file name {filename!r}")
        file = path / filename
        if not file.is_file():
            raise BundleError(f"{file}: missing from the bundle")
        actual = sha256_file(file)
        if actual != expected:
            raise BundleError(
                f"{file}: checksum mismatch (sha256 {actual[:12]}…, manifest says "
                f"{str(expected)[:12]}…); the file was altered: refusing to load it"
            )
    labels = manifest.get("labels") or {}
    for kind in ("sections", "tags"):
        if labels.get(kind) and f"{kind}.joblib" not in listed:
            raise BundleError(
                f"{path}: the manifest names {len(labels[kind])} {kind} but lists no "
                f"{kind}.joblib: refusing an incomplete bundle"
            )
    extra = sorted(p.name for p in path.glob("*.joblib") if p.name not in listed)
    if extra:
        raise BundleError(f"{path}: files not in the manifest: {', '.join(extra)}; refusing")


def load_bundle(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """Verify, then unpickle: (manifest, {name: object})."""
    import joblib

    path = Path(path)
    manifest = read_manifest(path)
    verify_files(path, manifest)
    objects: dict[str, Any] = {}
    for filename in manifest["files"]:
        if filename.endswith(".joblib"):
            try:
                objects[filename[: -len(".joblib")]] = joblib.load(path / filename)
            except Exception as exc:  # a verified file that still fails: say which
                raise BundleError(f"{path / filename}: cannot be loaded ({exc})") from exc
    return manifest, objects
