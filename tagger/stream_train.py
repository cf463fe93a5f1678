"""Out-of-core training: a corpus larger than memory, streamed in chunks.

`train_streaming(source, config)` reads the corpus (a function returning a fresh
iterator of Articles) several times and never holds it:

1. A counting pass: document frequencies of word n-grams with bounded memory (a
   dictionary pruned of its rarest entries whenever it outgrows `max_terms`, so only
   rare n-grams can be undercounted), tag and section counts, and a uniform held-out
   reservoir of articles (priority sampling: the articles with the smallest random
   keys) for calibration.
2. The vocabulary: the `max_features` most frequent n-grams within the document
   frequency limits, with smoothed idf as scikit-learn computes it. The featurizer is
   an ordinary `Featurizer`, so the bundle format, the predict path and the evidence
   (real n-grams, not hash buckets) are those of in-memory models.
3. Training passes: each tag is a linear SVM fitted by averaged SGD (`SGDClassifier`,
   hinge loss, `partial_fit`) over minibatches drawn from a shuffle buffer, so input
   sorted by label does not drive the weights to the last label seen. Tags are
   trained `tags_per_pass` at a time (their dense weights are what training holds);
   each pass streams the corpus `epochs` times. Weights are pruned into the sparse
   tag model as each block ends. Sections (if any) learn in the first block's passes.
4. Calibration: Platt scaling and thresholds per tag, the section temperature, from
   the held-out reservoir, which training never sees.

Memory is bounded by `max_terms`, the reservoir, the shuffle buffer and one block of
tag weights: it does not grow with the number of articles.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from tagger.corpus.article import Article
from tagger.errors import InputError
from tagger.pipeline import iter_batches

Progress = Callable[[str, int, int], None]
Source = Callable[[], Iterable[Article]]

# `tagger train` streams by itself above this much input (bytes of corpus files).
AUTO_OUT_OF_CORE_BYTES = 1_000_000_000
LOSSES = ("hinge", "squared_hinge", "log_loss", "modified_huber")


def _no_progress(_stage: str, _done: int, _total: int) -> None:
    return None


@dataclass
class StreamConfig:
    """Settings of out-of-core training (`[stream]` in a training config)."""

    chunk: int = 1000  # articles per minibatch
    shuffle_buffer: int = 20_000  # articles held to shuffle the stream
    # Chosen on a development split of ModApte training (bench/stream_dev.py): alpha 1e-5
    # and 10 epochs gave micro-F1 0.9096 against 0.9063 with 5 and 0.9157 in memory.
    epochs: int = 10  # passes over the stream per block of tags
    alpha: float = 1e-5  # SGD regularisation (per article)
    loss: str = "hinge"  # SGDClassifier's loss: hinge, squared_hinge, log_loss, modified_huber
    holdout: int = 5000  # held-out reservoir for calibration (at most)
    holdout_fraction: float = 0.1  # ... and at most this share of the corpus
    max_terms: int = 2_000_000  # n-grams counted at once in the counting pass
    tags_per_pass: int = 0  # 0: as many as fit in `weights_mb`
    weights_mb: int = 512  # memory for one block of dense tag weights

    def __post_init__(self) -> None:
        from tagger.errors import ConfigError

        if self.loss not in LOSSES:
            raise ConfigError(f"stream.loss must be one of {', '.join(LOSSES)}, not {self.loss!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StreamConfig:
        from tagger.errors import ConfigError

        unknown = set(data) - set(cls.__dataclass_fields__) - {"out_of_core"}
        if unknown:
            raise ConfigError(f"unknown stream config keys: {', '.join(sorted(unknown))}")
        try:
            return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})
        except TypeError as exc:
            raise ConfigError(f"invalid stream config: {exc}") from exc


def shuffled(items: Iterable[Any], size: int, rng: np.random.Generator) -> Iterator[Any]:
    """The items in a random order, holding at most `size` of them: each incoming item
    takes the place of a random held one, which is emitted; the rest at the end."""
    buffer: list[Any] = []
    for item in items:
        if len(buffer) < size:
            buffer.append(item)
            continue
        j = int(rng.integers(size))
        out, buffer[j] = buffer[j], item
        yield out
    order = rng.permutation(len(buffer))
    for j in order:
        yield buffer[j]


class TermCounter:
    """Document frequencies of n-grams in bounded memory.

    When more than `capacity` n-grams are held, those with the lowest counts are
    dropped (a frequent n-gram is never dropped for a rare one); `floor` records the
    largest count dropped, the most any held n-gram may be undercounted.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.counts: Counter[str] = Counter()
        self.floor = 0

    def add(self, grams: Iterable[str]) -> None:
        self.counts.update(set(grams))
        if len(self.counts) > self.capacity:
            self._prune()

    def _prune(self) -> None:
        values = np.fromiter(self.counts.values(), dtype=np.int64, count=len(self.counts))
        cut = int(np.partition(values, len(values) // 2)[len(values) // 2])
        self.floor = max(self.floor, cut)
        self.counts = Counter({t: c for t, c in self.counts.items() if c > cut})


@dataclass
class _Pass1:
    n: int
    terms: TermCounter
    tags: Counter[str]
    sections: Counter[str]
    held: list[tuple[float, int, Article]]
    with_tags: int = 0
    digest_sum: int = 0  # order-independent corpus fingerprint: sum of article hashes


def _article_hash(article: Article) -> int:
    import hashlib
    import json

    record = [article.id, article.title, article.body, article.section, sorted(article.tags)]
    return int(hashlib.sha256(json.dumps(record, ensure_ascii=False).encode()).hexdigest(), 16)


def _count(source: Source, config: Any, stream: StreamConfig, progress: Progress) -> _Pass1:
    from tagger.features import TfidfBlock, article_features_text

    block = TfidfBlock("word", config.features.word_ngrams, True, True, [], np.zeros(0))
    rng = np.random.default_rng([config.seed, 1])
    counter = TermCounter(stream.max_terms)
    tags: Counter[str] = Counter()
    sections: Counter[str] = Counter()
    held: list[tuple[float, int, Article]] = []  # max-heap on -key: the smallest keys
    n = with_tags = digest = 0
    for article in source():
        digest = (digest + _article_hash(article)) % (1 << 256)
        with_tags += bool(article.tags)
        counter.add(block.analyze(article_features_text(article, config.features.title_repeat)))
        tags.update(set(article.tags))
        if article.section:
            sections[article.section] += 1
        key = float(rng.random())
        if len(held) < stream.holdout:
            heapq.heappush(held, (-key, n, article))
        elif key < -held[0][0]:
            heapq.heapreplace(held, (-key, n, article))
        n += 1
        if n % 10_000 == 0:
            progress("stream: counting", n, 0)
    return _Pass1(n, counter, tags, sections, held, with_tags, digest)


def _vocabulary(counts: _Pass1, config: Any) -> Any:
    """The word block: the most frequent n-grams within the df limits, with idf."""
    from tagger.features import TfidfBlock

    cfg = config.features
    n = counts.n
    max_df = cfg.word_max_df * n if isinstance(cfg.word_max_df, float) else cfg.word_max_df
    kept = [(t, c) for t, c in counts.terms.counts.items() if cfg.word_min_df <= c <= max_df]
    kept.sort(key=lambda tc: (-tc[1], tc[0]))
    if cfg.max_features:
        kept = kept[: cfg.max_features]
    kept.sort()  # column order: alphabetical, as scikit-learn
    if not kept:
        raise InputError(
            f"cannot learn features from {n} article(s) streamed: no word is in at least "
            f"{cfg.word_min_df} of them"
        )
    df = np.array([c for _, c in kept], dtype=np.float64)
    idf = (np.log((1.0 + n) / (1.0 + df)) + 1.0).astype(np.float32)
    return TfidfBlock("word", cfg.word_ngrams, True, True, [t for t, _ in kept], idf)


def _y_block(batch: list[Article], index: dict[str, int], width: int) -> sp.csc_matrix:
    rows, cols = [], []
    for i, article in enumerate(batch):
        for tag in set(article.tags):
            j = index.get(tag)
            if j is not None:
                rows.append(i)
                cols.append(j)
    return sp.csc_matrix(
        (np.ones(len(rows), dtype=bool), (rows, cols)), shape=(len(batch), width), dtype=bool
    )


def train_streaming(
    source: Source,
    config: Any = None,
    stream: StreamConfig | None = None,
    *,
    progress: Progress = _no_progress,
) -> Any:
    """Train a Tagger out of core; `source()` must give the same articles each call.

    Returns a `tagger.api.Tagger` whose manifest records the streaming settings.
    """
    from sklearn.linear_model import SGDClassifier

    from tagger.api import Tagger, TrainConfig, choose_tag_labels
    from tagger.classify import (
        OutOfFold,
        SectionModel,
        TagModel,
        calibrate_tags,
        fit_temperature,
        platt_apply,
        prune_weights,
        sparse_rows,
    )
    from tagger.evaluate import binarize, multiclass_metrics, multilabel_metrics
    from tagger.features import Featurizer

    config = config or TrainConfig()
    stream = stream or StreamConfig()
    if config.features.entity_weight > 0 or config.features.char_ngrams:
        raise InputError(
            "out-of-core training uses word n-grams only: turn off entity and character "
            "features in the config"
        )
    counts = _count(source, config, stream, progress)
    if counts.n == 0:
        raise InputError("the training corpus is empty")
    n_held = max(1, min(len(counts.held), int(stream.holdout_fraction * counts.n)))
    held_items = sorted(counts.held, key=lambda h: -h[0])[:n_held]
    held_ids = {position for _, position, _ in held_items}
    held = [article for _, _, article in sorted(held_items, key=lambda h: h[1])]
    featurizer = Featurizer(config.features)
    featurizer.word = _vocabulary(counts, config)
    n_features = len(featurizer.word.terms)

    warnings: list[str] = []
    labels: list[str] = []
    if counts.tags:
        labels, notes = choose_tag_labels(counts.tags, config.tags)
        warnings.extend(notes)
    sections = sorted(counts.sections) if len(counts.sections) > 1 else []
    if len(counts.sections) == 1:
        warnings.append("only one section in the corpus: no section model trained")
    if not labels and not sections:
        raise InputError("the training corpus has no sections and no tags to learn")

    per_pass = stream.tags_per_pass or max(1, (stream.weights_mb << 20) // (n_features * 16))
    blocks = [labels[i : i + per_pass] for i in range(0, len(labels), per_pass)] or [[]]
    index = {t: j for j, t in enumerate(labels)}
    rows: list[tuple[np.ndarray, np.ndarray]] = []
    intercepts: list[float] = []
    before = 0
    section_model = None
    section_index = {s: i for i, s in enumerate(sections)}
    section_sgd = None
    if sections:
        section_sgd = SGDClassifier(
            loss=stream.loss, alpha=stream.alpha, average=True, random_state=config.seed
        )
    total = len(blocks) * stream.epochs
    step = 0
    from tagger.overlap import TrainingFilter

    # the training texts, for evaluate's and learn's overlap checks (the first pass fills it)
    training_filter = TrainingFilter.build(((a.title, a.body) for a in held), counts.n)
    for b, block in enumerate(blocks):
        start = index[block[0]] if block else 0
        models = [
            SGDClassifier(
                loss=stream.loss, alpha=stream.alpha, average=True, random_state=config.seed
            )
            for _ in block
        ]
        seen = np.zeros(len(block), dtype=np.int64)  # positives seen per tag
        for epoch in range(stream.epochs):
            progress("stream: training", step, total)
            step += 1
            rng = np.random.default_rng([config.seed, b, epoch])
            training = (a for i, a in enumerate(source()) if i not in held_ids)
            if b == 0 and epoch == 0:
                training = training_filter.watch(training)
            for batch in iter_batches(shuffled(training, stream.shuffle_buffer, rng), stream.chunk):
                x = featurizer.transform(batch)
                if block:
                    y = _y_block(batch, index, len(labels))[:, start : start + len(block)]
                    if epoch == 0:
                        seen += np.diff(y.indptr)
                    for j, model in enumerate(models):
                        column = np.zeros(len(batch), dtype=np.int8)
                        column[y.indices[y.indptr[j] : y.indptr[j + 1]]] = 1
                        model.partial_fit(x, column, classes=np.array([0, 1], dtype=np.int8))
                if section_sgd is not None and b == 0:
                    picked = [i for i, a in enumerate(batch) if a.section in section_index]
                    if picked:
                        section_sgd.partial_fit(
                            x[np.array(picked)],
                            np.array([section_index[batch[i].section] for i in picked]),
                            classes=np.arange(len(sections)),
                        )
        for j, model in enumerate(models):
            if seen[j] == 0:  # every positive was held out: a constant model
                rows.append((np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)))
                intercepts.append(-1.0)
                continue
            w = model.coef_[0].astype(np.float64)
            before += int(np.count_nonzero(w))
            keep = prune_weights(w, config.tags.prune_tolerance)
            rows.append((keep, w[keep].astype(np.float32)))
            intercepts.append(float(model.intercept_[0]))
        del models
    progress("stream: calibration", total, total)

    x_held = featurizer.transform(held)
    tag_model = None
    if labels:
        coef = sparse_rows(rows, n_features)
        intercept = np.array(intercepts, dtype=np.float32)
        y_held = binarize([a.tags for a in held], labels)
        decision = np.asarray((x_held @ coef.T).toarray()) + intercept
        kept = OutOfFold.from_dense(decision, y_held)
        a, b_, thresholds = calibrate_tags(kept, None, config.tags)
        tag_model = TagModel(
            labels, coef, intercept, a, b_, thresholds, {}, config.tags.best_tag_floor
        )
        probs = platt_apply(decision, a, b_)
        chosen = tag_model.select(probs)
        tag_model.cv_metrics = multilabel_metrics(y_held, chosen, probs, labels)
        tag_model.cv_metrics["note"] = (
            f"held-out reservoir of {len(held)} streamed articles; thresholds were tuned on "
            "it, so these figures are somewhat optimistic"
        )
        tag_model.cv_metrics["weights"] = {
            "nonzero_before_pruning": before,
            "nonzero": int(coef.nnz),
            "prune_tolerance": config.tags.prune_tolerance,
        }
    if section_sgd is not None and hasattr(section_sgd, "coef_"):
        coef_s = section_sgd.coef_.astype(np.float32)
        intercept_s = section_sgd.intercept_.astype(np.float32)
        if len(sections) == 2:  # one row for two classes: +w for the second
            coef_s = np.vstack([-coef_s[0], coef_s[0]])
            intercept_s = np.array([-intercept_s[0], intercept_s[0]], dtype=np.float32)
        idx = [i for i, a in enumerate(held) if a.section in section_index]
        y_index = np.array([section_index[held[i].section] for i in idx])
        temperature = 1.0
        section_model = SectionModel(sections, coef_s, intercept_s, temperature)
        if idx:
            decisions = section_model.decision(x_held[np.array(idx)])
            section_model.temperature = fit_temperature(decisions, y_index)
            predicted = decisions.argmax(axis=1)
            section_model.cv_metrics = multiclass_metrics(
                [sections[i] for i in y_index], [sections[i] for i in predicted], sections
            )
            section_model.cv_metrics["note"] = f"held-out reservoir of {len(held)} articles"

    tagger = Tagger(featurizer, section_model, tag_model, {})
    tagger.manifest = _manifest(tagger, config, stream, counts, held, warnings)
    tagger.training_filter = training_filter
    tagger.warnings = warnings
    return tagger


def _manifest(
    tagger: Any,
    config: Any,
    stream: StreamConfig,
    counts: _Pass1,
    held: list[Article],
    warnings: list[str],
) -> dict[str, Any]:
    import hashlib

    from tagger.model_bundle import model_facts

    tags, sections = tagger.tag_model, tagger.section_model
    return {
        "name": config.name,
        "config": {**config.to_dict(), "stream": {**stream.to_dict(), "out_of_core": True}},
        "corpus": {
            "fingerprint": hashlib.sha256(counts.digest_sum.to_bytes(32, "big")).hexdigest(),
            "articles": counts.n,
            "with_section": int(sum(counts.sections.values())),
            "with_tags": counts.with_tags,
            "held_out_for_calibration": len(held),
            "term_count_error_bound": counts.terms.floor,
        },
        **model_facts(tagger.featurizer, sections, tags),
        "entities": None,
        "warnings": warnings,
    }
