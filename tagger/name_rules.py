"""Name rules: a tag whose own name appears in an article's title is suggested.

A statistical model needs examples; a tag such as "palladium" or "El Salvador" with
two training articles gets little from it, yet its name in a headline is strong
evidence. The rule is learned, not assumed: for each tag, the precision of "its name
is in the title" is counted on the training titles, and the largest tag support at
which the rule still helps is chosen on out-of-fold predictions (0 turns it off).

A tag may have several names: its own label plus, when training is given a vocabulary,
its concept's preferred label and aliases (`tagger.vocab.training.tag_names`), as
Annif's lexical backends use them. Each name's precision is counted on its own and a
name below `MIN_PRECISION` is dropped (a common word among the aliases switches itself
off, not the tag's other names); the tag's pattern is the alternation of the rest. The
tags found by a vocabulary's names get a support limit of their own (`names_max_support`),
chosen out of fold with the limit of the tags searched by their label alone: a concept's
label is other evidence than a bare code, and one limit for both moved the code-only tags'
limit when the vocabulary was added.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

MIN_PRECISION = 0.5
SUPPORT_LIMITS = (0, 5, 10, 20, 50, 100)
# The rule on a story's lead (tagger.classify, `lead_chars`) serves rarer tags only: a
# name in the first lines is weaker evidence than one in the title.
LEAD_SUPPORT_LIMITS = (0, 5, 10, 20)


def name_pattern(label: str) -> str | None:
    """Regex for a tag's name in text: words in order, hyphens or spaces between, plural s."""
    words = [w for w in re.split(r"[-_\s]+", label.strip()) if w]
    if not words or len("".join(words)) < 3:
        return None
    return r"[-\s]+".join(re.escape(w) for w in words) + r"(?:s|es)?"


def names_pattern(names: Sequence[str]) -> str | None:
    """Regex for any of a tag's names (`name_pattern` of each; one name: its pattern)."""
    patterns = list(dict.fromkeys(p for p in map(name_pattern, names) if p is not None))
    if len(patterns) <= 1:
        return patterns[0] if patterns else None
    return "(?:" + "|".join(patterns) + ")"


def distinct_names(names: Sequence[str]) -> list[str]:
    """Names in order, without those whose pattern (case aside) an earlier one has."""
    seen: set[str] = set()
    out: list[str] = []
    for name in names:
        pattern = name_pattern(name)
        key = pattern.lower() if pattern is not None else None
        if key is not None and key in seen:
            continue
        if key is not None:
            seen.add(key)
        out.append(name)
    return out


@dataclass
class NameRule:
    """Per-tag 'name in the title' rule with its training precision.

    `names[j]`: the names tag j is searched by (default: its label alone); `patterns[j]`
    is `names_pattern(names[j])`. A tag with names besides its label (`named()`) is served
    below `names_max_support` articles, the others below `max_support`."""

    labels: list[str]
    patterns: list[str | None]
    precision: np.ndarray  # smoothed precision on training titles
    support: np.ndarray  # training articles per tag
    max_support: int = 0  # the rule serves tags with fewer articles than this
    names: list[list[str]] = field(default_factory=list)
    names_max_support: int = 0  # the limit of the tags with names besides their label
    _regex: Any = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.names:
            self.names = [[label] for label in self.labels]

    def named(self) -> np.ndarray:
        """Per tag: searched by other names than its label alone (a vocabulary's)."""
        return np.array([n != [label] for n, label in zip(self.names, self.labels, strict=True)])

    def limits(self) -> np.ndarray:
        """Per tag: the support below which the rule serves it."""
        named = self.named()
        return np.where(named, self.names_max_support, self.max_support) if named.size else named

    def serves_none(self) -> bool:
        return self.max_support <= 0 and self.names_max_support <= 0

    def active(self) -> np.ndarray:
        return (
            (self.support < self.limits())
            & (self.precision >= MIN_PRECISION)
            & np.array([p is not None for p in self.patterns], dtype=bool)
        )

    def _compiled(self) -> Any:
        if self._regex is None:
            parts = [f"(?P<t{j}>{p})" for j, p in enumerate(self.patterns) if p is not None]
            self._regex = (
                re.compile(r"\b(?:" + "|".join(parts) + r")\b", re.IGNORECASE) if parts else None
            )
        return self._regex

    def _prefilter(self) -> _Prefilter:
        cached = self.__dict__.get("_index")
        if cached is None:
            cached = _Prefilter(self.names, self.patterns)
            self.__dict__["_index"] = cached
        return cached

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_regex"] = None
        state.pop("_index", None)
        return state

    def to_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """JSON (patterns or names, support limit) and arrays (precision, support); labels
        are the tag model's. A rule whose every tag is searched by its label alone is
        written as before names existed: {patterns, max_support}."""
        meta: dict[str, Any] = {"max_support": int(self.max_support)}
        if not self.named().any():
            meta["patterns"] = list(self.patterns)
        else:
            meta["names"] = [list(names) for names in self.names]
            meta["names_max_support"] = int(self.names_max_support)
        return meta, {"precision": self.precision, "support": self.support}

    @classmethod
    def from_state(cls, meta: Any, arrays: dict[str, Any], labels: list[str]) -> NameRule:
        """Rebuild the rule from its names (each tag's list of strings) or, as written
        before names existed, its patterns, which must be the ones `name_pattern` makes of
        the labels: a bundle never chooses a regular expression to run, only names that
        `name_pattern` escapes."""
        where = "tags.name_rule"
        keys = set(meta) if isinstance(meta, dict) else set()
        named_keys = {"names", "max_support", "names_max_support"}
        if keys not in ({"patterns", "max_support"}, named_keys):
            raise ValueError(
                f"{where}: expected {{patterns, max_support}} or "
                "{names, max_support, names_max_support}"
            )
        if "patterns" in meta:
            if meta["patterns"] != [name_pattern(label) for label in labels]:
                raise ValueError(f"{where}.patterns: do not match the tag labels")
            names = [[label] for label in labels]
        else:
            names = meta["names"]
            ok = isinstance(names, list) and len(names) == len(labels)
            if not ok or not all(
                isinstance(n, list) and n and all(isinstance(w, str) for w in n) for n in names
            ):
                raise ValueError(f"{where}.names: expected a non-empty list of names per tag")
        for key in ("max_support", "names_max_support"):
            value = meta.get(key, 0)
            if type(value) is not int or value < 0:
                raise ValueError(f"{where}.{key}: expected a non-negative integer")
        n = len(labels)
        precision, support = arrays.get("precision"), arrays.get("support")
        for name, value, kinds in (("precision", precision, "f"), ("support", support, "iu")):
            ok = isinstance(value, np.ndarray) and value.shape == (n,)
            if not ok or value.dtype.kind not in kinds:
                raise ValueError(f"{where}.{name}: expected an array of one value per tag")
        return cls(
            labels=list(labels),
            patterns=[names_pattern(n) for n in names],
            precision=precision,
            support=support,
            max_support=meta["max_support"],
            names=[list(n) for n in names],
            names_max_support=meta.get("names_max_support", 0),
        )

    def matches_sparse(self, titles: Sequence[str]) -> sp.csr_matrix:
        """Sparse boolean matrix (titles x tags): the tag's name occurs in the title.

        The matches of the one alternation of all names (`_compiled`), found faster: a
        title is searched only with the names whose first word could start one of its
        words (`_Prefilter`); the others cannot match anywhere in it, so leaving them out
        of the alternation changes no match.
        """
        rows: list[int] = []
        cols: list[int] = []
        # Not `self._compiled()`: compiling the alternation of 10,000 names took seconds,
        # and only a title with a case-confusable character needs it.
        if any(p is not None for p in self.patterns):
            prefilter = self._prefilter()
            for i, title in enumerate(titles):
                regex = prefilter.regex_for(title, self)
                if regex is None:
                    continue
                for match in regex.finditer(title):
                    rows.append(i)
                    cols.append(int(match.lastgroup[1:]))
        hits = sp.csr_matrix(
            (np.ones(len(rows), dtype=bool), (rows, cols)), shape=(len(titles), len(self.labels))
        )
        hits.sum_duplicates()
        return hits

    def hits_sparse(self, titles: Sequence[str]) -> sp.csr_matrix:
        """`matches_sparse` restricted to the tags the rule serves."""
        if self.serves_none():
            return sp.csr_matrix((len(titles), len(self.labels)), dtype=bool)
        return self.restrict(self.matches_sparse(titles))

    def restrict(self, matches: sp.spmatrix) -> sp.csr_matrix:
        """Matches (`matches_sparse`) restricted to the tags the rule serves."""
        hits = sp.coo_matrix(matches)
        keep = self.active()[hits.col]
        return sp.csr_matrix(
            (hits.data[keep], (hits.row[keep], hits.col[keep])), shape=hits.shape, dtype=bool
        )

    def matches(self, titles: Sequence[str]) -> np.ndarray:
        """Boolean matrix (titles x tags): the tag's name occurs in the title."""
        return self.matches_sparse(titles).toarray()

    def hits(self, titles: Sequence[str]) -> np.ndarray:
        """Matches restricted to the tags the rule serves."""
        return self.hits_sparse(titles).toarray()


# Non-ASCII characters that re.IGNORECASE matches with an ASCII letter (s, k, i).
_ASCII_CONFUSABLE = frozenset("\u017f\u212a\u0130\u0131")
_WORD = re.compile(r"\w+")


class _Prefilter:
    """Which tags could match in a title, by the first word token of each of their names.

    A name's regex starts with its first word, at a word boundary; when that word starts
    with an ASCII word character, the title word where a match starts is the word's first
    token t, or t + "s" / t + "es" (the plural suffix, when the name is one word). Names
    whose first word starts otherwise are tried on every title, and a title holding a
    non-ASCII character that matches an ASCII letter case-insensitively gets every name.
    """

    def __init__(self, names: Sequence[Sequence[str]], patterns: Sequence[str | None]) -> None:
        self.by_token: dict[str, list[int]] = {}
        self.always: list[int] = []
        for j, (tag_names, pattern) in enumerate(zip(names, patterns, strict=True)):
            if pattern is None:
                continue
            tokens: set[str | None] = set()
            for name in tag_names:
                if name_pattern(name) is None:
                    continue
                first = next(w for w in re.split(r"[-_\s]+", name.strip()) if w)
                token = _WORD.match(first.lower()) if first.isascii() else None
                tokens.add(token.group() if token is not None else None)
            if None in tokens:
                self.always.append(j)
                continue
            for key in sorted(t for t in tokens if t is not None):
                self.by_token.setdefault(key, []).append(j)
        self.compiled: dict[tuple[int, ...], Any] = {}

    def candidates(self, title: str) -> list[int] | None:
        """Names that could match in the title, in label order (None: all of them)."""
        if not _ASCII_CONFUSABLE.isdisjoint(title):
            return None
        found = set(self.always)
        for word in set(_WORD.findall(title.lower())):
            keys = [word]
            if word.endswith("s"):
                keys.append(word[:-1])
            if word.endswith("es"):
                keys.append(word[:-2])
            for key in keys:
                found.update(self.by_token.get(key, ()))
        return sorted(found)

    def regex_for(self, title: str, rule: NameRule) -> Any:
        picked = self.candidates(title)
        if picked is None:
            return rule._compiled()
        if not picked:
            return None
        key = tuple(picked)
        regex = self.compiled.get(key)
        if regex is None:
            parts = [f"(?P<t{j}>{rule.patterns[j]})" for j in picked]
            regex = re.compile(r"\b(?:" + "|".join(parts) + r")\b", re.IGNORECASE)
            if len(self.compiled) > 10_000:
                self.compiled.clear()
            self.compiled[key] = regex
        return regex


def fit_name_rule(
    titles: Sequence[str],
    y: np.ndarray | sp.spmatrix,
    labels: list[str],
    oof_selected: np.ndarray | sp.spmatrix,
    oof_probs: np.ndarray | sp.spmatrix,
    limits: Sequence[int] = SUPPORT_LIMITS,
    names: Sequence[Sequence[str]] | None = None,
) -> tuple[NameRule, dict[int, float]]:
    """Count each tag's title precision, then pick the support limit (among `limits`) on
    out-of-fold results.

    `names[j]`: the names tag j may be found by (default: its label); with several, each
    name's precision is counted and those below `MIN_PRECISION` are dropped
    (`precise_names`) before the tag's precision is counted on the rest. The label,
    selection and probability matrices may be dense or sparse (absent probabilities rank
    last). The tags with other names get their own limit (`names_max_support`), chosen
    with the others' on the same results (every pair of `limits`; ties to the smaller).
    Returns the rule and the out-of-fold score, (micro-F1 + macro-F1) / 2, of each limit
    tried for the tags searched by their label alone, with the named tags' chosen limit.
    """
    from tagger.evaluate import multilabel_metrics

    y = sp.csr_matrix(y, dtype=bool)
    selected = sp.csr_matrix(oof_selected, dtype=bool)
    tag_names = [[label] for label in labels]
    if names is not None:
        if len(names) != len(labels):
            raise ValueError("names: expected one list of names per tag")
        tag_names = [
            distinct_names([label, *extra]) for label, extra in zip(labels, names, strict=True)
        ]
        if any(len(n) > 1 for n in tag_names):
            tag_names = precise_names(titles, y, tag_names)
    rule = NameRule(
        labels=list(labels),
        patterns=[names_pattern(n) for n in tag_names],
        precision=np.zeros(len(labels)),
        support=np.asarray(y.sum(axis=0)).ravel(),
        names=tag_names,
    )
    matches = rule.matches_sparse(titles)
    rule.precision = _precision(matches, y)
    named_limits = limits if rule.named().any() else [0]
    pairs: dict[tuple[int, int], float] = {}
    for limit in limits:
        for named_limit in named_limits:
            rule.max_support, rule.names_max_support = limit, named_limit
            hits = rule.restrict(matches)
            chosen = (selected + hits).astype(bool)
            m = multilabel_metrics(y, chosen, oof_probs, labels, ranked=False)
            pairs[limit, named_limit] = (m["micro_f1"] + m["macro_f1"]) / 2
    best = max(pairs, key=lambda k: (pairs[k], -k[0], -k[1]))
    rule.max_support, rule.names_max_support = best
    return rule, {limit: pairs[limit, best[1]] for limit in limits}


def _precision(matches: sp.spmatrix, y: sp.spmatrix) -> np.ndarray:
    """Smoothed precision per column: (named and tagged + 1) / (named + 2)."""
    mentioned = np.asarray(matches.sum(axis=0)).ravel()
    correct = np.asarray(sp.csr_matrix(matches).multiply(y).sum(axis=0)).ravel()
    return (correct + 1.0) / (mentioned + 2.0)


def precise_names(
    titles: Sequence[str], y: sp.csr_matrix, names: Sequence[Sequence[str]]
) -> list[list[str]]:
    """Each tag's names whose own smoothed precision on the titles is at least
    `MIN_PRECISION` (a name never seen counts 0.5 and stays); a tag none of whose names
    is precise keeps its first (its label), so its rule stays as imprecise as before."""
    owner: list[int] = []
    flat: list[str] = []
    for j, tag_names in enumerate(names):
        for name in tag_names:
            if name_pattern(name) is not None:
                owner.append(j)
                flat.append(name)
    if not flat:
        return [list(n) for n in names]
    each = NameRule(
        labels=flat,
        patterns=[name_pattern(name) for name in flat],
        precision=np.zeros(len(flat)),
        support=np.zeros(len(flat), dtype=int),
    )
    precision = _precision(each.matches_sparse(titles), y[:, np.array(owner)])
    kept: list[list[str]] = [[] for _ in names]
    for j, name, p in zip(owner, flat, precision, strict=True):
        if p >= MIN_PRECISION:
            kept[j].append(name)
    return [k if k else list(n[:1]) for k, n in zip(kept, names, strict=True)]
