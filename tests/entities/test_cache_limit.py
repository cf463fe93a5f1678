"""The entity cache stays under its size limit, evicting the least recently used."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tagger.cli import app as cli_app
from tagger.entities.cache import CACHE_FILE, LIMIT_ENV, AnalysisCache, default_max_bytes
from tagger.errors import ConfigError

runner = CliRunner()


def _value(i: int) -> dict:
    return {"entities": [{"name": f"Name {i}", "pad": "x" * 900}], "english": True}


def _stored_bytes(folder: Path) -> int:
    with sqlite3.connect(folder / CACHE_FILE) as conn:
        return int(
            conn.execute("SELECT SUM(length(CAST(entities AS BLOB))) FROM analyses").fetchone()[0]
        )


def test_the_cache_stays_under_its_limit(tmp_path: Path) -> None:
    cache = AnalysisCache(tmp_path, max_bytes=50_000)
    for start in range(0, 1_000, 25):  # 1,000 analyses of ~1 KB: 20 times the limit
        cache.put_many((f"k{i}", _value(i)) for i in range(start, start + 25))
        assert cache.stats()["bytes"] <= 50_000
    assert _stored_bytes(tmp_path) <= 50_000
    kept = cache.get_many([f"k{i}" for i in range(1_000)])
    assert 30 <= len(kept) <= 50
    assert "k999" in kept and "k0" not in kept  # the newest stay
    cache.close()


def test_eviction_takes_the_least_recently_used(tmp_path: Path) -> None:
    cache = AnalysisCache(tmp_path, max_bytes=20_000)
    cache.put_many((f"k{i}", _value(i)) for i in range(15))
    assert cache.get_many(["k0"])  # k0 is used again: it is now the most recent
    cache.put_many((f"n{i}", _value(i)) for i in range(10))
    kept = cache.get_many(["k0", "k1", "k2"])
    assert "k0" in kept and "k1" not in kept
    cache.close()


def test_a_cache_from_before_the_limit_is_migrated(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / CACHE_FILE) as conn:
        conn.execute("CREATE TABLE analyses (key TEXT PRIMARY KEY, entities TEXT NOT NULL)")
        conn.executemany(
            "INSERT INTO analyses VALUES (?, ?)",
            [(f"old{i}", json.dumps(_value(i))) for i in range(40)],
        )
    cache = AnalysisCache(tmp_path, max_bytes=10_000)
    assert cache.stats()["entries"] == 40 and cache.get_many(["old3"])
    cache.put_many([("new", _value(0))])
    assert cache.stats()["bytes"] <= 10_000 and cache.get_many(["new"])
    cache.close()


def test_the_limit_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(LIMIT_ENV, "1.5")
    assert default_max_bytes() == 1_500_000
    monkeypatch.setenv(LIMIT_ENV, "lots")
    with pytest.raises(ConfigError, match=LIMIT_ENV):
        default_max_bytes()
    monkeypatch.delenv(LIMIT_ENV)
    assert default_max_bytes() == 512_000_000


def test_cache_stats_and_clear_commands(tmp_path: Path) -> None:
    cache = AnalysisCache(tmp_path, max_bytes=0)
    cache.put_many((f"k{i}", _value(i)) for i in range(30))
    cache.close()
    stats = runner.invoke(cli_app, ["cache", "stats", "--cache-dir", str(tmp_path), "--json"])
    assert stats.exit_code == 0, stats.output
    data = json.loads(stats.output)
    assert data["entries"] == 30 and data["bytes"] > 25_000
    assert data["path"] == str(tmp_path / CACHE_FILE)
    text = runner.invoke(cli_app, ["cache", "stats", "--cache-dir", str(tmp_path)]).output
    assert "30 analyses" in text and "512.0 MB allowed" in text
    cleared = runner.invoke(cli_app, ["cache", "clear", "--cache-dir", str(tmp_path)])
    assert cleared.exit_code == 0 and "cleared 30 analyses" in cleared.output
    after = json.loads(
        runner.invoke(cli_app, ["cache", "stats", "--cache-dir", str(tmp_path), "--json"]).output
    )
    assert after["entries"] == 0
    empty = runner.invoke(cli_app, ["cache", "clear", "--cache-dir", str(tmp_path / "none")])
    assert empty.exit_code == 0 and "nothing to clear" in empty.output
