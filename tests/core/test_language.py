"""Language identification (tagger.language): a code in the output, a warning only when the
article is surely not English. The articles below are written for these tests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tagger.cli import app
from tagger.corpus.article import Article
from tagger.language import UNDETERMINED, identify, identify_articles

ES = Article(
    id="es",
    title="El Gobierno aprueba la reforma de las pensiones",
    body=(
        "El Gobierno aprobó este martes en Madrid una reforma de las pensiones que, según el "
        "ministro, garantizará el poder adquisitivo de los jubilados durante la próxima "
        "década. La oposición criticó que la medida se haya negociado sin los sindicatos."
    ),
)
FR = Article(
    id="fr",
    title="Un projet de loi pour les petites entreprises",
    body=(
        "Le gouvernement a présenté mercredi à Paris un projet de loi destiné à simplifier "
        "les démarches des petites entreprises. Selon la ministre, les nouvelles règles "
        "entreront en vigueur dès l'automne, mais plusieurs syndicats dénoncent un texte "
        "rédigé à la hâte."
    ),
)
DE = Article(
    id="de",
    title="Land will Ausbau der Windkraft beschleunigen",
    body=(
        "Die Landesregierung hat am Montag in Stuttgart einen Plan vorgestellt, mit dem der "
        "Ausbau der Windkraft beschleunigt werden soll. Der Minister sagte, die "
        "Genehmigungen sollten künftig in wenigen Monaten erteilt werden."
    ),
)
# English wire copy that a count of English function words took for another language:
# an earnings table, a headline in capitals, a two-line story.
EN_TABLE = Article(
    id="en-table",
    title="NORTHFIELD TOOLWORKS INC <NFTW> 2ND QTR NET",
    body=(
        "DAYTON, Ohio, May 3 - Shr 41 cts vs 37 cts\n\nNet 2,118,000 vs 1,904,000\n\n"
        "Revs 31.6 mln vs 28.2 mln\n\nSix mths\n\nShr 80 cts vs 71 cts\n\n"
        "Net 4,090,000 vs 3,662,000\n\nRevs 60.9 mln vs 55.0 mln"
    ),
)
EN_CAPS = Article(
    id="en-caps",
    title="HARBOUR BANK CUTS PRIME RATE TO 7-1/2 PCT FROM 7-3/4 PCT",
    body="HARBOUR BANK CUTS PRIME RATE, EFFECTIVE TOMORROW, CITING LOWER MONEY MARKET RATES",
)
EN_SHORT = Article(
    id="en-short",
    title="Copper stocks fall",
    body="LME copper stocks fell 2,150 tonnes to 96,300 tonnes, traders said.",
)
FOREIGN = [ES, FR, DE]
ENGLISH = [EN_TABLE, EN_CAPS, EN_SHORT]


@pytest.mark.parametrize("article", FOREIGN, ids=lambda a: a.id)
def test_spanish_french_and_german_news_is_identified_and_flagged(article: Article) -> None:
    language = identify(article.text)
    assert language.code == article.id
    assert language.foreign
    assert language.confidence > 0.9
    # one sentence is enough
    first = identify(article.body.split(". ")[0])
    assert first.code == article.id and first.foreign


@pytest.mark.parametrize("article", ENGLISH, ids=lambda a: a.id)
def test_english_wire_copy_is_english_and_never_flagged(article: Article) -> None:
    language = identify(article.text)
    assert language.code == "en"
    assert not language.foreign


def test_too_little_text_is_undetermined_and_never_flagged() -> None:
    for text in ("", "Ja.", "12,345 vs 11,210", "Sí, señor"):
        language = identify(text)
        assert language.code == UNDETERMINED and not language.foreign
        assert language.to_dict() == {"code": "und", "confidence": 0.0}


def test_warnings_name_only_the_foreign_articles_and_stop_after_five() -> None:
    languages, warnings = identify_articles([*ENGLISH, *FOREIGN])
    assert [lang.code for lang in languages] == ["en", "en", "en", "es", "fr", "de"]
    assert [w.split("'")[1] for w in warnings] == ["es", "fr", "de"]
    assert all("not 'en'" in w for w in warnings)
    many = [Article(id=f"fr{i}", title=FR.title, body=FR.body) for i in range(7)]
    _languages, warnings = identify_articles(many)
    assert len(warnings) == 6 and warnings[-1] == "2 more article(s) not in 'en'"


def test_entities_output_has_the_language_and_warns_once_per_foreign_article() -> None:
    from tagger.pipeline import EntityOptions, run_entities

    warnings: list[str] = []
    options = EntityOptions(spacy_model="blank:en", use_cache=False)
    records = [
        r
        for batch in run_entities([*ENGLISH, *FOREIGN], options, warn=warnings.append)
        for r in batch
    ]
    assert [r.to_dict()["language"]["code"] for r in records] == [
        "en",
        "en",
        "en",
        "es",
        "fr",
        "de",
    ]
    foreign = [w for w in warnings if "entities and tags may be poor" in w]
    assert sorted(w.split("'")[1] for w in foreign) == ["de", "es", "fr"]


def test_predict_json_has_the_language_and_english_wire_copy_gives_no_warning(
    tiny_model: Path, tmp_path: Path
) -> None:
    corpus = tmp_path / "in.jsonl"
    corpus.write_text(
        "".join(
            json.dumps({"id": a.id, "title": a.title, "body": a.body}) + "\n"
            for a in [*ENGLISH, ES]
        ),
        encoding="utf-8",
    )
    args = ["predict", "-m", str(tiny_model), str(corpus), "-F", "jsonl", "--no-entities"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(r["id"], r["language"]["code"]) for r in rows] == [
        ("en-table", "en"),
        ("en-caps", "en"),
        ("en-short", "en"),
        ("es", "es"),
    ]
    assert "article 'es' is in 'es'" in result.stderr
    assert "en-table" not in result.stderr and "does not look like English" not in result.stderr


# -- the vectorised scorer (tagger.language.BatchScorer) against py3langid's own answer ---

MIXED = [
    *(a.text for a in [*FOREIGN, *ENGLISH]),
    "",
    "a",
    "Ja.",
    "12,345 vs 11,210\n\n9.8 pct",
    "ALL CAPITALS HEADLINE ABOUT THE CENTRAL BANK AND THE PRIME RATE",
    "Ελληνικά νέα: η κυβέρνηση ανακοίνωσε νέα μέτρα για την οικονομία.",
    "Правительство объявило о новых мерах поддержки экономики в понедельник.",
    "政府は月曜日に経済対策を発表した。中国经济增长放缓。",
    "السلطات أعلنت عن إجراءات جديدة لدعم الاقتصاد",
    "Straße, Niño, façade, naïve: accents and \u017flong s, \u212aelvin, "
    "emoji \U0001f600 \u00a0nbsp",
    "x" * 3000 + " the long tail is cut at the sample length",
    "Mostly English text.\nPOURQUOI CETTE LIGNE EST EN CAPITALES\nand more English after it.",
]


def _rank_reference(text: str) -> tuple[str, float, bool]:
    """The decision made one text at a time with py3langid's `rank` (the code before)."""
    from tagger import language

    sample = language._sample(text)
    if sum(map(str.isalpha, sample)) < language.MIN_LETTERS:
        return UNDETERMINED, 0.0, False
    found = dict(language.load_identifier().rank(sample))
    found["en"] *= language.PRIOR_ODDS
    total = sum(found.values())
    found = {code: p / total for code, p in found.items()}
    code = max(found, key=found.__getitem__)
    foreign = code not in ("en", language.NO_LANGUAGE) and found["en"] < language.FOREIGN_BELOW
    return code, found[code], foreign


def test_batch_identification_equals_py3langid_one_text_at_a_time() -> None:
    from tagger.language import identify_texts, probabilities

    batch = identify_texts(MIXED)
    for text, language in zip(MIXED, batch, strict=True):
        code, confidence, foreign = _rank_reference(text)
        assert (language.code, language.foreign) == (code, foreign), text[:40]
        assert language.confidence == pytest.approx(confidence, abs=1e-5)
        alone = identify(text)  # alone or in a batch: the same answer
        assert (alone.code, alone.foreign) == (language.code, language.foreign)
        assert alone.confidence == pytest.approx(language.confidence, abs=1e-12)
        found = probabilities(text)
        assert (max(found, key=found.__getitem__) if found else UNDETERMINED) == code


def test_vectorised_automaton_states_equal_py3langid_walk() -> None:
    from tagger.language import batch_scorer, load_identifier

    scorer = batch_scorer()
    assert scorer.vectorised  # the construction's self-check passed
    encoded = [load_identifier()._encode(text) for text in MIXED]
    states, owner = scorer._walk(encoded)
    assert np.array_equal(scorer._states(encoded), states)
    assert np.array_equal(owner, np.repeat(np.arange(len(MIXED)), [len(e) for e in encoded]))


def test_the_walk_fallback_scores_as_the_vectorised_pass() -> None:
    from tagger.language import BatchScorer, load_identifier

    vectorised = BatchScorer(load_identifier())
    walked = BatchScorer(load_identifier())
    walked.vectorised = False
    texts = [t for t in MIXED if t]
    assert np.allclose(vectorised.probabilities(texts), walked.probabilities(texts), atol=1e-6)
