"""A served app with a tiny model, a fresh store and one editor token (ann)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tagger.server.app import ServerConfig, create_app

TOKENS = {"ann-token-0123456789abcdef": "ann"}


@pytest.fixture
def client(tiny_model: Path, loaded_tiny: Any, tmp_path: Path) -> Iterator[TestClient]:
    # the model loaded once, served in this process: model processes are tested in
    # tests/server/test_model_processes.py, and each costs 2 CPU seconds to start
    config = ServerConfig(model=tiny_model, db=tmp_path / "f.db", tokens=TOKENS)
    app = create_app(config, model=loaded_tiny)
    with TestClient(app, base_url="http://localhost") as c:  # a Host the service allows
        yield c
    app.state.store.close()
