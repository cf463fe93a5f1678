"""The `tagger` command line: thin wrappers over the Python API.

Heavy libraries (scikit-learn, spaCy, trafilatura) are imported inside the
commands so that `tagger --help` starts instantly.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import closing
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from tagger.engines.options import (
    ClusterOption,
    Engine,
    EngineOption,
    GzipOption,
    OutDirOption,
    ResumeOption,
    run_from_cli,
    wants_engine,
)
from tagger.errors import EXIT_FAILED, EXIT_REFUSED, TaggerError

# Newer typer ships its own copy of click (and click itself may not be installed):
# take the exception classes from typer so that usage errors and exits pass through.
_CLICK_ERRORS = tuple(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")


class _TaggerGroup(TyperGroup):
    """Turns errors into one line on stderr and an exit code, for every command; lists
    commands in the workflow's order; reads old option spellings and list options
    (tagger.cli_rules)."""

    def list_commands(self, ctx: Any) -> list[str]:
        from tagger.cli_rules import workflow_order

        return workflow_order(super().list_commands(ctx))

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        from tagger.cli_rules import rewrite_args

        name, command, rest = super().resolve_command(ctx, args)
        if command is None or name is None:
            return name, command, rest
        return name, command, rewrite_args(ctx, command, name, rest)

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except TaggerError as exc:
            _print_error(str(exc))
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            _print_error("interrupted")
            raise typer.Exit(130) from None
        except (*_CLICK_ERRORS, typer.Exit, typer.Abort):
            raise
        except BrokenPipeError:
            # The reader of our output went away (`tagger predict ... | head`): not an error.
            _silence_stdout()
            raise typer.Exit(0) from None
        except OSError as exc:
            from tagger.writers import WRITE_FAILURES

            where = f"{exc.filename}: " if exc.filename else ""
            failed = exc.errno in WRITE_FAILURES  # a full disk: ran, but could not finish
            _print_error(f"{where}{'cannot write: ' if failed else ''}{exc.strerror or exc}")
            raise typer.Exit(EXIT_FAILED if failed else EXIT_REFUSED) from None
        except Exception as exc:
            if os.environ.get("TAGGER_DEBUG"):
                raise
            _print_error(
                f"internal error: {type(exc).__name__}: {exc} (TAGGER_DEBUG=1 shows the traceback)"
            )
            raise typer.Exit(EXIT_FAILED) from None


app = typer.Typer(
    cls=_TaggerGroup,
    name="tagger",
    help="Suggest sections, tags and entities for news articles.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        from tagger import __version__

        typer.echo(f"tagger {__version__}")
        raise typer.Exit(0)


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option("--version", is_eager=True, callback=_version, help="Print the version."),
    ] = False,
) -> None:
    """Suggest sections, tags and entities for news articles."""


corpus_app = typer.Typer(help="Read, import, inspect and clean corpora.", no_args_is_help=True)
app.add_typer(corpus_app, name="corpus")
from tagger.commands.vocab import vocab_app  # noqa: E402  (light: typer only)

app.add_typer(vocab_app, name="vocab")
from tagger.commands.bundle import bundle_app  # noqa: E402  (light: typer only)

app.add_typer(bundle_app, name="bundle")
from tagger.commands.cache import cache_app  # noqa: E402  (light: typer only)

app.add_typer(cache_app, name="cache")
from tagger.commands.tags import tags_app  # noqa: E402  (light: typer only)

app.add_typer(tags_app, name="tags")
from tagger.commands.models import models_app  # noqa: E402  (light: typer only)

app.add_typer(models_app, name="models")
from tagger.commands.queue import queue_app  # noqa: E402  (light: typer only)

app.add_typer(queue_app, name="queue")


class InputFormat(str, Enum):
    auto = "auto"
    jsonl = "jsonl"
    csv = "csv"
    folders = "folders"
    reuters = "reuters"
    html = "html"
    text = "text"


class OutputFormat(str, Enum):
    table = "table"
    json = "json"
    jsonl = "jsonl"


Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="Only errors and results.")]
Strict = Annotated[
    bool, typer.Option("--strict", help="Fail (exit 1) when any input record is skipped.")
]
FormatOption = Annotated[
    InputFormat,
    typer.Option("--input-format", "-f", help="Input format; auto detects by name."),
]
SpacyModel = Annotated[
    str | None,
    typer.Option("--spacy-model", help="Installed spaCy pipeline (name or folder) to use."),
]
NoCache = Annotated[
    bool, typer.Option("--no-cache", help="Do not read or write the entity analysis cache.")
]

Jobs = Annotated[
    int,
    typer.Option("--jobs", "-j", help="Worker processes (-1: all cores); same output as 1."),
]
BatchSize = Annotated[
    int, typer.Option("--batch-size", min=1, help="Articles per batch (output is flushed each).")
]

CsvColumns = Annotated[
    list[str] | None,
    typer.Option(
        "--csv-column", metavar="FIELD=COLUMN", help="CSV input: map a column to a field."
    ),
]


def _stream(
    paths: list[str],
    fmt: InputFormat,
    console: Any,
    *,
    source: str | None = None,
    csv_columns: list[str] | None = None,
) -> tuple[Iterator[Any], Any]:
    """Articles from paths (or '-' for stdin) as they are read, and the read report
    (complete once the articles are exhausted); skips are reported as they happen."""
    from tagger.corpus.readers import ReadOptions, ReadReport, read_inputs

    options = ReadOptions(source=source, csv_columns=_parse_columns(csv_columns or []))
    report = ReadReport(on_skip=console.skip)
    # '-' reads stdin as a stream, in its place among the inputs, in --input-format
    return read_inputs(paths, fmt.value, report, options), report


def _read(
    paths: list[str],
    fmt: InputFormat,
    console: Any,
    *,
    source: str | None = None,
    csv_columns: list[str] | None = None,
) -> tuple[list[Any], Any]:
    """Read all articles from paths (or '-' for stdin), reporting skips as they happen."""
    articles, report = _stream(paths, fmt, console, source=source, csv_columns=csv_columns)
    return list(articles), report


def _parse_columns(pairs: list[str]) -> dict[str, str]:
    from tagger.corpus.readers import CSV_DEFAULT_COLUMNS
    from tagger.errors import ConfigError

    columns = {}
    for pair in pairs:
        field, sep, column = pair.partition("=")
        if not sep or not field or not column:
            raise ConfigError(f"--csv-column expects FIELD=COLUMN, got {pair!r}")
        if field.strip() not in CSV_DEFAULT_COLUMNS:
            known = ", ".join(CSV_DEFAULT_COLUMNS)
            raise ConfigError(f"--csv-column: unknown field {field.strip()!r}; one of {known}")
        columns[field.strip()] = column.strip()
    return columns


def _finish_read(report: Any, console: Any, strict: bool) -> None:
    console.report(report)
    if strict and report.skipped:
        error = TaggerError(f"{len(report.skipped)} record(s) skipped and --strict was given")
        error.exit_code = EXIT_FAILED  # done, but with failures the user asked to be strict about
        raise error


class _Failed(TaggerError):
    """The command ran but produced nothing usable (exit 1)."""

    exit_code = EXIT_FAILED


def _require_articles(articles: list[Any], paths: list[str], purpose: str) -> None:
    """Refuse (exit 2) an input that gave no article, naming what was read."""
    if not articles:
        from tagger.errors import InputError

        where = ", ".join("<stdin>" if p == "-" else p for p in paths)
        raise InputError(f"{where}: no article {purpose}")


@app.command()
def train(
    corpus: Annotated[list[str], typer.Argument(help="Corpus files or folders.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Bundle folder to write.")],
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="TOML or JSON training config.")
    ] = None,
    seed: Annotated[int | None, typer.Option(min=0, help="Random seed (overrides config).")] = None,
    min_precision: Annotated[
        float | None,
        typer.Option("--min-precision", help="Tune each tag for this precision, not best F1."),
    ] = None,
    name: Annotated[str | None, typer.Option(help="Model name in the manifest.")] = None,
    holdout: Annotated[
        float | None,
        typer.Option(
            "--holdout",
            help="Hold out this fraction (near-duplicates kept together), train on the rest "
            "and evaluate on it.",
        ),
    ] = None,
    split_by_date: Annotated[
        bool,
        typer.Option("--split-by-date", help="Hold out the newest articles (default 0.2)."),
    ] = False,
    with_entities: Annotated[
        bool,
        typer.Option("--entities", help="Add entity features (canonical names and types; cached)."),
    ] = False,
    spacy_model: SpacyModel = None,
    no_cache: NoCache = False,
    vocab: Annotated[
        Path | None,
        typer.Option("--vocab", help="Vocabulary (tagger vocab import): tags become concepts."),
    ] = None,
    unmatched: Annotated[
        str, typer.Option("--unmatched", help="Tags outside --vocab: keep, drop or fail.")
    ] = "keep",
    renames: Annotated[
        Path | None,
        typer.Option("--renames", help="Tag rename map (tagger tags merge) to apply first."),
    ] = None,
    policy: Annotated[
        Path | None,
        typer.Option(
            "--policy", help="Precision policy (TOML): targets per tag or vocabulary branch."
        ),
    ] = None,
    input_format: FormatOption = InputFormat.auto,
    csv_column: CsvColumns = None,
    out_of_core: Annotated[
        bool | None,
        typer.Option(
            "--out-of-core/--in-memory",
            help="Stream the corpus instead of reading it into memory (default: streamed "
            "above 1 GB of input files).",
        ),
    ] = None,
    strict: Strict = False,
    quiet: Quiet = False,
) -> None:
    """Train section and tag models on a labeled corpus and save them as a bundle."""
    from tagger.api import Tagger, TrainConfig
    from tagger.console import Console
    from tagger.errors import ConfigError

    console = Console(quiet)
    cfg = TrainConfig.from_file(config) if config else TrainConfig()
    if seed is not None:
        cfg.seed = seed
    if min_precision is not None:
        if not 0 < min_precision <= 1:
            raise ConfigError("--min-precision must be in (0, 1]")
        cfg.tags.min_precision = min_precision
    if policy is not None:
        from tagger.policy import load_policy

        cfg.tags.policy = load_policy(policy).to_dict()
    cfg.name = name or (cfg.name if config else out.name)
    from tagger.model_bundle import check_save_target

    check_save_target(out)
    if out_of_core is None and "out_of_core" in cfg.stream:  # the flags win over the file
        out_of_core = bool(cfg.stream["out_of_core"])
    if out_of_core is None:
        out_of_core = _large_input(corpus)
        if out_of_core:
            console.info("input over 1 GB: training out of core (--in-memory to read it all)")
    if out_of_core:
        refused = {
            "--holdout": holdout is not None,
            "--split-by-date": split_by_date,
            "--entities": with_entities,
            "--vocab": vocab is not None,
            "a precision policy": bool(cfg.tags.policy),
            "--renames": renames is not None,
            "'-' (standard input)": "-" in corpus,
        }
        for option, given in refused.items():
            if given:
                raise ConfigError(f"{option} cannot be used with --out-of-core")
        _train_out_of_core(corpus, out, cfg, input_format, csv_column, strict, console)
        return
    from tagger.vocab.cli_support import prepare_vocabulary, record_vocabulary

    prepared = prepare_vocabulary(vocab, unmatched, renames)
    articles, report = _read(corpus, input_format, console, csv_columns=csv_column)
    _finish_read(report, console, strict)
    _require_articles(articles, corpus, "to train on")
    prepared.apply(articles, console)
    from tagger.corpus.split import split_for_training

    articles, held_out, groups = split_for_training(
        articles, holdout, split_by_date, cfg.seed, console.info
    )
    if with_entities and cfg.features.entity_weight <= 0:
        cfg.features.entity_weight = 0.3  # the least harmful weight in bench/entities.py
    from tagger.pipeline import analyze, plan_entities

    plan = plan_entities(None, cfg.features.entity_weight > 0, spacy_model, use_cache=not no_cache)
    with console.progress() as progress:
        entity_lists = analyze(articles, plan, console.warn, progress=progress)
    with console.progress() as progress:
        model = Tagger.train(
            articles,
            cfg,
            progress=progress,
            groups=groups,
            entities=entity_lists,
            spacy_model=spacy_model,
            vocabulary=prepared.vocab,
        )
    for warning in model.warnings:
        console.warn(warning)
    record_vocabulary(model, prepared)
    manifest = model.save(out)
    _print_train_summary(manifest, console)
    _note_version(model, out, console)
    if held_out:
        from tagger.pipeline import run_evaluate
        from tagger.render import render_evaluation

        result = run_evaluate(
            model, held_out, spacy_model=spacy_model, use_cache=not no_cache, warn=console.warn
        )
        render_evaluation(result, console)
    console.info(f"saved bundle {model.path or out} (model id {manifest['model_id']})")


def _large_input(paths: list[str]) -> bool:
    """Whether the corpus files add up to more than the out-of-core threshold."""
    from tagger.stream_train import AUTO_OUT_OF_CORE_BYTES

    total = 0
    for raw in paths:
        path = Path(raw)
        try:
            if path.is_dir():
                total += sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
            elif path.is_file():
                total += path.stat().st_size
        except OSError:
            continue
    return total > AUTO_OUT_OF_CORE_BYTES


def _train_out_of_core(
    corpus: list[str],
    out: Path,
    cfg: Any,
    input_format: InputFormat,
    csv_column: list[str] | None,
    strict: bool,
    console: Any,
) -> None:
    """`tagger train --out-of-core`: stream the corpus (tagger.stream_train)."""
    from tagger.corpus.readers import ReadOptions, ReadReport, read_inputs
    from tagger.labels import normalise_label_stream
    from tagger.stream_train import StreamConfig, train_streaming

    options = ReadOptions(csv_columns=_parse_columns(csv_column or []))
    seen: set[str] = set()

    def first_skip(item: Any) -> None:
        seen.add(str(item))
        console.skip(item)

    def later_skip(item: Any) -> None:  # an input that changed since the first pass
        if str(item) not in seen:
            console.skip(item)

    first = ReadReport(on_skip=first_skip)
    passes = [0]

    def source() -> Any:
        # Skipped records are reported on the first pass only; later passes read the same
        # (one that does not fails the run: stream_train.CorpusChanged), and a skip they
        # meet that the first did not is reported with it.
        report = first if passes[0] == 0 else ReadReport(on_skip=later_skip)
        passes[0] += 1
        return normalise_label_stream(read_inputs(corpus, input_format.value, report, options))

    with console.progress() as progress:
        model = train_streaming(source, cfg, StreamConfig.from_dict(cfg.stream), progress=progress)
    _finish_read(first, console, strict)
    for warning in model.warnings:
        console.warn(warning)
    manifest = model.save(out)
    _print_train_summary(manifest, console)
    _note_version(model, out, console)
    held = manifest["corpus"].get("held_out_for_calibration")
    calibration = f"{held} held out for calibration" if held else "calibrated on out-of-fold scores"
    articles = manifest["corpus"]["articles"]
    console.info(f"trained out of core on {articles} articles ({calibration})")
    console.info(f"saved bundle {model.path or out} (model id {manifest['model_id']})")


def _note_version(model: Any, out: Path, console: Any) -> None:
    if model.version is not None:
        console.info(
            f"saved as {out}/{model.version}, not promoted "
            f"(`tagger models promote {out} {model.version}` makes it current)"
        )


def _print_train_summary(manifest: dict[str, Any], console: Any) -> None:
    metrics = manifest.get("metrics") or {}
    sections, tags = metrics.get("sections"), metrics.get("tags")
    labels = manifest.get("labels", {})
    if sections:
        console.info(
            f"sections ({len(labels.get('sections', []))}): cross-validated accuracy "
            f"{sections['accuracy']:.3f}, macro-F1 {sections['macro_f1']:.3f}"
        )
    if tags:
        console.info(
            f"tags ({len(labels.get('tags', []))}): cross-validated micro-F1 "
            f"{tags['micro_f1']:.3f}, macro-F1 {tags['macro_f1']:.3f}, P@1 {tags['p_at_1']:.3f}"
        )


@app.command()
def predict(
    inputs: Annotated[list[str], typer.Argument(help="Files, folders, JSONL, or - for stdin.")],
    model: Annotated[Path, typer.Option("--model", "-m", help="Bundle folder.")],
    output: Annotated[
        OutputFormat, typer.Option("--output-format", "-F", help="Output format.")
    ] = OutputFormat.table,
    top_k: Annotated[int, typer.Option("--top-k", "-k", min=1, help="Candidates to show.")] = 5,
    explain: Annotated[bool, typer.Option("--explain", help="Show the evidence.")] = False,
    entities: Annotated[
        bool, typer.Option("--entities/--no-entities", help="Extract named entities.")
    ] = True,
    spacy_model: SpacyModel = None,
    no_cache: NoCache = False,
    input_format: Annotated[
        InputFormat, typer.Option("--input-format", "-f", help="Input format.")
    ] = InputFormat.auto,
    csv_column: CsvColumns = None,
    expand_broader: Annotated[
        bool,
        typer.Option("--expand-broader", help="Add the broader concepts of suggested tags."),
    ] = False,
    vocab: Annotated[
        Path | None,
        typer.Option("--vocab", help="Check against this vocabulary (default: the model's)."),
    ] = None,
    jobs: Jobs = 1,
    batch_size: BatchSize = 256,
    renames: Annotated[
        Path | None, typer.Option("--renames", help="Tag rename map (tagger tags merge).")
    ] = None,
    strict: Strict = False,
    quiet: Quiet = False,
    engine: EngineOption = Engine.local,
    cluster: ClusterOption = None,
    out_dir: OutDirOption = None,
    resume: ResumeOption = False,
    gzip_parts: GzipOption = False,
) -> None:
    """Suggest a section, tags and entities for articles (streamed: written batch by batch)."""
    from tagger.api import Tagger
    from tagger.console import Console
    from tagger.pipeline import PredictOptions, run_predict
    from tagger.render import suggestion_writer

    if wants_engine(engine, cluster, out_dir, resume):
        options = {"top_k": top_k, "entities": entities, "spacy_model": spacy_model}
        options.update(use_cache=not no_cache, csv_columns=_parse_columns(csv_column or []))
        options.update(expand_broader=expand_broader, vocab=str(vocab.resolve()) if vocab else None)
        options.update(renames=str(renames.resolve()) if renames else None)
        return run_from_cli(
            "predict",
            inputs,
            engine=engine,
            cluster=cluster,
            out_dir=out_dir,
            resume=resume,
            gzip_parts=gzip_parts,
            model=model,
            options=options,
            input_format=input_format.value,
            strict=strict,
            jobs=jobs,
            quiet=quiet,
        )
    console = Console(quiet)
    tagger_model = Tagger.load(model)
    from tagger.vocab.cli_support import prediction_vocabulary

    vocab_state = prediction_vocabulary(tagger_model, vocab, expand_broader, renames)
    articles, report = _stream(inputs, input_format, console, csv_columns=csv_column)
    options = PredictOptions(
        batch_size=batch_size,
        jobs=jobs,
        top_k=top_k,
        explain=True,  # JSON output keeps the evidence; tables show it with --explain
        entities=entities,
        spacy_model=spacy_model,
        use_cache=not no_cache,
    )
    batches = run_predict(tagger_model, articles, options, warn=console.warn)
    if expand_broader and vocab_state is not None:
        from tagger.vocab.training import expand_broader as add_broader

        batches = _each_batch(batches, lambda batch: add_broader(vocab_state, batch))
    writer = suggestion_writer(output.value, console, explain=explain)
    written = _write_batches(batches, writer, console, "predict")
    _close_run(written, report, console, strict, inputs, "to predict")


def _each_batch(batches: Iterator[list[Any]], step: Any) -> Iterator[list[Any]]:
    """Apply `step` (which changes a batch in place) to each batch as it passes."""
    with closing(batches):
        for batch in batches:
            step(batch)
            yield batch


def _write_batches(
    batches: Iterator[list[Any]], writer: Any, console: Any, description: str
) -> tuple[int, float]:
    """Write each batch as it comes (flushed), with a progress bar; (articles, seconds)."""
    import time

    started = time.perf_counter()
    with closing(batches), writer, console.meter(description) as advance:
        for batch in batches:
            writer.write(batch)
            advance(len(batch))
    return writer.count, time.perf_counter() - started


def _close_run(
    written: tuple[int, float],
    report: Any,
    console: Any,
    strict: bool,
    inputs: list[str],
    purpose: str,
) -> None:
    """The closing summary (articles, skipped, seconds); refuse an input with no article."""
    count, seconds = written
    if not count:
        console.report(report)
        _require_articles([], inputs, purpose)
    rate = (
        f", {count / seconds:,.{0 if count >= 10 * seconds else 2}f} articles/s" if seconds else ""
    )
    console.info(f"{count} article(s) in {seconds:.1f} s{rate}; {len(report.skipped)} skipped")
    _finish_read(report, console, strict)


@app.command("entities")
def entities_command(
    inputs: Annotated[list[str], typer.Argument(help="Files, folders, JSONL, or - for stdin.")],
    output: Annotated[
        OutputFormat, typer.Option("--output-format", "-F", help="Output format.")
    ] = OutputFormat.table,
    types: Annotated[
        str | None,
        typer.Option("--types", "-t", help="Comma-separated types, e.g. PERSON,COUNTRY,AGENCY."),
    ] = None,
    inferred: Annotated[
        bool,
        typer.Option("--inferred/--no-inferred", help="Keep countries inferred from places."),
    ] = True,
    spacy_model: SpacyModel = None,
    no_cache: NoCache = False,
    input_format: Annotated[
        InputFormat, typer.Option("--input-format", "-f", help="Input format.")
    ] = InputFormat.auto,
    jobs: Jobs = 1,
    batch_size: BatchSize = 256,
    strict: Strict = False,
    quiet: Quiet = False,
    engine: EngineOption = Engine.local,
    cluster: ClusterOption = None,
    out_dir: OutDirOption = None,
    resume: ResumeOption = False,
    gzip_parts: GzipOption = False,
) -> None:
    """People, countries and agencies (and other named entities) ranked by salience."""
    from tagger.console import Console
    from tagger.entities.render import parse_types
    from tagger.pipeline import EntityOptions, run_entities
    from tagger.render import entity_writer

    console = Console(quiet)
    wanted = parse_types(types)
    if wants_engine(engine, cluster, out_dir, resume):
        options = {"types": list(wanted) if wanted else None, "inferred": inferred}
        options.update(spacy_model=spacy_model, use_cache=not no_cache)
        return run_from_cli(
            "entities",
            inputs,
            engine=engine,
            cluster=cluster,
            out_dir=out_dir,
            resume=resume,
            gzip_parts=gzip_parts,
            options=options,
            input_format=input_format.value,
            strict=strict,
            jobs=jobs,
            quiet=quiet,
        )
    entity_options = EntityOptions(
        batch_size=batch_size,
        jobs=jobs,
        spacy_model=spacy_model,
        use_cache=not no_cache,
        types=wanted,
        inferred=inferred,
    )
    articles, report = _stream(inputs, input_format, console)
    batches = run_entities(articles, entity_options, warn=console.warn)
    written = _write_batches(batches, entity_writer(output.value, console), console, "entities")
    _close_run(written, report, console, strict, inputs, "to analyse")


@app.command()
def evaluate(
    test_corpus: Annotated[list[str], typer.Argument(help="Labeled test corpus.")],
    model: Annotated[Path, typer.Option("--model", "-m", help="Bundle folder.")],
    reports: Annotated[
        list[Path] | None,
        typer.Option(
            "--report",
            help="Write the full report here: JSON, or a page with plots if it ends in .html "
            "(repeat for both).",
        ),
    ] = None,
    input_format: FormatOption = InputFormat.auto,
    csv_column: CsvColumns = None,
    strict: Strict = False,
    quiet: Quiet = False,
) -> None:
    """Measure a model on a labeled test corpus (streamed: only counts are kept)."""
    from tagger.api import Tagger
    from tagger.console import Console
    from tagger.corpus.importer import check_outputs
    from tagger.pipeline import run_evaluate
    from tagger.render import render_evaluation

    console = Console(quiet)
    # before anything is read: a report path that is the test corpus would replace it
    check_outputs([("--report", path) for path in reports or []], test_corpus)
    tagger_model = Tagger.load(model)
    from tagger.vocab.cli_support import labels_for_evaluation

    articles, report = _stream(test_corpus, input_format, console, csv_columns=csv_column)
    articles = labels_for_evaluation(tagger_model, articles, console)
    from tagger.overlap import OverlapCounter
    from tagger.report import split_reports

    html_out, json_outs = split_reports(reports)
    overlap = OverlapCounter(tagger_model.training_filter)
    result = run_evaluate(
        tagger_model, overlap.watch(articles), warn=console.warn, figures=bool(reports)
    )
    _finish_read(report, console, strict)
    _require_articles([None] * result["articles"], test_corpus, "to evaluate on")
    result["training_overlap"] = overlap.overlap if overlap.filter is not None else None
    render_evaluation(result, console)
    warning = overlap.warning()
    if warning:
        console.warn(warning)
    for page in html_out:
        from tagger.report import write_evaluation_report

        write_evaluation_report(page, result)
        console.info(f"wrote {page}")
    for path in json_outs:
        from tagger.writers import write_text

        write_text(path, json.dumps(result, indent=2, default=float) + "\n")
        console.info(f"wrote {path}")
    if "sections" not in result and "tags" not in result:
        raise _Failed(
            "no article of the test corpus has a section or tags the model could be scored on"
        )


@app.command()
def info(model: Annotated[Path, typer.Argument(help="Bundle folder.")]) -> None:
    """Show a bundle's manifest after verifying it (schema, signature, checksums, model id)
    without loading the model."""
    from tagger.console import escape_terminal
    from tagger.model_bundle import verified_manifest

    typer.echo(escape_terminal(json.dumps(verified_manifest(model), indent=2, ensure_ascii=False)))


@corpus_app.command("stats")
def corpus_stats_command(
    paths: Annotated[list[str], typer.Argument(help="Corpus files or folders.")],
    input_format: FormatOption = InputFormat.auto,
    csv_column: CsvColumns = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    strict: Strict = False,
    quiet: Quiet = False,
) -> None:
    """Counts, label frequencies, missing fields and duplicate ids of a corpus."""
    from tagger.console import Console
    from tagger.corpus.stats import corpus_stats
    from tagger.render import render_stats

    console = Console(quiet)
    articles, report = _read(paths, input_format, console, csv_columns=csv_column)
    if not articles:
        console.report(report)
        _require_articles(articles, paths, "to describe")
    stats = corpus_stats(articles)
    if as_json:
        from tagger.console import escape_terminal

        typer.echo(escape_terminal(json.dumps(stats, indent=2, ensure_ascii=False)))
    else:
        render_stats(stats, console)
    _finish_read(report, console, strict)


@corpus_app.command("import")
def corpus_import_command(
    sources: Annotated[
        list[str], typer.Argument(help="Files and folders (gzipped files too), or - for stdin.")
    ],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Canonical JSONL file to write.")
    ] = None,
    input_format: FormatOption = InputFormat.auto,
    source: Annotated[
        str | None, typer.Option("--source", help="Source name for the articles.")
    ] = None,
    skipped: Annotated[
        Path | None, typer.Option("--skipped", help="Write each skipped input and why.")
    ] = None,
    tag_vocabulary: Annotated[
        Path | None,
        typer.Option("--tag-vocabulary", help="Known tags, one a line (splits glued tag lines)."),
    ] = None,
    dedup: Annotated[
        bool, typer.Option("--dedup", help="Drop exact duplicates (listed in --skipped).")
    ] = False,
    jobs: Jobs = 1,
    strict: Strict = False,
    quiet: Quiet = False,
    engine: EngineOption = Engine.local,
    cluster: ClusterOption = None,
    out_dir: OutDirOption = None,
    resume: ResumeOption = False,
    gzip_parts: GzipOption = False,
) -> None:
    """Import HTML pages, text dumps and other formats as clean, canonical Article JSONL."""
    from tagger.console import Console
    from tagger.corpus.importer import atomic_output, check_outputs, import_corpus, write_skipped
    from tagger.corpus.readers import ReadOptions, ReadReport
    from tagger.errors import ConfigError

    if wants_engine(engine, cluster, out_dir, resume):
        if out is not None or skipped is not None or dedup:
            raise ConfigError("-o, --skipped and --dedup do not go with --out-dir")
        vocabulary = _read_vocabulary(tag_vocabulary) if tag_vocabulary is not None else []
        return run_from_cli(
            "import",
            sources,
            engine=engine,
            cluster=cluster,
            out_dir=out_dir,
            resume=resume,
            gzip_parts=gzip_parts,
            options={"source": source, "tag_vocabulary": vocabulary},
            input_format=input_format.value,
            strict=strict,
            jobs=jobs,
            quiet=quiet,
        )
    if out is None:
        raise ConfigError("give -o OUT.jsonl (or --out-dir DIR for part files)")
    console = Console(quiet)
    check_outputs([("--out", out), ("--skipped", skipped)], sources)
    options = ReadOptions(source=source)
    if tag_vocabulary is not None:
        options.tag_vocabulary = _read_vocabulary(tag_vocabulary)
    report = ReadReport(on_skip=console.skip)
    with atomic_output(out) as handle:
        with console.progress() as progress:
            result = import_corpus(
                sources,
                handle,
                input_format.value,
                options,
                report,
                dedup=dedup,
                progress=progress,
                jobs=jobs,
            )
        if skipped is not None:
            count = write_skipped(result, skipped)
            console.info(f"wrote {count} skipped input(s) to {skipped}")
        if not result.written:  # leaves an existing OUT as it was
            console.summary(result.summary(), bool(report.skipped))
            _require_articles([], sources, "to import")
    console.info(f"wrote {result.written} article(s) to {out}")
    # the read report, with what was written and duplicates
    console.summary(result.summary(), bool(report.skipped))
    if strict and report.skipped:
        error = TaggerError(f"{len(report.skipped)} input(s) skipped and --strict was given")
        error.exit_code = EXIT_FAILED
        raise error


def _read_vocabulary(path: Path) -> list[str]:
    from tagger.errors import InputError, read_user_text

    text = read_user_text(path, "the tag vocabulary", InputError)
    return [line.strip() for line in text.splitlines() if line.strip()]


@corpus_app.command("dedup")
def corpus_dedup_command(
    paths: Annotated[list[str], typer.Argument(help="Corpus files or folders.")],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write the deduplicated JSONL here.")
    ] = None,
    threshold: Annotated[
        float, typer.Option("--threshold", min=0.1, max=1.0, help="Near-duplicate Jaccard.")
    ] = 0.5,
    exact_only: Annotated[
        bool, typer.Option("--exact-only", help="Only exact (normalised) duplicates.")
    ] = False,
    report_file: Annotated[
        Path | None, typer.Option("--report", help="Write the duplicate pairs as JSONL.")
    ] = None,
    input_format: FormatOption = InputFormat.auto,
    strict: Strict = False,
    quiet: Quiet = False,
) -> None:
    """Find exact and near-duplicate articles; with --out, write the corpus without them."""
    from tagger.console import Console
    from tagger.corpus.dedup import deduplicate
    from tagger.corpus.importer import atomic_output, check_outputs
    from tagger.corpus.readers import write_jsonl

    console = Console(quiet)
    check_outputs([("--out", out), ("--report", report_file)], paths)
    articles, report = _read(paths, input_format, console)
    _require_articles(articles, paths, "to deduplicate")
    kept, duplicates = deduplicate(articles, threshold, near=not exact_only)
    for dup in duplicates.duplicates:
        console.info(
            f"{dup.kind} duplicate: {articles[dup.index].id} repeats "
            f"{articles[dup.original].id} (similarity {dup.similarity:.2f})"
        )
    console.info(f"{len(articles)} article(s): {duplicates.summary()}")
    if report_file is not None:
        with atomic_output(report_file) as handle:
            for dup in duplicates.duplicates:
                row = {
                    "id": articles[dup.index].id,
                    "duplicate_of": articles[dup.original].id,
                    "kind": dup.kind,
                    "similarity": round(dup.similarity, 4),
                }
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    if out is not None:
        with atomic_output(out) as handle:
            write_jsonl(kept, handle)
        console.info(f"wrote {len(kept)} article(s) to {out}")
    _finish_read(report, console, strict)


@corpus_app.command("split")
def corpus_split_command(
    paths: Annotated[list[str], typer.Argument(help="Corpus files or folders.")],
    train_out: Annotated[Path, typer.Option("--train", help="Training part (JSONL).")],
    test_out: Annotated[Path, typer.Option("--test", help="Held-out part (JSONL).")],
    holdout: Annotated[float, typer.Option("--holdout", help="Fraction to hold out.")] = 0.2,
    split_by_date: Annotated[
        bool, typer.Option("--split-by-date", help="Hold out the newest articles.")
    ] = False,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    input_format: FormatOption = InputFormat.auto,
    strict: Strict = False,
    quiet: Quiet = False,
) -> None:
    """Split a corpus for `tagger train` / `tagger evaluate`, near-duplicates on one side."""
    from tagger.console import Console
    from tagger.corpus.importer import atomic_output, check_outputs
    from tagger.corpus.readers import write_jsonl
    from tagger.corpus.split import split_for_training

    console = Console(quiet)
    check_outputs([("--train", train_out), ("--test", test_out)], paths)
    articles, report = _read(paths, input_format, console)
    _require_articles(articles, paths, "to split")
    train_part, test_part, _groups = split_for_training(
        articles, holdout, split_by_date, seed, console.info
    )
    for target, part in ((train_out, train_part), (test_out, test_part)):
        with atomic_output(target) as handle:
            write_jsonl(part, handle)
        console.info(f"wrote {len(part)} article(s) to {target}")
    _finish_read(report, console, strict)


# -- editors in the loop (tagger.feedback, tagger.server) -------------------------------

feedback_app = typer.Typer(help="Export and inspect editors' decisions.", no_args_is_help=True)
app.add_typer(feedback_app, name="feedback")
DbOption = Annotated[
    str, typer.Option("--db", help="Feedback store: a SQLite file PATH, or sqlite:///PATH.")
]


class ReviewOrder(str, Enum):
    input = "input"
    uncertain = "uncertain"


@app.command()
def review(
    inputs: Annotated[list[str], typer.Argument(help="Articles to review (files, folders).")],
    model: Annotated[Path, typer.Option("--model", "-m", help="Bundle folder.")],
    db: DbOption,
    editor: Annotated[str, typer.Option("--editor", help="Your name, kept with each decision.")],
    order: Annotated[
        ReviewOrder, typer.Option("--order", help="input, or uncertain (least sure first).")
    ] = ReviewOrder.input,
    top_k: Annotated[int, typer.Option("--top-k", "-k", min=1, help="Tags to show.")] = 8,
    vocab: Annotated[
        Path | None,
        typer.Option("--vocab", help="Vocabulary added tags complete from (default: the model's)."),
    ] = None,
    input_format: FormatOption = InputFormat.auto,
    quiet: Quiet = False,
) -> None:
    """Review suggestions in the terminal: accept, reject, add, change section; keys on screen."""
    from tagger.api import Tagger
    from tagger.console import Console
    from tagger.feedback.review import require_terminal, run_terminal_review
    from tagger.feedback.store import open_store

    console = Console(quiet)
    with open_store(db) as store:
        store.verify()  # writable and sound, before any work is shown to the editor
        require_terminal()  # before the model is loaded and the input read
        tagger_model = Tagger.load(model)
        articles, report = _read(inputs, input_format, console)
        _finish_read(report, console, False)
        from tagger.vocab.editing import EditorVocabulary

        summary = run_terminal_review(
            tagger_model,
            articles,
            store,
            editor,
            order=order.value,
            top_k=top_k,
            vocabulary=EditorVocabulary(tagger_model, vocab).if_any(),
        )
    console.info(summary)


class QueueOrder(str, Enum):
    uncertain = "uncertain"
    newest = "newest"
    oldest = "oldest"


class LogFormat(str, Enum):
    text = "text"
    json = "json"


@app.command()
def serve(
    model: Annotated[Path, typer.Option("--model", "-m", help="Bundle folder.")],
    db: DbOption,
    host: Annotated[str, typer.Option(help="Interface to bind (localhost by default).")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
    tokens: Annotated[
        Path | None,
        typer.Option(
            "--tokens", help="File of 'editor:token' lines (or set TAGGER_TOKENS=ed:tok,...)."
        ),
    ] = None,
    workers: Annotated[
        int, typer.Option("--workers", min=1, help="Processes sharing the port and the store.")
    ] = 1,
    keepalive_requests: Annotated[
        int,
        typer.Option(
            "--keepalive-requests",
            min=0,
            help="With --workers > 1: close a kept-alive connection after this many requests "
            "so clients spread over the workers again (0: never).",
        ),
    ] = 100,
    allowed_host: Annotated[
        list[str] | None,
        typer.Option(
            "--allowed-host",
            help="Host header to accept (repeat; '*' for any). Default: --host and localhost.",
        ),
    ] = None,
    read_tokens: Annotated[
        bool | None,
        typer.Option(
            "--read-tokens/--no-read-tokens",
            help="Require an editor token for /suggest and /labels too "
            "(default: on unless --host is loopback).",
        ),
    ] = None,
    max_body: Annotated[
        int, typer.Option("--max-body", help="Largest request body in bytes (413 above).")
    ] = 2_000_000,
    max_in_flight: Annotated[
        int, typer.Option("--max-in-flight", min=1, help="Requests in progress a process (503).")
    ] = 64,
    model_processes: Annotated[
        int,
        typer.Option(
            "--model-processes",
            min=0,
            help="Model processes a worker (0: model work in threads of the worker).",
        ),
    ] = 1,
    model_nice: Annotated[
        int,
        typer.Option("--model-nice", min=0, max=19, help="Niceness added to model processes."),
    ] = 10,
    model_threads: Annotated[
        int,
        typer.Option(
            "--model-threads", min=1, help="Threads for model work with --model-processes 0."
        ),
    ] = 2,
    model_queue: Annotated[
        int, typer.Option("--model-queue", min=1, help="/suggest requests queued a process (503).")
    ] = 8,
    suggest_rate: Annotated[
        float, typer.Option("--suggest-rate", min=0, help="/suggest per client a minute (0: off).")
    ] = 600,
    feedback_rate: Annotated[
        float,
        typer.Option("--feedback-rate", min=0, help="/feedback per client a minute (0: off)."),
    ] = 1200,
    max_batch_chars: Annotated[
        int, typer.Option("--max-batch-chars", min=1, help="Characters a /suggest request.")
    ] = 1_000_000,
    entity_chars: Annotated[
        int,
        typer.Option("--entity-chars", min=0, help="Characters entity extraction reads a request."),
    ] = 200_000,
    body_timeout: Annotated[
        float, typer.Option("--body-timeout", min=0.1, help="Seconds to receive a body (408).")
    ] = 30.0,
    header_timeout: Annotated[
        float, typer.Option("--header-timeout", min=0.1, help="Seconds to receive the headers.")
    ] = 10.0,
    log_format: Annotated[
        LogFormat, typer.Option("--log-format", help="text, or json (one object a line).")
    ] = LogFormat.text,
    vocab: Annotated[
        Path | None,
        typer.Option(
            "--vocab", help="Vocabulary the page completes tags from (default: the model's)."
        ),
    ] = None,
    watch_interval: Annotated[
        float,
        typer.Option(
            "--watch-interval",
            min=0.05,
            help="Seconds between reads of a registry's current pointer (--model models/NAME).",
        ),
    ] = 1.0,
    queue: Annotated[
        list[str] | None,
        typer.Option("--queue", help="Articles to add to the review queue first (repeat)."),
    ] = None,
    order: Annotated[
        QueueOrder, typer.Option("--order", help="Review queue order: uncertain, newest, oldest.")
    ] = QueueOrder.uncertain,
    lease: Annotated[
        float, typer.Option("--lease", min=1, help="Seconds a queued article stays leased.")
    ] = 600.0,
) -> None:
    """HTTP service for the CMS and the editors' web page (/), API docs at /docs."""
    from tagger.server import hold_sighup

    hold_sighup()  # a SIGHUP while starting is done once serving; it ended the process
    from tagger.errors import ConfigError

    try:
        import fastapi  # noqa: F401
        import fastapi_offline  # noqa: F401
        import prometheus_client  # noqa: F401
        import uvicorn
    except ImportError:
        raise ConfigError(
            'tagger serve needs the server extra: pip install -e ".[server]" '
            "(in a checkout of tagger)"
        ) from None
    from tagger.server.app import CONFIG_ENV, ServerConfig, check_bundle, create_app, load_tokens
    from tagger.server.logs import log_config
    from tagger.server.protocol import HEADER_TIMEOUT_ENV, GuardedH11Protocol

    config = ServerConfig(
        model=model,
        db=db,
        tokens=load_tokens(tokens, os.environ),
        max_body=max_body,
        host=host,
        allowed_hosts=allowed_host or None,
        read_tokens=read_tokens,
        admin_token=os.environ.get("TAGGER_ADMIN_TOKEN") or None,
        max_in_flight=max_in_flight,
        model_processes=model_processes,
        model_nice=model_nice,
        model_threads=model_threads,
        model_queue=model_queue,
        suggest_rate=suggest_rate,
        feedback_rate=feedback_rate,
        max_batch_chars=max_batch_chars,
        entity_chars=entity_chars,
        body_timeout=body_timeout,
        workers=workers,
        keepalive_requests=keepalive_requests,
        log_format=log_format.value,
        vocab=vocab,
        watch_interval=watch_interval,
        queue_order=order.value,
        lease_seconds=lease,
    )
    if queue:
        _queue_at_start(config, queue)
    os.environ[HEADER_TIMEOUT_ENV] = str(header_timeout)
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "http": GuardedH11Protocol,
        "log_config": log_config(config.log_format),
        "access_log": config.log_format == "text",
        # longer than clients keep idle connections (httpx 5 s, aiohttp 15 s): the client
        # drops an idle connection first, never sends on one the server is closing
        "timeout_keep_alive": 20,
        "timeout_graceful_shutdown": 30,
    }
    if workers == 1:
        application = create_app(config)  # the bundle and the store are checked here
        _warn_without_tokens(config)
        uvicorn.run(application, **options)
        return
    _serve_workers(config, options, CONFIG_ENV, check_bundle)


def _queue_at_start(config: Any, inputs: list[str]) -> None:
    """`serve --queue INPUT...`: queue the articles (scored by the model) before serving."""
    from tagger.api import Tagger
    from tagger.commands.queue import queue_articles, report_added
    from tagger.console import Console
    from tagger.feedback.store import open_store

    console = Console(False)
    articles, report = _read(inputs, InputFormat.auto, console)
    _finish_read(report, console, False)
    with open_store(config.db) as store:
        store.verify()
        report_added(queue_articles(store, articles, Tagger.load(config.model), "serve"), console)


def _warn_without_tokens(config: Any) -> None:
    if not config.tokens:
        sys.stderr.write(
            "warning: no editor tokens configured: every write will be refused (401)"
            + (" and so will every read (--read-tokens)" if config.requires_read_token else "")
            + "\n"
        )


def _serve_workers(config: Any, options: dict[str, Any], env_name: str, check: Any) -> None:
    """Several uvicorn workers, each building the app from the environment (and loading
    the bundle once); their metrics meet in a shared folder (prometheus multiprocess)."""
    import shutil
    import tempfile

    import uvicorn

    from tagger.feedback.store import open_store
    from tagger.server.app import SupervisorNotes
    from tagger.server.workers import ReusePortWorkers

    check(config)  # a bad bundle is refused here, with one line, before any worker starts
    open_store(config.db).close()
    _warn_without_tokens(config)
    metrics_dir = tempfile.mkdtemp(prefix="tagger-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    config.shared_rates = os.path.join(metrics_dir, "rates.sqlite")  # one rate per client
    config.reload_status = os.path.join(metrics_dir, "reload.json")  # for the workers' /health
    config.workers_status = os.path.join(metrics_dir, "workers.json")
    os.environ[env_name] = config.to_env()
    try:
        settings = uvicorn.Config(
            "tagger.server.app:app_from_env",
            factory=True,
            workers=config.workers,
            timeout_worker_healthcheck=120,
            **options,
        )
        notes = SupervisorNotes(config)  # for the workers' /health and /metrics
        supervisor = ReusePortWorkers(  # a socket each: connections spread over workers
            settings,
            check=lambda: check(config),
            on_reload=notes.reload,
            on_replace=notes.worker_replaced,
        )
        supervisor.run()
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)
    if supervisor.failed:
        sys.exit(3)  # a worker could not start (its log line says why), as with one process


@app.command()
def learn(
    model: Annotated[Path, typer.Option("--model", "-m", help="The current bundle (kept).")],
    db: DbOption,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="New bundle folder, or a registry (a new version, not promoted; default: "
            "--model when it is a registry).",
        ),
    ] = None,
    corpus: Annotated[
        list[str] | None, typer.Option("--corpus", help="The original training corpus.")
    ] = None,
    test: Annotated[
        list[str] | None,
        typer.Option("--test", help="Labeled held-out corpus (default: hold out reviews)."),
    ] = None,
    holdout: Annotated[
        float, typer.Option(help="Share held out without --test (of the reviews, or all).")
    ] = 0.2,
    seed: Annotated[int | None, typer.Option(help="Random seed (default: the model's).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace --out if it exists.")] = False,
    input_format: FormatOption = InputFormat.auto,
    quiet: Quiet = False,
) -> None:
    """Train a new bundle from the original corpus plus the editors' decisions."""
    from tagger.console import Console
    from tagger.feedback.learn import format_learn_result
    from tagger.feedback.learn import learn as learn_from_feedback
    from tagger.feedback.store import open_store
    from tagger.registry import is_registry

    if out is None:
        if not is_registry(model):
            raise typer.BadParameter("give --out (a new folder, or a registry)", param_hint="--out")
        out = model
    console = Console(quiet)
    original = _read(corpus, input_format, console)[0] if corpus else None
    held = _read(test, input_format, console)[0] if test else None
    with open_store(db, create=False) as store, console.progress() as progress:
        store.verify()
        result = learn_from_feedback(
            model,
            store,
            out,
            corpus=original,
            test=held,
            holdout=holdout,
            seed=seed,
            force=force,
            progress=progress,
        )
    for warning in result.warnings:
        console.warn(warning)
    typer.echo(format_learn_result(result))


@app.command()
def replay(
    model: Annotated[Path, typer.Option("--model", "-m", help="The candidate bundle.")],
    db: DbOption,
    against: Annotated[
        Path | None,
        typer.Option("--against", help="Compare with this bundle (the current model)."),
    ] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="Only articles decided on from this date.")
    ] = None,
    policy: Annotated[
        Path | None,
        typer.Option("--policy", help="Group precision by this policy (default: the model's)."),
    ] = None,
    tolerance: Annotated[
        float, typer.Option(min=0, help="With --against: a drop this small is not worse.")
    ] = 0.0,
    min_decisions: Annotated[
        int, typer.Option("--min-decisions", min=1, help="Per-tag rows with this many decisions.")
    ] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    reports: Annotated[
        list[Path] | None,
        typer.Option(
            "--report",
            help="Write the replay here: JSON, or a page with plots if it ends in .html "
            "(repeat for both).",
        ),
    ] = None,
    quiet: Quiet = False,
) -> None:
    """Score a model against the editors' decisions on articles it was not trained on."""
    from tagger.console import Console, escape_terminal
    from tagger.corpus.importer import check_outputs
    from tagger.feedback.replay import format_replay, run_replay
    from tagger.report import split_reports

    console = Console(quiet)
    from tagger.feedback.store import store_path

    # a report path that is the feedback database (or a model's file) would replace it
    inputs = [str(store_path(db)), *(str(p) for p in (model, against) if p is not None)]
    check_outputs([("--report", path) for path in reports or []], inputs)
    html_out, json_outs = split_reports(reports)
    result, verdict = run_replay(
        model, db, against=against, since=since, policy=policy, tolerance=tolerance
    )
    for warning in result.warnings:
        console.warn(warning)
    data = result.to_dict()
    if reports or as_json:
        from tagger.report import replay_figures, write_replay_report
        from tagger.writers import write_text

        data["figures"] = replay_figures(result, db)
        text = json.dumps(data, indent=2, ensure_ascii=False, default=float)
        for path in html_out:
            write_replay_report(path, data)
            console.info(f"wrote {path}")
        for path in json_outs:
            write_text(path, text + "\n")
            console.info(f"wrote {path}")
        if as_json:
            typer.echo(escape_terminal(text))
            return
    typer.echo(escape_terminal(format_replay(result, min_decisions=min_decisions)))
    if verdict is not None:
        typer.echo(
            "candidate is worse: " + "; ".join(verdict["reasons"])
            if verdict["worse"]
            else "candidate is not worse than the current model"
        )


@feedback_app.command("export")
def feedback_export(
    db: DbOption,
    out: Annotated[Path, typer.Option("--out", "-o", help="JSONL file to write (- for stdout).")],
    editor: Annotated[
        list[str] | None, typer.Option("--editor", help="Only these editors' decisions.")
    ] = None,
    renames: Annotated[
        Path | None, typer.Option("--renames", help="Tag rename map (tagger tags merge).")
    ] = None,
    quiet: Quiet = False,
) -> None:
    """Write the reviewed articles as a labeled corpus (rejections as known negatives)."""
    from tagger.console import Console
    from tagger.feedback.export import export_corpus
    from tagger.feedback.store import open_store
    from tagger.vocab.renames import load_renames

    console = Console(quiet)
    if str(out) != "-":
        from tagger.corpus.importer import check_outputs
        from tagger.feedback.store import store_path

        check_outputs([("--out", out)], [str(store_path(db))])  # -o f.db: the decisions
    rename_map = load_renames(renames)
    with open_store(db, create=False) as store:
        if str(out) == "-":
            report = export_corpus(store, sys.stdout, editors=editor, renames=rename_map)
        else:
            from tagger.writers import atomic_write

            with atomic_write(out) as handle:
                report = export_corpus(store, handle, editors=editor, renames=rename_map)
                if not report.articles:
                    handle.discard()  # an existing export is not replaced by an empty one
    if not report.articles:
        who = f" by {', '.join(editor)}" if editor else ""
        console.error(f"nothing to export: no reviewed article{who} in {db}")
        if report.missing:
            console.warn(f"{len(report.missing)} article(s) have decisions but no stored text")
        raise typer.Exit(EXIT_FAILED)
    console.info(
        f"exported {report.articles} reviewed article(s)"
        + (f" ({report.without_labels} with rejections only)" if report.without_labels else "")
        + ("" if str(out) == "-" else f" to {out}")
    )
    if report.missing:
        console.warn(f"{len(report.missing)} article(s) have decisions but no stored text")


@feedback_app.command("stats")
def feedback_stats_command(
    db: DbOption,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    quiet: Quiet = False,
) -> None:
    """Acceptance rate per tag, per section and per model version."""
    from tagger.console import Console
    from tagger.feedback.stats import feedback_stats, render_feedback_stats
    from tagger.feedback.store import open_store

    with open_store(db, create=False) as store:
        stats = feedback_stats(store)
    if as_json:
        from tagger.console import escape_terminal

        # labels are editors' text: no control character reaches the terminal raw
        typer.echo(escape_terminal(json.dumps(stats, indent=2, ensure_ascii=False)))
    else:
        render_feedback_stats(stats, Console(quiet))


def main() -> None:
    """Console-script entry point."""
    try:
        app(prog_name="tagger")  # `python -m tagger` too
    except BrokenPipeError:
        # Whoever read our output stopped early (`tagger predict ... | head`): not an error.
        _silence_stdout()
        sys.exit(0)
    except OSError as exc:
        # Writing --help or --version, before any command runs (`> /dev/full`)
        _print_error(f"<stdout>: cannot write: {exc.strerror or exc}")
        _silence_stdout()
        sys.exit(EXIT_FAILED)


def _silence_stdout() -> None:
    """Point stdout at /dev/null so that flushing at exit does not fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def _print_error(message: str) -> None:
    from tagger.hygiene import escape_text

    # messages name files and quote records: untrusted text, escaped as every other line
    sys.stderr.write(f"error: {escape_text(message)}\n")


if __name__ == "__main__":
    main()
