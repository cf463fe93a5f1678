"""Out-of-core training on generated streams: shuffling, label-sorted input, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from typer.testing import CliRunner

from tagger.api import Tagger, TrainConfig
from tagger.cli import app
from tagger.corpus.article import Article
from tagger.errors import ConfigError, InputError
from tagger.features import FeatureConfig
from tagger.pipeline import iter_batches
from tagger.stream_train import (
    CalibrationSample,
    FeatureCache,
    Rows,
    StreamConfig,
    TermCounter,
    fold_of,
    shuffled_rows,
    train_streaming,
)

TOPICS = {
    "farming": "farm crops harvest wheat tractor field",
    "law": "court judge ruling appeal lawyer trial",
    "finance": "bank rates money interest loan market",
    "weather": "rain storm flood wind forecast cloud",
}


def generated(n: int, seed: int = 0, sort: bool = False) -> list[Article]:
    """Articles on one or two topics, with filler words; optionally sorted by tag."""
    rng = np.random.default_rng(seed)
    names = sorted(TOPICS)
    filler = ["the", "a", "report", "today", "said", "people", "city", "year", "new"]
    out = []
    for i in range(n):
        tags = sorted(set(rng.choice(names, size=int(rng.integers(1, 3)))))
        words = [w for t in tags for w in rng.choice(TOPICS[t].split(), size=4)]
        words += list(rng.choice(filler, size=8))
        rng.shuffle(words)
        out.append(Article(id=f"a{i}", title=" ".join(words[:3]), body=" ".join(words), tags=tags))
    if sort:
        out.sort(key=lambda a: a.tags)
    return out


def stream_config(**changes: object) -> StreamConfig:
    base = dict(chunk=50, shuffle_buffer=400, epochs=3, holdout=150, holdout_fraction=0.2)
    base.update(changes)
    return StreamConfig(**base)  # type: ignore[arg-type]


def micro_f1(model: Tagger, articles: list[Article]) -> float:
    return model.evaluate(articles)["tags"]["micro_f1"]


def numbered_rows(values: list[int], chunk: int) -> list[Rows]:
    """Chunks of rows whose position is their index and whose one feature is the value."""
    out = []
    for start in range(0, len(values), chunk):
        part = np.array(values[start : start + chunk], dtype=np.float32)
        n = len(part)
        out.append(
            Rows(
                sp.csr_matrix(part.reshape(-1, 1)),
                np.arange(start, start + n),
                sp.csr_matrix((n, 2), dtype=bool),
                np.full(n, -1),
            )
        )
    return out


def test_shuffle_buffer_holds_at_most_its_size_and_loses_nothing() -> None:
    batches = list(shuffled_rows(numbered_rows(list(range(1000)), 10), 50, 10, rng(0)))
    out = [int(p) for b in batches for p in b.positions]
    assert sorted(out) == list(range(1000))
    assert out != list(range(1000))
    assert all(len(b) == 10 for b in batches)
    # rows travel with their features, and fewer than size + 2 x batch are ever held:
    # row k leaves before row k + 70 has been read
    assert [int(v) for b in batches for v in b.x.toarray().ravel()] == out
    assert all(value < k + 70 for k, value in enumerate(out))
    assert [len(c) for c in iter_batches(range(7), 3)] == [3, 3, 1]


def rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def test_shuffle_buffer_mixes_label_sorted_input() -> None:
    labels = [0] * 500 + [1] * 500
    batches = shuffled_rows(numbered_rows(labels, 20), 300, 20, rng(1))
    out = [int(v) for b in batches for v in b.x.toarray().ravel()]
    # Unshuffled, items 200-599 hold 300 zeros then 100 ones; the buffer mixes them.
    share = float(np.mean(out[200:600]))
    assert 0.35 < share < 0.85
    assert sum(out[:500]) > 100  # ones reach the first half of the stream


def test_feature_cache_featurizes_once_and_replays_the_same_rows(tmp_path: Path) -> None:
    encoded = []

    def encode():
        encoded.append(1)
        yield from numbered_rows(list(range(25)), 10)

    cache = FeatureCache(encode, tmp_path)
    first = [(r.positions.tolist(), r.x.toarray().tolist()) for r in cache]
    again = [(r.positions.tolist(), r.x.toarray().tolist(), r.y.shape) for r in cache]
    assert len(encoded) == 1 and len(list(tmp_path.iterdir())) == 3
    assert [(p, x) for p, x, _ in again] == first and again[0][2] == (10, 2)
    uncached = FeatureCache(encode, None)
    list(uncached), list(uncached)
    assert len(encoded) == 3  # without a directory, each pass encodes again


def test_term_counter_keeps_frequent_terms_within_its_capacity() -> None:
    counter = TermCounter(capacity=50)
    for i in range(400):
        counter.add(["common", "often"] + [f"rare{i}-{k}" for k in range(3)] + [f"w{i % 7}"])
        assert len(counter.counts) <= 50
    assert counter.counts["common"] == 400 and counter.counts["often"] == 400
    assert counter.floor >= 1  # rare terms were dropped: the bound on undercounts


def test_term_counter_stays_within_its_cap_on_a_stream_far_larger() -> None:
    from collections import Counter

    rng = np.random.default_rng(5)
    counter = TermCounter(capacity=1000)
    truth: Counter[str] = Counter()
    for i in range(3000):  # 3000 documents: about 33,000 distinct terms, 33x the cap
        doc = [f"u{i}-{k}" for k in range(10)] + [f"z{int(z)}" for z in rng.zipf(1.5, 8)]
        doc += ["everywhere"]
        counter.add(doc)
        truth.update(set(doc))
        assert len(counter.counts) <= 1000
    facts = counter.facts()
    assert len(truth) > 30 * facts["capacity"]
    assert facts["prunes"] > 0 and 1000 < facts["largest"] <= 1000 + 19  # cap + one document
    assert counter.counts["everywhere"] == 3000 and facts["count_error_bound"] >= 1
    for term, held in counter.counts.items():  # never over, under by at most the bound
        assert truth[term] - facts["count_error_bound"] <= held <= truth[term]


def test_the_reservoir_and_the_calibration_sample_stay_within_their_settings() -> None:
    from tagger.stream_train import _count

    articles = generated(1200)
    counts = _count(lambda: iter(articles), TrainConfig(), stream_config(holdout=40), _ignore)
    assert counts.n == 1200 and len(counts.held) == 40  # the reservoir: `holdout` articles
    config = TrainConfig()
    config.tags.cv_positives = 30
    full = train_streaming(lambda: iter(articles), config, stream_config(epochs=1, holdout=40))
    capped = train_streaming(
        lambda: iter(articles), config, stream_config(epochs=1, holdout=40, calibration_per_tag=50)
    )
    n_tags = len(TOPICS)
    # every (article, tag) score kept when the cap is above the corpus; at most the
    # tag's positives cap plus `calibration_per_tag` negatives with it
    positives = [sum(t in a.tags for a in articles) for t in sorted(TOPICS)]
    every = sum(min(p, 30) + len(articles) - p for p in positives)
    assert full.tag_model.cv_metrics["calibration_entries"] == every
    assert capped.tag_model.cv_metrics["calibration_entries"] <= n_tags * (30 + 50)
    assert capped.manifest["config"]["stream"]["calibration_per_tag"] == 50
    test = generated(200, seed=1)
    assert micro_f1(capped, test) > 0.85


def _ignore(_stage: str, _done: int, _total: int) -> None:
    return None


def test_streamed_weights_are_pruned_by_their_own_tolerance() -> None:
    from dataclasses import replace

    articles = generated(500)
    config = TrainConfig()
    settings = stream_config(epochs=1, holdout=40)
    default = train_streaming(lambda: iter(articles), config, settings)
    weights = default.tag_model.cv_metrics["weights"]
    assert weights["prune_rule"] == "l2" and weights["prune_tolerance"] == 0.1
    # the in-memory rule's tolerance does not touch the streamed model
    other = replace(config, tags=replace(config.tags, prune_tolerance=0.5))
    same = train_streaming(lambda: iter(articles), other, settings)
    assert (same.tag_model.coef != default.tag_model.coef).nnz == 0
    looser = train_streaming(
        lambda: iter(articles), config, stream_config(epochs=1, holdout=40, prune_tolerance=0.5)
    )
    assert looser.tag_model.cv_metrics["weights"]["prune_tolerance"] == 0.5
    assert 0 < looser.tag_model.coef.nnz < default.tag_model.coef.nnz
    for bad in (-0.1, float("nan"), float("inf")):
        with pytest.raises(ConfigError, match=r"stream\.prune_tolerance"):
            StreamConfig(prune_tolerance=bad)
    with pytest.raises(ConfigError, match=r"stream\.calibration_per_tag"):
        StreamConfig.from_dict({"calibration_per_tag": 0})


def test_out_of_core_training_on_a_generated_stream() -> None:
    train, test = generated(900, seed=0), generated(200, seed=1)
    reads = []

    def source():
        reads.append(1)
        return iter(train)

    model = train_streaming(source, TrainConfig(), stream_config())
    # one counting pass, one featurizing pass; the other passes read the feature cache
    assert len(reads) == 2
    assert model.tag_model is not None and model.tag_model.labels == sorted(TOPICS)
    assert micro_f1(model, test) > 0.85
    corpus = model.manifest["corpus"]
    assert corpus["articles"] == 900 and corpus["held_out_for_calibration"] == 0
    assert corpus["calibration_sample"] == 150
    # every article's out-of-fold score of every tag was kept (the budget covers them)
    assert model.tag_model.cv_metrics["calibration_entries"] == 900 * len(TOPICS)
    s = model.predict(test[0])
    evidence = [e.value for t in s.tags for e in t.evidence if e.kind == "term"]
    topic_words = {w for words in TOPICS.values() for w in words.split()}
    assert evidence and set(evidence) & topic_words  # real n-grams, not hash buckets


def test_the_feature_cache_changes_nothing_but_the_reads(tmp_path: Path) -> None:
    train, reads = generated(500), []

    def source():
        reads.append(1)
        return iter(train)

    cached = train_streaming(source, TrainConfig(), stream_config(cache_dir=str(tmp_path)))
    assert len(reads) == 2 and list(tmp_path.iterdir()) == []  # removed when done
    plain = train_streaming(source, TrainConfig(), stream_config(cache=False))
    # counting, the NB-weighted member's log-count ratios, each epoch, the out-of-fold scores
    assert len(reads) == 2 + 1 + 1 + 3 + 1
    a, b = cached.tag_model, plain.tag_model
    assert (a.coef != b.coef).nnz == 0 and np.array_equal(a.intercept, b.intercept)
    assert np.array_equal(a.platt_a, b.platt_a)


def test_label_sorted_input_does_not_collapse_the_model() -> None:
    test = generated(200, seed=1)
    shuffled_model = train_streaming(lambda: iter(generated(900)), TrainConfig(), stream_config())
    sorted_model = train_streaming(
        lambda: iter(generated(900, sort=True)), TrainConfig(), stream_config()
    )
    good = micro_f1(shuffled_model, test)
    assert micro_f1(sorted_model, test) > good - 0.05
    probs = sorted_model.tag_model.predict_proba(sorted_model.featurizer.transform(test))
    assert (probs.max(axis=0) > 0.5).all()  # every tag is still predicted


def test_out_of_core_model_saves_and_loads_like_any_bundle(tmp_path: Path) -> None:
    model = train_streaming(lambda: iter(generated(600)), TrainConfig(), stream_config())
    model.save(tmp_path / "m")
    loaded = Tagger.load(tmp_path / "m")
    test = generated(30, seed=3)
    assert [s.to_dict() for s in loaded.predict(test)] == [s.to_dict() for s in model.predict(test)]
    # the training texts (held-out reservoir included) are known to evaluate and learn
    trained = generated(600)
    assert loaded.training_filter.articles == 600
    assert all(a in loaded.training_filter for a in trained)
    assert sum(a in loaded.training_filter for a in test) <= 1  # new texts (false positives)


def test_out_of_core_refuses_what_it_cannot_stream() -> None:
    # character n-grams asked for at any size (no size limit) cannot be streamed
    config = TrainConfig(features=FeatureConfig(char_ngrams=(3, 4), char_max_cells=0))
    with pytest.raises(InputError, match="word n-grams only"):
        train_streaming(lambda: iter(generated(50)), config, stream_config())
    with pytest.raises(InputError, match="empty"):
        train_streaming(lambda: iter([]), TrainConfig(), stream_config())


def test_out_of_core_leaves_the_size_limited_character_block_out() -> None:
    # a character block asked for within `char_max_cells` stops at that limit: an archive
    # streamed out of core is beyond it, so the model has word features only
    config = TrainConfig(features=FeatureConfig(char_ngrams=(3, 5)))
    assert config.features.char_max_cells > 0
    model = train_streaming(lambda: iter(generated(300)), config, stream_config())
    assert model.featurizer.char is None and model.featurizer.config.char_ngrams is None


def write_jsonl(path: Path, articles: list[Article]) -> Path:
    path.write_text("".join(json.dumps(a.to_dict()) + "\n" for a in articles), encoding="utf-8")
    return path


def test_cli_trains_out_of_core_and_counts_a_truncated_record(tmp_path: Path) -> None:
    corpus = write_jsonl(tmp_path / "c.jsonl", generated(500))
    with corpus.open("a", encoding="utf-8") as handle:
        handle.write('{"id": "cut", "title": "farm crops", "body": "the stream ends mid-rec')
    config = tmp_path / "c.toml"
    config.write_text("[stream]\nchunk = 50\nepochs = 2\nholdout = 80\n", encoding="utf-8")
    out = tmp_path / "m"
    result = CliRunner().invoke(
        app, ["train", str(corpus), "--out", str(out), "--config", str(config), "--out-of-core"]
    )
    assert result.exit_code == 0, result.output
    assert "c.jsonl:501: invalid JSON" in result.output  # counted once, not per pass
    assert result.output.count("c.jsonl:501") == 1
    assert "trained out of core on 500 articles (calibrated on out-of-fold scores)" in (
        " ".join(result.output.split())
    )
    assert Tagger.load(out).tag_model is not None
    # the config file can say it too (as an out-of-core bundle's manifest does); flags win
    config.write_text("[stream]\nout_of_core = true\nchunk = 50\nepochs = 1\n", encoding="utf-8")
    by_file = CliRunner().invoke(
        app, ["train", str(corpus), "-o", str(tmp_path / "f"), "-c", str(config)]
    )
    assert by_file.exit_code == 0 and "trained out of core" in by_file.output
    in_memory = CliRunner().invoke(
        app, ["train", str(corpus), "-o", str(tmp_path / "g"), "-c", str(config), "--in-memory"]
    )
    assert in_memory.exit_code == 0 and "trained out of core" not in in_memory.output
    args = ["train", str(corpus), "-o", str(tmp_path / "s"), "-c", str(config)]
    strict = CliRunner().invoke(app, [*args, "--out-of-core", "--strict"])
    assert strict.exit_code == 1
    refused = CliRunner().invoke(
        app, ["train", str(corpus), "-o", str(tmp_path / "r"), "--out-of-core", "--holdout", "0.2"]
    )
    assert refused.exit_code == 2 and "--holdout cannot be used with --out-of-core" in (
        refused.output
    )


def test_a_corpus_that_changes_between_passes_is_a_failure_not_a_model() -> None:
    """Later passes must read the articles the counting pass read (positions, folds and the
    reservoir are theirs): fewer, more or others end the run (exit 1) instead of training
    on a mix. Without the feature cache every pass is checked."""
    articles = generated(120)
    runs = [
        (articles[:80], True),
        (articles + generated(10, seed=5), False),
        (articles[::-1], True),
    ]
    for changed, cache in runs:
        reads = iter([articles, changed, changed, changed])
        with pytest.raises(InputError, match="the corpus changed during training") as info:
            train_streaming(lambda reads=reads: iter(next(reads)), None, stream_config(cache=cache))
        assert info.value.exit_code == 1


def test_cli_fails_when_a_file_of_an_input_folder_vanishes_between_passes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tagger.corpus.readers as readers

    folder = tmp_path / "archive"
    folder.mkdir()
    write_jsonl(folder / "a.jsonl", generated(150))
    b = write_jsonl(folder / "b.jsonl", generated(150, seed=1))
    read = readers.read_inputs

    def vanishing(*args: object, **kwargs: object):  # b.jsonl is removed after pass one
        yield from read(*args, **kwargs)  # type: ignore[arg-type]
        b.unlink(missing_ok=True)

    monkeypatch.setattr(readers, "read_inputs", vanishing)
    config = tmp_path / "c.toml"
    config.write_text("[stream]\nchunk = 50\nepochs = 1\nholdout = 80\n", encoding="utf-8")
    out = tmp_path / "m"
    args = ["train", str(folder), "-o", str(out), "-c", str(config), "--out-of-core"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1, result.output
    output = " ".join(result.output.split())
    assert "the corpus changed during training" in output, output
    assert "300 articles" in output and "150" in output
    assert not out.exists()
    # a file cut between the passes: its new skip is reported with the failure
    write_jsonl(b, generated(150, seed=1))

    def cutting(*args: object, **kwargs: object):
        yield from read(*args, **kwargs)  # type: ignore[arg-type]
        b.write_text(b.read_text(encoding="utf-8")[:-40], encoding="utf-8")

    monkeypatch.setattr(readers, "read_inputs", cutting)
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1 and "b.jsonl:150: invalid JSON" in result.output


def test_a_cache_dir_that_cannot_hold_the_cache_is_named_by_its_key(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(ConfigError, match=rf"stream.cache_dir {missing}: cannot hold"):
        train_streaming(lambda: iter(generated(20)), None, stream_config(cache_dir=str(missing)))


def test_a_full_disk_under_the_feature_cache_names_it_and_the_remedy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno
    import os

    from tagger.stream_train import Rows
    from tagger.writers import OutputError

    def full(*_args: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(Rows, "save", full)
    cache = FeatureCache(lambda: numbered_rows(list(range(25)), 10), tmp_path)
    with pytest.raises(OutputError) as caught:
        list(cache)
    assert str(caught.value).startswith(
        f"{tmp_path}: cannot write the feature cache (No space left on device): "
        "give [stream] cache_dir a folder with room, or set [stream] cache = false"
    )
    assert caught.value.exit_code == 1


def test_stream_loss_is_checked() -> None:
    from tagger.errors import ConfigError

    assert StreamConfig.from_dict({"loss": "squared_hinge"}).loss == "squared_hinge"
    with pytest.raises(ConfigError, match=r"stream\.loss must be one of"):
        StreamConfig.from_dict({"loss": "perceptron-ish"})


def random_labels(n: int) -> list[Article]:
    """Articles of random words whose tags are coin flips: nothing to learn but memory."""
    rng = np.random.default_rng(0)
    vocab = [f"w{i}x" for i in range(2000)]
    out = []
    for i in range(n):
        words = list(rng.choice(vocab, size=40))
        tags = [t for t, p in (("red", 0.5), ("blue", 0.3)) if rng.random() < p] or ["none"]
        out.append(Article(id=f"a{i}", title=" ".join(words[:3]), body=" ".join(words), tags=tags))
    return out


def test_calibration_scores_come_from_models_that_never_saw_the_article() -> None:
    from tagger.classify import platt_fit
    from tagger.evaluate import binarize

    articles = random_labels(300)
    config = StreamConfig(chunk=50, shuffle_buffer=100, epochs=10, alpha=1e-4, holdout=100)
    model = train_streaming(lambda: iter(articles), TrainConfig(), config)
    tags = model.tag_model
    decisions = tags.decision(model.featurizer.transform(articles))
    y = binarize([a.tags for a in articles], tags.labels).toarray()
    for j in range(len(tags.labels)):
        positives, negatives = decisions[y[:, j], j], decisions[~y[:, j], j]
        assert positives.min() > negatives.max()  # the final model memorised the coin flips
        steep, _ = platt_fit(decisions[:, j], y[:, j])
        # calibrated on scores of models that never saw the article: a nearly flat sigmoid
        assert abs(tags.platt_a[j]) < 0.25 * abs(steep)


def test_fold_of_is_seeded_and_balanced() -> None:
    positions = np.arange(10_000)
    folds = fold_of(positions, 5, seed=0)
    assert np.array_equal(folds, fold_of(positions, 5, seed=0))
    assert np.array_equal(fold_of(positions[::-1], 5, seed=0), folds[::-1])  # order-free
    assert not np.array_equal(folds, fold_of(positions, 5, seed=1))
    assert (np.abs(np.bincount(folds, minlength=5) - 2000) < 150).all()


def feed(sample: CalibrationSample, scores: np.ndarray, positive: np.ndarray, chunk: int) -> None:
    order = np.random.default_rng(3).permutation(len(scores))  # any order of the stream
    for start in range(0, len(order), chunk):
        rows = order[start : start + chunk]
        sample.add(rows, scores[rows], positive[rows])


def test_calibration_sample_keeps_everything_within_its_budget() -> None:
    from tagger.classify import OutOfFold

    rng = np.random.default_rng(0)
    scores, positive = rng.normal(size=500), rng.random(500) < 0.2
    sample = CalibrationSample(positives=200, top=200, sample=400, salt=1)
    feed(sample, scores, positive, 37)
    rows, kept, weights, flags = sample.result()
    full = OutOfFold.from_dense(scores.reshape(-1, 1), positive.reshape(-1, 1))
    assert np.array_equal(rows, full.rows[0]) and np.array_equal(kept, full.scores[0])
    assert np.array_equal(flags, full.positive[0]) and (weights == 1).all()


def test_calibration_sample_respects_its_budget_and_stands_for_all() -> None:
    rng = np.random.default_rng(0)
    n = 20_000
    scores, positive = rng.normal(size=n), rng.random(n) < 0.1
    scores[positive] += 2.0
    sample = CalibrationSample(positives=300, top=100, sample=200, salt=1)
    peak = 0
    order = np.random.default_rng(3).permutation(n)
    for start in range(0, n, 250):
        rows = order[start : start + 250]
        sample.add(rows, scores[rows], positive[rows])
        peak = max(peak, sum(sum(len(r) for r in side) for side in sample.rows))
    assert peak <= 2 * (300 + 300) + 250  # twice the budget, plus one chunk
    rows, kept, weights, flags = sample.result()
    assert flags.sum() == 300 and (~flags).sum() <= 300
    n_pos = int(positive.sum())
    assert np.isclose(weights[flags].sum(), n_pos)  # the positives stand for all of them
    assert np.isclose(weights[~flags].sum(), n - n_pos)  # and the negatives
    negatives = np.flatnonzero(~positive)
    top = negatives[np.argsort(-scores[negatives])[:100]]
    assert set(top) <= set(rows[~flags])  # the highest-scoring negatives, exactly
    assert (weights[np.isin(rows, top)] == 1).all()
    assert np.array_equal(kept, scores[rows])
    again = CalibrationSample(positives=300, top=100, sample=200, salt=1)
    feed(again, scores, positive, 999)
    assert np.array_equal(again.result()[0], rows)  # the same sample, whatever the order


def test_held_out_calibration_is_still_available() -> None:
    train, test = generated(900, seed=0), generated(200, seed=1)
    model = train_streaming(lambda: iter(train), TrainConfig(), stream_config(folds=0))
    assert model.manifest["corpus"]["held_out_for_calibration"] == 150
    assert micro_f1(model, test) > 0.85


def test_sections_learn_and_calibrate_out_of_fold() -> None:
    def with_sections(articles: list[Article]) -> list[Article]:
        for a in articles:
            a.section = a.tags[0]
        return articles

    train, test = with_sections(generated(900)), with_sections(generated(200, seed=1))
    model = train_streaming(lambda: iter(train), TrainConfig(), stream_config())
    sections = model.section_model
    assert sections is not None and sections.labels == sorted(TOPICS)
    assert "out-of-fold" in sections.cv_metrics["note"] and sections.temperature > 0
    assert model.evaluate(test)["sections"]["accuracy"] > 0.6


def test_a_chunk_entirely_in_one_fold_trains() -> None:
    # chunks of one article: fold model i gets nothing from the chunks of fold i
    articles = generated(12)
    config = stream_config(chunk=1, shuffle_buffer=4, epochs=1, holdout=5)
    model = train_streaming(lambda: iter(articles), TrainConfig(), config)
    assert model.tag_model is not None and model.tag_model.labels == sorted(TOPICS)


def test_a_bias_feature_takes_the_place_of_the_intercept() -> None:
    from tagger.stream_train import _pruned, _sgd, _with_bias

    x = sp.csr_matrix(np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.0, 0.0]]))
    assert _with_bias(x, 0.0) is x
    xb = _with_bias(x, 2.0)
    assert xb.shape == (4, 3) and np.array_equal(xb.toarray()[:, 2], [2.0] * 4)
    model = _sgd(StreamConfig(bias=2.0), 1e-3, 0, bias=2.0)
    model.partial_fit(xb, np.array([1, 0, 1, 0], dtype=np.int8), classes=np.array([0, 1]))
    assert not model.fit_intercept
    keep, w, intercept, _ = _pruned(model, 0.0, bias=2.0)
    assert set(keep) <= {0, 1} and np.isclose(intercept, 2.0 * model.coef_[0][-1])
    full = model.decision_function(xb)
    dense = np.zeros(2)
    dense[keep] = w
    assert np.allclose(x @ dense + intercept, full, atol=1e-5)
    # trained on a stream: the bundle's weights have the featurizer's columns only
    train, test = generated(600), generated(200, seed=1)
    for bias in (1.0, 0.0):  # the default, and SGD's own intercept
        trained = train_streaming(lambda: iter(train), TrainConfig(), stream_config(bias=bias))
        assert trained.tag_model.coef.shape[1] == trained.featurizer.n_features
        assert micro_f1(trained, test) > 0.85


def test_tag_counts_stay_within_their_cap_when_every_article_has_its_own_tag() -> None:
    from tagger.stream_train import _count

    # an archive whose tags grow with it: each article also carries a tag of its own
    articles = generated(600)
    for i, article in enumerate(articles):
        article.tags = [*article.tags, f"story-{i}"]
    counts = _count(
        lambda: iter(articles), TrainConfig(), stream_config(max_distinct_tags=40), _ignore
    )
    facts = counts.tags.facts()
    assert facts["prunes"] > 0 and facts["largest"] <= 40 + 3  # the cap + one article's tags
    assert len(counts.tags.counts) <= 40
    for topic in TOPICS:  # the real tags are never dropped, and counted exactly
        assert counts.tags.counts[topic] == sum(topic in a.tags for a in articles)

    config = TrainConfig()
    config.tags.min_tag_support = 2  # the default past 1,000 distinct tags (train.MANY_TAGS)
    model = train_streaming(
        lambda: iter(articles), config, stream_config(epochs=1, max_distinct_tags=40)
    )
    assert model.tag_model.labels == sorted(TOPICS)
    assert model.manifest["corpus"]["tag_dictionary"]["prunes"] == facts["prunes"]
    assert any("more than 40 distinct tags" in w for w in model.warnings)
    assert micro_f1(model, generated(200, seed=1)) > 0.85


def test_max_distinct_tags_is_checked() -> None:
    with pytest.raises(ConfigError, match="max_distinct_tags"):
        StreamConfig(max_distinct_tags=0)
