"""The one pipeline runner: batches of Articles through every stage, in flat memory.

```
articles (any iterator) ──▶ batches ──▶ analyze ──▶ featurize ──▶ classify ──▶ results
                                        (entities,   (sparse X)    (Suggestions)  (one list
                                         cached,                                    per batch)
                                         if needed)
```

Every entry point calls this module: `tagger predict|entities|evaluate|corpus import`, the
HTTP server, `review`, `learn`, `Tagger.predict/evaluate` and the engines. Only
`plan_entities` decides whether entities are extracted. (`corpus import --jobs` runs its
readers through `run`, with input files as the items: `tagger.corpus.importer`.)

The API, smallest first:

- `iter_batches(articles, size)`: lists of at most `size` articles, read lazily.
- `plan_entities(model, wanted, ...)`: the entity decision (an `EntityPlan`).
- `PredictStage`, `EntityStage`: picklable callables, one batch in, one `BatchResult` out;
  `setup()` loads what they need (spaCy) once per process.
- `run(stage, articles, jobs=...)`: yields one `BatchResult` per batch, in input order,
  in this process (`jobs=1`) or in `jobs` worker processes with a bounded number of
  batches in flight (memory stays flat, output identical to `jobs=1`).
- `run_predict(model, articles, options)`, `run_entities(articles, options)`: the stages
  run; each yields the results of one batch at a time.
- `run_evaluate(model, articles, options)`: keeps only counts (see `tagger.evaluate`).

Warnings raised inside a stage travel with the batch's results (workers cannot print), and
the caller's `warn` sees each distinct message once.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from tagger.corpus.article import Article
from tagger.errors import ConfigError

if TYPE_CHECKING:
    from tagger.api import Tagger
    from tagger.suggestions import Suggestions

DEFAULT_BATCH = 256  # articles per batch: the unit of work, of output and of memory
IN_FLIGHT_PER_JOB = 2  # batches queued or running per worker process
HELD_PER_JOB = 4  # batches in memory per worker process, done ones included (--jobs bound)

Warn = Callable[[str], None]
EntityLists = list[list[dict[str, Any]]]
R = TypeVar("R")
_Item = TypeVar("_Item")


def iter_batches(articles: Iterable[_Item], size: int = DEFAULT_BATCH) -> Iterator[list[_Item]]:
    """Lists of at most `size` articles (or other items), taken only as each is needed."""
    if size < 1:
        raise ConfigError(f"batch size must be at least 1, got {size}")
    iterator = iter(articles)
    while batch := list(islice(iterator, size)):
        yield batch


def resolve_jobs(jobs: int) -> int:
    """--jobs: N worker processes; as in scikit-learn and joblib, -1 means every core this
    process may use, -2 all but one, and so on (at least one)."""
    if jobs == 0:
        raise ConfigError("--jobs must be a positive number, or -1 for all cores (-2: all but one)")
    if jobs < 0:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        return max(1, (cores or 1) + 1 + jobs)
    return jobs


def once(warn: Warn | None) -> Warn:
    """`warn`, but each distinct message only the first time (batches repeat them)."""
    seen: set[str] = set()

    def tell(message: str) -> None:
        if warn is not None and message not in seen:
            seen.add(message)
            warn(message)

    return tell


# -- analyze: the one entity decision ----------------------------------------------------


@dataclass(frozen=True)
class EntityPlan:
    """Whether and how a run extracts entities (decided once, by `plan_entities`)."""

    extract: bool
    spacy_model: str | None = None
    use_cache: bool = True


NO_ENTITIES = EntityPlan(False)


def plan_entities(
    model: Tagger | None,
    wanted: bool | None,
    spacy_model: str | None = None,
    *,
    use_cache: bool = True,
    warn: Warn | None = None,
) -> EntityPlan:
    """Decide whether entities are extracted, with which spaCy pipeline.

    `wanted`: True (extract), False (none) or None (only when the model was trained with
    entity features). A model with entity features is refused without them (its scores
    would be skewed); it is given the spaCy pipeline recorded in its manifest unless
    `spacy_model` names another (with a warning: scores may shift).
    """
    needed = bool(model is not None and model.featurizer.uses_entities)
    if wanted is None:
        wanted = needed
    if not wanted:
        if needed:
            raise ConfigError(
                "this model was trained with entity features (train --entities): "
                "without entities its scores would be skewed; predict with entities"
            )
        return NO_ENTITIES
    recorded = model.spacy_model if model is not None else None
    chosen = spacy_model or recorded
    if needed and recorded and chosen != recorded and warn is not None:
        warn(
            f"the model's entity features were made with spaCy pipeline "
            f"{recorded!r}, not {chosen!r}: scores may shift"
        )
    return EntityPlan(True, chosen, use_cache)


def analyze(
    articles: Sequence[Article],
    plan: EntityPlan,
    warn: Warn | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> EntityLists | None:
    """The analyze stage: each article's ranked entities (through the cache), or None."""
    if not plan.extract:
        return None
    from tagger.entities import analyze_articles

    return analyze_articles(
        articles,
        spacy_model=plan.spacy_model,
        use_cache=plan.use_cache,
        warn=warn,
        progress=progress,
    )


def warm_up(plan: EntityPlan) -> None:
    """Load the language identifier and the spaCy pipeline now (once per process) rather
    than with the first batch."""
    from tagger.language import batch_scorer

    batch_scorer()  # the identifier and its vectorised scorer
    if plan.extract:
        from tagger.entities.analyze import get_analyzer
        from tagger.entities.pipeline import choose_pipeline

        get_analyzer(choose_pipeline(plan.spacy_model))


# -- stages: one batch in, one result out (picklable, for worker processes) ---------------


@dataclass
class BatchResult(Generic[R]):
    """What one batch gave: its results (in input order) and the warnings raised on the way."""

    items: list[R]
    articles: int
    warnings: list[str] = field(default_factory=list)


@dataclass
class PredictOptions:
    """How `run_predict` works: batch size, processes, entities and what is returned."""

    batch_size: int = DEFAULT_BATCH
    jobs: int = 1
    top_k: int = 5
    explain: bool = True
    n_evidence: int = 5
    entities: bool | None = None  # True, False, None: only if the model needs them
    spacy_model: str | None = None
    use_cache: bool = True


class PredictStage:
    """analyze -> featurize -> classify for one batch; returns its Suggestions."""

    def __init__(self, model: Tagger, plan: EntityPlan, options: PredictOptions) -> None:
        self.model = model
        self.plan = plan
        self.options = options

    def setup(self) -> None:
        warm_up(self.plan)

    def __call__(self, batch: list[Article]) -> BatchResult[Suggestions]:
        from tagger.language import identify_articles
        from tagger.predict import suggest

        languages, warnings = identify_articles(batch)
        entities = analyze(batch, self.plan, warnings.append)
        items = suggest(
            self.model,
            batch,
            entities,
            top_k=self.options.top_k,
            explain=self.options.explain,
            n_evidence=self.options.n_evidence,
            warn=warnings.append,
        )
        for item, language in zip(items, languages, strict=True):
            item.language = language.to_dict()
        return BatchResult(items, len(batch), warnings)


@dataclass
class EntityOptions:
    """How `run_entities` works: batch size, processes, pipeline, which entities are kept."""

    batch_size: int = DEFAULT_BATCH
    jobs: int = 1
    spacy_model: str | None = None
    use_cache: bool = True
    types: tuple[str, ...] | None = None  # None keeps every type
    inferred: bool = True  # keep countries inferred from places


@dataclass
class EntityRecord:
    """One article's entities, as `tagger entities` writes them."""

    id: str
    title: str
    entities: list[dict[str, Any]]
    body: str = ""  # the body's first line when there is no title (a table's heading)
    language: dict[str, Any] | None = None  # {"code": "en", "confidence": 0.99}

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "title": self.title}
        if self.language is not None:
            data["language"] = self.language
        return data | {"entities": self.entities}


class EntityStage:
    """analyze for one batch; returns each article's (selected) entities."""

    def __init__(self, options: EntityOptions) -> None:
        self.options = options
        self.plan = plan_entities(None, True, options.spacy_model, use_cache=options.use_cache)

    def setup(self) -> None:
        warm_up(self.plan)

    def __call__(self, batch: list[Article]) -> BatchResult[EntityRecord]:
        from tagger.entities.render import heading, select
        from tagger.language import identify_articles

        languages, warnings = identify_articles(batch)
        lists = analyze(batch, self.plan, warnings.append) or [[] for _ in batch]
        items = [
            EntityRecord(
                a.id,
                a.title,
                select(ents, self.options.types, self.options.inferred),
                "" if a.title else heading(a),
                language.to_dict(),
            )
            for a, ents, language in zip(batch, lists, languages, strict=True)
        ]
        return BatchResult(items, len(batch), warnings)


# -- the runner ---------------------------------------------------------------------------

_WORKER_STAGE: Any = None


def _init_worker(stage: Any) -> None:
    """Worker process start: keep the stage (model unpickled once) and load spaCy once."""
    import signal

    global _WORKER_STAGE
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl+C and stops us
    _WORKER_STAGE = stage
    _setup(stage)


def _setup(stage: Any) -> None:
    """Call the stage's `setup` (what it loads once per process), if it has one."""
    setup = getattr(stage, "setup", None)
    if setup is not None:
        setup()


def _run_in_worker(batch: list[Any]) -> Any:
    return _WORKER_STAGE(batch)


def run(
    stage: Callable[[list[_Item]], BatchResult[R]],
    articles: Iterable[_Item],
    *,
    batch_size: int = DEFAULT_BATCH,
    jobs: int = 1,
    warn: Warn | None = None,
) -> Iterator[BatchResult[R]]:
    """Run `stage` over `articles` batch by batch; yields each batch's result in input order.

    The items are usually Articles; `corpus import` gives input files (`ReadUnit`s).

    With `jobs` > 1, batches go to that many worker processes (spawned; each unpickles the
    stage once and calls its `setup`), at most `IN_FLIGHT_PER_JOB * jobs` at a time, so
    memory does not grow with the input. Results are the same objects as with `jobs=1`.
    Stage warnings are passed to `warn`, each distinct message once.
    """
    jobs = resolve_jobs(jobs)
    batches = iter_batches(articles, batch_size)
    tell = once(warn)

    def passed_on(result: BatchResult[R]) -> BatchResult[R]:
        for message in result.warnings:
            tell(message)
        return result

    if jobs == 1:
        _setup(stage)
        for batch in batches:
            yield passed_on(stage(batch))
        return
    yield from (passed_on(r) for r in _run_parallel(stage, batches, jobs))


def _run_parallel(stage: Any, batches: Iterator[list[Any]], jobs: int) -> Iterator[Any]:
    """Results in input order, while workers never wait for a slow batch ahead of theirs:
    a new batch is sent as soon as any is done (at most `IN_FLIGHT_PER_JOB * jobs` queued
    or running), and finished results wait for the earlier ones up to `HELD_PER_JOB * jobs`
    batches in all (the memory bound)."""
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait

    context = multiprocessing.get_context("spawn")  # no fork of a threaded parent
    executor = ProcessPoolExecutor(
        max_workers=jobs, mp_context=context, initializer=_init_worker, initargs=(stage,)
    )
    pending: deque[Future[Any]] = deque()
    running = IN_FLIGHT_PER_JOB * jobs
    held = HELD_PER_JOB * jobs
    try:
        for batch in batches:
            pending.append(executor.submit(_run_in_worker, batch))
            while pending:
                if pending[0].done():
                    yield pending.popleft().result()
                    continue
                busy = [f for f in pending if not f.done()]
                if len(busy) < running and len(pending) < held:
                    break  # room for another batch
                wait(busy, return_when=FIRST_COMPLETED)
        while pending:
            yield pending.popleft().result()
    finally:
        for future in pending:
            future.cancel()
        executor.shutdown(wait=True, cancel_futures=True)


def run_predict(
    model: Tagger,
    articles: Iterable[Article],
    options: PredictOptions | None = None,
    *,
    warn: Warn | None = None,
) -> Iterator[list[Suggestions]]:
    """Suggestions for `articles`, one list per batch, in input order (see `run`)."""
    options = options or PredictOptions()
    plan = plan_entities(
        model, options.entities, options.spacy_model, use_cache=options.use_cache, warn=warn
    )
    stage = PredictStage(model, plan, options)
    for result in run(stage, articles, batch_size=options.batch_size, jobs=options.jobs, warn=warn):
        yield result.items


def run_entities(
    articles: Iterable[Article], options: EntityOptions | None = None, *, warn: Warn | None = None
) -> Iterator[list[EntityRecord]]:
    """Each article's ranked entities, one list per batch, in input order (see `run`)."""
    options = options or EntityOptions()
    stage = EntityStage(options)
    for result in run(stage, articles, batch_size=options.batch_size, jobs=options.jobs, warn=warn):
        yield result.items


def run_evaluate(
    model: Tagger,
    articles: Iterable[Article],
    *,
    entities: bool | None = None,
    spacy_model: str | None = None,
    use_cache: bool = True,
    batch_size: int = DEFAULT_BATCH,
    warn: Warn | None = None,
    figures: bool = False,
) -> dict[str, Any]:
    """The evaluation report of `model` on labeled `articles`, keeping only counts
    (with `figures`, also score histograms: the report's "figures", tagger.report)."""
    from tagger.evaluate import Evaluation

    tell = once(warn)
    plan = plan_entities(model, entities, spacy_model, use_cache=use_cache, warn=tell)
    evaluation = Evaluation(model, figures=figures)
    for batch in iter_batches(articles, batch_size):
        lists = analyze(batch, plan, tell)
        evaluation.add(batch, model.featurizer.transform(batch, lists))
    return evaluation.report()
