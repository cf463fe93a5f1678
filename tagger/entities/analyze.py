"""analyze_articles: cached, chunked entity analysis of many articles."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from tagger.entities.cache import AnalysisCache, cache_key, default_cache_dir
from tagger.entities.canonical import Canonicalizer, RawSpan
from tagger.entities.gazetteer import (
    data_fingerprint,
    gazetteer,
    place_names,
    places,
    us_states,
)
from tagger.entities.pipeline import RULES_VERSION, PipelineChoice, choose_pipeline, load_pipeline

Progress = Callable[[str, int, int], None]
Warn = Callable[[str], None]

CHUNK_CHARS = 20_000  # longer texts are cut at paragraph or sentence ends (the
# EntityRuler checks each match against every entity of a doc: keep docs short)
BATCH_CHARS = 300_000
CACHE_BATCH = 256
MAX_TOKEN_CHARS = 200
_LONG_TOKEN = re.compile(rf"\S{{{MAX_TOKEN_CHARS + 1},}}")

_ANALYZERS: dict[str, Analyzer] = {}
_WARNED: set[str] = set()


class Analyzer:
    """A loaded pipeline and the canonicalizer: texts in, entity lists out (no cache)."""

    def __init__(self, choice: PipelineChoice) -> None:
        self.choice = choice
        self.gazetteer = gazetteer()
        self.nlp = load_pipeline(choice, self.gazetteer)
        self.canonicalizer = Canonicalizer(self.gazetteer, places(), us_states(), place_names())

    def analyze(
        self,
        texts: Sequence[str],
        title_ends: Sequence[int],
        on_done: Callable[[int, list[dict[str, Any]]], None] | None = None,
    ) -> list[list[dict[str, Any]]]:
        """Entity lists for texts; `on_done(index, entities)` is called as each one is ready."""
        results: list[list[dict[str, Any]]] = [[] for _ in texts]
        pending: dict[int, list[RawSpan]] = {}
        remaining = {i: len(chunks) for i, chunks in _all_chunks(texts)}

        def finish(index: int) -> None:
            spans = pending.pop(index, [])
            entities = self.canonicalizer.entities(texts[index], title_ends[index], spans)
            results[index] = entities
            if on_done is not None:
                on_done(index, entities)

        for index, count in remaining.items():
            if count == 0:
                finish(index)
        work = (
            (mask_long_tokens(chunk), (i, offset))
            for i, chunks in _all_chunks(texts)
            for chunk, offset in chunks
        )
        # Batches of about BATCH_CHARS characters: NER's activations for a batch of long
        # chunks would take gigabytes (256 chunks of 20,000 characters).
        chunks = sum(remaining.values())
        mean = sum(len(t) for t in texts) / chunks if chunks else 1
        batch_size = max(1, min(self.nlp.batch_size, int(BATCH_CHARS // max(mean, 1))))
        for doc, (index, offset) in self.nlp.pipe(work, as_tuples=True, batch_size=batch_size):
            spans = pending.setdefault(index, [])
            spans.extend(
                RawSpan(e.start_char + offset, e.end_char + offset, e.label_, e.ent_id_)
                for e in doc.ents
            )
            remaining[index] -= 1
            if remaining[index] == 0:
                finish(index)
        return results


def _all_chunks(texts: Sequence[str]) -> Iterator[tuple[int, list[tuple[str, int]]]]:
    for i, text in enumerate(texts):
        yield i, list(chunk_text(text)) if text.strip() else []


def mask_long_tokens(text: str, limit: int = MAX_TOKEN_CHARS) -> str:
    """The text with every run of more than `limit` non-space characters blanked out (same
    length, so offsets hold): no name is that long, and spaCy's tokenizer takes time
    quadratic in a token's length when it peels punctuation off it ("((((...")."""
    if len(text) <= limit:
        return text
    return _LONG_TOKEN.sub(lambda m: " " * len(m.group(0)), text)


def chunk_text(text: str, size: int = CHUNK_CHARS) -> Iterator[tuple[str, int]]:
    """(chunk, offset) pieces of at most `size` characters, cut at a paragraph, line,
    sentence or word end where one is near."""
    start = 0
    while len(text) - start > size:
        window = text[start : start + size]
        cut = -1
        for separator in ("\n\n", "\n", ". ", " "):
            found = window.rfind(separator, size // 2)
            if found != -1:
                cut = found + len(separator)
                break
        if cut <= 0:
            cut = size
        yield text[start : start + cut], start
        start += cut
    if start < len(text):
        yield text[start:], start


def pipeline_identity(choice: PipelineChoice) -> str:
    return f"{choice.identity}|rules-{RULES_VERSION}|data-{data_fingerprint()}"


def get_analyzer(choice: PipelineChoice) -> Analyzer:
    """One loaded pipeline per process and choice."""
    key = f"{choice.name}|{choice.path}"
    if key not in _ANALYZERS:
        _ANALYZERS[key] = Analyzer(choice)
    return _ANALYZERS[key]


def title_end(article: Any) -> int:
    """Where the title ends in Article.text (0 when there is no title)."""
    return len(article.title) if article.title else 0


def analyze_articles(
    articles: Sequence[Any],
    *,
    spacy_model: str | None = None,
    progress: Progress | None = None,
    warn: Warn | None = None,
    cache_dir: str | Path | None = None,
    use_cache: bool = True,
) -> list[list[dict[str, Any]]]:
    """Ranked canonical entities of each article (offsets refer to Article.text).

    Analyses are cached in SQLite under `cache_dir` ($TAGGER_CACHE_DIR or ~/.cache/tagger)
    by text hash and pipeline identity; spaCy is loaded only for texts not in the cache.
    """
    articles = list(articles)
    texts = [a.text for a in articles]
    ends = [title_end(a) for a in articles]
    total = len(articles)
    report = progress or (lambda _stage, _done, _total: None)
    choice = choose_pipeline(spacy_model)
    identity = pipeline_identity(choice)
    results: list[list[dict[str, Any]] | None] = [None] * total
    keys = [cache_key(identity, text) for text in texts]
    cache = None
    if use_cache:
        cache = AnalysisCache(Path(cache_dir) if cache_dir else default_cache_dir(), warn)
        hits = cache.get_many(keys)
        for i, key in enumerate(keys):
            hit = hits.get(key)
            if isinstance(hit, dict) and isinstance(hit.get("entities"), list):
                results[i] = hit["entities"]
    for i, text in enumerate(texts):
        if results[i] is None and not text.strip():
            results[i] = []
    missing = [i for i in range(total) if results[i] is None]
    # The warning goes with every use of the results, cached or not: the pipeline choice
    # is known without loading spaCy. (Languages are told apart by tagger.language.)
    if choice.warning and warn is not None and choice.warning not in _WARNED:
        _WARNED.add(choice.warning)  # once per process, however many calls
        warn(choice.warning)
    done = total - len(missing)
    report("entities", done, total)
    if missing:
        analyzer = get_analyzer(choice)
        batch: list[tuple[str, dict[str, Any]]] = []

        def on_done(position: int, entities: list[dict[str, Any]]) -> None:
            nonlocal done
            index = missing[position]
            results[index] = entities
            done += 1
            report("entities", done, total)
            if cache is not None:
                batch.append((keys[index], {"entities": entities}))
                if len(batch) >= CACHE_BATCH:
                    cache.put_many(batch)
                    batch.clear()

        analyzer.analyze([texts[i] for i in missing], [ends[i] for i in missing], on_done)
        if cache is not None and batch:
            cache.put_many(batch)
    if cache is not None:
        cache.close()
    return [r if r is not None else [] for r in results]
