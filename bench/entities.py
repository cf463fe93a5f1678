"""Entities on Reuters-21578 ModApte test: tagger against raw spaCy, and the sample page.

    python bench/entities.py ../shared/data/reuters21578 [--sample FILE] [--limit N]
    python bench/entities.py ../shared/data/reuters21578 --models   # tag model with/without

Per article, the canonical entities tagger extracts are compared with the PLACES (COUNTRY),
PEOPLE (PERSON) and ORGS (AGENCY) labels; raw spaCy GPE / PERSON / ORG strings are the
reference, matched by the same mapping: a string matches a label when it is one of the
label's names (the label, its full name from cat-descriptions_120396.txt and the gazetteer
aliases of that name); a person matches when the label's surname is a word of the name
(the PEOPLE labels are surnames), words normalised by the bench itself (no tagger code), the
same for tagger's names and raw spaCy's strings. Rules are studied on the ModApte training
articles (--part train, the development part); the figures reported are those of the test part.
Speed: analyze_articles without cache (cold) against a bare nlp.pipe with only NER, on the
same texts in the same run; then with the cache warm.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
import unicodedata
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import print_rows, save_results, timer

from tagger.corpus.readers import modapte_split, read_corpus
from tagger.entities import analyze_articles
from tagger.entities.gazetteer import fold, gazetteer
from tagger.entities.pipeline import NOT_FOR_NER, choose_pipeline


def full_names(path: Path) -> dict[str, str]:
    """Label code (lower case) -> long name, from cat-descriptions_120396.txt."""
    names: dict[str, str] = {}
    text = path.read_text(encoding="latin-1")
    for match in re.finditer(r"([^\n(]*?[A-Za-z][^\n(]*?)\s*\(([A-Z][A-Z0-9.-]*)\)", text):
        long_form = " ".join(match.group(1).replace("@*", "").split())
        names.setdefault(match.group(2).lower(), long_form)
    return names


class LabelMatcher:
    """Which extracted strings a Reuters label stands for."""

    def __init__(self, descriptions: dict[str, str]) -> None:
        self.gaz = gazetteer()
        self.descriptions = descriptions

    def country_names(self, label: str) -> set[str]:
        names = {fold(label.replace("-", " "))}
        for form in (label.replace("-", " "), label.upper(), label.replace("-", " ").title()):
            code = self.gaz.country(form, demonyms=False)
            if code:
                country = self.gaz.countries[code]
                names |= {fold(f) for f in country.forms} | {fold(country.name)}
                names |= {f for f in country.forms if f.isupper()}
                break
        return names

    def org_names(self, label: str) -> set[str]:
        long_form = self.descriptions.get(label, "")
        names = {fold(label), fold(long_form), label.upper()}
        agency = self.gaz.agency(long_form) or self.gaz.agency(label.upper().split("-")[0])
        if agency:
            entry = self.gaz.agencies[agency]
            names |= {fold(f) for f in entry.forms} | set(entry.acronyms + entry.word_acronyms)
        return names

    def person(self, label: str) -> str:
        """The surname a PEOPLE label stands for ('james-baker' -> 'baker')."""
        words = plain_words(label.split("-")[-1])
        return words[-1] if words else label


def plain_words(text: str) -> list[str]:
    """Lower-case words of letters, accents dropped: the scoring's own normalisation, so
    that no rule of tagger's (its name folding) decides what counts as a match."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    return re.findall(r"[a-z]+", text)


def person_matches(name: str, surname: str) -> bool:
    """A person matches a PEOPLE label when the label's surname ('james-baker': baker) is a
    word of the name: scored alike for tagger's names and raw spaCy's PERSON strings
    (which may hold a headline verb: 'VOLCKER SAYS')."""
    return surname in plain_words(name)


def score(predicted: list[list[str]], gold: list[list[Any]], match: Any) -> dict[str, float | int]:
    """Micro precision, recall and F1 over articles."""
    n_pred = n_gold = tp_pred = tp_gold = 0
    for preds, labels in zip(predicted, gold, strict=True):
        preds = list(dict.fromkeys(preds))
        n_pred += len(preds)
        n_gold += len(labels)
        tp_pred += sum(1 for p in preds if any(match(p, g) for g in labels))
        tp_gold += sum(1 for g in labels if any(match(p, g) for p in preds))
    precision = tp_pred / n_pred if n_pred else 0.0
    recall = tp_gold / n_gold if n_gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "gold": n_gold, "pred": n_pred}


def name_match(names_of: Any) -> Any:
    def match(predicted: str, label: str) -> bool:
        names = names_of(label)
        return fold(predicted) in names or predicted in names

    return match


def bare_pipeline(model: str | None) -> Any:
    """The same spaCy pipeline with only NER, nothing of tagger's."""
    import spacy

    choice = choose_pipeline(model)
    nlp = spacy.load(choice.path, exclude=list(NOT_FOR_NER))
    if "tok2vec" in nlp.pipe_names:
        nlp.remove_pipe("tok2vec")
    return nlp


class Clock:
    """Wall and CPU seconds of this process (CPU time is robust to a shared machine)."""

    def __init__(self) -> None:
        self.wall = self.cpu = 0.0

    def __enter__(self) -> Clock:
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.wall += time.perf_counter() - self._wall
        self.cpu += time.process_time() - self._cpu


def reuters(args: argparse.Namespace) -> dict[str, Any]:
    folder = Path(args.reuters)
    train, test = modapte_split(read_corpus([folder], "reuters"))
    if args.part == "train":
        test = train  # the development part: rules are studied here, figures reported on test
    if args.limit:
        test = test[: args.limit]
    descriptions = full_names(folder / "cat-descriptions_120396.txt")
    matcher = LabelMatcher(descriptions)
    texts = [a.text for a in test]
    words = sum(len(t.split()) for t in texts)
    print(f"ModApte {args.part}: {len(test)} articles, {words} words")

    # Both sides warmed up (pipelines loaded), then measured on the same blocks of texts,
    # alternating which goes first, so that load from other processes hits both alike.
    with Clock() as load:
        nlp = bare_pipeline(args.spacy_model)
        list(nlp.pipe(texts[:20]))
        analyze_articles(test[:20], spacy_model=args.spacy_model, use_cache=False)
    bare, ours_clock = Clock(), Clock()
    raw: list[list[tuple[str, str]]] = []
    ours: list[list[dict[str, Any]]] = []
    size = max(1, len(test) // args.blocks)
    for number, first in enumerate(range(0, len(test), size)):
        block = test[first : first + size]
        block_raw: list[list[tuple[str, str]]] = []
        block_ours: list[list[dict[str, Any]]] = []

        def run_bare(block: list[Any] = block, out: list[Any] = block_raw) -> None:
            with bare:
                out.extend(
                    [(e.text, e.label_) for e in d.ents] for d in nlp.pipe(a.text for a in block)
                )

        def run_ours(block: list[Any] = block, out: list[Any] = block_ours) -> None:
            with ours_clock:
                out.extend(analyze_articles(block, spacy_model=args.spacy_model, use_cache=False))

        for step in (run_bare, run_ours) if number % 2 == 0 else (run_ours, run_bare):
            step()
        raw.extend(block_raw)
        ours.extend(block_ours)
    fill_seconds = warm_seconds = float("nan")
    if not args.no_cache_check:
        with tempfile.TemporaryDirectory() as cache:
            with timer() as elapsed:
                analyze_articles(test, spacy_model=args.spacy_model, cache_dir=cache)
            fill_seconds = elapsed()
            with timer() as elapsed:
                warm = analyze_articles(test, spacy_model=args.spacy_model, cache_dir=cache)
            warm_seconds = elapsed()
        assert warm == ours, "the cache returned other entities than a fresh analysis"

    places = [a.meta.get("places", []) for a in test]
    people = [[matcher.person(p) for p in a.meta.get("people", [])] for a in test]
    orgs = [a.meta.get("orgs", []) for a in test]

    def of(kind: str, keep_inferred: bool = True, min_salience: float = 0.0) -> list[list[str]]:
        return [
            [
                e["name"]
                for e in ents
                if e["type"] == kind
                and (keep_inferred or not e["inferred"])
                and e["salience"] >= min_salience
            ]
            for ents in ours
        ]

    def raw_of(label: str) -> list[list[str]]:
        return [[t for t, lab in ents if lab == label] for ents in raw]

    country = name_match(matcher.country_names)
    agency = name_match(matcher.org_names)

    def person(p: str, g: str) -> bool:
        return person_matches(p, g)

    results: dict[str, Any] = {
        "articles": len(test),
        "words": words,
        "COUNTRY": {
            "tagger_mentioned": score(of("COUNTRY", keep_inferred=False), places, country),
            "tagger_with_inferred": score(of("COUNTRY"), places, country),
            "spacy_gpe": score(raw_of("GPE"), places, country),
        },
        "PERSON": {
            "tagger": score(of("PERSON"), people, person),
            "spacy_person": score(raw_of("PERSON"), people, person),
        },
        "AGENCY": {
            "tagger": score(of("AGENCY"), orgs, agency),
            "spacy_org": score(raw_of("ORG"), orgs, agency),
        },
        "speed": {
            "blocks": args.blocks,
            "bare_ner_seconds": {"wall": bare.wall, "cpu": bare.cpu},
            "tagger_seconds": {"wall": ours_clock.wall, "cpu": ours_clock.cpu},
            "bare_words_per_second": {"wall": words / bare.wall, "cpu": words / bare.cpu},
            "tagger_words_per_second": {
                "wall": words / ours_clock.wall,
                "cpu": words / ours_clock.cpu,
            },
            "ratio_tagger_to_bare": {
                "wall": bare.wall / ours_clock.wall,
                "cpu": bare.cpu / ours_clock.cpu,
            },
            "load_seconds_both": load.wall,
            "cache_fill_seconds": fill_seconds,
            "cache_warm_seconds": warm_seconds,
            "warm_speedup_over_cold": fill_seconds / warm_seconds,
        },
    }
    for threshold in (0.2, 0.3):
        results["COUNTRY"][f"tagger_salience>={threshold}"] = score(
            of("COUNTRY", min_salience=threshold), places, country
        )
    rows = [("type", "system", "precision", "recall", "F1", "gold", "predicted")]
    for kind in ("COUNTRY", "PERSON", "AGENCY"):
        for system, s in results[kind].items():
            rows.append(
                (
                    kind,
                    system,
                    f"{s['precision']:.3f}",
                    f"{s['recall']:.3f}",
                    f"{s['f1']:.3f}",
                    str(s["gold"]),
                    str(s["pred"]),
                )
            )
    print_rows(rows)
    people_scores = results["PERSON"]
    print(
        f"PERSON recall, same run: tagger {people_scores['tagger']['recall']:.3f}, raw spaCy "
        f"{people_scores['spacy_person']['recall']:.3f}"
    )
    speed = results["speed"]
    ratio = speed["ratio_tagger_to_bare"]
    print(
        f"speed, words/s (wall | cpu): bare nlp.pipe NER only "
        f"{words / bare.wall:.0f} | {words / bare.cpu:.0f}; tagger "
        f"{words / ours_clock.wall:.0f} | {words / ours_clock.cpu:.0f}; ratio "
        f"{ratio['wall']:.2f}x | {ratio['cpu']:.2f}x (pipelines loaded in {load.wall:.1f}s)"
    )
    print(
        f"cache: cold with writes {fill_seconds:.1f}s, warm {warm_seconds:.2f}s: "
        f"{speed['warm_speedup_over_cold']:.0f}x faster"
    )
    if args.misses:
        _show_misses(test, ours, places, people, orgs, country, person, agency, args.misses)
    return results


def _show_misses(test, ours, places, people, orgs, country, person, agency, n) -> None:  # type: ignore[no-untyped-def]
    missed: dict[str, Any] = defaultdict(int)
    for ents, pl, pe, og in zip(ours, places, people, orgs, strict=True):
        names = defaultdict(list)
        for e in ents:
            names[e["type"]].append(e["name"])
        for g in pl:
            if not any(country(p, g) for p in names["COUNTRY"]):
                missed[("COUNTRY", g)] += 1
        for g in pe:
            if not any(person(p, g) for p in names["PERSON"]):
                missed[("PERSON", g)] += 1
        for g in og:
            if not any(agency(p, g) for p in names["AGENCY"]):
                missed[("AGENCY", g)] += 1
    for key, count in sorted(missed.items(), key=lambda kv: -kv[1])[:n]:
        print("missed", key, count)


SAMPLE_PEOPLE = [
    "Nayib Bukele",
    "Marco Rubio",
    "Donald Trump",
    "Joe Biden",
    "Tammy Bruce",
    "Jose Ibarra",
    "Laken Riley",
    "Jocelyn Nungaray",
]
SAMPLE_COUNTRIES = [
    "El Salvador",
    "United States",
    "Venezuela",
    "Colombia",
    "Panama",
    "China",
    "Cuba",
    "Haiti",
    "Mexico",
]
SAMPLE_AGENCIES = ["the State Department", "Immigration and Customs Enforcement"]


def sample(path: Path, spacy_model: str | None) -> dict[str, Any]:
    """The scraped page, cleaned by tagger.corpus.textdump, and the expected entities."""
    from tagger.corpus.article import Article
    from tagger.corpus.textdump import clean_dump

    dump = clean_dump(path.read_text(encoding="utf-8"))
    article = Article(id=path.stem, title=dump.title, body=dump.body)
    with tempfile.TemporaryDirectory() as cache:
        entities = analyze_articles([article], spacy_model=spacy_model, cache_dir=cache)[0]
    gaz = gazetteer()
    expected = (
        [("PERSON", n) for n in SAMPLE_PEOPLE]
        + [("COUNTRY", n) for n in SAMPLE_COUNTRIES]
        + [("AGENCY", gaz.agency(n) or n) for n in SAMPLE_AGENCIES]
    )
    got = [(e["type"], e["name"]) for e in entities]
    missing = [x for x in expected if x not in got]
    duplicates = [x for x in set(got) if got.count(x) > 1]
    body_start = len(article.title) + 2
    boiler = re.compile(r"Latest|Trending|Login|Copyright|IJR|Subscribe|Privacy|Password")
    from_boilerplate = [e["name"] for e in entities if boiler.search(e["name"])]
    print(f"sample page {path.name}: {len(entities)} entities, title {article.title[:60]!r}")
    for e in entities:
        if e["type"] in ("PERSON", "COUNTRY", "AGENCY"):
            print(
                f"  {e['type']:8} {e['name']:40} count {e['count']:2}  salience "
                f"{e['salience']:.3f}{'  inferred' if e['inferred'] else ''}"
            )
    primary = ("PERSON", "COUNTRY", "AGENCY")
    others = [f"{e['name']} ({e['type']})" for e in entities if e["type"] not in primary]
    print("  secondary: " + ", ".join(others)[:600])
    print(f"  expected found: {len(expected) - len(missing)}/{len(expected)}; missing: {missing}")
    print(f"  duplicates: {duplicates}; boilerplate-like names: {from_boilerplate}")
    return {
        "entities": entities,
        "missing": missing,
        "duplicates": duplicates,
        "boilerplate": from_boilerplate,
        "body_start": body_start,
    }


def models(args: argparse.Namespace) -> dict[str, Any]:
    """Tag (and section) models with and without entity features, entities cached.

    Reuters ModApte-90 tags, or with --corpus a JSONL corpus split 80/20 by id hash."""
    from tagger.api import Tagger, TrainConfig

    if args.corpus:
        import hashlib

        articles = list(read_corpus([args.corpus], "auto"))

        def held_out(a: Any) -> bool:
            return int(hashlib.sha1(a.id.encode()).hexdigest(), 16) % 5 == 0

        train = [a for a in articles if not held_out(a)]
        test = [a for a in articles if held_out(a)]
    else:
        from common import modapte_90

        train, test, _labels = modapte_90(args.reuters)
    if args.limit:
        train, test = train[: args.limit * 3], test[: args.limit]
    cache = args.cache_dir
    with timer() as elapsed:
        ents_train = analyze_articles(train, spacy_model=args.spacy_model, cache_dir=cache)
        ents_test = analyze_articles(test, spacy_model=args.spacy_model, cache_dir=cache)
    print(f"entities for {len(train)} + {len(test)} articles in {elapsed():.0f}s")
    out: dict[str, Any] = {}
    for weight in [0.0, *args.weights]:
        config = TrainConfig.from_file(args.config) if args.config else TrainConfig()
        config.features.entity_weight = weight
        with timer() as elapsed:
            model = Tagger.train(train, config, entities=ents_train if weight else None)
        seconds = elapsed()
        report = model.evaluate(test, entities=ents_test if weight else None)
        line = f"entity_weight {weight}:"
        out[str(weight)] = {"train_seconds": seconds}
        if "tags" in report:
            tags = report["tags"]
            out[str(weight)]["tags"] = {k: v for k, v in tags.items() if k != "per_label"}
            line += (
                f" tags micro-F1 {tags['micro_f1']:.4f}, macro-F1 {tags['macro_f1']:.4f}, "
                f"P@1 {tags['p_at_1']:.4f};"
            )
        if "sections" in report:
            sections = report["sections"]
            out[str(weight)]["sections"] = {k: v for k, v in sections.items() if k != "per_label"}
            line += (
                f" sections accuracy {sections['accuracy']:.4f}, "
                f"macro-F1 {sections['macro_f1']:.4f};"
            )
        print(f"{line} train {seconds:.0f}s")
        if weight == 0.0 and any(a.tags for a in test):
            out["entity_tag_suggestions"] = suggested_tags(model, test, ents_test)
    return out


def suggested_tags(model: Any, test: list[Any], entities: list[Any]) -> dict[str, Any]:
    """Micro P/R/F1 of the tags `predict` suggests, without and with entity-based tags."""
    result = {}
    for name, ents in (("model_only", None), ("with_entity_tags", entities)):
        suggestions = model.predict(test, explain=False, entities=ents)
        tp = n_pred = n_gold = 0
        for article, suggestion in zip(test, suggestions, strict=True):
            predicted = {t.label for t in suggestion.tags}
            gold = set(article.tags)
            tp += len(predicted & gold)
            n_pred += len(predicted)
            n_gold += len(gold)
        precision = tp / n_pred if n_pred else 0.0
        recall = tp / n_gold if n_gold else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        result[name] = {"precision": precision, "recall": recall, "f1": f1}
        print(f"  predict tags, {name}: micro P {precision:.4f} R {recall:.4f} F1 {f1:.4f}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("reuters", help="folder with reut2-*.sgm(.gz)")
    parser.add_argument("--sample", type=Path, help="the scraped sample page")
    parser.add_argument("--spacy-model", default=None)
    parser.add_argument("--limit", type=int, default=0, help="only the first N test articles")
    parser.add_argument("--blocks", type=int, default=6, help="speed: alternating blocks")
    parser.add_argument("--misses", type=int, default=0, help="show the N most missed labels")
    parser.add_argument(
        "--part",
        choices=("test", "train"),
        default="test",
        help="ModApte part: test (reported) or train (the development part rules are studied on)",
    )
    parser.add_argument(
        "--no-cache-check", action="store_true", help="skip the cold/warm cache runs (speed)"
    )
    parser.add_argument("--models", action="store_true", help="tag model with/without entities")
    parser.add_argument("--weights", type=float, nargs="*", default=[0.5, 1.0])
    parser.add_argument("--config", type=Path, help="training config for --models")
    parser.add_argument("--corpus", type=Path, help="--models on this JSONL corpus (80/20)")
    parser.add_argument("--cache-dir", default=None, help="entity cache for --models")
    args = parser.parse_args()
    results: dict[str, Any] = {}
    if args.models:
        results["models"] = models(args)
        name = f"entities_models_{args.corpus.stem}" if args.corpus else "entities_models"
        save_results(name, results)
        return
    if args.sample:
        results["sample"] = sample(args.sample, args.spacy_model)
    results["reuters"] = reuters(args)
    print(f"wrote {save_results('entities', results)}")


if __name__ == "__main__":
    main()
