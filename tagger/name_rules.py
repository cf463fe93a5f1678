"""Name rules: a tag whose own name appears in an article's title is suggested.

A statistical model needs examples; a tag such as "palladium" or "El Salvador" with
two training articles gets little from it, yet its name in a headline is strong
evidence. The rule is learned, not assumed: for each tag, the precision of "its name
is in the title" is counted on the training titles, and the largest tag support at
which the rule still helps is chosen on out-of-fold predictions (0 turns it off).
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


@dataclass
class NameRule:
    """Per-tag 'name in the title' rule with its training precision."""

    labels: list[str]
    patterns: list[str | None]
    precision: np.ndarray  # smoothed precision on training titles
    support: np.ndarray  # training articles per tag
    max_support: int = 0  # the rule serves tags with fewer articles than this
    _regex: Any = field(default=None, repr=False, compare=False)

    def active(self) -> np.ndarray:
        return (
            (self.support < self.max_support)
            & (self.precision >= MIN_PRECISION)
            & np.array([p is not None for p in self.patterns])
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
            cached = _Prefilter(self.labels, self.patterns)
            self.__dict__["_index"] = cached
        return cached

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_regex"] = None
        state.pop("_index", None)
        return state

    def to_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """JSON (patterns, support limit) and arrays (precision, support); labels are the
        tag model's."""
        meta = {"patterns": list(self.patterns), "max_support": int(self.max_support)}
        return meta, {"precision": self.precision, "support": self.support}

    @classmethod
    def from_state(cls, meta: Any, arrays: dict[str, Any], labels: list[str]) -> NameRule:
        """Rebuild the rule; its patterns must be the ones `name_pattern` makes of the
        labels (a bundle never chooses a regular expression to run)."""
        where = "tags.name_rule"
        if not isinstance(meta, dict) or set(meta) != {"patterns", "max_support"}:
            raise ValueError(f"{where}: expected {{patterns, max_support}}")
        if meta["patterns"] != [name_pattern(label) for label in labels]:
            raise ValueError(f"{where}.patterns: do not match the tag labels")
        if type(meta["max_support"]) is not int or meta["max_support"] < 0:
            raise ValueError(f"{where}.max_support: expected a non-negative integer")
        n = len(labels)
        precision, support = arrays.get("precision"), arrays.get("support")
        for name, value, kinds in (("precision", precision, "f"), ("support", support, "iu")):
            ok = isinstance(value, np.ndarray) and value.shape == (n,)
            if not ok or value.dtype.kind not in kinds:
                raise ValueError(f"{where}.{name}: expected an array of one value per tag")
        return cls(
            labels=list(labels),
            patterns=list(meta["patterns"]),
            precision=precision,
            support=support,
            max_support=meta["max_support"],
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
        if self.max_support <= 0:
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
    """Which names could match in a title, by the first word token of each name.

    A name's regex starts with its first word, at a word boundary; when that word starts
    with an ASCII word character, the title word where a match starts is the word's first
    token t, or t + "s" / t + "es" (the plural suffix, when the name is one word). Names
    whose first word starts otherwise are tried on every title, and a title holding a
    non-ASCII character that matches an ASCII letter case-insensitively gets every name.
    """

    def __init__(self, labels: Sequence[str], patterns: Sequence[str | None]) -> None:
        self.by_token: dict[str, list[int]] = {}
        self.always: list[int] = []
        for j, (label, pattern) in enumerate(zip(labels, patterns, strict=True)):
            if pattern is None:
                continue
            first = next(w for w in re.split(r"[-_\s]+", label.strip()) if w)
            token = _WORD.match(first.lower()) if first.isascii() else None
            if token is None:
                self.always.append(j)
            else:
                self.by_token.setdefault(token.group(), []).append(j)
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
) -> tuple[NameRule, dict[int, float]]:
    """Count each tag's title precision, then pick the support limit (among `limits`) on
    out-of-fold results.

    The label, selection and probability matrices may be dense or sparse (absent
    probabilities rank last). Returns the rule and the out-of-fold score,
    (micro-F1 + macro-F1) / 2, of each limit tried.
    """
    from tagger.evaluate import multilabel_metrics

    y = sp.csr_matrix(y, dtype=bool)
    selected = sp.csr_matrix(oof_selected, dtype=bool)
    rule = NameRule(
        labels=list(labels),
        patterns=[name_pattern(label) for label in labels],
        precision=np.zeros(len(labels)),
        support=np.asarray(y.sum(axis=0)).ravel(),
    )
    matches = rule.matches_sparse(titles)
    mentioned = np.asarray(matches.sum(axis=0)).ravel()
    correct = np.asarray(matches.multiply(y).sum(axis=0)).ravel()
    rule.precision = (correct + 1.0) / (mentioned + 2.0)
    scores: dict[int, float] = {}
    for limit in limits:
        rule.max_support = limit
        hits = rule.restrict(matches) if limit > 0 else sp.csr_matrix(matches.shape, dtype=bool)
        chosen = (selected + hits).astype(bool)
        m = multilabel_metrics(y, chosen, oof_probs, labels, ranked=False)
        scores[limit] = (m["micro_f1"] + m["macro_f1"]) / 2
    rule.max_support = max(scores, key=lambda k: (scores[k], -k))
    return rule, scores
