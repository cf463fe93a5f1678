"""`serve --model REGISTRY` follows the registry's current pointer without a restart."""

from __future__ import annotations

import time
from pathlib import Path

from fastapi.testclient import TestClient

from tagger.api import Tagger
from tagger.registry import Registry
from tagger.server.app import ServerConfig, create_app

TOKENS = {"ann-token-0123456789abcdef": "ann"}


def _wait_for(client: TestClient, version: str) -> dict:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        health = client.get("/health").json()
        if health["model"].get("version") == version:
            return health
        time.sleep(0.05)
    raise AssertionError(f"the server never switched to {version}")


def test_the_server_follows_current_and_names_the_version(tiny_model: Path, tmp_path: Path) -> None:
    registry = Registry.init(tmp_path / "news")
    model = Tagger.load(tiny_model)
    model.save(registry.path)
    model.save(registry.path)
    registry.promote("v1")
    config = ServerConfig(
        model=registry.path,
        db=tmp_path / "f.db",
        tokens=TOKENS,
        watch_interval=0.05,
        model_processes=0,  # reloads in this process: model processes have their own tests
    )
    app = create_app(config)
    article = {"article": {"title": "Budget vote", "body": "The Senate passed the budget."}}
    with TestClient(app, base_url="http://localhost") as client:
        assert client.get("/health").json()["model"]["version"] == "v1"
        body = client.post("/suggest", json=article).json()
        assert body["model"]["version"] == body["suggestions"][0]["model"]["version"] == "v1"
        registry.promote("v2")
        _wait_for(client, "v2")
        body = client.post("/suggest", json=article).json()
        assert body["model"]["version"] == body["suggestions"][0]["model"]["version"] == "v2"
        # feedback on a suggestion v1 made is still recorded as served by this service
        registry.rollback()
        _wait_for(client, "v1")
        feedback = {
            "article": article["article"],
            "suggestions": body["suggestions"][0],
            "decisions": [{"action": "add", "label": "budget"}],
        }
        headers = {"Authorization": "Bearer ann-token-0123456789abcdef"}
        assert client.post("/feedback", json=feedback, headers=headers).status_code == 201
        shown = app.state.store.suggestions()
        assert shown and all(s.model_verified for s in shown)
        metrics = client.get("/metrics").text
        assert 'tagger_model_reloads_total{outcome="ok"} 2.0' in metrics
    app.state.store.close()
