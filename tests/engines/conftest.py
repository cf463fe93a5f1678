"""Fixtures for the engine tests: shards cut from the sample corpus, a LocalCluster."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

SAMPLE = Path(__file__).resolve().parents[2] / "corpus" / "sample.jsonl"


def sample_records() -> list[dict[str, Any]]:
    with SAMPLE.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def write_shards(folder: Path, shards: int, per_shard: int, copies: int = 1) -> Path:
    """`shards` JSONL files of `per_shard` sample articles each (copied with new ids)."""
    folder.mkdir(parents=True, exist_ok=True)
    records = sample_records()
    pool = [dict(r, id=f"{r['id']}-copy{c}") if c else r for c in range(copies) for r in records]
    for i in range(shards):
        chunk = pool[i * per_shard : (i + 1) * per_shard]
        assert len(chunk) == per_shard, "not enough sample articles for these shards"
        with (folder / f"shard-{i:02d}.jsonl").open("w", encoding="utf-8") as handle:
            for record in chunk:
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    return folder


def read_parts(out_dir: Path) -> list[str]:
    """Every line of every part, sorted (parts may finish in any order)."""
    import gzip

    lines: list[str] = []
    for part in sorted(out_dir.glob("part-*.jsonl*")):
        opener = gzip.open if part.suffix == ".gz" else open
        with opener(part, "rt", encoding="utf-8") as handle:
            lines.extend(line.rstrip("\n") for line in handle)
    return sorted(lines)


def ids_of(lines: list[str]) -> list[str]:
    return [json.loads(line)["id"] for line in lines]


@pytest.fixture(scope="module")
def shard_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4 shards of 60 sample articles."""
    return write_shards(tmp_path_factory.mktemp("shards"), 4, 60)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    """A LocalCluster of 2 worker processes, shared by a module's tests (via --cluster)."""
    pytest.importorskip("distributed")
    from tagger.engines.dask import local_cluster

    local = local_cluster(2)
    yield local
    local.close()
