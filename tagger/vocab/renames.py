"""Tag renames decided by editors (`tagger tags merge A B`): a JSON map that training,
prediction and feedback export apply, so a decision about 'Rubio' counts for 'Marco Rubio'."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tagger.errors import InputError, read_user_text, unique_keys

DEFAULT_MAP = Path("tag-renames.json")


class RenameMap:
    """`old -> new` label renames; chains resolve (a -> b -> c), loops are refused."""

    def __init__(self, renames: dict[str, str] | None = None, history: list[Any] | None = None):
        self.renames: dict[str, str] = dict(renames or {})
        self.history: list[dict[str, Any]] = list(history or [])

    def __bool__(self) -> bool:
        return bool(self.renames)

    def resolve(self, label: str) -> str:
        seen = [label]
        while label in self.renames:
            label = self.renames[label]
            if label in seen:
                raise InputError(f"tag renames loop: {' -> '.join([*seen, label])}")
            seen.append(label)
        return label

    def add(self, old: str, new: str, who: str | None = None) -> None:
        """Rename `old` to `new`; refused when it would make a loop."""
        if old == new:
            raise InputError(f"cannot merge {old!r} into itself")
        if self.resolve(new) == old:
            raise InputError(
                f"merging {old!r} into {new!r} would loop: {new!r} is merged into {old!r}"
            )
        self.renames[old] = new
        self.history.append(
            {
                "from": old,
                "to": new,
                "by": who,
                "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            }
        )

    def apply(self, labels: Iterable[str]) -> list[str]:
        """Labels renamed, duplicates removed, order kept."""
        return list(dict.fromkeys(self.resolve(label) for label in labels))

    def apply_articles(self, articles: Iterable[Any]) -> int:
        """Rename the tags (and sections) of articles in place; returns how many changed."""
        changed = 0
        for article in articles:
            tags = self.apply(article.tags)
            section = self.resolve(article.section) if article.section else article.section
            if tags != article.tags or section != article.section:
                changed += 1
            article.tags, article.section = tags, section
        return changed

    def to_dict(self) -> dict[str, Any]:
        return {"renames": dict(sorted(self.renames.items())), "history": self.history}

    @classmethod
    def load(cls, path: Path) -> RenameMap:
        """Read a map; a missing file is an empty map only for the default name."""
        path = Path(path)
        if not path.exists():
            return cls()
        try:
            text = read_user_text(path, "the rename map", InputError)
            data = json.loads(text, object_pairs_hook=unique_keys)
        except json.JSONDecodeError as exc:
            raise InputError(
                f"{path}: line {exc.lineno}, column {exc.colno}: malformed rename map ({exc.msg})"
            ) from exc
        except (ValueError, RecursionError) as exc:  # a key twice, a huge integer, nesting
            raise InputError(f"{path}: malformed rename map ({exc})") from exc
        renames = data.get("renames") if isinstance(data, dict) else None
        if not isinstance(renames, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in renames.items()
        ):
            raise InputError(f"{path}: not a rename map (expected {{'renames': {{old: new}}}})")
        result = cls(renames, data.get("history") or [])
        for label in renames:
            result.resolve(label)  # refuses a loop edited in by hand
        return result

    def save(self, path: Path) -> None:
        path = Path(path)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent or Path("."))
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(self.to_dict(), handle, indent=2, ensure_ascii=False)
            handle.write("\n")
        Path(tmp).chmod(0o644)
        Path(tmp).replace(path)


def load_renames(path: Path | None) -> RenameMap:
    """The map at `path`; a named file that does not exist is refused."""
    if path is None:
        return RenameMap()
    if not Path(path).exists():
        raise InputError(f"{path}: no such rename map (write one with tagger tags merge)")
    return RenameMap.load(path)
