"""The name rule: a tag named in the title, learned with its precision and support limit."""

from __future__ import annotations

import pickle

import numpy as np

from tagger.name_rules import NameRule, fit_name_rule, name_pattern


def test_name_pattern_matches_hyphen_space_and_plural() -> None:
    import re

    pattern = re.compile(r"\b(?:" + name_pattern("castor-oil") + r")\b", re.I)
    assert pattern.search("Castor oil prices rise")
    assert pattern.search("castor-oils in demand")
    assert not pattern.search("castoroil")
    assert name_pattern("EU") is None  # too short to be evidence on its own


def _data() -> tuple[list[str], np.ndarray, list[str]]:
    labels = ["palladium", "trade"]
    titles = [
        "Palladium output climbs",  # palladium, tagged
        "Palladium miners strike",  # palladium, tagged
        "Trade gap narrows",  # trade, tagged
        "Trade unions meet",  # trade named, not tagged
        "Trade fair opens",  # trade named, not tagged
        "Trade show delayed",  # trade named, not tagged
        "Exports rise",  # trade, not named
    ]
    y = np.array(
        [[1, 0], [1, 0], [0, 1], [0, 0], [0, 0], [0, 0], [0, 1]],
        dtype=bool,
    )
    return titles, y, labels


def test_rule_counts_precision_and_serves_only_precise_rare_tags() -> None:
    titles, y, labels = _data()
    nothing = np.zeros_like(y)
    rule, scores = fit_name_rule(titles, y, labels, nothing, nothing.astype(float))
    # palladium: named twice, tagged twice -> (2+1)/(2+2); trade: named 4 times, tagged once.
    assert rule.precision.tolist() == [0.75, (1 + 1) / (4 + 2)]
    assert rule.max_support > 0 and set(scores) >= {0, rule.max_support}
    hits = rule.hits(["New palladium mine", "Trade talks resume"])
    assert hits.tolist() == [[True, False], [False, False]]  # trade's rule is too imprecise


def test_rule_is_off_when_it_does_not_help_out_of_fold() -> None:
    titles, y, labels = _data()
    # The model already finds every tag out of fold: the rule can only add noise.
    rule, _scores = fit_name_rule(titles, y, labels, y.copy(), y.astype(float))
    assert rule.max_support == 0
    assert not rule.hits(titles).any()


def test_rule_survives_pickling_without_its_compiled_regex() -> None:
    titles, y, labels = _data()
    nothing = np.zeros_like(y)
    rule, _ = fit_name_rule(titles, y, labels, nothing, nothing.astype(float))
    rule.hits(titles)  # compiles the regex
    clone = pickle.loads(pickle.dumps(rule))
    assert clone._regex is None
    assert clone.hits(titles).tolist() == rule.hits(titles).tolist()


def test_prefiltered_matching_equals_the_one_alternation() -> None:
    """Titles are searched only with names that could start one of their words; the
    matches are those of the alternation of every name (overlaps, plurals, case)."""

    import numpy as np

    from tagger.name_rules import NameRule, name_pattern

    labels = [
        "nat-gas", "gas", "palm-oil", "oil", "U.S. economy", "economy", "wheat", "ship",
        "El Salvador", "café society", "#breaking", "bus", "Ölpreis", "sugar",
    ]  # fmt: skip
    titles = [
        "NAT GAS PRICES RISE", "Gas and oil: palm oil exports", "U.S. ECONOMY grows",
        "economies of El Salvador", "wheats and ships", "buses, buses", "café society news",
        "#breaking: sugar", "ölpreis steigt", "Ölpreis", "the \u017fugar trade",
        "KINGS", "", "nothing to see", "gas-gas gases", "ECONOMY-wide",
    ]  # fmt: skip
    rule = NameRule(
        labels=labels,
        patterns=[name_pattern(label) for label in labels],
        precision=np.ones(len(labels)),
        support=np.ones(len(labels), dtype=int),
    )
    expected = alternation_matches(rule, titles)
    assert expected.sum() > 10
    assert np.array_equal(rule.matches(titles), expected)


def alternation_matches(rule: NameRule, titles: list[str]) -> np.ndarray:
    """The matches of the one alternation of every tag's names, title by title."""
    import re

    every = rule._compiled()
    assert isinstance(every, re.Pattern)
    expected = np.zeros((len(titles), len(rule.labels)), dtype=bool)
    for i, title in enumerate(titles):
        for match in every.finditer(title):
            expected[i, int(match.lastgroup[1:])] = True
    return expected
