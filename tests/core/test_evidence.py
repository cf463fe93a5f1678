"""Evidence editors can trust: content terms and entities, each with its contribution, shown
alike by the table, the review screen and the web page."""

from __future__ import annotations

import io

import numpy as np
import pytest
import scipy.sparse as sp

from tagger.classify import evidence_terms
from tagger.corpus.article import Article
from tagger.stopwords import FUNCTION_WORDS, is_content_term
from tagger.suggestions import Evidence, evidence_text


def test_function_words_and_ngrams_made_only_of_them_are_never_evidence() -> None:
    names = np.array(["it", "of the", "will", "rise in", "interest", "we", "rates"], dtype=object)
    # The function words carry the largest contributions: they must still be left out.
    weights = np.array([9.0, 8.0, 7.0, 1.5, 1.0, 6.0, 0.5])
    values = np.full(len(names), 0.5)
    evidence = evidence_terms(np.arange(len(names)), values, weights, names, k=5)
    assert [name for name, _ in evidence] == ["rise in", "interest", "rates"]
    assert [w for _, w in evidence] == pytest.approx([0.75, 0.5, 0.25])


def test_content_terms() -> None:
    assert not is_content_term("it is")
    assert not is_content_term("against")
    assert is_content_term("interest")  # an IR stop list would drop it: not a function word
    assert is_content_term("bill")
    assert is_content_term("the senate")
    assert is_content_term("PERSON=Marco Rubio")
    assert {"it", "for", "in", "against", "will", "we"} <= FUNCTION_WORDS


def _function_word_corpus() -> list[Article]:
    """Two sections told apart mostly by function words ("we will" against "it is")."""
    articles = []
    for i in range(24):
        if i % 2:
            body = f"We will see, we will try, we will win. An editorial on talks {i}."
            section = "opinion"
        else:
            body = f"It is done and it is over, it is said. A report on talks {i}."
            section = "news"
        articles.append(Article(id=f"a{i}", title=f"Story {i}", body=body, section=section))
    return articles


def test_predicted_evidence_has_content_terms_only_each_with_its_contribution() -> None:
    from tagger.api import Tagger, TrainConfig
    from tagger.features import FeatureConfig

    config = TrainConfig(features=FeatureConfig(char_ngrams=None, word_min_df=1, word_max_df=1.0))
    model = Tagger.train(_function_word_corpus(), config)
    test = Article(id="t", title="Budget", body="We will pass it, we will. An editorial.")
    suggestion = model.predict(test)
    assert suggestion.section.label == "opinion"
    evidence = suggestion.section.evidence
    assert "editorial" in [e.value for e in evidence], "content terms explain the section"
    for item in evidence:
        assert item.kind == "term" and is_content_term(item.value), item
        assert item.weight > 0
    assert {"we", "will", "it", "is", "it is", "we will"}.isdisjoint(e.value for e in evidence)


def test_entity_features_are_shown_as_entities() -> None:
    from tagger.predict import _evidence

    items = _evidence([("PERSON=Marco Rubio", 0.2), ("budget", 0.1)])
    assert [(e.kind, e.value, e.weight) for e in items] == [
        ("entity", "Marco Rubio", 0.2),
        ("term", "budget", 0.1),
    ]


def test_evidence_text_shows_each_item_with_its_contribution_as_in_the_json() -> None:
    items = [Evidence("term", "budget", 0.051234), Evidence("entity", "Marco Rubio", 0.8)]
    text = evidence_text(items)
    assert text == "budget (0.0512), Marco Rubio (0.8000)"
    # the JSON's rounded weights give the same text (what the web page receives)
    assert evidence_text([e.to_dict() for e in items]) == text


def test_the_table_shows_the_evidence_text(fast_model, sample_split) -> None:  # type: ignore[no-untyped-def]
    from rich.console import Console

    from tagger.render import render_suggestions

    _train, test = sample_split
    suggestion = fast_model.predict(Article.from_dict(test[0]))
    buffer = io.StringIO()

    class Out:
        out = Console(file=buffer, width=400, color_system=None)

    render_suggestions([suggestion], "table", Out(), explain=True)
    shown = buffer.getvalue()
    assert "because: " + evidence_text(suggestion.section.evidence) in shown
    for tag in suggestion.tags:
        if tag.evidence:
            assert evidence_text(tag.evidence) in shown


def test_sparse_and_dense_weights_filter_alike() -> None:
    names = np.array(["of the", "farm", "it"], dtype=object)
    dense = np.array([3.0, 1.0, 2.0])
    row = sp.csr_matrix(dense)
    indices, values = np.arange(3), np.ones(3)
    assert evidence_terms(indices, values, row, names) == [("farm", 1.0)]
    assert evidence_terms(indices, values, dense, names) == [("farm", 1.0)]


@pytest.mark.parametrize("top_k", [0, 1, 3, 20])
def test_a_batch_shows_each_tag_the_evidence_of_its_own_article(
    fast_model, sample_split, top_k: int
) -> None:  # type: ignore[no-untyped-def]
    """Tag evidence is looked up once per tag and batch (`predict._tag_weights_at`): every
    chosen tag and every one of the first top_k shown has exactly the evidence that tag's
    weights give on its own article's row, and no other tag has any."""
    from tagger.predict import suggest

    _train, test = sample_split
    articles = [Article.from_dict(d) for d in test]
    model = fast_model
    tm = model.tag_model
    x = model.featurizer.transform(articles)
    names = model.feature_names()
    results = suggest(model, articles, None, top_k=top_k, explain=True)
    chars = model.featurizer.char_columns()
    checked = 0
    for i, result in enumerate(results):
        row = x[i]
        indices, values = row.indices, row.data
        if chars is not None:
            words = (indices < chars[0]) | (indices >= chars[1])
            indices, values = indices[words], values[words]
        shown = {s.label: s for s in result.tag_candidates} | {s.label: s for s in result.tags}
        assert len(result.tag_candidates) <= top_k
        for label, suggestion in shown.items():
            j = tm.labels.index(label)
            terms = [(e.value, e.weight) for e in suggestion.evidence if e.kind != "rule"]
            expected = evidence_terms(indices, values, tm.weight_row(j), names, 5)
            assert terms == expected
            checked += bool(expected)
    assert checked > 0 or top_k == 0
