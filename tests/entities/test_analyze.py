"""End to end: analyze_articles on small articles we wrote, the cache, and bad input."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tagger.corpus.article import Article
from tagger.entities import analyze, analyze_articles, chunk_text

PRISON = Article(
    id="prison",
    title="Costa Rica Agrees To Hold Migrants Deported From The US",
    body=(
        "SAN JOSE (Reuters) - Costa Rica President Rodrigo Chaves agreed on Tuesday to hold "
        "migrants deported from the United States, after Secretary of State Marco Rubio "
        "visited him in San Jose.\n\n"
        "Chaves said the offer would help the U.S. and its Department of Homeland Security "
        "(DHS). Rubio thanked Chaves. The State Department confirmed the deal, and "
        "Immigration and Customs Enforcement (ICE) will run the flights. ICE said it was ready.\n\n"
        "Nicaraguan and Venezuelan migrants are among those held, said spokesperson Ana Lopez."
    ),
)
WIRE = Article(
    id="wire",
    title="OPEC OUTPUT STEADY, SAYS SAUDI MINISTER",
    body=(
        "HOUSTON, March 3 - The Organization of Petroleum Exporting Countries kept its output "
        "steady, Saudi Oil Minister Hisham Nazer said. Nazer told the International Monetary "
        "Fund that the West German economy was growing."
    ),
)


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("entity-cache")


@pytest.fixture(scope="module")
def analysed(cache_dir: Path) -> list[list[dict[str, Any]]]:
    return analyze_articles([PRISON, WIRE], cache_dir=cache_dir)


def _get(entities: list[dict[str, Any]], name: str) -> dict[str, Any]:
    matches = [e for e in entities if e["name"] == name]
    assert len(matches) == 1, (name, [(e["name"], e["type"]) for e in entities])
    return matches[0]


def test_people_countries_and_agencies_under_one_name(analysed: list[Any]) -> None:
    ents = analysed[0]
    assert _get(ents, "Marco Rubio")["type"] == "PERSON"
    assert _get(ents, "Marco Rubio")["count"] == 2
    assert _get(ents, "Rodrigo Chaves")["count"] >= 3
    assert _get(ents, "Costa Rica")["type"] == "COUNTRY"
    us = _get(ents, "United States")
    assert us["type"] == "COUNTRY" and us["in_title"] and not us["inferred"]
    assert _get(ents, "State Department")["type"] == "AGENCY"
    assert _get(ents, "Immigration and Customs Enforcement")["count"] == 3
    assert _get(ents, "Department of Homeland Security")["type"] == "AGENCY"
    assert {"Nicaragua", "Venezuela"} <= {e["name"] for e in ents if e["type"] == "COUNTRY"}
    assert not [e for e in ents if e["name"] in ("State", "Rubio", "Chaves")]


def test_offsets_refer_to_article_text_and_output_is_ranked(analysed: list[Any]) -> None:
    for article, ents in zip([PRISON, WIRE], analysed, strict=True):
        text = article.text
        for entity in ents:
            assert entity["count"] == len(entity["mentions"])
            for mention in entity["mentions"]:
                assert text[mention["start"] : mention["end"]] == mention["text"]
            assert entity["first_position"] == entity["mentions"][0]["start"]
        saliences = [e["salience"] for e in ents]
        assert saliences == sorted(saliences, reverse=True)


def test_wire_headline_dateline_and_agencies(analysed: list[Any]) -> None:
    ents = analysed[1]
    opec = _get(ents, "Organization of the Petroleum Exporting Countries")
    assert opec["type"] == "AGENCY" and opec["in_title"]
    assert _get(ents, "International Monetary Fund")["type"] == "AGENCY"
    assert _get(ents, "Hisham Nazer")["count"] == 2
    us = _get(ents, "United States")
    assert us["inferred"] and us["mentions"][0]["text"] == "HOUSTON"
    assert _get(ents, "Saudi Arabia")["type"] == "COUNTRY"
    assert _get(ents, "Germany")["type"] == "COUNTRY"


def test_a_warm_cache_does_not_load_spacy(
    analysed: list[Any], cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(_choice: Any) -> Any:
        raise AssertionError("the pipeline was loaded despite a warm cache")

    monkeypatch.setattr(analyze, "get_analyzer", refuse)
    again = analyze_articles([PRISON, WIRE], cache_dir=cache_dir)
    assert again == analysed
    assert (cache_dir / "entities.sqlite").is_file()


def test_no_cache_analyses_again_and_writes_nothing(tmp_path: Path) -> None:
    calls: list[int] = []
    result = analyze_articles(
        [WIRE],
        cache_dir=tmp_path,
        use_cache=False,
        progress=lambda stage, done, total: calls.append(done),
    )
    assert result[0] and calls[-1] == 1
    assert not (tmp_path / "entities.sqlite").exists()


def test_an_unusable_cache_warns_and_still_analyses(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    warnings: list[str] = []
    result = analyze_articles([WIRE], cache_dir=blocker, warn=warnings.append)
    assert result[0]
    assert any("running without it" in w for w in warnings)


def test_empty_text_gives_no_entities(tmp_path: Path) -> None:
    empty = Article(id="empty", title="", body="   ")
    assert analyze_articles([empty, Article(id="e2")], cache_dir=tmp_path) == [[], []]


def test_chunks_cover_the_text_at_boundaries() -> None:
    text = ("A sentence about Canada. " * 10 + "\n\n") * 50
    chunks = list(chunk_text(text, size=1000))
    assert "".join(c for c, _ in chunks) == text
    assert all(len(c) <= 1000 for c, _ in chunks)
    assert all(text[o : o + len(c)] == c for c, o in chunks)
    assert all(c.endswith("\n\n") for c, _ in chunks[:-1])


def test_a_text_longer_than_spacy_max_length_is_chunked(tmp_path: Path) -> None:
    # A blank pipeline (rules and gazetteers) keeps this fast; the chunking is the same.
    filler = "The weather was calm and the markets were quiet that day. " * 30
    paragraph = "Officials from Canada met the IMF in Ottawa. " + filler + "\n\n"
    body = paragraph * (1_050_000 // len(paragraph) + 1)
    article = Article(id="long", title="Long", body=body)
    result = analyze_articles([article], spacy_model="blank:en", cache_dir=tmp_path)[0]
    canada = next(e for e in result if e["name"] == "Canada")
    assert canada["count"] == body.count("Canada")
    assert canada["mentions"][-1]["start"] > 1_000_000
    imf = next(e for e in result if e["name"] == "International Monetary Fund")
    assert imf["type"] == "AGENCY"


def test_blank_pipeline_warns_once_and_finds_titled_people(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tagger.entities import pipeline

    monkeypatch.setattr(pipeline, "_package_dir", lambda name: None)
    monkeypatch.setattr(analyze, "_WARNED", set())
    monkeypatch.delenv(pipeline.MODEL_ENV, raising=False)
    warnings: list[str] = []
    article = Article(
        id="blank",
        title="Talks in Lima",
        body="President Dina Boluarte met officials from Chile and the World Bank in Lima.",
    )
    ents = analyze_articles([article], cache_dir=tmp_path, warn=warnings.append)[0]
    other = Article(id="blank2", title="More", body="Officials from Peru met in Lima again.")
    analyze_articles([other], cache_dir=tmp_path, warn=warnings.append)
    assert sum("person recall is lower" in w for w in warnings) == 1
    # A new process with a warm cache is told too (without loading any pipeline).
    monkeypatch.setattr(analyze, "_WARNED", set())
    monkeypatch.setattr(analyze, "get_analyzer", lambda _choice: 1 / 0)
    warm: list[str] = []
    assert analyze_articles([article], cache_dir=tmp_path, warn=warm.append)[0] == ents
    assert sum("person recall is lower" in w for w in warm) == 1
    found = {(e["name"], e["type"]) for e in ents}
    assert {("Dina Boluarte", "PERSON"), ("Chile", "COUNTRY"), ("World Bank", "AGENCY")} <= found


def test_audited_cases_end_to_end(tmp_path: Path) -> None:
    articles = [
        Article(
            id="vatican",
            title="Zelensky Meets Pope Leo at Vatican",
            body="The Ukrainian president met the pontiff on Friday to discuss a peace plan.",
        ),
        Article(
            id="agencies",
            title="Agencies",
            body=(
                "EL PASO, Texas (Reuters) - The Department of Homeland Security (DHS) acted. "
                "The Homeland Security secretary spoke. A State Dept. spokesman agreed, and "
                "the State Department added more. The Dept. of Justice sued. The Office of "
                "Refugee Resettlement (ORR) houses children. Tren de Aragua denied it."
            ),
        ),
    ]
    vatican, agencies = analyze_articles(articles, cache_dir=tmp_path, use_cache=False)
    assert {"Zelensky", "Leo"} <= {e["name"] for e in vatican if e["type"] == "PERSON"}
    found = {(e["name"], e["type"]) for e in agencies}
    assert {
        ("Department of Homeland Security", "AGENCY"),
        ("State Department", "AGENCY"),
        ("Justice Department", "AGENCY"),
        ("Office of Refugee Resettlement", "AGENCY"),
        ("Tren de Aragua", "ORG"),
        ("El Paso", "GPE"),
    } <= found
    assert [n for n, _ in found if n in ("Reuters", "EL PASO", "Homeland Security", "Dept.")] == []
    assert sum(n == "Department of Homeland Security" for n, _ in found) == 1
