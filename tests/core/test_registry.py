"""The model registry: versions, the `current` pointer, promote, rollback, diff, crash safety."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tagger.api import Tagger
from tagger.errors import BundleError, ConfigError
from tagger.registry import CURRENT, Registry, is_registry


@pytest.fixture(scope="module")
def two_models(tmp_path_factory: pytest.TempPathFactory, load_sample: Any) -> tuple[Path, Path]:
    """Two different small bundles: one on the first 60 sample articles, one on them all."""
    from tests.conftest import train_tiny

    folder = tmp_path_factory.mktemp("registry-models")
    articles = load_sample()
    return (
        train_tiny(articles[:60], folder / "small", name="news"),
        train_tiny(articles, folder / "large", name="news"),
    )


@pytest.fixture
def registry(tmp_path: Path, two_models: tuple[Path, Path]) -> Registry:
    """A registry holding v1 (small) and v2 (large), nothing promoted."""
    reg = Registry.init(tmp_path / "news")
    for bundle in two_models:
        model = Tagger.load(bundle)
        model.save(reg.path)
    return reg


def _id(path: Path) -> str:
    return Tagger.load(path).model_info["id"]


def test_saving_adds_versions_and_never_promotes(registry: Registry) -> None:
    assert is_registry(registry.path) and registry.versions() == ["v1", "v2"]
    assert registry.current() is None
    with pytest.raises(BundleError, match="no current version"):
        Tagger.load(registry.path)
    model = Tagger.load(registry.path / "v1")
    model.save(registry.path)
    assert model.version == "v3" and registry.versions() == ["v1", "v2", "v3"]
    assert registry.current() is None  # still nothing promoted


def test_promote_and_rollback_move_the_pointer_and_the_loaded_model(
    registry: Registry, two_models: tuple[Path, Path]
) -> None:
    small, large = (_id(p) for p in two_models)
    assert registry.promote("v1", by="ann") is not None
    loaded = Tagger.load(registry.path)
    assert loaded.version == "v1" and loaded.model_info["version"] == "v1"
    assert loaded.model_info["id"] == small
    assert registry.promote("v1") is None  # already current: nothing written
    event = registry.promote("v2")
    assert (event.previous, event.version) == ("v1", "v2")
    assert Tagger.load(registry.path).model_info["id"] == large
    # a prediction names the version that made it
    assert Tagger.load(registry.path).predict("Title\nBody text").model["version"] == "v2"
    back = registry.rollback(by="bob")
    assert (back.previous, back.version, back.by) == ("v2", "v1", "bob")
    assert registry.current() == "v1" and _id(registry.path) == small
    with pytest.raises(ConfigError, match="nothing to roll back"):
        registry.rollback()
    actions = [(e.action, e.version) for e in registry.history()]
    assert actions == [("promote", "v1"), ("promote", "v2"), ("rollback", "v1")]


def test_rollback_steps_back_through_promotions(registry: Registry) -> None:
    model = Tagger.load(registry.path / "v1")
    model.save(registry.path)  # v3
    for version in ("v1", "v2", "v3"):
        registry.promote(version)
    assert registry.rollback().version == "v2"
    assert registry.rollback().version == "v1"
    registry.promote("v3")
    assert registry.stack() == ["v1", "v3"]
    assert registry.rollback().version == "v1"


def test_a_history_behind_the_pointer_is_reconciled(registry: Registry) -> None:
    """A crash after the swap and before the history line: the pointer is the truth."""
    registry.promote("v1")
    os.symlink("v2", registry.path / "tmp-link")
    os.replace(registry.path / "tmp-link", registry.path / CURRENT)  # swapped, not recorded
    with (registry.path / "history.jsonl").open("a") as handle:
        handle.write('{"torn": ')  # and a torn line
    assert registry.stack() == ["v1", "v2"]
    assert registry.rollback().version == "v1"


def test_the_promotion_check_can_refuse(registry: Registry) -> None:
    registry.promote("v1")
    seen = []

    def refuse(reg: Registry, candidate: str, current: str | None) -> None:
        seen.append((reg.path, candidate, current))
        raise ConfigError(f"{candidate} is worse than {current}")

    with pytest.raises(ConfigError, match="v2 is worse than v1"):
        registry.promote("v2", check=refuse)
    assert seen == [(registry.path, "v2", "v1")] and registry.current() == "v1"
    assert registry.promote("v2", check=lambda *_: None) is not None


def test_an_altered_or_missing_version_is_never_promoted(registry: Registry) -> None:
    registry.promote("v1")
    card = registry.path / "v2" / "MODEL_CARD.md"
    card.write_text(card.read_text() + "tampered\n")
    with pytest.raises(BundleError, match="checksum mismatch"):
        registry.promote("v2")
    with pytest.raises(BundleError, match="no version v9"):
        registry.promote("v9")
    with pytest.raises(Exception, match="not a version name"):
        registry.promote("../v1")
    assert registry.current() == "v1"


@pytest.mark.parametrize("call", ["symlink", "replace"])
def test_a_crash_at_any_step_of_a_promotion_leaves_a_complete_current(
    registry: Registry, two_models: tuple[Path, Path], call: str
) -> None:
    """Kill the promoting process (os._exit) at each link call in turn: `current` always
    names a complete version, the old one or the new one, and loads."""
    small, large = (_id(p) for p in two_models)
    registry.promote("v1")
    seen = set()
    for step in (1, 2):
        pid = os.fork()
        if pid == 0:

            def dying(
                *args: Any,
                _real: Any = getattr(os, call),
                _at: int = step,
                _n: list = [0],  # noqa: B006  (the count of calls, on purpose)
                **kwargs: Any,
            ) -> Any:
                _n[0] += 1
                if _n[0] == _at:
                    os._exit(17)
                return _real(*args, **kwargs)

            setattr(os, call, dying)
            try:
                registry.promote("v2")
            finally:
                os._exit(0)
        _, status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(status)
        loaded = Tagger.load(registry.path)
        assert loaded.version == registry.current()
        assert loaded.model_info["id"] == (large if loaded.version == "v2" else small)
        assert code == 0 or loaded.version == "v1"  # died before the swap: the old one
        seen.add((code, loaded.version))
        registry.promote("v1")  # back, cleaning what the crash left
        leftovers = [p.name for p in registry.path.iterdir() if p.name.startswith(".current.link")]
        assert leftovers == []
    assert (17, "v1") in seen and (0, "v2") in seen


def test_diff_names_labels_thresholds_and_metrics(registry: Registry) -> None:
    d = registry.diff("v1", "v2")
    v1, v2 = registry.manifest("v1"), registry.manifest("v2")
    added = sorted(set(v2["labels"]["tags"]) - set(v1["labels"]["tags"]))
    assert d["tags"]["added"] == added and added and d["tags"]["removed"] == []
    moved = {r["tag"]: r for r in d["thresholds"]}
    for tag, row in moved.items():
        assert row["a"] == v1["thresholds"][tag] and row["b"] == v2["thresholds"][tag]
    assert moved and all(r["tag"] not in added for r in d["thresholds"])
    metrics = {r["metric"]: (r["a"], r["b"]) for r in d["metrics"]}
    assert metrics["tags.micro_f1"] == (
        v1["metrics"]["tags"]["micro_f1"],
        v2["metrics"]["tags"]["micro_f1"],
    )
    assert registry.diff("v2", "v1")["tags"]["removed"] == added


def test_init_refuses_a_folder_that_is_not_empty(tmp_path: Path, two_models: Any) -> None:
    with pytest.raises(ConfigError, match="not an empty folder"):
        Registry.init(two_models[0].parent)
    with pytest.raises(ConfigError, match="not a model registry"):
        Registry(tmp_path)


def test_models_commands(tmp_path: Path, two_models: tuple[Path, Path]) -> None:
    from tagger.cli import app

    runner = CliRunner()
    reg = tmp_path / "news"

    def run(*args: str) -> Any:
        return runner.invoke(app, ["models", *args])

    result = run("init", str(reg), "--from", str(two_models[0]))
    assert result.exit_code == 0, result.output
    assert Registry(reg).current() == "v1"
    assert run("add", str(reg), str(two_models[1])).exit_code == 0
    listed = json.loads(run("list", str(reg), "--json").stdout)
    assert listed["current"] == "v1" and [v["version"] for v in listed["versions"]] == ["v1", "v2"]
    text = run("list", str(reg)).stdout
    assert "* v1" in text and "  v2" in text
    result = run("promote", str(reg), "v2", "--by", "ann")
    assert result.exit_code == 0 and "v1 -> v2" in result.output
    shown = json.loads(run("show", str(reg), "--json").stdout)
    assert shown["version"] == "v2" and shown["current"] and shown["history"][-1]["by"] == "ann"
    diff = run("diff", str(reg), "v1", "current")
    assert diff.exit_code == 0 and "tags added" in diff.stdout and "tags.micro_f1" in diff.stdout
    result = run("rollback", str(reg))
    assert result.exit_code == 0 and "v2 -> v1" in result.output
    result = run("rollback", str(reg))
    assert result.exit_code == 2 and "nothing to roll back" in result.output
    result = run("promote", str(reg), "v7")
    assert result.exit_code == 2 and "no version v7" in result.output
    result = run("list", str(tmp_path))
    assert result.exit_code == 2 and "not a model registry" in result.output
    # commands that take a model follow `current`
    info = runner.invoke(app, ["info", str(reg)])
    assert info.exit_code == 0 and json.loads(info.stdout)["model_id"] == _id(two_models[0])


def test_promote_without_db_does_not_claim_a_promotion_that_failed(tmp_path: Path) -> None:
    from tagger.cli import app

    result = CliRunner().invoke(app, ["models", "promote", str(tmp_path / "none"), "v1"])
    assert result.exit_code == 2
    assert "not a model registry" in result.output
    assert "promoted" not in result.output
