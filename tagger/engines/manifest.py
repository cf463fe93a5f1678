"""`DIR/_manifest.json` and the checks that make `--out-dir` safe to reuse with `--resume`.

The manifest names the run (what was computed, with which model, options and tagger
version: its `run_key`) and lists each input shard with its part file and counts. The
client writes it, atomically, when the run starts, as parts finish and at the end. What
proves a part complete is its receipt, written by the task after the part was renamed
into place; `--resume` trusts a part only with a receipt of the same run whose input has
not changed since (same size and mtime, else the same sha256).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from pathlib import Path
from typing import Any

from tagger import __version__
from tagger.engines.shards import Shard, sha256_of
from tagger.errors import ConfigError, InputError

MANIFEST = "_manifest.json"
NOT_IN_OUTPUT = frozenset({"use_cache"})  # options that do not change a part's bytes
FORMAT = 1
_PART = re.compile(r"^part-\d{5,}\.jsonl(\.gz)?$")
_RECEIPT = re.compile(r"^\.part-(\d{5,})\.json$")
_TEMP = re.compile(
    r"^\.(part-\d{5,}\.jsonl(\.gz)?|\.part-\d{5,}\.json|_manifest\.json)\.[0-9a-f]+\.partial$"
)


def run_key(
    kind: str, model: dict[str, Any] | None, options: dict[str, Any], compress: bool
) -> str:
    """What must be equal for two runs to share an --out-dir."""
    kept = {k: v for k, v in options.items() if k not in NOT_IN_OUTPUT}
    payload = json.dumps(
        [kind, (model or {}).get("fingerprint"), kept, compress, __version__],
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    from tagger.engines.task import write_json

    write_json(path, data)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _describe_model(model: dict[str, Any] | None) -> str:
    if not model:
        return "no model"
    return f"model {model.get('name') or '?'} (id {model.get('id')})"


def _prepare_folder(out_dir: Path) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"{out_dir}: --out-dir is a file, not a folder")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{out_dir}: cannot create --out-dir: {exc.strerror or exc}") from None
    if not os.access(out_dir, os.W_OK | os.X_OK):
        raise ConfigError(f"{out_dir}: --out-dir is not writable")


def remove_temporaries(out_dir: Path, parts: set[str] | None = None) -> None:
    """Temporary files of tasks that died (a killed worker, a killed client); with `parts`,
    only those of these (complete) parts."""
    for entry in out_dir.iterdir():
        match = _TEMP.match(entry.name)
        if match and (parts is None or match.group(1) in parts):
            entry.unlink(missing_ok=True)


def open_run(
    out_dir: Path,
    *,
    kind: str,
    key: str,
    model: dict[str, Any] | None,
    options: dict[str, Any],
    shards: list[Shard],
    resume: bool,
) -> tuple[dict[str, Any], dict[int, dict[str, Any]]]:
    """Check DIR against this run; the manifest to keep and the receipts of complete parts.

    Refuses (exit 2, one line) a DIR that holds parts of another model, kind or options,
    a run of this one without --resume, or, with --resume, other inputs or an input
    changed since its part was written.
    """
    _prepare_folder(out_dir)
    previous = None
    has_parts = any(_PART.match(e.name) or _RECEIPT.match(e.name) for e in out_dir.iterdir())
    if (out_dir / MANIFEST).exists():
        previous = _read_json(out_dir / MANIFEST)
        if previous is None or previous.get("format") != FORMAT or not _manifest_shape(previous):
            raise InputError(
                f"{out_dir / MANIFEST}: not a tagger run manifest: choose another --out-dir"
            )
    elif has_parts:
        raise InputError(
            f"{out_dir}: holds part files but no {MANIFEST}: choose an empty --out-dir"
        )
    done: dict[int, dict[str, Any]] = {}
    if previous is not None and not has_parts:
        previous = None  # a run that wrote no part (refused, or stopped at once): start anew
    if previous is not None:
        _check_same_run(out_dir, previous, kind=kind, key=key, model=model, options=options)
        if not resume:
            raise InputError(
                f"{out_dir}: already holds a run of this {kind}: --resume continues it, "
                "or choose another --out-dir"
            )
        _check_same_inputs(out_dir, previous, shards)
        done = _complete_parts(out_dir, key, shards)
    remove_temporaries(out_dir)
    manifest = {
        "format": FORMAT,
        "kind": kind,
        "run_key": key,
        "tagger_version": __version__,
        "model": model,
        "options": options,
        "created_at": (previous or {}).get("created_at") or _now(),
        "updated_at": _now(),
        "complete": False,
        "shards": [_shard_entry(shard, done.get(shard.index)) for shard in shards],
    }
    write_json_atomic(out_dir / MANIFEST, manifest)
    return manifest, done


def _manifest_shape(data: dict[str, Any]) -> bool:
    """Whether a manifest's fields have the types the checks below read (a damaged or
    hand-edited one is refused like one that is not JSON)."""
    shards = data.get("shards")
    return (
        isinstance(data.get("model"), dict | None)
        and isinstance(data.get("options"), dict | None)
        and isinstance(shards, list | None)
        and all(isinstance(entry, dict) for entry in shards or [])
    )


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _check_same_run(
    out_dir: Path,
    previous: dict[str, Any],
    *,
    kind: str,
    key: str,
    model: dict[str, Any] | None,
    options: dict[str, Any],
) -> None:
    if previous.get("run_key") == key:
        return
    old_model = previous.get("model")
    if previous.get("kind") != kind:
        raise InputError(
            f"{out_dir}: holds the parts of a {previous.get('kind')} run, not {kind}: "
            "choose another --out-dir"
        )
    if (old_model or {}).get("fingerprint") != (model or {}).get("fingerprint"):
        raise InputError(
            f"{out_dir}: holds the parts of {_describe_model(old_model)}, not of "
            f"{_describe_model(model)}: choose another --out-dir"
        )
    if previous.get("tagger_version") != __version__:
        raise InputError(
            f"{out_dir}: holds parts written by tagger {previous.get('tagger_version')}, "
            f"this is {__version__}: choose another --out-dir"
        )
    old_options = previous.get("options") or {}
    changed = sorted(
        k for k in {*old_options, *options} - NOT_IN_OUTPUT if old_options.get(k) != options.get(k)
    )
    what = ", ".join(changed) or "output format"
    raise InputError(
        f"{out_dir}: holds a run with other options ({what}): choose another --out-dir"
    )


def _check_same_inputs(out_dir: Path, previous: dict[str, Any], shards: list[Shard]) -> None:
    before = [entry.get("path") for entry in previous.get("shards") or []]
    now = [shard.path for shard in shards]
    if before == now:
        return
    added = [p for p in now if p not in set(before)]
    missing = [p for p in before if p not in set(now)]
    detail = []
    if added:
        detail.append(f"{len(added)} new (first {added[0]})")
    if missing:
        detail.append(f"{len(missing)} gone (first {missing[0]})")
    raise InputError(
        f"{out_dir}: the inputs differ from the run it holds: "
        f"{', '.join(detail) or 'another order'}: resume with the same INPUTs, "
        "or choose another --out-dir"
    )


def _complete_parts(out_dir: Path, key: str, shards: list[Shard]) -> dict[int, dict[str, Any]]:
    done = {}
    for shard in shards:
        receipt = _read_json(out_dir / f".{shard.part}.json")
        if not receipt or receipt.get("status") != "done":
            continue
        if receipt.get("run_key") != key:
            raise InputError(
                f"{out_dir / receipt.get('part', shard.part)}: written by another run: "
                "choose another --out-dir"
            )
        name = str(receipt.get("part"))
        if not _PART.match(name) or name.split(".")[0] != shard.part:
            continue  # names another file (a copied or edited receipt): computed again
        part = out_dir / name
        try:
            if part.stat().st_size != receipt.get("part_bytes"):
                continue  # a part changed or cut since: computed again
        except OSError:
            continue
        unchanged = receipt.get("size") == shard.size and receipt.get("mtime_ns") == shard.mtime_ns
        if not unchanged and sha256_of(shard.path) != receipt.get("sha256"):
            raise InputError(
                f"{shard.path}: changed since its part {part.name} was written: "
                "resume needs the same inputs; choose another --out-dir"
            )
        done[shard.index] = receipt
    return done


def _shard_entry(shard: Shard, receipt: dict[str, Any] | None) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "index": shard.index,
        "path": shard.path,
        "size": shard.size,
        "mtime_ns": shard.mtime_ns,
        "part": None,
        "status": "pending",
    }
    if receipt is not None:
        update_entry(entry, receipt)
    return entry


_KEEP = (
    "status",
    "part",
    "sha256",
    "size",
    "mtime_ns",
    "records",
    "articles",
    "skipped",
    "skips",
    "error",
    "part_bytes",
    "content_sha256",
    "seconds",
    "worker",
)


def update_entry(entry: dict[str, Any], result: dict[str, Any]) -> None:
    """Copy a task's receipt into its manifest entry."""
    for name in _KEEP:
        if name in result:
            entry[name] = result[name]
