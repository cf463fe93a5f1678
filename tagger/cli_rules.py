"""How the command line reads itself, kept out of cli.py: commands in the order of the
workflow, options that take several values after one flag, and old option spellings that
still work with a deprecation warning."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

# `tagger --help` lists commands in the order a desk uses them.
WORKFLOW = (
    "corpus",
    "vocab",
    "train",
    "evaluate",
    "predict",
    "entities",
    "review",
    "serve",
    "feedback",
    "learn",
    "tags",
    "models",
    "info",
    "bundle",
    "cache",
)

# Old spellings: command -> {old option: new option}. They work for one more release,
# with a warning naming the new spelling.
DEPRECATED: dict[str, dict[str, str]] = {
    "train": {"--format": "--input-format"},
    "evaluate": {"--format": "--input-format", "--json": "--report"},
    "learn": {"--format": "--input-format"},
    "review": {"--format": "--input-format"},
    "corpus stats": {"--format": "--input-format"},
    "corpus import": {"--format": "--input-format"},
    "corpus dedup": {"--format": "--input-format"},
    "corpus split": {"--format": "--input-format"},
    "vocab import": {"--format": "--input-format"},
    "predict": {"--format": "--output-format"},
    "entities": {"--format": "--output-format"},
}


def workflow_order(names: Iterable[str]) -> list[str]:
    """Command names in the workflow's order; any other name after them, as given."""
    names = list(names)
    rank = {name: i for i, name in enumerate(WORKFLOW)}
    return sorted(names, key=lambda n: (rank.get(n, len(WORKFLOW)), names.index(n)))


def _is_group(command: Any) -> bool:
    return hasattr(command, "get_command") and hasattr(command, "list_commands")


def rewrite_args(ctx: Any, command: Any, name: str, args: list[str]) -> list[str]:
    """The arguments of `command` (a command or a group of them) with old option spellings
    replaced (a warning on stderr for each) and list options spread: `--corpus a b`
    becomes `--corpus a --corpus b` in a command that takes no positional arguments."""
    args = [str(a) for a in args]  # callers of the app may pass paths
    if _is_group(command):
        for i, token in enumerate(args):
            if token.startswith("-"):
                continue
            leaf = command.get_command(ctx, token)
            if leaf is None or _is_group(leaf):
                return args
            rest = rewrite_args(ctx, leaf, f"{name} {token}", args[i + 1 :])
            return [*args[: i + 1], *rest]
        return args
    return _spread(command, _renamed(name, args))


def _renamed(name: str, args: list[str]) -> list[str]:
    renames = DEPRECATED.get(name)
    if not renames:
        return args
    out = []
    for token in args:
        if token == "--":
            out.extend(args[len(out) :])
            break
        option, eq, value = token.partition("=")
        new = renames.get(option)
        if new is not None:
            sys.stderr.write(
                f"warning: tagger {name} {option} is deprecated: use {new} "
                "(the old spelling goes in the next release)\n"
            )
            token = new + eq + value
        out.append(token)
    return out


def _spread(command: Any, args: list[str]) -> list[str]:
    params = getattr(command, "params", [])
    if any(getattr(p, "param_type_name", "") == "argument" for p in params):
        return args  # values after a list option could be the command's own arguments
    lists = {
        opt
        for p in params
        if getattr(p, "param_type_name", "") == "option" and getattr(p, "multiple", False)
        for opt in p.opts
    }
    if not lists:
        return args
    out: list[str] = []
    current: str | None = None  # the list option whose values are being read
    taken = False  # whether it has its first value
    for i, token in enumerate(args):
        if token == "--":
            out.extend(args[i:])
            break
        if token.startswith("-") and token != "-":
            option, eq, _value = token.partition("=")
            current = option if option in lists else None
            taken = bool(eq)  # --corpus=a: its first value given
            out.append(token)
            continue
        if current is not None and taken:
            out.append(current)  # one more value of the same option
        taken = True
        out.append(token)
    return out
