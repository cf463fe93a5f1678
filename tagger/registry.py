"""A model registry: the versions of one model and one `current` pointer.

```
models/news/
    registry.json      marks the folder as a registry (format, name)
    v1 -> .v1.v-...    each version a bundle written by `tagger.bundle.save_bundle`
    v2 -> .v2.v-...    (complete before its name appears; never written again)
    current -> v2      the live version: a symbolic link swapped in one rename
    history.jsonl      promotions and rollbacks, one JSON object a line (append-only)
```

Writing a model to a registry (`tagger train --out models/news`, `tagger learn`) adds a
version and never moves `current`; only `promote` and `rollback` do, through the same
atomic link swap that `save_bundle` uses for `--out` (`bundle.point_link`), so at every
moment `current` names a complete version. The pointer is the truth: the history is
written after the swap, and a history that lags behind the pointer (a crash between the
two) is reconciled when it is read.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tagger.bundle import (
    BundleError,
    clean_leftovers,
    dump_json,
    point_link,
    read_manifest,
    save_lock,
    verify_files,
)
from tagger.errors import ConfigError, InputError

REGISTRY_FILE = "registry.json"
CURRENT = "current"
HISTORY = "history.jsonl"
REGISTRY_FORMAT = 1
_VERSION = re.compile(r"v([1-9][0-9]{0,8})")

# A promotion check: (registry, candidate version, current version or None); raises to refuse.
PromotionCheck = Callable[["Registry", str, "str | None"], None]


def is_registry(path: str | Path) -> bool:
    """Whether `path` is a registry folder (it holds registry.json)."""
    return (Path(path) / REGISTRY_FILE).is_file()


def version_number(name: str) -> int | None:
    match = _VERSION.fullmatch(name)
    return int(match.group(1)) if match else None


@dataclass
class Event:
    """One line of the history: who moved `current`, when, from what to what."""

    at: str
    action: str  # promote or rollback
    version: str
    previous: str | None
    by: str | None = None


class Registry:
    """The versions of one model under `path`, and its `current` pointer."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not is_registry(self.path):
            raise ConfigError(
                f"{self.path}: not a model registry (no {REGISTRY_FILE}); "
                f"create one with `tagger models init {self.path}`"
            )

    @classmethod
    def init(cls, path: str | Path, name: str | None = None) -> Registry:
        """Create an empty registry at `path` (a new or empty folder)."""
        path = Path(path)
        if is_registry(path):
            return cls(path)
        if path.exists() and (not path.is_dir() or path.is_symlink() or any(path.iterdir())):
            raise ConfigError(
                f"{path}: exists and is not an empty folder; a registry needs its own folder"
            )
        path.mkdir(parents=True, exist_ok=True)
        info = {"format": REGISTRY_FORMAT, "name": name or path.name}
        tmp = path / f".{REGISTRY_FILE}.tmp"
        with tmp.open("wb") as handle:
            handle.write(dump_json(info, indent=2))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path / REGISTRY_FILE)
        return cls(path)

    # -- reading --------------------------------------------------------------------------

    def versions(self) -> list[str]:
        """Version names, oldest first (only complete ones: a name appears when complete)."""
        found = []
        for entry in os.scandir(self.path):
            number = version_number(entry.name)
            if number is not None and (Path(entry.path) / "manifest.json").exists():
                found.append((number, entry.name))
        return [name for _, name in sorted(found)]

    def current(self) -> str | None:
        """The version `current` points at (read once: one readlink), or None."""
        try:
            target = os.readlink(self.path / CURRENT)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise BundleError(f"{self.path / CURRENT}: not a version pointer ({exc})") from None
        if version_number(target) is None:
            raise BundleError(f"{self.path / CURRENT}: points at {target!r}, not a version")
        return target

    def resolve(self, version: str = CURRENT) -> tuple[str, Path]:
        """(version name, its folder) for a version name or `current`."""
        if version == CURRENT:
            name = self.current()
            if name is None:
                raise BundleError(
                    f"{self.path}: no current version; promote one with "
                    f"`tagger models promote {self.path} VERSION`"
                )
        else:
            name = version
            if version_number(name) is None:
                raise InputError(f"{name!r} is not a version name (v1, v2, ... or current)")
        folder = self.path / name
        if not (folder / "manifest.json").exists():
            raise BundleError(f"{self.path}: no version {name}")
        return name, folder

    def manifest(self, version: str = CURRENT) -> dict[str, Any]:
        return read_manifest(self.resolve(version)[1])

    def history(self) -> list[Event]:
        """Promotions and rollbacks, oldest first (a torn last line is skipped)."""
        events = []
        try:
            lines = (self.path / HISTORY).read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        for line in lines:
            try:
                data = json.loads(line)
                events.append(Event(**data))
            except (ValueError, TypeError):
                continue
        return events

    def stack(self) -> list[str]:
        """The versions that were current, the live one last: each promotion pushes, each
        rollback pops. Reconciled with the pointer, which is the truth."""
        stack: list[str] = []
        for event in self.history():
            if event.action == "rollback":
                if stack:
                    stack.pop()
                if not stack or stack[-1] != event.version:
                    stack.append(event.version)
            else:
                stack.append(event.version)
        live = self.current()
        if live is not None and (not stack or stack[-1] != live):
            stack.append(live)
        return stack

    # -- writing ---------------------------------------------------------------------------

    @contextmanager
    def new_version(self) -> Iterator[Path]:
        """The path of the next version, held until the caller has written it there (by
        `save_bundle`, so the name appears only when the bundle is complete)."""
        with save_lock(self.path / "versions"):
            numbers = [version_number(n) or 0 for n in self.versions()]
            taken = {version_number(e.name) for e in os.scandir(self.path)} - {None}
            number = max([*numbers, *taken, 0]) + 1  # type: ignore[type-var]
            yield self.path / f"v{number}"

    def promote(
        self, version: str, *, by: str | None = None, check: PromotionCheck | None = None
    ) -> Event | None:
        """Point `current` at `version` (verified complete first); None if it already is.

        `check` runs before the swap with (registry, candidate, current) and refuses the
        promotion by raising (the replay comparison plugs in here)."""
        with save_lock(self.path / CURRENT):
            clean_leftovers(self.path / CURRENT)  # temporary links an interrupted swap left
            name, folder = self.resolve(version)
            verify_files(folder, read_manifest(folder))
            previous = self.current()
            if previous == name:
                return None
            if check is not None:
                check(self, name, previous)
            return self._move(name, previous, "promote", by)

    def rollback(self, *, by: str | None = None) -> Event:
        """Point `current` back at the version that was current before it."""
        with save_lock(self.path / CURRENT):
            clean_leftovers(self.path / CURRENT)
            stack = self.stack()
            if len(stack) < 2:
                raise ConfigError(f"{self.path}: nothing to roll back to (no earlier current)")
            name, folder = self.resolve(stack[-2])
            verify_files(folder, read_manifest(folder))
            return self._move(name, stack[-1], "rollback", by)

    def _move(self, name: str, previous: str | None, action: str, by: str | None) -> Event:
        point_link(self.path / CURRENT, self.path / name)
        event = Event(
            at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            action=action,
            version=name,
            previous=previous,
            by=by,
        )
        line = json.dumps(event.__dict__, ensure_ascii=False) + "\n"
        fd = os.open(self.path / HISTORY, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)
        return event

    # -- reports ---------------------------------------------------------------------------

    def summary(self, version: str) -> dict[str, Any]:
        """What `models list` and `models show` print about one version."""
        name, folder = self.resolve(version)
        m = read_manifest(folder)
        return {
            "version": name,
            "current": name == self.current(),
            "path": str(folder),
            "model_id": m["model_id"],
            "name": m["name"],
            "created_at": m["created_at"],
            "articles": m["corpus"].get("articles"),
            "sections": len(m["labels"]["sections"]),
            "tags": len(m["labels"]["tags"]),
            "metrics": flat_metrics(m["metrics"]),
            "lineage": m.get("lineage"),
        }

    def diff(self, a: str, b: str) -> dict[str, Any]:
        """Labels added and removed, thresholds moved and metrics side by side, A to B."""
        (name_a, _), (name_b, _) = self.resolve(a), self.resolve(b)
        ma, mb = self.manifest(name_a), self.manifest(name_b)
        return {"a": name_a, "b": name_b, **manifest_diff(ma, mb)}


def manifest_diff(ma: dict[str, Any], mb: dict[str, Any]) -> dict[str, Any]:
    """Two manifests compared: labels, thresholds (largest move first), metrics."""
    out: dict[str, Any] = {"model_ids": [ma["model_id"], mb["model_id"]]}
    for kind in ("sections", "tags"):
        la, lb = set(ma["labels"][kind]), set(mb["labels"][kind])
        out[kind] = {"added": sorted(lb - la), "removed": sorted(la - lb)}
    ta, tb = ma["thresholds"], mb["thresholds"]
    moved = [
        {"tag": t, "a": ta[t], "b": tb[t], "change": round(tb[t] - ta[t], 6)}
        for t in sorted(set(ta) & set(tb))
        if abs(tb[t] - ta[t]) > 1e-6
    ]
    out["thresholds"] = sorted(moved, key=lambda r: (-abs(r["change"]), r["tag"]))
    fa, fb = flat_metrics(ma["metrics"]), flat_metrics(mb["metrics"])
    out["metrics"] = [
        {"metric": k, "a": fa.get(k), "b": fb.get(k)} for k in sorted(set(fa) | set(fb))
    ]
    return out


def flat_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    """Numeric metrics as 'tags.micro_f1': value."""
    flat = {}
    for kind, values in metrics.items():
        for key, value in (values or {}).items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                flat[f"{kind}.{key}"] = value
    return flat


def registry_target(path: Path) -> tuple[Path, str | None]:
    """The bundle folder to load for `path`, and its version name when it is a registry
    (`current` read once, so the version named is the version loaded)."""
    if is_registry(path):
        name, folder = Registry(path).resolve(CURRENT)
        return folder, name
    return path, None
