"""Training memory (issue 10): the tag model is assembled and fed without extra copies, and
gives the same model as the straightforward computation."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from tagger import classify
from tagger.classify import (
    ModelConfig,
    RowBlock,
    _final_fit,
    sparse_rows,
    stack_row_blocks,
)

from .test_scale import synthetic, topic_articles, word_config


def random_rows(count: int, n_features: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(count):
        size = 0 if i % 5 == 3 else int(rng.integers(1, n_features))  # some rows empty
        columns = np.sort(rng.choice(n_features, size=size, replace=False)).astype(np.int32)
        rows.append((columns, rng.standard_normal(size).astype(np.float32)))
    return rows


def as_blocks(rows: list[tuple[np.ndarray, np.ndarray]], sizes: list[int]) -> list[RowBlock]:
    blocks, start = [], 0
    for size in sizes:
        part = rows[start : start + size]
        blocks.append(
            RowBlock(
                np.array([len(c) for c, _ in part], dtype=np.int64),
                np.concatenate([c for c, _ in part] or [np.zeros(0, np.int32)]),
                np.concatenate([v for _, v in part] or [np.zeros(0, np.float32)]),
            )
        )
        start += size
    return blocks


def same_csr(a: sp.csr_matrix, b: sp.csr_matrix) -> bool:
    return (
        a.shape == b.shape
        and a.dtype == b.dtype
        and np.array_equal(a.indptr, b.indptr)
        and np.array_equal(a.indices, b.indices)
        and np.array_equal(a.data, b.data)
    )


def test_stacking_row_blocks_in_place_equals_stacking_the_rows() -> None:
    rows = random_rows(17, 40, seed=1)
    blocks = as_blocks(rows, [5, 1, 0, 11])
    stacked = stack_row_blocks(blocks, None, 40)
    assert blocks == []  # each block is let go once copied
    assert same_csr(stacked, sparse_rows(rows, 40))
    # Rows taken several times and out of order (tags sharing another tag's fit).
    take = np.array([3, 0, 0, 16, 7, 3, 3, 12])
    stacked = stack_row_blocks(as_blocks(rows, [9, 8]), take, 40)
    assert same_csr(stacked, sparse_rows([rows[i] for i in take], 40))
    empty = stack_row_blocks([], None, 40)
    assert empty.shape == (0, 40) and empty.nnz == 0


@pytest.mark.parametrize("rule", ["articles", "l2"])
def test_final_fits_in_small_chunks_of_two_workers_equal_one_process(
    rule: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    x, y = synthetic(n=300, tags=20, seed=2)
    y = np.hstack([y, y[:, [4, 4, 9]]])  # copies of other tags' columns: fitted once
    yc = sp.csc_matrix(y)
    xf = x.astype(np.float64)
    one = _final_fit(xf, yc, ModelConfig(n_jobs=1, prune_rule=rule), 0)
    monkeypatch.setattr(classify, "FINAL_CHUNK_TAGS", 3)  # 7 chunks of the 20 fitted
    assert len(classify._chunks(20, 2, classify.FINAL_CHUNK_TAGS)) == 7
    two = _final_fit(xf, yc, ModelConfig(n_jobs=2, prune_rule=rule), 0)
    assert same_csr(one[0], two[0])
    assert np.array_equal(one[1], two[1]) and one[2] == two[2]
    assert (one[0][20] != one[0][4]).nnz == 0 and one[1][22] == one[1][9]


def test_model_card_explains_training_memory() -> None:
    from tagger.api import Tagger
    from tagger.model_bundle import training_memory_estimate

    articles = topic_articles(40)
    config = word_config()
    config.tags.n_jobs = 1
    model = Tagger.train(articles, config)
    metrics = model.tag_model.cv_metrics
    assert model.manifest["training_memory"]["workers"] == 1
    peak = model.manifest["training_memory"]["peak_rss_mb"]
    assert peak is None or peak > 10  # a Python process with numpy holds more than 10 MB
    card = model.model_card()
    matrix, entries = metrics["matrix_nonzeros"], metrics["calibration_entries"]
    assert f"Feature matrix: {matrix} non-zeros" in card
    assert f"Out-of-fold scores kept for calibration: {entries} entries" in card
    estimate = training_memory_estimate(matrix, entries, model.tag_model.coef.nnz, 4)
    assert f"Estimated peak of these arrays: {estimate / 1e6:.0f} MB" in card
    assert peak is None or f"was {peak} MB" in card
    # The larger phase decides: calibration entries, or the weights (and a chunk of them).
    assert training_memory_estimate(0, 1000, 10, 4) == 100_000
    assert training_memory_estimate(10, 0, 1000, 1000) == 320 + 8 * 1500
