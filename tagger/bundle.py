"""Model bundles: a folder of JSON and numpy arrays, a manifest with checksums, a model card.

A bundle is data, never code. Each part of a model (features, sections, tags) is a
JSON file (configuration, vocabularies, labels, thresholds, metrics) and a `.npz` file
of arrays read by our own reader: no pickle, no object arrays, array headers checked
before anything is allocated. Loading reads the manifest (size, nesting, a strict
schema), checks an optional HMAC signature, checks that every file in the folder is a
listed regular file with its recorded sha256, and only then parses the files the
model needs, from the very bytes that were hashed.

Saving never leaves `--out` without a complete bundle: each save writes a new hidden
version folder beside it, `.NAME.v-<stamp>`, and `--out` becomes a symbolic link that
is swapped to it in one atomic rename (see docs/bundles.md).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import hashlib
import hmac
import io
import json
import os
import re
import secrets
import shutil
import stat
import tempfile
import time
import zipfile
from collections.abc import Iterator, Sequence
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from tagger import __version__
from tagger.errors import BundleError, unique_keys

FORMAT_VERSION = 2
LEGACY_FORMAT_VERSION = 1  # joblib pickles: refused, converted by `tagger bundle convert`
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
MODEL_CARD = "MODEL_CARD.md"
KEY_ENV = "TAGGER_BUNDLE_KEY"
COMPONENTS = ("features", "sections", "tags")

MAX_MANIFEST_BYTES = 8 << 20
MAX_JSON_BYTES = 1 << 30
MAX_JSON_DEPTH = 32  # free-form manifest values (config, metrics, lineage)
MAX_ARRAY_BYTES = 8 << 30
MAX_ARRAYS = 256
MAX_DEFLATE_RATIO = 1100  # deflate cannot expand more than ~1032:1
NPY_MAX_HEADER = 10_000
SPARSE_PARTS = ("data", "indices", "indptr", "shape")

# A component's state: JSON-able metadata and named arrays (dense, or scipy CSR).
State = tuple[dict[str, Any], dict[str, Any]]


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
    }


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# -- JSON ----------------------------------------------------------------------------------


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def dump_json(value: Any, indent: int | None = None) -> bytes:
    """Strict JSON (no NaN or infinities), numpy scalars and arrays as plain values."""
    text = json.dumps(
        value, indent=indent, ensure_ascii=False, allow_nan=False, default=_json_default
    )
    return (text + "\n").encode("utf-8")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_json(data: bytes, where: str) -> Any:
    """Parse untrusted JSON: UTF-8, no duplicate keys, no NaN, bounded nesting."""
    try:
        return json.loads(
            data.decode("utf-8"),
            object_pairs_hook=unique_keys,
            parse_constant=_no_constant,
        )
    except RecursionError:
        raise BundleError(f"{where}: JSON nested too deeply; refusing it") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise BundleError(f"{where}: not valid JSON ({exc})") from None


# -- arrays: .npz written and read without pickle -------------------------------------------


def _flatten_arrays(arrays: dict[str, Any]) -> dict[str, np.ndarray]:
    """Dense arrays as they are; a sparse matrix as its CSR data/indices/indptr/shape."""
    import scipy.sparse as sp

    flat: dict[str, np.ndarray] = {}
    for name, value in arrays.items():
        if sp.issparse(value):
            csr = sp.csr_matrix(value)
            csr.sort_indices()
            flat[f"{name}.csr_data"] = csr.data
            flat[f"{name}.csr_indices"] = csr.indices
            flat[f"{name}.csr_indptr"] = csr.indptr
            flat[f"{name}.csr_shape"] = np.asarray(csr.shape, dtype=np.int64)
        else:
            array = np.asarray(value)
            if array.dtype.hasobject or array.dtype.kind not in "biuf":
                raise TypeError(f"array {name!r}: dtype {array.dtype} cannot go in a bundle")
            flat[name] = array
    return flat


def write_arrays(path: Path, arrays: dict[str, Any]) -> None:
    """A deterministic .npz (fixed timestamps, sorted names, deflated, no pickle)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, array in sorted(_flatten_arrays(arrays).items()):
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            with archive.open(info, "w", force_zip64=True) as handle:
                np.lib.format.write_array(handle, array, allow_pickle=False)


_ARRAY_NAME = re.compile(r"[A-Za-z0-9_.\-]{1,128}\.npy")


def read_arrays(data: bytes, where: str) -> dict[str, Any]:
    """The arrays of a .npz held in `data`, every header checked before allocation."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError) as exc:
        raise BundleError(f"{where}: not a valid array file ({exc})") from None
    if len(infos) > MAX_ARRAYS:
        raise BundleError(f"{where}: {len(infos)} arrays, more than {MAX_ARRAYS}; refusing")
    flat: dict[str, np.ndarray] = {}
    for info in infos:
        if not _ARRAY_NAME.fullmatch(info.filename) or info.filename[:-4] in flat:
            raise BundleError(f"{where}: unexpected member {info.filename!r}; refusing")
        try:
            flat[info.filename[:-4]] = _read_member(archive, info, len(data), where)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
            raise BundleError(f"{where}: {info.filename}: unreadable ({exc})") from None
    return _gather_sparse(flat, where)


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, total: int, where: str) -> Any:
    name = f"{where}: {info.filename}"
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise BundleError(f"{name}: unsupported compression; refusing")
    declared = info.file_size
    if info.compress_size > total or declared > MAX_ARRAY_BYTES:
        raise BundleError(f"{name}: claims {declared} bytes; refusing")
    if declared > max(info.compress_size, 1) * MAX_DEFLATE_RATIO + 4096:
        raise BundleError(f"{name}: claims {declared} bytes from {info.compress_size}; refusing")
    with archive.open(info) as handle:
        version = np.lib.format.read_magic(handle)
        if version == (1, 0):
            header = np.lib.format.read_array_header_1_0(handle, max_header_size=NPY_MAX_HEADER)
        elif version == (2, 0):
            header = np.lib.format.read_array_header_2_0(handle, max_header_size=NPY_MAX_HEADER)
        else:
            raise BundleError(f"{name}: unsupported .npy version {version}; refusing")
        shape, fortran, dtype = header
        if dtype.hasobject or dtype.kind not in "biuf" or dtype.fields or dtype.subdtype:
            raise BundleError(
                f"{name}: dtype {dtype} is not plain numbers (object arrays need pickle); refusing"
            )
        if len(shape) > 4 or any(type(n) is not int or n < 0 for n in shape):
            raise BundleError(f"{name}: shape {shape} refused")
        count = 1
        for n in shape:
            count *= n
        nbytes = count * dtype.itemsize
        header_size = handle.tell()
        if nbytes > MAX_ARRAY_BYTES or nbytes != declared - header_size:
            raise BundleError(
                f"{name}: header claims shape {shape} ({nbytes} bytes) but the file holds "
                f"{declared - header_size}; refusing before allocating"
            )
        buffer = bytearray(nbytes)
        view = memoryview(buffer)
        done = 0
        while done < nbytes:
            got = handle.readinto(view[done:])
            if not got:
                raise BundleError(f"{name}: truncated array data")
            done += got
        if handle.read(1):
            raise BundleError(f"{name}: data after the array; refusing")
    array = np.frombuffer(buffer, dtype=dtype)
    return array.reshape(shape, order="F" if fortran else "C")


def _gather_sparse(flat: dict[str, np.ndarray], where: str) -> dict[str, Any]:
    import scipy.sparse as sp

    arrays: dict[str, Any] = {}
    sparse_names = {k.rsplit(".csr_", 1)[0] for k in flat if ".csr_" in k}
    for name in sparse_names:
        parts = {p: flat.pop(f"{name}.csr_{p}", None) for p in SPARSE_PARTS}
        missing = [p for p, v in parts.items() if v is None]
        if missing:
            raise BundleError(f"{where}: sparse {name!r} lacks {', '.join(missing)}")
        shape = parts["shape"]
        if shape.shape != (2,) or shape.dtype.kind not in "iu" or (shape < 0).any():
            raise BundleError(f"{where}: sparse {name!r} has a malformed shape")
        if parts["indices"].dtype.kind not in "iu" or parts["indptr"].dtype.kind not in "iu":
            raise BundleError(f"{where}: sparse {name!r} has non-integer indices")
        try:
            matrix = sp.csr_matrix(
                (parts["data"], parts["indices"], parts["indptr"]),
                shape=(int(shape[0]), int(shape[1])),
            )
            matrix.check_format(full_check=True)
        except (ValueError, TypeError, IndexError) as exc:
            raise BundleError(f"{where}: sparse {name!r} is malformed ({exc})") from None
        arrays[name] = matrix
    arrays.update(flat)
    return arrays


# -- manifest schema --------------------------------------------------------------------------

_HEX64 = re.compile(r"[0-9a-f]{64}")
_HEX12 = re.compile(r"[0-9a-f]{12}")
_FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_\-]{0,63}\.(json|npz|md)")


def _refuse(where: str, field: str, what: str) -> BundleError:
    return BundleError(f"{where}: field '{field}': {what}; refusing the bundle")


def _check_free_json(value: Any, where: str, field: str) -> None:
    """Any JSON value, nested at most MAX_JSON_DEPTH deep (checked without recursion)."""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise _refuse(where, field, f"nested deeper than {MAX_JSON_DEPTH}")
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)


def _string_list(value: Any, where: str, field: str) -> None:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _refuse(where, field, "expected a list of strings")


def _object(value: Any, where: str, field: str, allow_null: bool = False) -> None:
    if value is None and allow_null:
        return
    if not isinstance(value, dict):
        raise _refuse(where, field, "expected an object" + (" or null" if allow_null else ""))


def _count(value: Any, where: str, field: str) -> None:
    if type(value) is not int or value < 0:
        raise _refuse(where, field, "expected a non-negative integer")


REQUIRED_FIELDS = {
    "format_version",
    "created_at",
    "versions",
    "name",
    "model_id",
    "config",
    "corpus",
    "labels",
    "thresholds",
    "metrics",
    "entities",
    "n_features",
    "warnings",
    "components",
    "files",
}
# lineage: tagger.feedback.learn; vocabulary and renames: tagger.vocab (free-form objects).
OPTIONAL_FIELDS = {"lineage", "vocabulary", "renames", "policy", "training_memory"}


def validate_manifest(manifest: Any, where: str) -> dict[str, Any]:
    """Check a format-2 manifest field by field; BundleError names the first bad field."""
    if not isinstance(manifest, dict):
        raise BundleError(f"{where}: the manifest must be a JSON object; refusing the bundle")
    missing = sorted(REQUIRED_FIELDS - set(manifest))
    if missing:
        raise _refuse(where, missing[0], "missing")
    unknown = sorted(set(manifest) - REQUIRED_FIELDS - OPTIONAL_FIELDS)
    if unknown:
        raise _refuse(where, unknown[0], "unknown field")
    m = manifest
    if not isinstance(m["created_at"], str):
        raise _refuse(where, "created_at", "expected a string")
    _object(m["versions"], where, "versions")
    for key, value in m["versions"].items():
        if value is not None and not isinstance(value, str):
            raise _refuse(where, f"versions.{key}", "expected a string or null")
    if not isinstance(m["name"], str) or not m["name"] or len(m["name"]) > 200:
        raise _refuse(where, "name", "expected a name of 1 to 200 characters")
    if not isinstance(m["model_id"], str) or not _HEX12.fullmatch(m["model_id"]):
        raise _refuse(where, "model_id", "expected 12 hexadecimal digits")
    _object(m["config"], where, "config")
    _check_free_json(m["config"], where, "config")
    _object(m["corpus"], where, "corpus")
    if not isinstance(m["corpus"].get("fingerprint"), str):
        raise _refuse(where, "corpus.fingerprint", "expected a string")
    for key in ("articles", "with_section", "with_tags"):
        _count(m["corpus"].get(key), where, f"corpus.{key}")
    _object(m["labels"], where, "labels")
    if set(m["labels"]) != {"sections", "tags"}:
        raise _refuse(where, "labels", "expected exactly 'sections' and 'tags'")
    for kind in ("sections", "tags"):
        _string_list(m["labels"][kind], where, f"labels.{kind}")
    _object(m["thresholds"], where, "thresholds")
    for tag, value in m["thresholds"].items():
        if type(value) not in (int, float):
            raise _refuse(where, f"thresholds.{tag}", "expected a number")
    _object(m["metrics"], where, "metrics")
    if set(m["metrics"]) != {"sections", "tags"}:
        raise _refuse(where, "metrics", "expected exactly 'sections' and 'tags'")
    for kind in ("sections", "tags"):
        _object(m["metrics"][kind], where, f"metrics.{kind}", allow_null=True)
        _check_free_json(m["metrics"][kind], where, f"metrics.{kind}")
    _object(m["entities"], where, "entities", allow_null=True)
    _check_free_json(m["entities"], where, "entities")
    _count(m["n_features"], where, "n_features")
    _string_list(m["warnings"], where, "warnings")
    for key in sorted(OPTIONAL_FIELDS & set(m)):
        _object(m[key], where, key, allow_null=True)
        _check_free_json(m[key], where, key)
    components = m["components"]
    _string_list(components, where, "components")
    if "features" not in components or not set(components) <= set(COMPONENTS):
        raise _refuse(where, "components", f"expected 'features' and any of {COMPONENTS[1:]}")
    if len(set(components)) != len(components):
        raise _refuse(where, "components", "repeated names")
    _object(m["files"], where, "files")
    for name, digest in m["files"].items():
        if not _FILE_NAME.fullmatch(name):
            raise _refuse(where, "files", f"unsafe file name {name!r}")
        if not isinstance(digest, str) or not _HEX64.fullmatch(digest):
            raise _refuse(where, f"files.{name}", "expected a sha256 (64 hexadecimal digits)")
    for component in components:
        for suffix in (".json", ".npz"):
            if component + suffix not in m["files"]:
                raise _refuse(where, "files", f"lists no {component}{suffix}")
    if MODEL_CARD not in m["files"]:
        raise _refuse(where, "files", f"lists no {MODEL_CARD}")
    return manifest


# -- signing ----------------------------------------------------------------------------------


def signing_key() -> bytes | None:
    key = os.environ.get(KEY_ENV, "")
    return key.encode("utf-8") if key else None


def sign(manifest_bytes: bytes, key: bytes) -> str:
    return hmac.new(key, manifest_bytes, hashlib.sha256).hexdigest()


def _check_signature(path: Path, manifest_bytes: bytes) -> None:
    key = signing_key()
    if key is None:
        return
    sig_path = path / SIGNATURE
    try:
        st = os.lstat(sig_path)
    except FileNotFoundError:
        raise BundleError(
            f"{path}: unsigned bundle, but {KEY_ENV} is set: only bundles signed with that "
            "key are loaded; refusing"
        ) from None
    if not stat.S_ISREG(st.st_mode) or st.st_size > 200:
        raise BundleError(f"{sig_path}: not a signature file; refusing")
    given = sig_path.read_bytes().decode("ascii", "replace").strip()
    if not hmac.compare_digest(given, sign(manifest_bytes, key)):
        raise BundleError(
            f"{sig_path}: signature does not match ({KEY_ENV} differs, or the manifest "
            "was changed after signing); refusing"
        )


# -- reading ----------------------------------------------------------------------------------


def resolve_bundle(path: Path) -> Path:
    """The bundle's real folder (`--out` is usually a link to a version folder)."""
    path = Path(path)
    try:
        real = Path(os.path.realpath(path, strict=True))
    except FileNotFoundError:
        raise BundleError(f"{path}: no such model bundle") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise BundleError(f"{path}: a symbolic link loop, not a model bundle") from None
        raise BundleError(f"{path}: cannot open the bundle ({exc.strerror})") from None
    if not real.is_dir():
        raise BundleError(f"{path}: a model bundle is a folder with {MANIFEST}")
    return real


def _read_regular(path: Path, limit: int, label: str) -> bytes:
    """A regular file's bytes, never through a symbolic link, at most `limit` bytes."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        raise BundleError(f"{path}: missing{label}") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise BundleError(f"{path}: a symbolic link inside the bundle; refusing") from None
        raise BundleError(f"{path}: cannot read ({exc.strerror})") from None
    with os.fdopen(fd, "rb") as handle:
        st = os.fstat(handle.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise BundleError(f"{path}: not a regular file; refusing")
        if st.st_size > limit:
            raise BundleError(f"{path}: {st.st_size} bytes, more than {limit}; refusing")
        # Read what fstat says is there (read(n) allocates n bytes up front), and one
        # byte more to notice a file that grew meanwhile.
        data = handle.read(st.st_size + 1)
    if len(data) != st.st_size:
        raise BundleError(f"{path}: changed while it was read; refusing")
    return data


def _legacy_message(path: Path) -> str:
    return (
        f"{path}: a format-1 bundle (pickled joblib files, which can run code when loaded) "
        f"is no longer loaded; retrain it with `tagger train ... --out {path}`, or, if you "
        f"trust where it came from, convert it: `tagger bundle convert {path} NEW --trust`"
    )


def read_manifest(path: Path) -> dict[str, Any]:
    """The checked manifest of a bundle: size, JSON, format, schema, signature."""
    real = resolve_bundle(path)
    manifest_path = real / MANIFEST
    data = _read_regular(manifest_path, MAX_MANIFEST_BYTES, "; not a tagger model bundle")
    manifest = parse_json(data, str(manifest_path))
    version = manifest.get("format_version") if isinstance(manifest, dict) else None
    if version == LEGACY_FORMAT_VERSION and type(version) is int:
        raise BundleError(_legacy_message(Path(path)))
    if type(version) is not int or version != FORMAT_VERSION:
        shown = "missing" if version is None else repr(version)
        raise BundleError(
            f"{manifest_path}: field 'format_version': {shown} is not a format tagger "
            f"{__version__} reads (it reads {FORMAT_VERSION}); refusing the bundle"
        )
    validate_manifest(manifest, str(manifest_path))
    _check_signature(real, data)
    return manifest


def verify_files(
    path: Path, manifest: dict[str, Any], keep: Sequence[str] = ()
) -> dict[str, bytes]:
    """Every file listed, regular and unaltered; nothing else in the folder.

    Returns the bytes of the files named in `keep`: they are parsed from exactly what
    was hashed, so nothing can change between the check and the use.
    """
    real = resolve_bundle(path)
    listed = manifest["files"]
    allowed = {*listed, MANIFEST, SIGNATURE}
    extra = sorted(entry.name for entry in os.scandir(real) if entry.name not in allowed)
    if extra:
        raise BundleError(f"{real}: files not in the manifest: {', '.join(extra)}; refusing")
    kept: dict[str, bytes] = {}
    for filename, expected in listed.items():
        file = real / filename
        limit = MAX_JSON_BYTES if filename.endswith(".json") else MAX_ARRAY_BYTES
        data = _read_regular(file, limit, " from the bundle")
        actual = hashlib.sha256(data).hexdigest()
        if not hmac.compare_digest(actual, expected):
            raise BundleError(
                f"{file}: checksum mismatch (sha256 {actual[:12]}…, manifest says "
                f"{expected[:12]}…); the file was altered: refusing to load it"
            )
        if filename in keep:
            kept[filename] = data
    return kept


def load_bundle(path: Path) -> tuple[dict[str, Any], dict[str, State]]:
    """Verify, then parse the model's files: (manifest, {component: (json, arrays)})."""
    real = resolve_bundle(path)
    manifest = read_manifest(real)
    needed = [f"{c}{suffix}" for c in manifest["components"] for suffix in (".json", ".npz")]
    data = verify_files(real, manifest, keep=needed)
    states: dict[str, State] = {}
    for component in manifest["components"]:
        meta = parse_json(data[f"{component}.json"], str(real / f"{component}.json"))
        if not isinstance(meta, dict):
            raise BundleError(f"{real / f'{component}.json'}: expected a JSON object; refusing")
        arrays = read_arrays(data[f"{component}.npz"], str(real / f"{component}.npz"))
        states[component] = (meta, arrays)
    return manifest, states


# -- writing: crash-safe replacement ------------------------------------------------------------


def check_bundle_target(out: Path) -> None:
    """Refuse an `--out` that saving would destroy: a file, or a plain folder that holds
    something other than a bundle (an empty folder or an older bundle is replaced)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise BundleError(f"{out}: exists and is not a folder; not overwritten")
    plain = out.is_dir() and not out.is_symlink()
    if plain and not (out / MANIFEST).is_file() and any(out.iterdir()):
        raise BundleError(
            f"{out}: a folder that is not a model bundle (no {MANIFEST}); not "
            "overwritten: give a new path"
        )


def save_bundle(
    out: Path,
    components: dict[str, State],
    manifest: dict[str, Any],
    model_card: str,
) -> dict[str, Any]:
    """Write a bundle into a new version folder, then point `out` at it atomically."""
    out = Path(out)
    parent = out.parent
    check_bundle_target(out)
    parent.mkdir(parents=True, exist_ok=True)
    unknown = set(components) - set(COMPONENTS)
    if unknown or "features" not in components:
        raise ValueError(f"bundle components must be features[, sections, tags], not {unknown}")
    with save_lock(out):
        clean_leftovers(out)
        previous = _current_target(out)
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=parent))
        # mkdtemp makes a private (0700) folder; a bundle is read by other accounts
        # (a service running `tagger serve`), so give it the usual permissions.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(staging, 0o777 & ~umask)
        try:
            full = _write_files(staging, components, manifest, model_card)
            version = parent / f".{out.name}.v-{_stamp()}"
            os.rename(staging, version)
        except BaseException as exc:
            shutil.rmtree(staging, ignore_errors=True)
            if isinstance(exc, OSError):  # a full disk: one line naming the bundle, exit 1
                from tagger.writers import OutputError

                raise OutputError(f"{out}: cannot write the bundle: {exc.strerror or exc}") from exc
            raise
        _fsync_dir(parent)
        point_link(out, version)
        # The version `out` named until now stays until the next save: a reader that
        # resolved the link just before the swap may still be reading it.
        clean_leftovers(out, keep=(previous,) if previous else ())
    return full


def _write_files(
    folder: Path, components: dict[str, State], manifest: dict[str, Any], model_card: str
) -> dict[str, Any]:
    files: dict[str, str] = {}
    order = [c for c in COMPONENTS if c in components]
    for name in order:
        meta, arrays = components[name]
        _write_synced(folder / f"{name}.json", dump_json(meta))
        write_arrays(folder / f"{name}.npz", arrays)
        _fsync_file(folder / f"{name}.npz")
        for suffix in (".json", ".npz"):
            files[name + suffix] = sha256_file(folder / f"{name}{suffix}")
    _write_synced(folder / MODEL_CARD, model_card.encode("utf-8"))
    files[MODEL_CARD] = sha256_file(folder / MODEL_CARD)
    full = {
        "format_version": FORMAT_VERSION,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "versions": runtime_versions(),
        **manifest,
        "components": order,
        "files": files,
    }
    data = dump_json(full, indent=2)
    validate_manifest(json.loads(data), str(folder / MANIFEST))  # what loading will check
    _write_synced(folder / MANIFEST, data)
    key = signing_key()
    if key is not None:
        _write_synced(folder / SIGNATURE, (sign(data, key) + "\n").encode("ascii"))
    _fsync_dir(folder)
    return full


def _write_synced(path: Path, data: bytes) -> None:
    with path.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):  # not every platform opens folders
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _stamp() -> str:
    now = time.time()
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now)) + f"{now % 1:.6f}"[1:]
    return f"{stamp}-{secrets.token_hex(3)}"


@contextlib.contextmanager
def save_lock(out: Path) -> Iterator[None]:
    """One save of `out` at a time (a second waits), so cleaning never races a save."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock
        yield
        return
    with open(out.parent / f".{out.name}.lock", "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _current_target(out: Path) -> str | None:
    """The version folder name `out` links to, if it is one of ours."""
    if not out.is_symlink():
        return None
    target = os.readlink(out)
    if "/" in target or not target.startswith(f".{out.name}.v-"):
        return None
    return target


def clean_leftovers(out: Path, keep: Sequence[str] = ()) -> list[str]:
    """Remove what earlier saves left beside `out`: staging folders, temporary links,
    retired folders, and version folders other than the current one (and `keep`)."""
    parent = out.parent
    kept = {_current_target(out), *keep}
    prefixes = (f".{out.name}.tmp-", f".{out.name}.link-", f".{out.name}.old-")
    removed = []
    for entry in os.scandir(parent):
        stale = entry.name.startswith(prefixes) or (
            entry.name.startswith(f".{out.name}.v-") and entry.name not in kept
        )
        if not stale:
            continue
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry.path)
        removed.append(entry.name)
    return removed


def point_link(out: Path, version: Path) -> None:
    """Make `out` a link to `version` without an instant where `out` names nothing."""
    link = out.parent / f".{out.name}.link-{secrets.token_hex(4)}"
    os.symlink(version.name, link)
    try:
        if out.is_symlink() or not out.exists():
            os.replace(link, out)  # atomic: readers see the old link or the new one
        else:
            _replace_real_folder(out, link)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(link)
        raise
    _fsync_dir(out.parent)


RENAME_EXCHANGE = 2
AT_FDCWD = -100


def exchange(a: Path, b: Path) -> bool:
    """Swap two names in one step (Linux renameat2 RENAME_EXCHANGE); False if unsupported."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    text, number = ctypes.c_char_p, ctypes.c_int
    renameat2.argtypes = [number, text, number, text, ctypes.c_uint]
    result = renameat2(AT_FDCWD, os.fsencode(a), AT_FDCWD, os.fsencode(b), RENAME_EXCHANGE)
    if result == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(a))


def _replace_real_folder(out: Path, link: Path) -> None:
    """`out` is a plain folder (a bundle saved before versioned folders): swap it with the
    link in one exchange where the system has one, else by two renames (a window)."""
    retired = out.parent / f".{out.name}.old-{secrets.token_hex(4)}"
    if exchange(link, out):
        os.rename(link, retired)  # `link` now names the old folder
    else:
        os.rename(out, retired)
        try:
            os.rename(link, out)
        except BaseException:
            os.rename(retired, out)
            raise
    shutil.rmtree(retired, ignore_errors=True)
