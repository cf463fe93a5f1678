"""People spaCy finds or mistypes are people: surnames NER calls ORG or GPE in a sentence
that speaks of a person, and names in wire headlines in capitals (spans placed by hand,
as spaCy gives them on Reuters stories; no spaCy needed)."""

from __future__ import annotations

import pytest

from tagger.entities.canonical import Canonicalizer
from tagger.entities.gazetteer import gazetteer
from tests.entities.test_canonical import PLACES, STATES, names, run


@pytest.fixture(scope="module")
def canon() -> Canonicalizer:
    return Canonicalizer(gazetteer(), PLACES, STATES)


def test_a_surname_typed_org_in_a_sentence_about_a_person_is_that_person(canon) -> None:  # type: ignore[no-untyped-def]
    body = (
        "The West German Economics Minister denied giving an interview. Spokesman Dieter "
        "Vogel said Bangemann had contacted him from New Zealand. The paper quoted Bangemann "
        "as saying subsidies would end."
    )
    _text, entities = run(
        canon,
        "",
        body,
        [("Dieter Vogel", "PERSON"), ("Bangemann", "ORG"), ("Bangemann", "ORG", 1)],
    )
    assert "Bangemann" in names(entities, "PERSON")
    assert "Bangemann" not in names(entities, "ORG")
    bangemann = next(e for e in entities if e["name"] == "Bangemann")
    assert bangemann["count"] == 2


def test_a_surname_typed_gpe_with_a_reporting_verb_is_a_person(canon) -> None:  # type: ignore[no-untyped-def]
    body = "Norwegian Finance Minister Stoltenberg told reporters the krone would hold."
    _text, entities = run(canon, "", body, [("Stoltenberg", "GPE")])
    assert names(entities, "PERSON") == ["Stoltenberg"]


def test_companies_places_and_institutions_that_said_stay_what_they_are(canon) -> None:  # type: ignore[no-untyped-def]
    body = (
        "Chrysler Corp said its sales rose. Chrysler said it would hire. Bonn said he was "
        "wrong. Congress told the minister no. The Bundesbank said it would act; later "
        "Bundesbank said he agreed. IBM said he left."
    )
    spans = [
        ("Chrysler Corp", "ORG"),
        ("Chrysler", "ORG", 1),
        ("Bonn", "GPE"),
        ("Congress", "ORG"),
        ("Bundesbank", "ORG", 1),
        ("IBM", "ORG"),
    ]
    _text, entities = run(canon, "", body, spans)
    assert names(entities, "PERSON") == []


def test_no_person_cue_no_person(canon) -> None:  # type: ignore[no-untyped-def]
    body = "Prices at Mitsukoshi rose in March on strong demand for imports."
    _text, entities = run(canon, "", body, [("Mitsukoshi", "ORG")])
    assert names(entities, "PERSON") == []
    assert names(entities, "ORG") == ["Mitsukoshi"]


@pytest.mark.parametrize(
    ("title", "surface", "expected"),
    [
        ("VOLCKER SAYS REDUCING U.S. BUDGET DEFICIT NEEDED", "VOLCKER SAYS", "Volcker"),
        ("TREASURY'S BAKER FORECASTS REDUCTION IN SURPLUS", "BAKER", "Baker"),
        ("REAGAN RENEWS ANTI-PROTECTIONISM PLEDGE", "REAGAN RENEWS ANTI-PROTECTIONISM", "Reagan"),
    ],
)
def test_a_person_of_ner_in_a_capitals_headline_before_a_verb_counts(  # type: ignore[no-untyped-def]
    canon, title: str, surface: str, expected: str
) -> None:
    _text, entities = run(canon, title, "Blah blah blah.", [(surface, "PERSON")])
    assert names(entities, "PERSON") == [expected]


def test_a_capitals_headline_person_resolves_to_the_full_name_of_the_body(canon) -> None:  # type: ignore[no-untyped-def]
    title = "BAKER URGES BANKS TO MULL NEW IDEAS"
    body = "Treasury Secretary James Baker urged banks on Monday to consider new ideas."
    _text, entities = run(canon, title, body, [("BAKER", "PERSON"), ("James Baker", "PERSON")])
    baker = next(e for e in entities if e["type"] == "PERSON")
    assert baker["name"] == "James Baker" and baker["in_title"]


def test_capitals_headline_noise_stays_out(canon) -> None:  # type: ignore[no-untyped-def]
    # NER's PERSON on a headline word that is no subject of a verb, or a place, is dropped.
    for title, surface in [
        ("OIL PRICES FIRM IN QUIET TRADE", "OIL PRICES"),
        ("CHICAGO SAYS BUDGET IS BALANCED", "CHICAGO"),
    ]:
        _text, entities = run(canon, title, "Prices rose.", [(surface, "PERSON")])
        assert names(entities, "PERSON") == [], title
