"""A served app with a tiny model, a fresh store and one editor token (ann)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tagger.server.app import ServerConfig, create_app

TOKENS = {"ann-token-0123456789abcdef": "ann"}


@pytest.fixture
def client(tiny_model: Path, tmp_path: Path) -> Iterator[TestClient]:
    app = create_app(ServerConfig(model=tiny_model, db=tmp_path / "f.db", tokens=TOKENS))
    with TestClient(app, base_url="http://localhost") as c:  # a Host the service allows
        yield c
    app.state.store.close()
