"""The pipeline runner: batches, streaming output, --jobs identity, flat memory, evaluate counts.

Memory is bounded with tracemalloc (allocation counts, not timing); nothing here is timed.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tracemalloc
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from tagger.cli import app
from tagger.corpus.article import Article
from tagger.errors import ConfigError
from tagger.pipeline import (
    PredictOptions,
    iter_batches,
    plan_entities,
    run_evaluate,
    run_predict,
)
from tagger.render import BatchWriter

from .conftest import sample_records, write_jsonl

runner = CliRunner()


def _articles(n: int, start: int = 0) -> Iterator[Article]:
    """n articles cycling through the sample corpus, each with a new id."""
    records = sample_records()
    for i in range(start, start + n):
        record = records[i % len(records)]
        yield Article(f"a{i}", record["title"], record["body"], record.get("section"))


def test_iter_batches_reads_only_what_each_batch_needs() -> None:
    taken: list[int] = []

    def source() -> Iterator[int]:
        for i in range(7):
            taken.append(i)
            yield i

    batches = iter_batches(source(), 3)  # type: ignore[arg-type]
    assert next(batches) == [0, 1, 2]
    assert taken == [0, 1, 2]
    assert list(batches) == [[3, 4, 5], [6]]
    with pytest.raises(ConfigError):
        next(iter_batches([], 0))


def test_output_is_written_before_the_input_ends(fast_model: Any) -> None:
    """The first batch is serialised and flushed while the reader is still reading."""
    out = io.StringIO()
    lines_seen_mid_input: list[int] = []

    def feed() -> Iterator[Article]:
        for i, article in enumerate(_articles(30)):
            if i == 12:  # inside the third batch of 5
                lines_seen_mid_input.append(out.getvalue().count("\n"))
            yield article

    writer = BatchWriter("jsonl", lambda s: s.to_dict(), out=out)
    options = PredictOptions(batch_size=5, entities=False)
    for batch in run_predict(fast_model, feed(), options):
        writer.write(batch)
    assert lines_seen_mid_input == [10]
    assert [json.loads(line)["id"] for line in out.getvalue().splitlines()] == [
        f"a{i}" for i in range(30)
    ]


def test_batches_give_the_same_suggestions_as_one_call(fast_model: Any) -> None:
    articles = list(_articles(23))
    whole = [s.to_dict() for s in fast_model.predict(articles, entities=False)]
    options = PredictOptions(batch_size=4, entities=False)
    batched = [s.to_dict() for b in run_predict(fast_model, iter(articles), options) for s in b]
    assert batched == whole


def test_json_array_written_in_pieces_is_the_same_bytes() -> None:
    items = [{"id": "x", "t": "a\nb ü", "n": [1, 2]}, {"id": "y", "t": ""}, {"id": "z"}]
    out = io.StringIO()
    with BatchWriter("json", lambda d: d, out=out) as writer:
        writer.write(items[:2])
        writer.write(items[2:])
    assert out.getvalue() == json.dumps(items, indent=2, ensure_ascii=False) + "\n"
    empty = io.StringIO()
    with BatchWriter("json", lambda d: d, out=empty):
        pass
    assert empty.getvalue() == ""  # nothing to write: the command refuses the input instead


def test_the_entity_decision_is_made_once_here(fast_model: Any) -> None:
    assert plan_entities(fast_model, None).extract is False  # not needed by this model
    assert plan_entities(fast_model, True, "some_pipeline").spacy_model == "some_pipeline"
    assert plan_entities(None, True).extract is True
    saved = fast_model.featurizer.config.entity_weight
    fast_model.featurizer.config.entity_weight = 0.3
    try:
        assert plan_entities(fast_model, None).extract is True
        with pytest.raises(ConfigError, match="trained with entity features"):
            plan_entities(fast_model, False)
    finally:
        fast_model.featurizer.config.entity_weight = saved


def _peak_bytes(model: Any, n: int) -> int:
    tracemalloc.start()
    try:
        options = PredictOptions(batch_size=50, entities=False, explain=False)
        count = 0
        for batch in run_predict(model, _articles(n), options):
            count += len(batch)
        assert count == n
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_does_not_grow_with_the_number_of_articles(fast_model: Any) -> None:
    fast_model.feature_names()  # computed once per model: not part of the per-article cost
    small = _peak_bytes(fast_model, 100)
    large = _peak_bytes(fast_model, 1500)  # 15x the articles (30 batches of 50)
    assert large < small * 1.3, (small, large)


# -- --jobs: worker processes, same bytes ---------------------------------------------------


@pytest.fixture(scope="module")
def many_articles(tmp_path_factory: pytest.TempPathFactory) -> Path:
    records = sample_records()
    rows = [{**records[i % len(records)], "id": f"r{i}"} for i in range(300)]
    return write_jsonl(tmp_path_factory.mktemp("many") / "many.jsonl", rows)


def test_jobs_give_the_same_bytes_in_input_order(cli_bundle: Path, many_articles: Path) -> None:
    base = ["predict", "-m", cli_bundle, many_articles, "--no-entities", "-F", "jsonl", "-q"]
    one = runner.invoke(app, [str(a) for a in [*base, "--batch-size", "16"]])
    two = runner.invoke(app, [str(a) for a in [*base, "--batch-size", "16", "--jobs", "2"]])
    assert one.exit_code == 0 and two.exit_code == 0, two.output
    assert one.stdout == two.stdout
    ids = [json.loads(line)["id"] for line in two.stdout.splitlines()]
    assert ids == [f"r{i}" for i in range(300)]


def test_entities_jobs_give_the_same_bytes(tmp_path: Path) -> None:
    texts = [
        ("Merkel meets Macron", "Angela Merkel met Emmanuel Macron in Paris on Monday."),
        ("ICE raids", "Immigration and Customs Enforcement agents detained 40 people in Texas."),
        ("Nothing here", "the weather was mild and nobody said anything of note."),
    ]
    rows = [{"id": f"e{i}", "title": t, "body": b} for i, (t, b) in enumerate(texts * 4)]
    path = write_jsonl(tmp_path / "e.jsonl", rows)
    base = ["entities", str(path), "-F", "json", "-q", "--no-cache", "--batch-size", "2"]
    one = runner.invoke(app, base)
    two = runner.invoke(app, [*base, "--jobs", "2"])
    assert one.exit_code == 0 and two.exit_code == 0, two.output
    assert one.stdout == two.stdout
    records = json.loads(two.stdout)
    assert [r["id"] for r in records] == [f"e{i}" for i in range(12)]
    assert any(e["name"] == "Angela Merkel" for e in records[0]["entities"])


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_reader_that_stops_early_ends_the_run_cleanly(
    cli_bundle: Path, many_articles: Path, jobs: str
) -> None:
    """`tagger predict ... | head -1`: exit 0, no traceback, workers stopped."""
    command = [sys.executable, "-m", "tagger.cli", "predict", "-m", str(cli_bundle)]
    command += [str(many_articles), "--no-entities", "-F", "jsonl", "--jobs", jobs]
    command += ["--batch-size", "8"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None and process.stderr is not None
    first = process.stdout.readline()
    process.stdout.close()
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=120) == 0, stderr
    assert json.loads(first)["id"] == "r0"
    assert "Traceback" not in stderr and "error" not in stderr


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs Linux's /dev/full")
@pytest.mark.parametrize("fmt", ["jsonl", "table"])
def test_output_to_a_full_disk_is_one_line_naming_stdout_exit_1(
    cli_bundle: Path, many_articles: Path, fmt: str
) -> None:
    """`tagger predict ... > file` on a full disk (/dev/full answers every write ENOSPC)."""
    command = [sys.executable, "-m", "tagger.cli", "predict", "-m", str(cli_bundle)]
    command += [str(many_articles), "--no-entities", "-F", fmt]
    with open("/dev/full", "w") as full:
        done = subprocess.run(command, stdout=full, stderr=subprocess.PIPE, timeout=120)
    stderr = done.stderr.decode()
    assert done.returncode == 1, stderr
    assert stderr.splitlines()[-1] == "error: <stdout>: cannot write: No space left on device"
    assert "Traceback" not in stderr


def test_jobs_refuses_zero(cli_bundle: Path, many_articles: Path) -> None:
    result = runner.invoke(
        app, ["predict", "-m", str(cli_bundle), str(many_articles), "--no-entities", "-j", "0"]
    )
    assert result.exit_code == 2
    assert "--jobs" in result.stderr


def test_negative_jobs_count_cores_as_scikit_learn_does(monkeypatch: pytest.MonkeyPatch) -> None:
    """-1 every core, -2 all but one, never fewer than one; the same for the streamed
    commands and --out-dir (which accepted 0 as all cores and refused -2)."""
    import os

    from tagger.errors import ConfigError
    from tagger.pipeline import resolve_jobs

    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0, 1, 2, 3}, raising=False)
    assert [resolve_jobs(j) for j in (3, -1, -2, -4, -9)] == [3, 4, 3, 1, 1]
    with pytest.raises(ConfigError, match="-1 for all cores"):
        resolve_jobs(0)


# -- evaluate: counts only, the same report ------------------------------------------------


def _reference_report(model: Any, articles: list[Article]) -> dict[str, Any]:
    """Today's (pre-streaming) evaluation, every article in memory at once: the oracle."""
    from tagger.corpus.text import normalise_label
    from tagger.labels import normalise_labels

    normalise_labels(articles)

    def mapper(labels: list[str]) -> Any:
        known = {normalise_label(label).casefold(): label for label in labels}
        return lambda label: known.get(normalise_label(label).casefold(), label)

    x = model.featurizer.transform(articles, None)
    report: dict[str, Any] = {"articles": len(articles)}
    sec = model.section_model
    idx = [i for i, a in enumerate(articles) if a.section]
    probs = sec.predict_proba(x[np.array(idx)], [articles[i].title for i in idx])
    predicted = np.array([sec.labels[j] for j in probs.argmax(axis=1)], dtype=object)
    as_known = mapper(sec.labels)
    true = np.array([as_known(articles[i].section) for i in idx], dtype=object)
    per, f1s = [], []
    for label in sorted(set(sec.labels) | set(true)):
        tp = float(np.sum((predicted == label) & (true == label)))
        fp = float(np.sum((predicted == label) & (true != label)))
        fn = float(np.sum((predicted != label) & (true == label)))
        p = tp / (tp + fp) if tp + fp else 0.0
        r = tp / (tp + fn) if tp + fn else 0.0
        f = 2 * p * r / (p + r) if p + r else 0.0
        per.append((label, int(np.sum(true == label)), p, r, f))
        if np.sum(true == label):
            f1s.append(f)
    report["sections"] = (float(np.mean(true == predicted)), float(np.mean(f1s)), per)
    tags = model.tag_model
    idx = [i for i, a in enumerate(articles) if a.tags]
    probs = tags.predict_proba(x[np.array(idx)])
    selected = tags.choose(probs, [articles[i].title for i in idx], [articles[i].body for i in idx])
    as_known = mapper(tags.labels)
    true_tags = [[as_known(t) for t in articles[i].tags] for i in idx]
    index = {t: j for j, t in enumerate(tags.labels)}
    y = np.zeros(probs.shape, dtype=bool)
    for i, row in enumerate(true_tags):
        for t in row:
            if t in index:
                y[i, index[t]] = True
    tp = (y & selected).sum(axis=0)
    fp = (~y & selected).sum(axis=0)
    fn = (y & ~selected).sum(axis=0)
    rows = np.flatnonzero(y.any(axis=1))
    ranked = np.argsort(-probs, axis=1, kind="stable")
    p_at = {
        k: float(np.mean(np.take_along_axis(y[rows], ranked[rows, :k], axis=1).sum(axis=1) / k))
        for k in (1, 3)
    }
    unknown = Counter(t for row in true_tags for t in row if t not in index)
    report["tags"] = (tp.tolist(), fp.tolist(), fn.tolist(), p_at, dict(unknown.most_common()))
    return report


def test_evaluate_counts_give_todays_report(fast_model: Any, sample_split: Any) -> None:
    _train, test = sample_split
    records = sample_records()[-40:] + test
    articles = []
    for i, record in enumerate(records):
        article = Article.from_dict({**record, "id": f"t{i}"})
        if i % 5 == 0:  # label variants and labels the model does not know
            article.tags = [t.upper() for t in article.tags] + ["Brand New", "brand  new"]
        if i % 7 == 0:
            article.section = (article.section or "").lower() + " "
        if i % 11 == 0:
            article.section = "Obituaries"
        articles.append(article)
    copies = [Article.from_dict(a.to_dict()) for a in articles]
    expected = _reference_report(fast_model, copies)
    for batch_size in (1, 7, 256):
        got = run_evaluate(
            fast_model,
            iter([Article.from_dict(a.to_dict()) for a in articles]),
            batch_size=batch_size,
        )
        assert got["articles"] == expected["articles"]
        accuracy, macro_f1, per = expected["sections"]
        assert got["sections"]["accuracy"] == accuracy
        assert got["sections"]["macro_f1"] == macro_f1
        assert [
            (r["label"], r["support"], r["precision"], r["recall"], r["f1"])
            for r in got["sections"]["per_label"]
        ] == per
        assert got["sections"]["unknown_labels"] == ["Obituaries"]
        tp, fp, fn, p_at, unknown = expected["tags"]
        rows = got["tags"]["per_label"]
        assert [r["predicted"] for r in rows] == [a + b for a, b in zip(tp, fp, strict=True)]
        assert [r["support"] for r in rows] == [a + b for a, b in zip(tp, fn, strict=True)]
        assert got["tags"]["micro_precision"] == sum(tp) / (sum(tp) + sum(fp))
        assert got["tags"]["p_at_1"] == p_at[1]
        assert got["tags"]["p_at_3"] == pytest.approx(p_at[3], rel=1e-12)
        assert got["tags"]["unknown_labels"] == unknown
        assert unknown["Brand New"] == 12 and "brand  new" not in unknown


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs Linux's /dev/full")
@pytest.mark.parametrize("args", [["--version"], ["--help"], ["cache", "stats"]])
def test_help_version_and_echoed_output_to_a_full_disk_exit_1_without_a_traceback(
    args: list[str], tmp_path: Path
) -> None:
    command = [sys.executable, "-m", "tagger.cli", *args]
    env = {**os.environ, "TAGGER_CACHE_DIR": str(tmp_path)}
    with open("/dev/full", "w") as full:
        done = subprocess.run(command, stdout=full, stderr=subprocess.PIPE, timeout=60, env=env)
    stderr = done.stderr.decode()
    assert done.returncode == 1, stderr
    assert (
        stderr.splitlines() == [line for line in stderr.splitlines() if line.startswith("error: ")]
        and "No space left on device" in stderr
    )
