"""Per-desk precision policies: which tags are tuned for a precision target.

A policy file (TOML or JSON) maps tags, or whole branches of a vocabulary, to a
precision target; every other tag keeps the default (best F1 unless a number is given):

    default = "best-f1"          # or a precision target such as 0.8

    [[rule]]
    name = "legal"
    precision = 0.95
    tags = ["crime", "law"]                  # tag labels (case and punctuation ignored)
    branches = ["medtop:02000000"]           # a concept and every concept below it

The first rule that names a tag (or a branch above its concept) wins. Branches need the
model's vocabulary (`train --vocab`); without one a branch matches a tag of that name
only. Training tunes each tag's threshold on its out-of-fold scores for its target (the
highest recall whose precision reaches it); the bundle records the policy and which rule
each tag fell under (`manifest.policy`), the model card lists them, replay reports
precision per policy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tagger.errors import ConfigError, read_settings_file

DEFAULT = "default"
BEST_F1 = "best-f1"


@dataclass
class Rule:
    name: str
    precision: float | None
    tags: list[str] = field(default_factory=list)
    branches: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "precision": self.precision,
            "tags": list(self.tags),
            "branches": list(self.branches),
        }


def _target(value: Any, where: str) -> float | None:
    if value is None or value == BEST_F1:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
        raise ConfigError(f"{where}: expected a precision in (0, 1] or {BEST_F1!r}, not {value!r}")
    return float(value)


def _strings(value: Any, where: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ConfigError(f"{where}: expected a list of non-empty strings")
    return [v.strip() for v in value]


@dataclass
class Policy:
    """Rules in order, and the target of every tag no rule names (None: best F1)."""

    rules: list[Rule] = field(default_factory=list)
    default: float | None = None

    @classmethod
    def from_dict(cls, data: Any, where: str = "policy") -> Policy:
        if not isinstance(data, dict):
            raise ConfigError(f"{where}: expected a table")
        unknown = set(data) - {"default", "rule"}
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
        rules = []
        raw_rules = data.get("rule") or []
        if not isinstance(raw_rules, list):
            raise ConfigError(f"{where}: 'rule' must be a list of tables ([[rule]])")
        for i, raw in enumerate(raw_rules):
            at = f"{where}: rule {i + 1}"
            if not isinstance(raw, dict):
                raise ConfigError(f"{at}: expected a table")
            extra = set(raw) - {"name", "precision", "tags", "branches"}
            if extra:
                raise ConfigError(f"{at}: unknown key(s) {', '.join(sorted(extra))}")
            name = raw.get("name")
            if not isinstance(name, str) or not name.strip() or name.strip() == DEFAULT:
                raise ConfigError(f"{at}: needs a name (not {DEFAULT!r})")
            if name.strip() in {r.name for r in rules}:
                raise ConfigError(f"{at}: the name {name!r} is used twice")
            rule = Rule(
                name.strip(),
                _target(raw.get("precision"), f"{at}.precision"),
                _strings(raw.get("tags"), f"{at}.tags"),
                _strings(raw.get("branches"), f"{at}.branches"),
            )
            if not rule.tags and not rule.branches:
                raise ConfigError(f"{at}: names no tags and no branches")
            rules.append(rule)
        return cls(rules, _target(data.get("default"), f"{where}.default"))

    def to_dict(self) -> dict[str, Any]:
        return {
            "default": BEST_F1 if self.default is None else self.default,
            "rule": [r.to_dict() for r in self.rules],
        }

    def assign(
        self, labels: Sequence[str], vocab: Any = None
    ) -> dict[str, tuple[str, float | None]]:
        """Every label's (rule name, precision target); DEFAULT for those no rule names."""
        from tagger.vocab.normalise import label_key

        out: dict[str, tuple[str, float | None]] = {}
        for label in labels:
            keys = {label_key(label)}
            if vocab is not None:
                concept = vocab.lookup(label)
                if concept is not None:
                    for c in [concept, *vocab.ancestors(concept.id)]:
                        keys |= {label_key(c.id), label_key(c.label)}
                        if c.uri:
                            keys.add(label_key(c.uri))
            out[label] = (DEFAULT, self.default)
            for rule in self.rules:
                if {label_key(t) for t in rule.tags} & {label_key(label)} or (
                    {label_key(b) for b in rule.branches} & keys
                ):
                    out[label] = (rule.name, rule.precision)
                    break
        return out

    def record(self, labels: Sequence[str], vocab: Any = None) -> dict[str, Any]:
        """What the manifest keeps: the rules and the rule of each tag a rule names."""
        assigned = self.assign(labels, vocab)
        return {
            "default": BEST_F1 if self.default is None else self.default,
            "rules": [r.to_dict() for r in self.rules],
            "tags": {t: name for t, (name, _target) in assigned.items() if name != DEFAULT},
        }


def load_policy(path: str | Path | Policy | dict[str, Any]) -> Policy:
    """A Policy from a TOML or JSON file (or a dict, as kept in a training config)."""
    if isinstance(path, Policy):
        return path
    if isinstance(path, dict):
        return Policy.from_dict(path)
    path = Path(path)
    data = read_settings_file(path, "the policy file", "policy")
    return Policy.from_dict(data, str(path))


def policy_lines(manifest: dict[str, Any]) -> list[str]:
    """The model card's section on precision policies."""
    record = manifest.get("policy")
    if not record:
        return []
    thresholds = manifest.get("thresholds") or {}
    default = record.get("default")
    lines = [
        "## Precision policies",
        "",
        f"Tags no rule names: {'best F1' if default == BEST_F1 else f'precision >= {default}'}.",
        "",
    ]
    by_rule: dict[str, list[str]] = {}
    for tag, name in (record.get("tags") or {}).items():
        by_rule.setdefault(name, []).append(tag)
    for rule in record.get("rules", []):
        target = rule.get("precision")
        goal = "best F1" if target is None else f"precision >= {target:g}"
        tags = sorted(by_rule.get(rule["name"], []))
        shown = ", ".join(f"{t} ({thresholds[t]:.3f})" if t in thresholds else t for t in tags)
        lines.append(f"- {rule['name']}: {goal}; {len(tags)} tag(s): {shown or 'none'}")
    return [*lines, ""]
