"""Fixtures for the server tests: a live server (the tiny model is in tests/conftest.py)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tagger.server.launch import free_port

TOKENS = {"ann-token-0123456789abcdef": "ann", "bob-token-0123456789abcdef": "bob"}


class LiveServer:
    """uvicorn serving an app in a background thread on 127.0.0.1 and a free port."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        from tagger.server.protocol import GuardedH11Protocol

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            http=GuardedH11Protocol,
            timeout_graceful_shutdown=2,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.app_store: Any = None

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 90  # model processes start in the lifespan: slow when loaded
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture
def live_server(tiny_model: Path, loaded_tiny: Any, tmp_path: Path) -> Iterator[LiveServer]:
    from tagger.server.app import ServerConfig, create_app

    config = ServerConfig(model=tiny_model, db=tmp_path / "feedback.db", tokens=TOKENS)
    app = create_app(config, model=loaded_tiny)  # in this process (model processes: 2 CPU s)
    with LiveServer(app) as server:
        server.app_store = app.state.store
        yield server
    app.state.store.close()


class GatedModel:
    """A real model whose predict waits until the test opens the gate (model work that
    takes as long as the test wants); `started` is set when a prediction begins."""

    def __init__(self, model: Any, needs_entities: bool | None = None) -> None:
        self._model = model
        self.gate = threading.Event()
        self.started = threading.Event()
        self.calls = 0
        if needs_entities is not None:
            self.featurizer = type("F", (), {"uses_entities": needs_entities})()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)

    def predict(self, articles: Any, **kwargs: Any) -> Any:
        self.calls += 1
        self.started.set()
        if not self.gate.wait(30):
            raise RuntimeError("the test never opened the gate")
        return self._model.predict(articles, **kwargs)


@pytest.fixture(scope="session")
def other_model(tmp_path_factory: pytest.TempPathFactory, load_sample: Any) -> Path:
    """A second bundle (another name, another id) to reload into."""
    from tests.conftest import train_tiny

    return train_tiny(load_sample()[1::2], tmp_path_factory.mktemp("models") / "tiny-b", "tiny-b")
