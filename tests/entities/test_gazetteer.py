"""The gazetteer data files' format and the lookups built from them."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from tagger.entities.gazetteer import (
    AGENCIES_FILE,
    COUNTRIES_FILE,
    ORGANISATION_KINDS,
    ORGANISATIONS_FILE,
    US_STATES_FILE,
    fold,
    gazetteer,
    load_agencies,
    load_countries,
    load_organisations,
    plural_demonyms,
    strip_name,
    us_states,
)
from tagger.errors import ConfigError


def _data_rows(path: Path) -> list[list[str]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line.split("\t") for line in lines if line.strip() and not line.startswith("#")]


def test_countries_file_format() -> None:
    rows = _data_rows(COUNTRIES_FILE)
    assert len(rows) > 150
    for row in rows:
        assert len(row) == 4, row
        code, name, aliases, demonyms = row
        assert code.isupper() and len(code) in (2, 4), row
        assert name.strip() == name and name
        for cell in (aliases, demonyms):
            assert all(part.strip() for part in cell.split("|")) or cell == "", row
    codes = Counter(row[0] for row in rows)
    assert [c for c, n in codes.items() if n > 1] == []


def test_agencies_file_format() -> None:
    rows = _data_rows(AGENCIES_FILE)
    assert len(rows) > 100
    names = Counter(row[0] for row in rows)
    assert [n for n, c in names.items() if c > 1] == []
    acronyms: Counter[str] = Counter()
    for row in rows:
        assert len(row) == 4, row
        _name, jurisdiction, _aliases, acronym_cell = row
        assert jurisdiction == "INT" or (len(jurisdiction) == 2 and jurisdiction.isupper()), row
        for acronym in filter(None, acronym_cell.split("|")):
            acronyms[acronym.rstrip("*")] += 1
    # One acronym, one agency: an ambiguous one (ITC, IWC for two councils) is left out.
    assert [a for a, n in acronyms.items() if n > 1] == []


def test_us_states_file_names_real_states() -> None:
    rows = _data_rows(US_STATES_FILE)
    assert all(len(row) == 2 for row in rows)
    states = us_states()
    assert states[fold("Calif.")] == "US" and states[fold("N.Y.")] == "US"
    assert states[fold("texas")] == "US"


def test_a_malformed_row_is_refused_with_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "countries.tsv"
    bad.write_text("# comment\nFR\tFrance\tLa France\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"countries.tsv:2"):
        load_countries(bad)
    agencies = tmp_path / "agencies.tsv"
    agencies.write_text("Some Agency\tXYZ\t\t\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"agencies.tsv:1: jurisdiction"):
        load_agencies(agencies)


@pytest.mark.parametrize(
    ("form", "code"),
    [
        ("U.S.", "US"),
        ("US", "US"),
        ("America", "US"),
        ("United States of America", "US"),
        ("the United States", "US"),
        ("Salvadoran", "SV"),
        ("Salvadorans", "SV"),
        ("Venezuelan", "VE"),
        ("West Germany", "DE"),
        ("Burma", "MM"),
        ("Japan's", "JP"),
        ("JAPAN", "JP"),
        ("Côte d'Ivoire", "CI"),
        ("Cote d'Ivoire", "CI"),
        ("USSR", "SUHH"),
        ("Haitians", "HT"),
    ],
)
def test_country_forms(form: str, code: str) -> None:
    assert gazetteer().country(form) == code


def test_acronyms_need_capitals_and_demonyms_can_be_turned_off() -> None:
    gaz = gazetteer()
    assert gaz.country("us") is None
    assert gaz.country("Venezuelan", demonyms=False) is None
    assert gaz.country_name("US") == "United States"
    assert gaz.country_name("SUHH") == "Soviet Union"


@pytest.mark.parametrize(
    ("form", "name"),
    [
        ("IMF", "International Monetary Fund"),
        ("the State Department", "State Department"),
        ("Department of State", "State Department"),
        ("U.S. Treasury", "Treasury Department"),
        ("ICE", "Immigration and Customs Enforcement"),
        ("International Labour Organisation", "International Labour Organization"),
        ("Organisation for Economic Co-operation and Development", None),
        ("OECD", "Organization for Economic Cooperation and Development"),
        ("EC Commission", "European Commission"),
        ("U.S. Federal Bureau of Investigation", "Federal Bureau of Investigation"),
        ("State Dept.", "State Department"),
        ("State Dept", "State Department"),
        ("Dept. of Justice", "Justice Department"),
        ("the Homeland Security", "Department of Homeland Security"),
    ],
)
def test_agency_forms(form: str, name: str | None) -> None:
    expected = name or "Organization for Economic Cooperation and Development"
    assert gazetteer().agency(form) == expected


def test_word_acronyms_are_marked() -> None:
    gaz = gazetteer()
    assert "WHO" in gaz.word_acronyms and "ICE" in gaz.word_acronyms
    assert "IMF" not in gaz.word_acronyms
    assert gaz.agency("Ice") is None


def test_strip_name_and_plurals() -> None:
    assert strip_name("the Pentagon's") == "Pentagon"
    assert strip_name("  “Rubio’s”  ") == "Rubio"
    assert plural_demonyms("Salvadoran") == ["Salvadoran", "Salvadorans"]
    assert plural_demonyms("Japanese") == ["Japanese"]
    assert plural_demonyms("Swiss") == ["Swiss"]


def test_ruler_patterns_carry_ids_and_capital_variants() -> None:
    patterns = gazetteer().ruler_patterns()
    agencies = {(p["pattern"], p["id"]) for p in patterns if p["label"] == "AGENCY"}
    assert ("WORLD BANK", "World Bank") in agencies
    assert ("ICE", "Immigration and Customs Enforcement") in agencies
    countries = {(p["pattern"], p["id"]) for p in patterns if p["label"] == "COUNTRY"}
    assert ("EL SALVADOR", "SV") in countries and ("U.S.", "US") in countries
    # acronyms are not upper-cased copies of words: no pattern "US" from "us"
    assert all(p["pattern"] != "Us" for p in patterns)


def test_organisations_file_format(tmp_path: Path) -> None:
    rows = _data_rows(ORGANISATIONS_FILE)
    assert len(rows) >= 10
    assert all(len(row) == 3 and row[1] in ORGANISATION_KINDS for row in rows), rows
    assert Counter(row[0] for row in rows).most_common(1)[0][1] == 1
    gaz = gazetteer()
    assert gaz.organisation("the Tren de Aragua") == "Tren de Aragua"
    assert gaz.organisation("Mara Salvatrucha") == "MS-13"
    assert gaz.organisation("Jacques de Larosiere") is None
    bad = tmp_path / "organisations.tsv"
    bad.write_text("Some Gang\tclub\t\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"organisations.tsv:1: kind"):
        load_organisations(bad)
