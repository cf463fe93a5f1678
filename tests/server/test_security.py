"""Security headers on every response, the Host allowlist, and a page without inline script."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from server.conftest import TOKENS
from tagger.server.app import STATIC, ServerConfig, create_app
from tagger.server.guards import default_allowed_hosts, host_name


@pytest.fixture
def client(loaded_tiny: Any, tmp_path: Path):
    app = create_app(ServerConfig(db=tmp_path / "f.db", tokens=TOKENS), model=loaded_tiny)
    with TestClient(app, base_url="http://localhost:8000") as c:
        yield c
    app.state.store.close()


def assert_secure(response: Any) -> None:
    headers = response.headers
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    csp = headers["content-security-policy"]
    script = re.search(r"script-src ([^;]*)", csp)
    assert script and "unsafe-inline" not in script.group(1) and "unsafe-eval" not in csp
    assert "frame-ancestors 'none'" in csp


def test_every_response_carries_the_security_headers(client: TestClient) -> None:
    responses = [
        client.get("/"),
        client.get("/health"),
        client.get("/static/app.js"),
        client.get("/docs"),
        client.get("/redoc"),
        client.get("/openapi.json"),
        client.get("/metrics"),
        client.get("/no-such-page"),
        client.post("/suggest", content=b"{", headers={"content-type": "application/json"}),
        client.get("/health", headers={"host": "evil.example"}),
    ]
    assert [r.status_code for r in responses] == [200, 200, 200, 200, 200, 200, 200, 404, 422, 400]
    for response in responses:
        assert_secure(response)
    # only the docs pages (whose UI injects styles) may use inline style, never script
    assert "'unsafe-inline'" not in responses[0].headers["content-security-policy"]


def test_pages_have_no_inline_script_or_style(client: TestClient) -> None:
    pages = [
        (STATIC / "index.html").read_text(),
        client.get("/docs").text,
        client.get("/redoc").text,
    ]
    for html in pages:
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "inline <script>"
        assert "<style" not in html and " style=" not in html and "onclick" not in html.lower()
    assert "/static/docs.js" in pages[1]
    assert client.get("/static/docs.js").status_code == 200
    assert client.get("/static-offline-docs/swagger-ui-bundle.js").status_code == 200
    assert client.get("/static-offline-docs/redoc.standalone.js").status_code == 200


@pytest.mark.parametrize(
    "host", ["evil.example", "evil.example:8000", "127.0.0.2", "localhost.evil.example", ""]
)
def test_other_hosts_get_400(client: TestClient, host: str) -> None:
    response = client.get("/health", headers={"host": host})
    assert response.status_code == 400 and "is not served here" in response.json()["detail"]


@pytest.mark.parametrize("host", ["localhost:8000", "127.0.0.1:8000", "[::1]:8000", "LOCALHOST"])
def test_loopback_hosts_are_served(client: TestClient, host: str) -> None:
    assert client.get("/health", headers={"host": host}).status_code == 200


def test_allowed_hosts_from_the_config(loaded_tiny: Any, tmp_path: Path) -> None:
    config = ServerConfig(db=tmp_path / "f.db", host="0.0.0.0", allowed_hosts=["tagger.example"])
    app = create_app(config, model=loaded_tiny)
    with TestClient(app, base_url="http://tagger.example") as c:
        assert c.get("/health").status_code == 200
        assert c.get("/health", headers={"host": "localhost"}).status_code == 400
    anything = create_app(
        ServerConfig(db=tmp_path / "g.db", allowed_hosts=["*"]), model=loaded_tiny
    )
    with TestClient(anything, base_url="http://whatever.example") as c:
        assert c.get("/health").status_code == 200
    app.state.store.close()
    anything.state.store.close()


def test_default_allowed_hosts_and_host_parsing() -> None:
    assert default_allowed_hosts("127.0.0.1") == ("127.0.0.1", "localhost", "::1")
    assert default_allowed_hosts("0.0.0.0") == ("localhost", "127.0.0.1", "::1")
    assert "news.example" in default_allowed_hosts("news.example")
    assert host_name("[::1]:8000") == "::1" and host_name("Example.COM.:80") == "example.com"


@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"],
)
def test_a_body_not_declared_json_is_415(client: TestClient, content_type: str | None) -> None:
    """What another site's page can make a browser send without a preflight (a form,
    text/plain) is refused before any work, with what to send instead."""
    body = b'{"article": {"title": "Budget", "body": "The Senate passed the budget."}}'
    headers = {} if content_type is None else {"content-type": content_type}
    refused = client.post("/suggest", content=body, headers=headers)
    assert refused.status_code == 415
    assert "Content-Type: application/json" in refused.json()["detail"]
    assert 'tagger_rejected_requests_total{reason="content_type"} ' in client.get("/metrics").text
    for declared in ("application/json", "application/json; charset=utf-8", "Application/JSON"):
        assert client.post("/suggest", content=body, headers={"content-type": declared}).is_success
