"""A tag's vocabulary labels and aliases as names the name rules search (issue 11)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from tagger.classify import ModelConfig, TagModel, train_tag_model
from tagger.name_rules import NameRule, fit_name_rule, name_pattern, names_pattern
from tagger.vocab.model import Concept, Vocabulary
from tagger.vocab.training import tag_names

from .test_lead_rule import _corpus as lead_corpus
from .test_name_rules import alternation_matches

LABELS = ["metals", "nkr"]


def _vocabulary() -> Vocabulary:
    return Vocabulary(
        {
            "nkr": Concept(
                id="nkr",
                label="Norwegian Krone",
                alt_labels=["Norwegian Crown", "Norway"],
                hidden_labels=["NKR"],
            ),
            "old": Concept(id="old", label="Metals", alt_labels=["Metal"], retired="2020-01-01"),
        }
    )


def test_tag_names_are_the_concepts_labels_and_aliases_without_the_tag_itself() -> None:
    names = tag_names(["nkr", "metals", "unknown"], _vocabulary())
    # found by id; the hidden label spells the tag itself, so it is left out
    assert names[0] == ["Norwegian Krone", "Norwegian Crown", "Norway"]
    assert names[1] == []  # a retired concept lends no names
    assert names[2] == []


def test_a_rule_holds_several_names_per_tag_as_one_alternation() -> None:
    assert names_pattern(["nkr"]) == name_pattern("nkr")  # one name: the pattern as before
    assert names_pattern(["EU"]) is None
    rule = NameRule(
        labels=["nkr", "dlr"],
        patterns=[names_pattern(["nkr", "Norwegian Krone", "Norwegian Crown"]), None],
        precision=np.ones(2),
        support=np.ones(2, dtype=int),
        max_support=0,
        names=[["nkr", "Norwegian Krone", "Norwegian Crown"], ["dlr"]],
        names_max_support=5,  # the named tags' own limit: nkr is served, dlr is not
    )
    titles = ["NORWEGIAN CROWNS firm", "Norwegian krone steady", "NKR rate set", "Krone falls"]
    assert rule.hits(titles)[:, 0].tolist() == [True, True, True, False]


def _titles() -> tuple[list[str], np.ndarray]:
    """'nkr' is never named by its code: its articles' titles say "Norwegian crown"; the
    alias "Norway" also appears on articles without the tag (a misfiring alias)."""
    titles, rows = [], []
    for i in range(40):
        if i % 8 == 0:
            titles.append(f"Norwegian crown firms in quiet trade {i}")
            rows.append([False, True])
        elif i % 8 == 1:
            titles.append(f"Norway fishing quota set {i}")
            rows.append([False, False])
        else:
            titles.append(f"Metals prices steady {i}")
            rows.append([i % 2 == 0, False])
    return titles, np.array(rows)


def test_an_alias_in_a_title_suggests_its_tag_and_a_misfiring_alias_is_switched_off() -> None:
    titles, y = _titles()
    nothing = np.zeros_like(y)
    names = tag_names(LABELS, _vocabulary())
    rule, _ = fit_name_rule(titles, y, LABELS, nothing, nothing.astype(float), names=names)
    # "Norway" is named in 5 titles, none tagged: its precision 1/7 drops it, alone
    assert rule.names[1] == ["nkr", "Norwegian Krone", "Norwegian Crown"]
    assert rule.precision[1] == (5 + 1) / (5 + 2)
    assert rule.names_max_support > 0  # the named tag's own limit
    hits = rule.hits(["Norwegian crown weakens", "Norway elects a parliament", "NKR rate"])
    assert hits[:, 1].tolist() == [True, False, True]
    # Without the vocabulary, the code is never in a title: the rule cannot find the tag.
    plain, _ = fit_name_rule(titles, y, LABELS, nothing, nothing.astype(float))
    assert not plain.hits(["Norwegian crown weakens"])[:, 1].any()


def test_when_every_name_misfires_the_tag_keeps_its_label_and_its_rule_is_off() -> None:
    titles = ["Norway talks"] * 4 + ["nkr notes"] * 4 + ["Metals up"] * 4
    y = np.zeros((12, 2), dtype=bool)
    y[8:, 0] = True
    y[0, 1] = True
    nothing = np.zeros_like(y)
    rule, _ = fit_name_rule(
        titles, y, LABELS, nothing, nothing.astype(float), names=[[], ["Norway"]]
    )
    assert rule.names[1] == ["nkr"]
    assert not rule.active()[1]


def _corpus() -> tuple[sp.csr_matrix, np.ndarray, list[str]]:
    """The lead rule's corpus (a frequent tag with its own feature, a rare one on five
    articles the features do not show) with the rare tag's titles saying its alias."""
    x, y, titles, _bodies = lead_corpus()
    for i in np.flatnonzero(y[:, 1]):
        titles[i] = f"Norwegian crown firms {i}"
    return x, y, titles


def test_training_with_names_suggests_the_tag_and_the_state_round_trips() -> None:
    x, y, titles = _corpus()
    config = ModelConfig(n_jobs=1, cv_folds=4, prune_tolerance=0.0, stack_top=0)
    names = tag_names(LABELS, _vocabulary())
    model = train_tag_model(x, y, LABELS, config, titles=titles, names=names)
    rows = x[[2, 4]]
    chosen = model.choose(model.predict_proba(rows), ["Norwegian Krone slips", "Quiet day"])
    assert chosen[:, 1].tolist() == [True, False]
    meta, arrays = model.to_state()
    assert "names" in meta["name_rule"] and "patterns" not in meta["name_rule"]
    again = TagModel.from_state(meta, arrays, x.shape[1])
    assert again.name_rule.names == model.name_rule.names
    probs = again.predict_proba(x)
    assert np.array_equal(again.choose(probs, titles), model.choose(probs, titles))


def test_without_a_vocabulary_the_model_and_its_state_are_unchanged() -> None:
    x, y, titles = _corpus()
    config = ModelConfig(n_jobs=1, cv_folds=4, prune_tolerance=0.0, stack_top=0)
    plain = train_tag_model(x, y, LABELS, config, titles=titles)
    # A vocabulary naming none of the tags, and an empty list of names per tag: the same.
    unnamed = train_tag_model(x, y, LABELS, config, titles=titles, names=[[], []])
    meta, arrays = plain.to_state()
    other_meta, other_arrays = unnamed.to_state()
    assert meta == other_meta
    assert set(arrays) == set(other_arrays)
    for key, value in arrays.items():
        other = other_arrays[key]
        if sp.issparse(value):
            assert (value != other).nnz == 0
        else:
            assert np.array_equal(value, other)
    # The state is written as before names existed: one pattern per tag.
    assert set(meta["name_rule"]) == {"patterns", "max_support"}
    assert meta["name_rule"]["patterns"] == [name_pattern(label) for label in LABELS]
    assert TagModel.from_state(meta, arrays, x.shape[1]).name_rule.names == [["metals"], ["nkr"]]


@pytest.mark.parametrize(
    "bad",
    [
        {"names": [["metals"]], "max_support": 5, "names_max_support": 5},  # one list short
        {"names": [["metals"], []], "max_support": 5, "names_max_support": 5},  # no name
        {"names": [["metals"], [3]], "max_support": 5, "names_max_support": 5},
        {"names": [["metals"], ["nkr"]], "max_support": 5, "names_max_support": -1},
        {"names": [["metals"], ["nkr"]], "max_support": 5},  # the named tags' limit missing
        {"names": [["metals"], ["nkr"]], "patterns": [None, None], "max_support": 5},
        {"patterns": ["(?:.*)", None], "max_support": 5},  # a bundle never chooses a regex
    ],
)
def test_a_bad_rule_state_is_refused(bad: dict) -> None:
    arrays = {"precision": np.ones(2), "support": np.ones(2, dtype=int)}
    with pytest.raises(ValueError, match=r"tags\.name_rule"):
        NameRule.from_state(bad, arrays, LABELS)


def test_names_are_escaped_not_run_as_regular_expressions() -> None:
    meta = {
        "names": [["metals"], ["nkr", "(a+)+$", "N.K.R"]],
        "max_support": 0,
        "names_max_support": 5,
    }
    arrays = {"precision": np.ones(2), "support": np.ones(2, dtype=int)}
    rule = NameRule.from_state(meta, arrays, LABELS)
    assert rule.hits(["aaaa", "NxKxR", "(a+)+$ N.K.R"])[:, 1].tolist() == [False, False, True]


def _articles() -> list:
    from tagger.corpus.article import Article

    topics = ["grain harvest wheat farmers", "oil crude barrels refinery", "bank rates loans"]
    rare = {4: "Norwegian crown firms", 19: "Norwegian Krone eases", 34: "Norwegian crowns rise"}
    articles = []
    for i in range(60):
        words = topics[i % 3]
        tags = [["grain"], ["crude"], ["interest"]][i % 3]
        # Other stories say "Norwegian" too: the word alone does not give the tag away.
        title = f"Norwegian report {i} on {words.split()[0]}" if i % 4 == 1 else f"Report {i}"
        if i in rare:  # the rare tag: its titles say the concept's names, never its code
            tags, title = [*tags, "nkr"], rare[i]
        articles.append(Article(id=str(i), title=title, body=f"{words} story {i} " * 5, tags=tags))
    return articles


def _state(model: object) -> tuple:
    meta, arrays = model.tag_model.to_state()  # type: ignore[attr-defined]
    dense = {k: v.toarray() if sp.issparse(v) else np.asarray(v) for k, v in arrays.items()}
    return meta, dense


def test_tagger_train_gives_the_rules_a_vocabularys_names_and_changes_nothing_else() -> None:
    from tagger.api import Tagger, TrainConfig

    config = TrainConfig(tags=ModelConfig(n_jobs=1, cv_folds=3, stack_top=0))
    config.tags.min_tag_support = 2
    named = Tagger.train(_articles(), config, vocabulary=_vocabulary())
    rule = named.tag_model.name_rule
    nkr = named.tag_model.labels.index("nkr")
    assert rule.names[nkr] == ["nkr", "Norwegian Krone", "Norwegian Crown", "Norway"]
    # No vocabulary, and one that names none of the tags: the same model, state as before.
    plain = Tagger.train(_articles(), config)
    other = Vocabulary({"x": Concept(id="x", label="Unrelated", alt_labels=["Elsewhere"])})
    unnamed = Tagger.train(_articles(), config, vocabulary=other)
    (meta, arrays), (other_meta, other_arrays) = _state(plain), _state(unnamed)
    assert meta == other_meta and "patterns" in meta["name_rule"]
    assert arrays.keys() == other_arrays.keys()
    assert all(np.array_equal(arrays[k], other_arrays[k]) for k in arrays)


def test_the_tags_a_vocabulary_names_get_their_own_support_limit() -> None:
    """The model already finds 'trade' out of fold, so its code in a title only adds false
    positives ("Trade fair opens"): its rule stays off, while the rule on the vocabulary's
    names is on for 'nkr'. One limit for both would serve both or neither."""
    labels = ["trade", "nkr"]
    titles = [f"Trade gap narrows {i}" for i in range(4)] + ["Trade fair opens"] * 2
    titles += [f"Norwegian crown firms {i}" for i in range(6)] + ["Markets quiet"] * 10
    y = np.zeros((len(titles), 2), dtype=bool)
    y[:4, 0] = True
    y[6:12, 1] = True
    found = np.zeros_like(y)
    found[:, 0] = y[:, 0]  # out of fold, the model finds every 'trade' article
    rule, _ = fit_name_rule(
        titles, y, labels, found, found.astype(float), names=[[], ["Norwegian Crown"]]
    )
    assert rule.max_support == 0 and rule.names_max_support > 6
    assert rule.hits(["Trade fair opens", "Norwegian crowns slip"]).tolist() == [
        [False, False],
        [False, True],
    ]


def test_prefiltered_matching_with_several_names_equals_the_one_alternation() -> None:
    """Titles are searched only with the tags one of whose names could start one of their
    words: the matches are those of the alternation of every tag's names."""

    names = [
        ["nkr", "Norwegian Krone", "Norwegian Crown"],
        ["heat", "Heating Oil", "Gas Oil"],
        ["gas", "Gasoline"],
        ["dmk", "D-Mark"],
        ["café", "Ölpreis"],
    ]
    labels = [n[0] for n in names]
    rule = NameRule(
        labels=labels,
        patterns=[names_pattern(n) for n in names],
        precision=np.ones(len(labels)),
        support=np.ones(len(labels), dtype=int),
        max_support=0,
        names=names,
        names_max_support=5,
    )
    titles = [
        "NORWEGIAN CROWNS firm", "gas oil and heating oils", "Gasolines up, gas down",
        "D-MARK and d mark", "ölpreis café", "nothing here", "the \u017fugar heat",
    ]  # fmt: skip
    expected = alternation_matches(rule, titles)
    assert expected.sum() >= 6
    assert np.array_equal(rule.matches(titles), expected)
