"""Out-of-core training on generated streams: shuffling, label-sorted input, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tagger.api import Tagger, TrainConfig
from tagger.cli import app
from tagger.corpus.article import Article
from tagger.errors import InputError
from tagger.features import FeatureConfig
from tagger.pipeline import iter_batches
from tagger.stream_train import StreamConfig, TermCounter, shuffled, train_streaming

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


def test_shuffle_buffer_holds_at_most_its_size_and_loses_nothing() -> None:
    out = list(shuffled(range(1000), 50, np.random.default_rng(0)))
    assert sorted(out) == list(range(1000))
    assert out != list(range(1000))
    # The k-th item out leaves when item k + 50 comes in: never more than 50 are held.
    assert all(value <= k + 50 for k, value in enumerate(out))
    assert [len(c) for c in iter_batches(range(7), 3)] == [3, 3, 1]


def test_shuffle_buffer_mixes_label_sorted_input() -> None:
    labels = [0] * 500 + [1] * 500
    out = list(shuffled(labels, 300, np.random.default_rng(1)))
    # Unshuffled, items 200-599 hold 300 zeros then 100 ones; the buffer mixes them.
    share = float(np.mean(out[200:600]))
    assert 0.35 < share < 0.85
    assert sum(out[:500]) > 100  # ones reach the first half of the stream


def test_term_counter_keeps_frequent_terms_within_its_capacity() -> None:
    counter = TermCounter(capacity=50)
    for i in range(400):
        counter.add(["common", "often"] + [f"rare{i}-{k}" for k in range(3)] + [f"w{i % 7}"])
        assert len(counter.counts) <= 50
    assert counter.counts["common"] == 400 and counter.counts["often"] == 400
    assert counter.floor >= 1  # rare terms were dropped: the bound on undercounts


def test_out_of_core_training_on_a_generated_stream() -> None:
    train, test = generated(900, seed=0), generated(200, seed=1)
    reads = []

    def source():
        reads.append(1)
        return iter(train)

    model = train_streaming(source, TrainConfig(), stream_config())
    assert len(reads) == 1 + 3  # one counting pass, then one per epoch
    assert model.tag_model is not None and model.tag_model.labels == sorted(TOPICS)
    assert micro_f1(model, test) > 0.85
    corpus = model.manifest["corpus"]
    assert corpus["articles"] == 900 and corpus["held_out_for_calibration"] == 150
    s = model.predict(test[0])
    evidence = [e.value for t in s.tags for e in t.evidence if e.kind == "term"]
    topic_words = {w for words in TOPICS.values() for w in words.split()}
    assert evidence and set(evidence) & topic_words  # real n-grams, not hash buckets


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
    config = TrainConfig(features=FeatureConfig(char_ngrams=(3, 4)))
    with pytest.raises(InputError, match="word n-grams only"):
        train_streaming(lambda: iter(generated(50)), config, stream_config())
    with pytest.raises(InputError, match="empty"):
        train_streaming(lambda: iter([]), TrainConfig(), stream_config())


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
    assert "trained out of core on 500 articles" in result.output
    assert Tagger.load(out).tag_model is not None
    args = ["train", str(corpus), "-o", str(tmp_path / "s"), "-c", str(config)]
    strict = CliRunner().invoke(app, [*args, "--out-of-core", "--strict"])
    assert strict.exit_code == 1
    refused = CliRunner().invoke(
        app, ["train", str(corpus), "-o", str(tmp_path / "r"), "--out-of-core", "--holdout", "0.2"]
    )
    assert refused.exit_code == 2 and "--holdout cannot be used with --out-of-core" in (
        refused.output
    )


def test_stream_loss_is_checked() -> None:
    from tagger.errors import ConfigError

    assert StreamConfig.from_dict({"loss": "squared_hinge"}).loss == "squared_hinge"
    with pytest.raises(ConfigError, match=r"stream\.loss must be one of"):
        StreamConfig.from_dict({"loss": "perceptron-ish"})
