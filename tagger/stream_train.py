"""Out-of-core training: a corpus larger than memory, streamed in chunks.

`train_streaming(source, config)` reads the corpus (a function returning a fresh
iterator of Articles) several times and never holds it:

1. A counting pass: document frequencies of word n-grams with bounded memory (a
   dictionary pruned of its rarest entries whenever it outgrows `max_terms`, so only
   rare n-grams can be undercounted), tag and section counts, and a uniform reservoir
   sample of articles (priority sampling: the articles with the smallest random keys).
2. The vocabulary: the `max_features` most frequent n-grams within the document
   frequency limits, with smoothed idf as scikit-learn computes it. The featurizer is
   an ordinary `Featurizer`, so the bundle format, the predict path and the evidence
   (real n-grams, not hash buckets) are those of in-memory models.
3. Training passes: each tag is a linear classifier fitted by averaged SGD
   (`SGDClassifier`, modified Huber loss, `partial_fit`) over minibatches drawn from a
   shuffle buffer, so input sorted by label does not drive the weights to the last label
   seen. The regularisation is LinearSVC's (alpha = 1 / (C x articles)) unless set.
   With `folds` = k, every article falls in one of k folds by a seeded hash of its
   position in the stream, and each tag has k + 1 models: the final one sees every
   article, fold model i never sees fold i.
   Tags are trained `tags_per_pass` at a time (their dense weights are what training
   holds); each block streams the corpus `epochs` times, then once more to score every
   article with the fold model that never saw it. Sections learn in the first block.
   With `tags.nb_weighted` (the in-memory model's NB-weighted member), each of a tag's
   models has a twin learned on the features times the tag's log-count ratio
   (`classify.nb_ratio`, from the feature sums over the model's rows: one more pass over
   the block, `block_ratios`); the two are averaged (`classify.mix_member`), a linear
   model again, and a tag keeps the mix only where its out-of-fold F1 gains by more than
   `tags.nb_min_gain` (`classify.nb_member_choice`; with `folds` = 0, on the held-out
   reservoir). The twins and the ratios count against `weights_mb` (`block_bytes_per_tag`).
4. Calibration: Platt scaling and thresholds per tag, by `classify.calibrate_tags` as
   in memory, on those out-of-fold scores, kept as they stream by within the in-memory
   path's budget and at most `calibration_per_tag` negatives a tag (`CalibrationSample`:
   a tag's positives up to `tags.cv_positives`, its top negatives and a uniform sample of
   the others, weighted). The section temperature,
   the name rule and the model card's figures use the out-of-fold scores of the
   reservoir sample. With `folds` = 0, the reservoir is held out of training instead and
   everything is calibrated on it (one model per tag: cheaper, weaker).

Memory is bounded by settings, not by the number of articles: `max_terms` and
`max_distinct_tags` (the counting pass's n-gram and tag counts), `holdout` (the
reservoir), `shuffle_buffer` and `chunk`, `calibration_per_tag` and `tags.cv_positives`
(a tag's calibration sample), `weights_mb` (one block of dense tag weights); the final
model grows with tags and their kept weights. What grows with the number of articles is
the training-text Bloom filter (`overlap.TrainingFilter`, about 1.8 bytes an article) and
the feature cache, on disk. docs/scale.md has the formula.
"""

from __future__ import annotations

import heapq
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from tagger.corpus.article import Article
from tagger.errors import EXIT_FAILED, ConfigError, InputError
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

    # articles per minibatch (partial_fit costs O(features) a call: larger chunks pay it
    # less often; the updates are per article either way)
    chunk: int = 5000
    shuffle_buffer: int = 20_000  # articles held to shuffle the stream
    epochs: int = 10  # passes over the stream per block of tags
    # SGD regularisation per article; 0: 1 / (tags.c x training articles), the
    # regularisation of the in-memory LinearSVC with the same C.
    alpha: float = 0.0
    # SGDClassifier's loss: modified_huber (a smoothed hinge, chosen on the development
    # split), hinge, squared_hinge (LinearSVC's; its unbounded gradient can diverge with a
    # small alpha), log_loss
    loss: str = "modified_huber"
    # Tags' intercept. > 0: a constant feature of this value, learned and regularised like
    # any weight, as LinearSVC's intercept_scaling does (chosen on the by-date development
    # split); 0: SGD's own intercept, which scikit-learn moves at 1% of the learning rate
    # on sparse rows, so it stays near 0 and the weights carry each tag's prior.
    bias: float = 1.0
    # Out-of-fold calibration: each tag also has one model per fold that never sees that
    # fold's articles (k + 1 models in all). 0: calibrate on a held-out reservoir instead.
    folds: int = 5
    holdout: int = 5000  # reservoir sample of articles (held out of training if folds is 0)
    holdout_fraction: float = 0.1  # ... and at most this share of the corpus (folds 0 only)
    max_terms: int = 2_000_000  # n-grams counted at once in the counting pass
    # Distinct tags counted at once in the counting pass: past it the rarest half is
    # dropped, as for n-grams (an archive whose tags keep growing with it, say one of its
    # own on each article, would otherwise hold a count for every one of them). Far more
    # than a model can learn; kept tags are undercounted by at most the recorded bound.
    max_distinct_tags: int = 1_000_000
    # Out-of-fold scores a tag keeps for calibration besides its positives (its top
    # negatives and a uniform sample of the others, half each), at most; the in-memory
    # budget (tags.calibration_entries over the tags) applies when it is smaller. A bound
    # on what the scoring pass holds (twice this a tag while streaming) that does not grow
    # with the corpus: a corpus of more than about twice this many articles reaches it.
    calibration_per_tag: int = 30_000
    # Pruning of the streamed weights (the "l2" rule, `classify.prune_weights`: no
    # L2-normalised article's decision moves by more). Its own setting: `tags.prune_tolerance`
    # belongs to the in-memory "articles" rule; every out-of-core setting was chosen at 0.1.
    prune_tolerance: float = 0.1
    tags_per_pass: int = 0  # 0: as many as fit in `weights_mb`
    # memory for one block of dense tag weights (all k + 1 models; with `tags.nb_weighted`,
    # their NB-weighted twins and log-count ratios too: `block_bytes_per_tag`)
    weights_mb: int = 512
    # Feature cache: the first training pass writes each chunk's feature rows and labels to
    # disk (about 8 bytes a non-zero), and every later pass reads them back instead of
    # reading, cleaning and featurizing the corpus again. Removed when training ends.
    cache: bool = True
    cache_dir: str = ""  # where the cache goes ("": the system's temporary directory)

    def __post_init__(self) -> None:
        from tagger.errors import ConfigError

        if self.loss not in LOSSES:
            raise ConfigError(f"stream.loss must be one of {', '.join(LOSSES)}, not {self.loss!r}")
        if self.folds == 1 or self.folds < 0:
            raise ConfigError(f"stream.folds must be 0 or at least 2, not {self.folds}")
        if not 0 <= self.prune_tolerance < float("inf"):  # NaN fails too
            raise ConfigError(
                f"stream.prune_tolerance must be a number >= 0, not {self.prune_tolerance!r}"
            )
        if self.max_distinct_tags < 1:
            raise ConfigError(
                f"stream.max_distinct_tags must be at least 1, not {self.max_distinct_tags}"
            )
        if self.calibration_per_tag < 1:
            raise ConfigError(
                f"stream.calibration_per_tag must be at least 1, not {self.calibration_per_tag}"
            )

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


@dataclass
class Rows:
    """Featurized articles of the stream: feature rows, stream positions, tag labels (all
    learned tags) and section index (-1: none), row for row."""

    x: sp.csr_matrix  # float32
    positions: np.ndarray  # int64
    y: sp.csr_matrix  # bool, articles x learned tags
    section: np.ndarray  # int64

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def take(self, index: np.ndarray) -> Rows:
        return Rows(self.x[index], self.positions[index], self.y[index], self.section[index])

    @staticmethod
    def stack(parts: list[Rows]) -> Rows:
        if len(parts) == 1:
            return parts[0]
        return Rows(
            sp.vstack([p.x for p in parts], format="csr"),
            np.concatenate([p.positions for p in parts]),
            sp.vstack([p.y for p in parts], format="csr"),
            np.concatenate([p.section for p in parts]),
        )

    def save(self, path: Path) -> None:
        np.savez(
            path,
            data=self.x.data,
            indices=self.x.indices,
            indptr=self.x.indptr,
            width=np.array(self.x.shape[1]),
            positions=self.positions,
            y_indices=self.y.indices,
            y_indptr=self.y.indptr,
            y_width=np.array(self.y.shape[1]),
            section=self.section,
        )

    @classmethod
    def load(cls, path: Path) -> Rows:
        with np.load(path) as f:
            n = len(f["positions"])
            x = sp.csr_matrix((f["data"], f["indices"], f["indptr"]), shape=(n, int(f["width"])))
            y_indices = f["y_indices"]
            y = sp.csr_matrix(
                (np.ones(len(y_indices), dtype=bool), y_indices, f["y_indptr"]),
                shape=(n, int(f["y_width"])),
            )
            return cls(x, f["positions"], y, f["section"])


class FeatureCache:
    """The featurized stream on disk: written chunk by chunk by the first pass that reads
    the corpus, read back by every later pass (in stream order). Without a directory,
    every pass featurizes the corpus again."""

    def __init__(self, encode: Callable[[], Iterator[Rows]], directory: Path | None) -> None:
        self.encode = encode
        self.directory = directory
        self.chunks = 0
        self.complete = False

    def __iter__(self) -> Iterator[Rows]:
        if self.complete and self.directory is not None:
            for i in range(self.chunks):
                yield Rows.load(self.directory / f"{i:06d}.npz")
            return
        for i, rows in enumerate(self.encode()):
            if self.directory is not None:
                try:
                    rows.save(self.directory / f"{i:06d}.npz")
                except OSError as exc:
                    from tagger.writers import OutputError

                    raise OutputError(
                        f"{self.directory}: cannot write the feature cache "
                        f"({exc.strerror or exc}): give [stream] cache_dir a folder with room, "
                        "or set [stream] cache = false to featurize the corpus on every pass"
                    ) from exc
                self.chunks = i + 1
            yield rows
        self.complete = True


def shuffled_rows(
    chunks: Iterable[Rows], size: int, batch: int, rng: np.random.Generator
) -> Iterator[Rows]:
    """Minibatches of `batch` rows in a random order (a shuffle buffer), holding fewer than
    `size` + 2 x `batch` rows when chunks have at most `batch` rows: once `size` + `batch`
    are held, each minibatch is `batch` held rows drawn at random without replacement,
    and the next chunk takes their place; the rest in a random order at the end."""
    pool: Rows | None = None
    for rows in chunks:
        pool = rows if pool is None else Rows.stack([pool, rows])
        while len(pool) >= size + batch:
            pick = np.zeros(len(pool), dtype=bool)
            pick[rng.choice(len(pool), size=batch, replace=False)] = True
            yield pool.take(np.flatnonzero(pick))
            pool = pool.take(np.flatnonzero(~pick))
    if pool is not None and len(pool):
        order = rng.permutation(len(pool))
        for start in range(0, len(order), batch):
            yield pool.take(order[start : start + batch])


class TermCounter:
    """Document frequencies of n-grams in bounded memory.

    When more than `capacity` n-grams are held, those with the lowest counts (the half at
    or below the median) are dropped in place, so at most `capacity` plus one document's
    n-grams are ever held, whatever the length of the stream. A frequent n-gram is never
    dropped for a rare one. An n-gram dropped at one prune may come back and be dropped
    again at the next, so `floor`, the bound on any held n-gram's undercount, is the sum
    of the prunes' cuts (not the largest cut alone: a test showed that undercounted).
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.counts: Counter[str] = Counter()
        self.floor = 0
        self.prunes = 0  # times the dictionary reached its capacity
        self.largest = 0  # the most n-grams held at once (capacity + one document's, at most)

    def add(self, grams: Iterable[str]) -> None:
        self.counts.update(set(grams))
        held = len(self.counts)
        if held > self.largest:
            self.largest = held
        if held > self.capacity:
            self._prune()

    def _prune(self) -> None:
        values = np.fromiter(self.counts.values(), dtype=np.int64, count=len(self.counts))
        cut = int(np.partition(values, len(values) // 2)[len(values) // 2])
        del values
        self.floor += cut
        self.prunes += 1
        for term in [t for t, c in self.counts.items() if c <= cut]:  # in place: no copy
            del self.counts[term]

    def facts(self) -> dict[str, int]:
        """The dictionary's bound and what it held, for the manifest."""
        return {
            "capacity": self.capacity,
            "largest": self.largest,
            "prunes": self.prunes,
            "count_error_bound": self.floor,
        }


@dataclass
class _Pass1:
    n: int
    terms: TermCounter
    tags: TermCounter  # tag counts (training support), bounded like the n-grams
    sections: Counter[str]
    held: list[tuple[float, int, Article]]
    with_tags: int = 0
    digest_sum: int = 0  # order-independent corpus fingerprint: sum of article hashes
    ids: int = 0  # the article ids in stream order (`_ids_after`): later passes must match


class CorpusChanged(InputError):
    """A later pass did not read the articles the counting pass read."""

    exit_code = EXIT_FAILED


def _ids_after(running: int, article: Article) -> int:
    """The running hash of the stream's ids with `article` next (this process only)."""
    return hash((running, article.id))


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
    tags = TermCounter(stream.max_distinct_tags)
    sections: Counter[str] = Counter()
    held: list[tuple[float, int, Article]] = []  # max-heap on -key: the smallest keys
    n = with_tags = digest = ids = 0
    progress("stream: counting", 0, 0)
    for article in source():
        digest = (digest + _article_hash(article)) % (1 << 256)
        ids = _ids_after(ids, article)
        with_tags += bool(article.tags)
        counter.add(block.analyze(article_features_text(article, config.features.title_repeat)))
        tags.add(article.tags)
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
    return _Pass1(n, counter, tags, sections, held, with_tags, digest, ids)


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


def _mix(values: np.ndarray, salt: int) -> np.ndarray:
    """splitmix64 of `values` (uint64) with a salt: a fast, seeded, order-free hash."""
    with np.errstate(over="ignore"):
        z = np.asarray(values).astype(np.uint64) + np.uint64(
            (salt * 0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019) % (1 << 64)
        )
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def fold_of(positions: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """The fold of each article by its position in the stream (seeded hash): every pass,
    whatever the shuffle, puts an article in the same fold."""
    return (_mix(positions, seed) % np.uint64(folds)).astype(np.int64)


def _uniform(rows: np.ndarray, salt: int) -> np.ndarray:
    return (_mix(rows, salt) >> np.uint64(11)).astype(np.float64) * 2.0**-53


def _smallest(values: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k smallest values (all if there are no more than k)."""
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    if len(values) <= k:
        return np.arange(len(values))
    return np.argpartition(values, k - 1)[:k]


class CalibrationSample:
    """One tag's out-of-fold scores, kept within a budget as they stream by.

    What `classify.keep_for_calibration` keeps from a full column, without holding it:
    the positives (beyond `positives` of them, a uniform sample, each weighing as many
    as it stands for), the `top` highest-scoring negatives (weight 1), and a uniform
    sample of `sample` negatives, of which those outside the top stand for all the other
    negatives. The random keys are a hash of (row, salt), so the sample does not depend
    on the order of the stream. With a budget covering everything, everything is kept
    with weight 1: the full computation. Holds at most twice the budget of (row, score)
    pairs. `carried`: a second score per row (the NB-weighted mix, `classify.OutOfFold.member`)
    kept at the same entries, chosen by the first score, as in memory.
    """

    def __init__(self, positives: int, top: int, sample: int, salt: int) -> None:
        self.limits = (positives, top, sample)
        self.salt = salt
        self.counts = [0, 0]  # negatives, positives seen
        self.rows: list[list[np.ndarray]] = [[], []]
        self.scores: list[list[np.ndarray]] = [[], []]
        self.carried: list[list[np.ndarray]] = [[], []]
        self.held = [0, 0]

    def add(
        self,
        rows: np.ndarray,
        scores: np.ndarray,
        positive: np.ndarray,
        carried: np.ndarray | None = None,
    ) -> None:
        for side, mask in ((0, ~positive), (1, positive)):
            if mask.any():
                self.rows[side].append(rows[mask])
                self.scores[side].append(scores[mask])
                if carried is not None:
                    self.carried[side].append(carried[mask])
                self.counts[side] += int(mask.sum())
                self.held[side] += int(mask.sum())
        budget = [self.limits[1] + self.limits[2], self.limits[0]]
        for side in (0, 1):
            if self.held[side] > 2 * max(budget[side], 1):
                self._compact(side)

    def _joined(self, side: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        rows = np.concatenate(self.rows[side]) if self.rows[side] else np.zeros(0, np.int64)
        scores = np.concatenate(self.scores[side]) if self.scores[side] else np.zeros(0)
        carried = np.concatenate(self.carried[side]) if self.carried[side] else np.zeros(0)
        return rows, scores, carried

    def _compact(self, side: int) -> None:
        rows, scores, carried = self._joined(side)
        positives, top, sample = self.limits
        keep = np.zeros(len(rows), dtype=bool)
        if side == 1:
            keep[_smallest(_uniform(rows, self.salt), positives)] = True
        else:
            keep[_smallest(-scores, top)] = True
            keep[_smallest(_uniform(rows, self.salt), sample)] = True
        self.rows[side], self.scores[side] = [rows[keep]], [scores[keep]]
        if self.carried[side]:
            self.carried[side] = [carried[keep]]
        self.held[side] = int(keep.sum())

    def result(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Rows, scores, weights and positive flags of the kept entries, by row."""
        return self.result_carried()[:4]  # type: ignore[return-value]

    def result_carried(self) -> tuple[np.ndarray, ...]:
        """`result()` and the carried scores at the same entries (empty if none were given)."""
        positives, top, sample = self.limits
        n_neg, n_pos = self.counts
        rows_p, scores_p, carried_p = self._joined(1)
        if n_pos > positives:
            pick = _smallest(_uniform(rows_p, self.salt), positives)
            rows_p, scores_p = rows_p[pick], scores_p[pick]
            carried_p = carried_p[pick] if len(carried_p) else carried_p
        weights_p = np.full(len(rows_p), n_pos / max(len(rows_p), 1))
        rows_n, scores_n, carried_n = self._joined(0)
        weights_n = np.ones(len(rows_n))
        if n_neg > top + sample:
            in_top = np.zeros(len(rows_n), dtype=bool)
            in_top[_smallest(-scores_n, top)] = True
            sampled = np.zeros(len(rows_n), dtype=bool)
            sampled[_smallest(_uniform(rows_n, self.salt), sample)] = True
            rest = sampled & ~in_top
            keep = in_top | rest
            weights_n[rest] = (n_neg - int(in_top.sum())) / max(int(rest.sum()), 1)
            rows_n, scores_n, weights_n = rows_n[keep], scores_n[keep], weights_n[keep]
            carried_n = carried_n[keep] if len(carried_n) else carried_n
        rows = np.concatenate([rows_p, rows_n])
        order = np.argsort(rows, kind="stable")
        positive = np.r_[np.ones(len(rows_p), dtype=bool), np.zeros(len(rows_n), dtype=bool)]
        carried = np.concatenate([carried_p, carried_n])
        return (
            rows[order],
            np.concatenate([scores_p, scores_n])[order],
            np.concatenate([weights_p, weights_n])[order],
            positive[order],
            carried[order] if len(carried) == len(rows) else np.zeros(0),
        )


DECISION_FLOOR = -1.0  # reservoir decisions below this (a hinge margin away) rank last
BINARY = np.array([0, 1], dtype=np.int8)


def block_bytes_per_tag(n_features: int, n_models: int, member: bool) -> int:
    """Dense memory of one tag in a training block: averaged SGD's three float64 arrays
    per model (with the bias column), and with the NB-weighted member as many again plus
    the log-count ratio of each model (float64)."""
    per_model = 24 * (n_features + 1)
    if member:
        per_model = 2 * per_model + 8 * n_features
    return per_model * n_models


def tags_per_block(stream: StreamConfig, n_features: int, n_models: int, member: bool) -> int:
    """Tags trained together: `tags_per_pass`, else as many as fit in `weights_mb` (at
    least one)."""
    if stream.tags_per_pass:
        return stream.tags_per_pass
    budget = stream.weights_mb << 20
    return max(1, budget // block_bytes_per_tag(n_features, n_models, member))


def _sgd(stream: StreamConfig, alpha: float, seed: int, bias: float = 0.0) -> Any:
    from sklearn.linear_model import SGDClassifier

    return SGDClassifier(
        loss=stream.loss, alpha=alpha, average=True, random_state=seed, fit_intercept=not bias
    )


def _with_bias(x: sp.csr_matrix, bias: float) -> sp.csr_matrix:
    """The rows with a last column of `bias` (the intercept's feature); unchanged if 0."""
    if not bias:
        return x
    return sp.hstack([x, np.full((x.shape[0], 1), bias, dtype=x.dtype)], format="csr")


Pruned = tuple[np.ndarray, np.ndarray, float, int]  # kept columns, weights, intercept, non-zeros


def _weights(model: Any, bias: float) -> tuple[np.ndarray, float] | None:
    """A fitted binary SGD model's dense weights and intercept (with `bias`, the last
    weight times `bias` is the intercept); None if it saw no article (a tiny corpus)."""
    if not hasattr(model, "coef_"):
        return None
    w = model.coef_[0].astype(np.float64)
    if bias:
        return w[:-1], float(w[-1] * bias)
    return w, float(model.intercept_[0])


def _prune(dense: tuple[np.ndarray, float] | None, tolerance: float) -> Pruned:
    """Dense weights and intercept as kept indices, their weights, intercept, non-zeros
    (None: the constant model of a tag no article was fitted on)."""
    from tagger.classify import prune_weights

    if dense is None:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32), -1.0, 0
    w, intercept = dense
    keep = prune_weights(w, tolerance)
    return keep, w[keep].astype(np.float32), intercept, int(np.count_nonzero(w))


def _pruned(model: Any, tolerance: float, bias: float = 0.0) -> Pruned:
    """A fitted binary SGD model, pruned (`_prune`)."""
    return _prune(_weights(model, bias), tolerance)


def _mixed(
    model: Any, member: Any, ratio: np.ndarray, bias: float
) -> tuple[np.ndarray, float] | None:
    """A tag's plain model and its NB-weighted member averaged (`classify.mix_member`), in
    the original feature space: the member learned on the features times `ratio` (its
    bias column unscaled), so its weights there are `ratio` x its own."""
    from tagger.classify import mix_member

    plain, nb = _weights(model, bias), _weights(member, bias)
    if plain is None or nb is None:
        return None
    return mix_member(plain[0], plain[1], (ratio * nb[0], nb[1]))


def _block_weights(
    models: list[list[list[Any]]],
    ratios: np.ndarray,
    seen: np.ndarray,
    m: int,
    kind: int,
    stream: StreamConfig,
) -> list[Pruned]:
    """Model m (0: the final one) of each tag of a block, pruned: the plain SGD model
    (`kind` 0) or its mix with the NB-weighted member (1). A final model of a tag whose
    positives were all held out (`seen` 0) is constant."""
    out = []
    for j, plain in enumerate(models[0][m]):
        if m == 0 and seen[j] == 0:
            out.append(_prune(None, 0.0))
        elif kind == 0:
            out.append(_pruned(plain, stream.prune_tolerance, stream.bias))
        else:
            mixed = _mixed(plain, models[1][m][j], ratios[m, j], stream.bias)
            out.append(_prune(mixed, stream.prune_tolerance))
    return out


def _stacked(weights: list[Pruned], n_features: int) -> tuple[sp.csr_matrix, np.ndarray]:
    """Pruned per-tag weights as one (tags x features) matrix and their intercepts."""
    from tagger.classify import sparse_rows

    coef = sparse_rows([(p[0], p[1]) for p in weights], n_features)
    return coef, np.array([p[2] for p in weights])


def block_ratios(
    parts: Iterable[Rows],
    start: int,
    width: int,
    folds: int,
    seed: int,
    alpha: float,
    n_features: int,
) -> np.ndarray:
    """The log-count ratios (`classify.nb_ratio`) of tags `start` .. `start + width` of the
    label columns, for each of the `folds` + 1 models (the final model's from every row of
    `parts`, fold model i's from the rows outside fold i): (folds + 1, width, features),
    float64, from one pass over `parts` (the training rows). Holds that array and one
    row of feature totals per model, nothing more than a chunk's worth besides."""
    from tagger.classify import feature_totals, nb_ratio

    n_models = folds + 1
    inside = np.zeros((n_models, width, n_features))
    totals = np.zeros((n_models, n_features))
    for part in parts:
        x = part.x.astype(np.float64)
        y = part.y[:, start : start + width].T.astype(np.float64).tocsr()
        fold = fold_of(part.positions, folds, seed) if folds else np.full(len(part), -1)
        for f in np.unique(fold):
            r = np.flatnonzero(fold == f)
            totals[f + 1] += feature_totals(x[r])
            summed = (y[:, r] @ x[r]).tocoo()
            summed.sum_duplicates()
            inside[f + 1][summed.row, summed.col] += summed.data
    if folds:  # slot 0 (the final model) holds every fold; fold model i all but fold i
        np.sum(inside[1:], axis=0, out=inside[0])
        np.sum(totals[1:], axis=0, out=totals[0])
        for m in range(1, n_models):
            np.subtract(inside[0], inside[m], out=inside[m])
            np.subtract(totals[0], totals[m], out=totals[m])
    for m in range(n_models):
        for j in range(width):
            inside[m, j] = nb_ratio(inside[m, j], totals[m], alpha)
    return inside


def _section_weights(model: Any, n_sections: int) -> tuple[np.ndarray, np.ndarray]:
    coef, intercept = model.coef_.astype(np.float32), model.intercept_.astype(np.float32)
    if n_sections == 2:  # one row for two classes: +w for the second
        coef = np.vstack([-coef[0], coef[0]])
        intercept = np.array([-intercept[0], intercept[0]], dtype=np.float32)
    return coef, intercept


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
    stream = stream or StreamConfig()
    if not stream.cache:
        return _train(source, config, stream, progress, None)
    try:
        directory = tempfile.mkdtemp(prefix="tagger-stream-", dir=stream.cache_dir or None)
    except OSError as exc:
        where = (
            f"stream.cache_dir {stream.cache_dir}" if stream.cache_dir else "the temporary folder"
        )
        raise ConfigError(
            f"{where}: cannot hold the feature cache ({exc.strerror or exc})"
        ) from None
    try:
        return _train(source, config, stream, progress, Path(directory))
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _train(
    source: Source, config: Any, stream: StreamConfig, progress: Progress, cache_dir: Path | None
) -> Any:
    from tagger.api import Tagger, TrainConfig, choose_tag_labels
    from tagger.classify import (
        OutOfFold,
        SectionModel,
        TagModel,
        calibrate_tags,
        calibration_budget,
        fit_temperature,
        nb_member_choice,
        nb_scaled,
        platt_apply,
        select_out_of_fold,
    )
    from tagger.evaluate import binarize, multiclass_metrics, multilabel_metrics
    from tagger.features import Featurizer
    from tagger.overlap import TrainingFilter

    config = config or TrainConfig()
    forced_chars = config.features.char_ngrams and config.features.char_max_cells == 0
    if config.features.entity_weight > 0 or forced_chars:
        raise InputError(
            "out-of-core training uses word n-grams only: turn off entity and character "
            "features in the config"
        )
    # An archive streamed out of core is beyond the character block's size limit
    # (`FeatureConfig.char_max_cells`): word n-grams only, as in memory at that size.
    config = replace(config, features=replace(config.features, char_ngrams=None))
    counts = _count(source, config, stream, progress)
    if counts.n == 0:
        raise InputError("the training corpus is empty")
    k = stream.folds
    if k:  # the reservoir is a sample of the training articles, scored out of fold
        sample_items = sorted(counts.held, key=lambda h: h[1])
        held_ids: set[int] = set()
    else:  # the reservoir is held out of training
        n_held = max(1, min(len(counts.held), int(stream.holdout_fraction * counts.n)))
        sample_items = sorted(sorted(counts.held, key=lambda h: -h[0])[:n_held], key=lambda h: h[1])
        held_ids = {position for _, position, _ in sample_items}
    sample = [article for _, _, article in sample_items]
    sample_row = {position: r for r, (_, position, _) in enumerate(sample_items)}
    featurizer = Featurizer(config.features)
    featurizer.word = _vocabulary(counts, config)
    n_features = len(featurizer.word.terms)
    counts.terms.counts = Counter()  # the n-gram counts are not needed past the vocabulary

    warnings: list[str] = []
    labels: list[str] = []
    if counts.tags.counts:
        labels, notes = choose_tag_labels(counts.tags.counts, config.tags)
        warnings.extend(notes)
    if counts.tags.prunes:
        warnings.append(
            f"more than {stream.max_distinct_tags} distinct tags: the rarest were dropped while "
            f"counting, so a kept tag's support may be low by up to {counts.tags.floor} "
            "(raise stream.max_distinct_tags to count them all)"
        )
    counts.tags.counts = Counter()  # the chosen labels are all that is needed from here
    sections = sorted(counts.sections) if len(counts.sections) > 1 else []
    if len(counts.sections) == 1:
        warnings.append("only one section in the corpus: no section model trained")
    if not labels and not sections:
        raise InputError("the training corpus has no sections and no tags to learn")

    n_train = counts.n - len(held_ids)
    n_models = k + 1  # the final model, then fold model i never sees fold i

    def alpha(c: float, m: int) -> float:
        if stream.alpha > 0:
            return stream.alpha
        seen = n_train if m == 0 else n_train * (k - 1) / k
        return 1.0 / (c * max(seen, 1.0))

    # The NB-weighted member (`tags.nb_weighted`, as in memory): per tag and model, a second
    # SGD model on the features times the tag's log-count ratio, averaged with the plain one.
    member = bool(labels) and config.tags.nb_weighted
    per_pass = tags_per_block(stream, n_features, n_models, member)
    blocks = [labels[i : i + per_pass] for i in range(0, len(labels), per_pass)] or [[]]
    index = {t: j for j, t in enumerate(labels)}
    # per tag, pruned: the plain final model and (with the member) the mix; one is chosen
    # once every tag is calibrated (`classify.nb_member_choice`)
    finals: list[list[Pruned]] = [[], []]
    top, sampled = calibration_budget(config.tags, len(labels), 1)
    if top + sampled > stream.calibration_per_tag:  # a bound the corpus size cannot move
        top = -(-stream.calibration_per_tag // 2)
        sampled = stream.calibration_per_tag - top
    kept = OutOfFold(counts.n, [], [], [], [], member=[] if member else None)
    # out-of-fold, per block: sample x block (plain; with the member, the mix too)
    sample_decisions: list[list[sp.csr_matrix]] = [[], []]
    section_index = {s: i for i, s in enumerate(sections)}
    section_sgd = (
        [_sgd(stream, alpha(config.sections.c, m), config.seed + m) for m in range(n_models)]
        if sections
        else []
    )
    section_oof = np.zeros((len(sample), len(sections)))
    total = len(blocks) * (stream.epochs + (1 if k else 0) + (1 if member else 0))
    step = 0
    # the training texts, for evaluate's and learn's overlap checks (the first pass fills it)
    training_filter = TrainingFilter.build(((a.title, a.body) for a in sample if not k), counts.n)
    held = np.array(sorted(held_ids), dtype=np.int64)

    def encode() -> Iterator[Rows]:
        # positions, folds and the reservoir are the counting pass's: a pass that reads
        # other articles (an input changed, moved or removed meanwhile) ends the run
        n = ids = 0
        for batch in iter_batches(enumerate(source()), stream.chunk):
            articles = [a for _, a in batch]
            for i, article in batch:
                n, ids = n + 1, _ids_after(ids, article)
                if i not in held_ids:
                    training_filter.add(article.title, article.body)
            yield Rows(
                featurizer.transform(articles),
                np.array([i for i, _ in batch], dtype=np.int64),
                _y_block(articles, index, len(labels)).tocsr(),
                np.array([section_index.get(a.section or "", -1) for a in articles], np.int64),
            )
        if (n, ids) != (counts.n, counts.ids):
            what = f"{n} articles" if n != counts.n else f"{n} articles, not the same ones"
            raise CorpusChanged(
                f"the corpus changed during training: the counting pass read {counts.n} "
                f"articles, a later pass {what} (an input changed, moved or was removed); "
                "no model was saved"
            )

    chunks = FeatureCache(encode, cache_dir)

    def training_rows() -> Iterator[Rows]:
        for part in chunks:
            yield part.take(np.flatnonzero(~np.isin(part.positions, held))) if len(held) else part

    for b, block in enumerate(blocks):
        start = index[block[0]] if block else 0
        kinds = 2 if member else 1  # the plain models, then the members
        models = [
            [
                [_sgd(stream, alpha(config.tags.c, m), config.seed + m, stream.bias) for _ in block]
                for m in range(n_models)
            ]
            for _ in range(kinds)
        ]
        ratios = np.zeros((n_models, len(block), 0))
        if member and block:
            progress("stream: log-count ratios", step, total)
            step += 1
            ratios = block_ratios(
                training_rows(), start, len(block), k, config.seed, config.tags.nb_alpha, n_features
            )
        seen = np.zeros(len(block), dtype=np.int64)  # positives seen per tag
        for epoch in range(stream.epochs):
            progress("stream: training", step, total)
            step += 1
            rng = np.random.default_rng([config.seed, b, epoch])
            for part in shuffled_rows(training_rows(), stream.shuffle_buffer, stream.chunk, rng):
                x = part.x.astype(np.float64)
                subsets = [np.arange(len(part))]
                if k:
                    fold = fold_of(part.positions, k, config.seed)
                    subsets += [np.flatnonzero(fold != f) for f in range(k)]
                xb = _with_bias(x, stream.bias)
                xs = [xb] + [xb[s] for s in subsets[1:]]
                if block:
                    y = part.y[:, start : start + len(block)].tocsc()
                    if epoch == 0:
                        seen += np.diff(y.indptr)
                    for j in range(len(block)):
                        column = np.zeros(len(part), dtype=np.int8)
                        column[y.indices[y.indptr[j] : y.indptr[j + 1]]] = 1
                        for m in range(n_models):
                            if not len(subsets[m]):  # the whole chunk is in fold m - 1
                                continue
                            target = column[subsets[m]]
                            models[0][m][j].partial_fit(xs[m], target, classes=BINARY)
                            if member:
                                models[1][m][j].partial_fit(
                                    nb_scaled(xs[m], ratios[m, j]), target, classes=BINARY
                                )
                if section_sgd and b == 0:
                    picked = np.flatnonzero(part.section >= 0)
                    target = part.section[picked]
                    for m in range(n_models):
                        inside = np.isin(picked, subsets[m])
                        if inside.any():
                            section_sgd[m].partial_fit(
                                x[picked[inside]], target[inside], classes=np.arange(len(sections))
                            )
        for kind in range(kinds):
            finals[kind].extend(_block_weights(models, ratios, seen, 0, kind, stream))
        fold_weights = []  # per kind, per fold: (features x block weights, intercepts)
        for kind in range(kinds):
            fold_weights.append([])
            for m in range(1, n_models):
                coef_m, intercept_m = _stacked(
                    _block_weights(models, ratios, seen, m, kind, stream), n_features
                )
                fold_weights[kind].append((coef_m.T.tocsr(), intercept_m))
        del models, ratios
        if not k:
            continue
        progress("stream: out-of-fold scores", step, total)
        step += 1
        collectors = [
            CalibrationSample(config.tags.cv_positives, top, sampled, config.seed * 7919 + j)
            for j in range(start, start + len(block))
        ]
        block_decisions: list[list[tuple[np.ndarray, ...]]] = [[] for _ in range(kinds)]
        for part in chunks:
            positions = part.positions
            x = part.x
            fold = fold_of(positions, k, config.seed)
            in_sample = np.array([sample_row.get(int(p), -1) for p in positions])
            if block:
                scores = np.empty((kinds, len(part), len(block)))
                for kind in range(kinds):
                    for f in range(k):
                        r = np.flatnonzero(fold == f)
                        coef_t, intercept_f = fold_weights[kind][f]
                        scores[kind, r] = (x[r] @ coef_t).toarray() + intercept_f
                y_dense = part.y[:, start : start + len(block)].toarray()
                for j, collector in enumerate(collectors):
                    carried = scores[1, :, j] if member else None
                    collector.add(positions, scores[0, :, j], y_dense[:, j], carried)
                for kind in range(kinds):
                    values = scores[kind]
                    r, c = np.nonzero((in_sample >= 0)[:, None] & (values >= DECISION_FLOOR))
                    block_decisions[kind].append((in_sample[r], c, values[r, c]))
            if section_sgd and b == 0:
                for f in range(k):
                    r = np.flatnonzero((fold == f) & (in_sample >= 0))
                    if len(r) and hasattr(section_sgd[f + 1], "coef_"):
                        coef_s, intercept_s = _section_weights(section_sgd[f + 1], len(sections))
                        section_oof[in_sample[r]] = x[r] @ coef_s.T + intercept_s
        for collector in collectors:
            r, s, w, p, mixed_scores = collector.result_carried()
            kept.rows.append(r)
            kept.scores.append(s)
            kept.weights.append(w)
            kept.positive.append(p)
            if kept.member is not None:
                kept.member.append(mixed_scores)
        if block:
            for kind in range(kinds):
                sample_decisions[kind].append(
                    _sample_matrix(block_decisions[kind], len(sample), len(block))
                )
    progress("stream: calibration", total, total)

    titles = [a.title for a in sample]
    tag_model = None
    if labels:
        y_sample = binarize([a.tags for a in sample], labels)
        if k:
            decisions = [sp.hstack(d).tocsr() for d in sample_decisions if d]
        else:
            x_held = featurizer.transform(sample)
            dense = [_decisions(x_held, version, n_features) for version in finals if version]
            kept = OutOfFold.from_dense(dense[0], y_sample)
            if member:
                kept.member = [dense[1][:, j].copy() for j in range(len(labels))]
            decisions = [sp.csr_matrix(d) for d in dense]
        a, b_, thresholds = calibrate_tags(kept, None, config.tags)
        kept, mixes, thresholds = nb_member_choice(kept, a, b_, thresholds, config.tags)
        chosen = [finals[int(mixes[j])][j] for j in range(len(labels))]
        coef, intercept = _stacked(chosen, n_features)
        intercept = intercept.astype(np.float32)
        before = sum(p[3] for p in chosen)
        del finals
        if mixes.any():  # the mixed tags' reservoir decisions
            decisions = [_columns_from(decisions[0], decisions[1], mixes)]
        tag_model = TagModel(
            labels, coef, intercept, a, b_, thresholds, {}, config.tags.best_tag_floor
        )
        probs = _platt_sparse(decisions[0], a, b_, platt_apply)
        rule_titles = titles if config.tags.name_rule and k else None
        chosen = select_out_of_fold(tag_model, probs, y_sample, rule_titles)
        tag_model.cv_metrics = multilabel_metrics(y_sample, chosen, probs, labels)
        tag_model.cv_metrics["note"] = (
            f"{k}-fold out-of-fold scores of a uniform sample of {len(sample)} streamed "
            "articles; thresholds were tuned on the out-of-fold scores of the whole stream, "
            "so these figures are somewhat optimistic"
            if k
            else f"held-out reservoir of {len(sample)} streamed articles; thresholds were "
            "tuned on it, so these figures are somewhat optimistic"
        )
        tag_model.cv_metrics["weights"] = {
            "nonzero_before_pruning": before,
            "nonzero": int(coef.nnz),
            "prune_rule": "l2",
            "prune_tolerance": stream.prune_tolerance,
        }
        tag_model.cv_metrics["calibration_entries"] = kept.entries()
        if member:
            tag_model.cv_metrics["nb_member_tags"] = int(mixes.sum())
    section_model = None
    if section_sgd and hasattr(section_sgd[0], "coef_"):
        coef_s, intercept_s = _section_weights(section_sgd[0], len(sections))
        section_model = SectionModel(sections, coef_s, intercept_s, 1.0)
        idx = np.array([i for i, a in enumerate(sample) if a.section in section_index], dtype=int)
        if len(idx):
            y_index = np.array([section_index[sample[i].section] for i in idx])
            if k:
                decisions_s = section_oof[idx]
            else:
                decisions_s = section_model.decision(featurizer.transform([sample[i] for i in idx]))
            section_model.temperature = fit_temperature(decisions_s, y_index)
            predicted = decisions_s.argmax(axis=1)
            section_model.cv_metrics = multiclass_metrics(
                [sections[i] for i in y_index], [sections[i] for i in predicted], sections
            )
            section_model.cv_metrics["note"] = (
                f"{k}-fold out-of-fold decisions of a sample of {len(sample)} articles"
                if k
                else f"held-out reservoir of {len(sample)} articles"
            )

    tagger = Tagger(featurizer, section_model, tag_model, {})
    tagger.manifest = _manifest(tagger, config, stream, counts, sample, warnings)
    tagger.training_filter = training_filter
    tagger.warnings = warnings
    return tagger


def _decisions(x: sp.csr_matrix, weights: list[Pruned], n_features: int) -> np.ndarray:
    """Dense decision values of the rows of x under pruned per-tag weights."""
    coef, intercept = _stacked(weights, n_features)
    return np.asarray((x @ coef.T).toarray()) + intercept.astype(np.float32)


def _columns_from(plain: sp.csr_matrix, mixed: sp.csr_matrix, take: np.ndarray) -> sp.csr_matrix:
    """`plain` with the columns `take` (a mask) from `mixed`."""
    keep = sp.diags((~take).astype(np.float64))
    return (plain @ keep + mixed @ sp.diags(take.astype(np.float64))).tocsr()


def _sample_matrix(
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]], n: int, width: int
) -> sp.csr_matrix:
    """The reservoir's out-of-fold decisions of one block (rows, columns, values), by
    reservoir row; decisions below `DECISION_FLOOR` are absent (they rank last)."""
    rows = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, dtype=np.int64)
    cols = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, dtype=np.int64)
    data = np.concatenate([p[2] for p in parts]) if parts else np.zeros(0)
    return sp.csr_matrix((data, (rows, cols)), shape=(n, width))


def _platt_sparse(
    decisions: sp.csr_matrix, a: np.ndarray, b: np.ndarray, apply: Any
) -> sp.csr_matrix:
    """Probabilities at the decision matrix's stored entries (absent: rank last)."""
    coo = decisions.tocoo()
    return sp.csr_matrix(
        (apply(coo.data, a[coo.col], b[coo.col]), (coo.row, coo.col)), shape=decisions.shape
    )


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
            "held_out_for_calibration": 0 if stream.folds else len(held),
            "calibration_sample": len(held),
            "term_count_error_bound": counts.terms.floor,
            "term_dictionary": counts.terms.facts(),
            "tag_dictionary": counts.tags.facts(),
        },
        **model_facts(tagger.featurizer, sections, tags),
        "entities": None,
        "warnings": warnings,
    }
