"""Features: a fitted featurizer turns any article into a row its feature names describe."""

from __future__ import annotations

import numpy as np
import pytest

from tagger.corpus.article import Article
from tagger.features import FeatureConfig, Featurizer, entity_tokens

ARTICLES = [
    Article(id="1", title="Senate budget vote", body="The Senate passed the budget bill."),
    Article(id="2", title="Storm hits coast", body="A storm hit the coast and the budget."),
    Article(id="3", title="Budget talks stall", body="Talks on the budget stalled again."),
]


@pytest.mark.parametrize("char_ngrams", [None, (3, 4)])
def test_rows_match_feature_names_and_are_unit_length(char_ngrams: tuple | None) -> None:
    config = FeatureConfig(char_ngrams=char_ngrams, word_min_df=1, char_min_df=1, char_max_df=1.0)
    featurizer = Featurizer(config)
    x = featurizer.fit_transform(ARTICLES)
    names = featurizer.feature_names()
    assert x.shape == (3, len(names)) == (3, featurizer.n_features)
    assert np.allclose(np.sqrt(x.multiply(x).sum(axis=1)), 1.0)
    again = featurizer.transform(ARTICLES)
    assert np.allclose(x.toarray(), again.toarray())
    assert "senate" in set(names)
    if char_ngrams:
        assert "<char>" in set(names)  # character n-grams are never shown as evidence


def test_unseen_text_gives_an_empty_row_not_an_error() -> None:
    featurizer = Featurizer(FeatureConfig(char_ngrams=None, word_min_df=1))
    featurizer.fit_transform(ARTICLES)
    x = featurizer.transform([Article(id="z", body="zzzz qqqq"), Article(id="e", body="")])
    assert x.shape[0] == 2 and x.nnz == 0


def test_entity_features() -> None:
    entities = [
        [{"type": "PERSON", "name": "Ana Ruiz"}, {"type": "DATE", "name": "Monday"}],
        [{"type": "COUNTRY", "name": "France"}],
        [{"type": "PERSON", "name": "Ana Ruiz"}, {"type": "PERSON", "name": "Ana Ruiz"}],
    ]
    assert entity_tokens(entities[0], ("PERSON", "COUNTRY")) == ["PERSON=Ana Ruiz"]
    featurizer = Featurizer(FeatureConfig(char_ngrams=None, word_min_df=1, entity_weight=0.5))
    x = featurizer.fit_transform(ARTICLES, entities)
    names = list(featurizer.feature_names())
    assert "PERSON=Ana Ruiz" in names and "COUNTRY=France" in names
    assert "DATE=Monday" not in names
    assert x.shape[1] == len(names)
    # Predicting without entities still works: the entity block is simply empty.
    y = featurizer.transform(ARTICLES)
    column = names.index("PERSON=Ana Ruiz")
    assert y[:, column].nnz == 0 and x[:, column].nnz == 2
    with pytest.raises(ValueError, match="one entity list per article"):
        Featurizer(FeatureConfig(entity_weight=0.5, word_min_df=1)).fit_transform(
            ARTICLES, entities[:2]
        )


def test_feature_config_from_json_like_dict() -> None:
    config = FeatureConfig.from_dict(
        {"word_ngrams": [1, 3], "char_ngrams": [2, 4], "entity_types": ["PERSON"], "new": 1}
    )
    assert config.word_ngrams == (1, 3)
    assert config.char_ngrams == (2, 4)
    assert config.entity_types == ("PERSON",)
    assert FeatureConfig.from_dict(config.to_dict()) == config
