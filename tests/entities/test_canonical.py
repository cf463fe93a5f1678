"""Canonicalisation rules, one by one, on raw spans we place by hand (no spaCy needed)."""

from __future__ import annotations

from typing import Any

import pytest

from tagger.entities.canonical import (
    Canonicalizer,
    RawSpan,
    acronym_definitions,
    is_caps_text,
    salience,
    strip_person_title,
    trim_span,
)
from tagger.entities.gazetteer import gazetteer

PLACES = {"chicago": "US", "san salvador": "SV", "bonn": "DE", "lyon": "FR", "texas": "US"}
STATES = {"calif.": "US", "texas": "US"}


@pytest.fixture(scope="module")
def canon() -> Canonicalizer:
    return Canonicalizer(gazetteer(), PLACES, STATES)


def span(text: str, surface: str, label: str, nth: int = 0, ent_id: str = "") -> RawSpan:
    start = -1
    for _ in range(nth + 1):
        start = text.index(surface, start + 1)
    return RawSpan(start, start + len(surface), label, ent_id)


def run(
    canon: Canonicalizer, title: str, body: str, spans: list[tuple[Any, ...]]
) -> tuple[str, list[dict[str, Any]]]:
    text = f"{title}\n\n{body}" if title else body
    raw = [span(text, *s) for s in spans]
    return text, canon.entities(text, len(title), raw)


def names(entities: list[dict[str, Any]], kind: str | None = None) -> list[str]:
    return [e["name"] for e in entities if kind is None or e["type"] == kind]


def by_name(entities: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return next(e for e in entities if e["name"] == name)


def test_trim_drops_the_possessive_punctuation_and_next_lines() -> None:
    text = "the Pentagon's plan, “Rubio’s” view, Donald Trump\nMenu"
    assert text[slice(*trim_span(text, 0, 14))] == "Pentagon"
    start = text.index("“")
    assert text[slice(*trim_span(text, start, start + 9))] == "Rubio"
    start = text.index("Donald")
    assert text[slice(*trim_span(text, start, len(text)))] == "Donald Trump"


def test_person_titles_are_not_names() -> None:
    surface = "Secretary of State Marco Rubio"
    start, end = strip_person_title(surface)
    assert surface[start:end] == "Marco Rubio"
    surface = "President Joe Biden said"
    start, end = strip_person_title(surface)
    assert surface[start:end] == "Joe Biden"


def test_secretary_of_state_is_a_person_not_the_org_state(canon: Canonicalizer) -> None:
    body = "Secretary of State Marco Rubio flew to Lima. Rubio spoke."
    _, ents = run(
        canon, "", body, [("State", "ORG"), ("Marco Rubio", "PERSON"), ("Rubio", "PERSON", 1)]
    )
    assert names(ents) == ["Marco Rubio"]
    assert by_name(ents, "Marco Rubio")["count"] == 2


def test_surname_and_title_surname_resolve_to_the_full_name(canon: Canonicalizer) -> None:
    title = "Rubio visits Panama"
    body = "Marco Rubio met officials. Secretary Rubio said more. Mr. Rubio left."
    text, ents = run(
        canon,
        title,
        body,
        [
            ("Rubio", "PERSON"),
            ("Marco Rubio", "PERSON"),
            ("Secretary Rubio", "PERSON"),
            ("Mr. Rubio", "PERSON"),
        ],
    )
    rubio = by_name(ents, "Marco Rubio")
    assert rubio["count"] == 4 and rubio["in_title"] and rubio["first_position"] == 0
    assert [m["text"] for m in rubio["mentions"]] == ["Rubio", "Marco Rubio", "Rubio", "Rubio"]
    assert all(text[m["start"] : m["end"]] == m["text"] for m in rubio["mentions"])


def test_a_surname_typed_as_org_becomes_the_person(canon: Canonicalizer) -> None:
    body = "President Nayib Bukele agreed. Later Bukele posted a message."
    _, ents = run(canon, "", body, [("Nayib Bukele", "PERSON"), ("Bukele", "ORG", 1)])
    assert names(ents) == ["Nayib Bukele"] and ents[0]["count"] == 2


def test_two_people_with_one_surname_resolve_to_the_nearest_before(canon: Canonicalizer) -> None:
    body = "George Bush spoke. Bush left. Later Jeb Bush arrived and Bush spoke."
    _, ents = run(
        canon,
        "",
        body,
        [
            ("George Bush", "PERSON"),
            ("Bush", "PERSON", 1),
            ("Jeb Bush", "PERSON"),
            ("Bush", "PERSON", 3),
        ],
    )
    assert by_name(ents, "George Bush")["count"] == 2
    assert by_name(ents, "Jeb Bush")["count"] == 2


def test_countries_from_gpe_norp_and_nationalities_typed_as_org(canon: Canonicalizer) -> None:
    body = "The U.S. and America. Venezuelan gangs. Salvadoran police. The Haitians came."
    _, ents = run(
        canon,
        "",
        body,
        [
            ("U.S.", "GPE"),
            ("America", "GPE"),
            ("Venezuelan", "NORP"),
            ("Salvadoran", "ORG"),
            ("Haitians", "NORP"),
        ],
    )
    assert sorted(names(ents, "COUNTRY")) == ["El Salvador", "Haiti", "United States", "Venezuela"]
    assert by_name(ents, "United States")["count"] == 2
    assert not any(e["inferred"] for e in ents)


def test_hyphenated_compounds_name_each_country(canon: Canonicalizer) -> None:
    body = "At the U.S.-Mexico border and the Cuba-based camp."
    _, ents = run(canon, "", body, [("U.S.-Mexico", "ORG"), ("Cuba-based", "GPE")])
    assert sorted(names(ents, "COUNTRY")) == ["Cuba", "Mexico", "United States"]
    mexico = by_name(ents, "Mexico")["mentions"][0]
    assert body[mexico["start"] : mexico["end"]] == "Mexico"


def test_a_leading_demonym_is_split_from_a_name(canon: Canonicalizer) -> None:
    body = "members of the Venezuelan Tren de Aragua gang"
    _, ents = run(canon, "", body, [("Venezuelan Tren de Aragua", "ORG")])
    assert by_name(ents, "Venezuela")["type"] == "COUNTRY"
    assert by_name(ents, "Tren de Aragua")["type"] == "ORG"


def test_agencies_from_ruler_ids_gazetteer_and_defined_acronyms(canon: Canonicalizer) -> None:
    body = (
        "The State Department and the Department of State agreed. The Office of Special "
        "Tariff Review (OSTR) objected, and OSTR will appeal. ICE detained them."
    )
    _, ents = run(
        canon,
        "",
        body,
        [
            ("State Department", "AGENCY", 0, "State Department"),
            ("the Department of State", "ORG"),
            ("Office of Special Tariff Review", "ORG"),
            ("OSTR", "ORG", 1),
            ("ICE", "AGENCY", 0, "Immigration and Customs Enforcement"),
        ],
    )
    assert by_name(ents, "State Department")["count"] == 2
    assert by_name(ents, "Office of Special Tariff Review")["count"] == 2
    assert by_name(ents, "Immigration and Customs Enforcement")["type"] == "AGENCY"


def test_acronym_definitions() -> None:
    text = (
        "limited Immigration and Customs Enforcement (ICE) detention; the Organization of "
        "Petroleum Exporting Countries (OPEC) met; a Lot (X) of nothing."
    )
    found = acronym_definitions(text)
    assert found["ICE"] == "Immigration and Customs Enforcement"
    assert found["OPEC"] == "Organization of Petroleum Exporting Countries"
    assert "X" not in found


def test_ministries_get_one_name_with_their_country(canon: Canonicalizer) -> None:
    body = "The Japanese Finance Ministry said so, and the Ministry of Finance agreed."
    _, ents = run(canon, "", body, [("Japanese Finance Ministry", "ORG"), ("Ministry", "ORG")])
    assert "Ministry of Finance (Japan)" in names(ents, "AGENCY")


def test_dateline_infers_the_country_with_lower_salience(canon: Canonicalizer) -> None:
    title = "Grain exports rise"
    body = "CHICAGO, March 3 - Exports rose. Traders in Lyon and Bonn said France bought."
    _, ents = run(canon, title, body, [("Lyon", "GPE"), ("Bonn", "GPE"), ("France", "GPE")])
    us = by_name(ents, "United States")
    assert us["inferred"] and us["mentions"][0]["text"] == "CHICAGO"
    germany = by_name(ents, "Germany")
    assert germany["inferred"]
    france = by_name(ents, "France")
    assert not france["inferred"]  # named in the text: Lyon adds nothing
    length = len(title) + 2 + len(body)
    as_if_named = salience(length, len(title), us["first_position"], 1, False, False)
    assert us["salience"] == pytest.approx(as_if_named / 2, abs=1e-4)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("SAN SALVADOR (Reuters) - The president spoke.", "El Salvador"),
        ("MOUNTAIN VIEW, Calif., April 8 - Shr 42 cts.", "United States"),
        ("SINGAPORE, March 3 - Rates fell.", "Singapore"),
    ],
)
def test_dateline_forms(canon: Canonicalizer, body: str, expected: str) -> None:
    _, ents = run(canon, "A TITLE IN CAPITALS", body, [])
    country = by_name(ents, expected)
    assert country["type"] == "COUNTRY"
    assert country["inferred"] == (expected != "Singapore")


def test_ner_noise_in_a_capitals_headline_is_dropped(canon: Canonicalizer) -> None:
    title = "TREASURY'S BAKER SAYS DOLLAR STABLE, WHO WARNS"
    body = "Treasury Secretary James Baker said the dollar was stable."
    _, ents = run(
        canon,
        title,
        body,
        [
            ("BAKER SAYS", "PERSON"),
            ("DOLLAR STABLE", "PERSON"),
            ("WHO", "AGENCY", 0, "World Health Organization"),
            ("James Baker", "PERSON"),
        ],
    )
    assert names(ents, "PERSON") == ["James Baker"]
    baker = by_name(ents, "James Baker")
    assert baker["in_title"] and baker["mentions"][0]["text"] == "BAKER"
    assert "World Health Organization" not in names(ents)


def test_same_name_with_two_ner_types_is_one_entity(canon: Canonicalizer) -> None:
    body = "Guantanamo Bay is a base. Guantanamo Bay again. Guantanamo Bay once more."
    _, ents = run(
        canon,
        "",
        body,
        [("Guantanamo Bay", "FAC"), ("Guantanamo Bay", "LOC", 1), ("Guantanamo Bay", "LOC", 2)],
    )
    assert [(e["name"], e["type"], e["count"]) for e in ents] == [("Guantanamo Bay", "LOC", 3)]


def test_lowercase_descriptions_and_numbers_are_not_names(canon: Canonicalizer) -> None:
    body = "The communist party and 30,000 migrants."
    _, ents = run(canon, "", body, [("communist", "NORP"), ("30,000", "CARDINAL")])
    assert ents == []


def test_output_is_ranked_by_salience_with_the_contract_keys(canon: Canonicalizer) -> None:
    title = "Bukele offers prison"
    body = "Nayib Bukele spoke. Later, at the end, Tammy Bruce commented."
    _, ents = run(canon, title, body, [("Nayib Bukele", "PERSON"), ("Tammy Bruce", "PERSON")])
    assert names(ents) == ["Nayib Bukele", "Tammy Bruce"]
    keys = {"name", "type", "count", "salience", "in_title", "first_position", "inferred"}
    assert set(ents[0]) == keys | {"mentions"}
    assert ents[0]["salience"] > ents[1]["salience"]


def test_caps_detection() -> None:
    assert is_caps_text("U.S. TREASURY SAYS DOLLAR STABLE")
    assert not is_caps_text("El Salvador Agrees To Take In Deportees")


def test_a_titled_surname_in_a_capitals_headline_is_a_person(canon: Canonicalizer) -> None:
    _, ents = run(canon, "U.K. CHANCELLOR LAWSON SAYS RATES MAY FALL", "", [])
    assert [(e["name"], e["type"], e["in_title"]) for e in ents] == [("Lawson", "PERSON", True)]
    body = "Treasury Secretary James Baker said the dollar was stable."
    _, ents = run(canon, "TREASURY'S BAKER SEES STABLE DOLLAR", body, [("James Baker", "PERSON")])
    assert by_name(ents, "James Baker")["count"] == 2


@pytest.mark.parametrize(
    ("surface", "name"),
    [
        ("U.S. Trade Representative Clayton Yeutter", "Clayton Yeutter"),
        ("British Chancellor of the Exchequer Nigel Lawson", "Nigel Lawson"),
        ("Bundesbank President Karl Otto Poehl", "Karl Otto Poehl"),
        ("Gov. Ron DeSantis", "Ron DeSantis"),
        ("Jacques de Larosiere", "Jacques de Larosiere"),
        ("Secretary", ""),
    ],
)
def test_titles_countries_and_agencies_before_a_name_are_dropped(surface: str, name: str) -> None:
    gaz = gazetteer()
    start, end = strip_person_title(surface, lambda w: gaz.country(w) or gaz.agency(w))
    assert surface[start:end] == name


def test_a_headline_case_run_of_words_is_not_a_name(canon: Canonicalizer) -> None:
    title = "State Department Weighs Flights as Rubio Courts Central American Allies"
    body = "Secretary of State Marco Rubio told lawmakers about flights to the US."
    _, ents = run(
        canon,
        title,
        body,
        [("Rubio Courts Central American Allies", "ORG"), ("Marco Rubio", "PERSON")],
    )
    assert names(ents) == ["Marco Rubio"]
    assert by_name(ents, "Marco Rubio")["in_title"]


def test_a_short_name_only_in_a_headline_case_title_is_kept(canon: Canonicalizer) -> None:
    title = "Zelensky Meets Pope Leo at Vatican"
    body = "The Ukrainian president met the pontiff on Friday to discuss a peace deal."
    _, ents = run(
        canon,
        title,
        body,
        [("Zelensky Meets", "PERSON"), ("Vatican", "COUNTRY", 0, "VA"), ("Ukrainian", "NORP")],
    )
    people = [(e["name"], e["in_title"]) for e in ents if e["type"] == "PERSON"]
    assert sorted(people) == [("Leo", True), ("Zelensky", True)]
    assert {"Vatican City", "Ukraine"} <= set(names(ents, "COUNTRY"))


def test_a_long_headline_run_is_dropped_but_a_short_org_is_kept(canon: Canonicalizer) -> None:
    title = "Acme Corp Buys Rival as Markets Cheer Big Quarterly Results"
    body = "The company said the deal would close in June."
    _, ents = run(
        canon,
        title,
        body,
        [("Acme Corp", "ORG"), ("Markets Cheer Big Quarterly Results", "ORG")],
    )
    assert names(ents) == ["Acme Corp"]


def test_government_offices_and_dept_forms_are_agencies(canon: Canonicalizer) -> None:
    body = (
        "The Office of Refugee Resettlement (ORR) houses children. ORR said so. "
        "The Dept. of Justice sued, and the Homeland Security secretary spoke. "
        "The Department of Homeland Security agreed. The Post Office and the Box Office shut."
    )
    _, ents = run(
        canon,
        "",
        body,
        [
            ("The Office of Refugee Resettlement", "ORG"),
            ("ORR", "ORG"),
            ("Dept. of Justice", "ORG"),
            ("Homeland Security", "ORG"),
            ("Department of Homeland Security", "ORG"),
            ("Post Office", "ORG"),
            ("Box Office", "ORG"),
        ],
    )
    kinds = {(e["name"], e["type"], e["count"]) for e in ents}
    assert ("Office of Refugee Resettlement", "AGENCY", 2) in kinds
    assert ("Justice Department", "AGENCY", 1) in kinds
    assert ("Department of Homeland Security", "AGENCY", 2) in kinds
    assert {"Post Office", "Box Office"} <= set(names(ents, "ORG"))


def test_a_known_gang_read_as_a_person_is_an_org(canon: Canonicalizer) -> None:
    body = "Venezuelan Tren de Aragua members and Jacques de Larosiere. Tren de Aragua denied it."
    _, ents = run(
        canon,
        "",
        body,
        [
            ("Venezuelan Tren de Aragua", "PERSON"),
            ("Jacques de Larosiere", "PERSON"),
            ("Tren de Aragua", "PERSON", 1),
        ],
    )
    kinds = {(e["name"], e["type"], e["count"]) for e in ents}
    assert {("Tren de Aragua", "ORG", 2), ("Jacques de Larosiere", "PERSON", 1)} <= kinds
    assert "Tren de Aragua" not in names(ents, "PERSON")


@pytest.mark.parametrize("credit", ["Reuters", "AP", "AFP", "Xinhua"])
def test_a_wire_credit_in_the_dateline_is_no_entity(canon: Canonicalizer, credit: str) -> None:
    body = f"SAN SALVADOR ({credit}) - El Salvador's president spoke."
    _, ents = run(
        canon, "Talks", body, [("SAN SALVADOR", "GPE"), (credit, "ORG"), ("El Salvador", "GPE")]
    )
    assert credit not in names(ents)
    assert {"San Salvador", "El Salvador"} <= set(names(ents))


def test_a_later_mention_of_the_agency_still_counts(canon: Canonicalizer) -> None:
    body = "BEIJING (Xinhua) - China grew. Xinhua said so."
    _, ents = run(canon, "", body, [("Xinhua", "ORG"), ("Xinhua", "ORG", 1)])
    assert [(e["name"], e["count"]) for e in ents if e["type"] == "ORG"] == [("Xinhua", 1)]


def test_an_upper_case_dateline_city_gets_the_gazetteer_name() -> None:
    canon = Canonicalizer(
        gazetteer(), {"el paso": "US", "texas": "US"}, STATES, {"el paso": "El Paso"}
    )
    body = "EL PASO, Texas (Reuters) - The wall was extended."
    text = f"Border\n\n{body}"
    ents = canon.entities(text, 6, [span(text, "EL PASO", "GPE"), span(text, "Texas", "GPE")])
    assert "El Paso" in names(ents, "GPE") and "EL PASO" not in names(ents)
    us = by_name(ents, "United States")
    assert us["inferred"] and us["salience"] < by_name(ents, "El Paso")["salience"]


def test_a_surname_two_people_share_is_the_latest_or_unresolved(canon: Canonicalizer) -> None:
    title = "Biden Pardons His Son"
    body = "Hunter Biden appeared in court. His father Joe Biden was away. Biden said nothing."
    _, ents = run(
        canon,
        title,
        body,
        [
            ("Biden", "PERSON"),
            ("Hunter Biden", "PERSON"),
            ("Joe Biden", "PERSON"),
            ("Biden", "PERSON", 3),
        ],
    )
    people = {(e["name"], e["count"], e["in_title"]) for e in ents if e["type"] == "PERSON"}
    # The body's "Biden" follows "Joe Biden"; the headline's precedes both: not merged.
    assert people == {("Hunter Biden", 1, False), ("Joe Biden", 2, False), ("Biden", 1, True)}


def test_a_gang_after_a_demonym_keeps_its_name(canon: Canonicalizer) -> None:
    body = "Salvadoran MS-13 gang members were sent back. MS-13 denied it."
    _, ents = run(canon, "", body, [("Salvadoran MS-13", "GPE"), ("MS-13", "ORG", 1)])
    assert {(e["name"], e["type"], e["count"]) for e in ents} == {
        ("MS-13", "ORG", 2),
        ("El Salvador", "COUNTRY", 1),
    }
