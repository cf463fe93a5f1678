"""Format-1 bundles (joblib pickles): converted to format 2, only when the user trusts them.

Unpickling runs whatever code the file holds, so this module is used by one command,
`tagger bundle convert OLD NEW --trust`, and only after the old manifest's checksums pass.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from tagger.bundle import (
    LEGACY_FORMAT_VERSION,
    MANIFEST,
    MAX_MANIFEST_BYTES,
    _read_regular,
    parse_json,
    resolve_bundle,
    sha256_file,
)
from tagger.errors import BundleError

LEGACY_FILES = ("features.joblib", "sections.joblib", "tags.joblib")


def read_legacy_manifest(path: Path) -> dict[str, Any]:
    """A format-1 manifest whose listed files are all present and unaltered."""
    real = resolve_bundle(path)
    manifest_path = real / MANIFEST
    manifest = parse_json(_read_regular(manifest_path, MAX_MANIFEST_BYTES, ""), str(manifest_path))
    if not isinstance(manifest, dict) or manifest.get("format_version") != LEGACY_FORMAT_VERSION:
        raise BundleError(f"{path}: not a format-1 bundle; nothing to convert")
    files = manifest.get("files")
    if not isinstance(files, dict) or "features.joblib" not in files:
        raise BundleError(f"{manifest_path}: field 'files': lists no features.joblib; refusing")
    for name, expected in files.items():
        if not isinstance(name, str) or "/" in name or "\\" in name or name.startswith("."):
            raise BundleError(f"{manifest_path}: field 'files': unsafe file name {name!r}")
        file = real / name
        if file.is_symlink() or not file.is_file():
            raise BundleError(f"{file}: missing or not a regular file; refusing")
        if sha256_file(file) != expected:
            raise BundleError(f"{file}: checksum mismatch; the file was altered: refusing")
    extra = sorted(p.name for p in real.iterdir() if p.name not in {*files, MANIFEST})
    if extra:
        raise BundleError(f"{real}: files not in the manifest: {', '.join(extra)}; refusing")
    return manifest


def _block(analyzer: str, vectorizer: Any, where: str) -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer

    from tagger.features import TfidfBlock

    if not isinstance(vectorizer, TfidfVectorizer):
        raise BundleError(f"{where}: not a fitted TfidfVectorizer; cannot convert")
    return TfidfBlock.from_vectorizer(analyzer, vectorizer)


def convert_legacy_bundle(old: Path, new: Path, trust: bool) -> dict[str, Any]:
    """Unpickle a verified format-1 bundle (only with `trust`) and save it as format 2."""
    import joblib

    from tagger.api import Tagger
    from tagger.classify import SectionModel, TagModel
    from tagger.features import Featurizer

    manifest = read_legacy_manifest(old)
    if not trust:
        raise BundleError(
            f"{old}: converting unpickles its joblib files, which runs any code they hold; "
            "pass --trust only for a bundle you made or whose source you trust"
        )
    real = resolve_bundle(old)
    objects: dict[str, Any] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scikit-learn's version warnings: attributes are read
        for filename in LEGACY_FILES:
            if filename in manifest["files"]:
                try:
                    objects[filename.split(".")[0]] = joblib.load(real / filename)
                except Exception as exc:
                    raise BundleError(f"{real / filename}: cannot be unpickled ({exc})") from None
    legacy = objects["features"]
    if not isinstance(legacy, Featurizer):
        raise BundleError(f"{real / 'features.joblib'}: holds no feature extractor")
    state = vars(legacy)
    featurizer = Featurizer(legacy.config)
    for name, analyzer in (("word", "word"), ("char", "char_wb"), ("entity", "tokens")):
        if state.get(name) is not None:
            setattr(featurizer, name, _block(analyzer, state[name], f"{real}: features.{name}"))
    sections, tags = objects.get("sections"), objects.get("tags")
    if sections is not None and not isinstance(sections, SectionModel):
        raise BundleError(f"{real / 'sections.joblib'}: holds no section model")
    if tags is not None and not isinstance(tags, TagModel):
        raise BundleError(f"{real / 'tags.joblib'}: holds no tag model")
    if tags is not None and tags.name_rule is not None:
        tags.name_rule._regex = None
    kept = {k: v for k, v in manifest.items() if k not in {"format_version", "files", "versions"}}
    kept.pop("created_at", None)
    kept["warnings"] = [*kept.get("warnings", []), f"converted from a format-1 bundle ({old})"]
    return Tagger(featurizer, sections, tags, kept).save(new)
