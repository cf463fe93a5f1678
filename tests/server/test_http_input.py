"""Hostile JSON over HTTP: 422 with a reason, and the kept-alive connection stays usable."""

from __future__ import annotations

import http.client
import json
from pathlib import Path
from typing import Any

import pytest

from server.conftest import TOKENS, LiveServer
from tagger.server.app import ServerConfig, create_app
from tagger.server.guards import JSONRefused, json_depth, strict_json

TOKEN = "ann-token-0123456789abcdef"
GOOD = json.dumps({"article": {"title": "Senate passes budget", "body": "The Senate voted."}})
FEEDBACK = (
    '{"article": {"title": "Senate passes budget"}, "decisions": [{"action": "add", "label": %s}]}'
)

HOSTILE = {
    "NaN top_k": (b'{"article": {"title": "x"}, "top_k": NaN}', "json_not_finite"),
    "Infinity": (b'{"article": {"title": "x"}, "top_k": -Infinity}', "json_not_finite"),
    "huge float": (b'{"article": {"title": "x"}, "top_k": 1e999}', "json_not_finite"),
    "surrogate title": (rb'{"article": {"title": "a\ud800b"}}', "json_surrogate"),
    "surrogate id": (rb'{"article": {"id": "\udfff", "title": "x"}}', "json_surrogate"),
    "surrogate key": (rb'{"article": {"title": "x", "\ud800": 1}}', "json_surrogate"),
    "deep nesting": (b'{"article": ' + b"[" * 100 + b"]" * 100 + b"}", "json_too_deep"),
    "very deep nesting": (b"[" * 100_000 + b"]" * 100_000, "json_too_deep"),
    "invalid UTF-8": (b'{"article": {"title": "caf\xe9 \xff"}}', "utf8_invalid"),
    "truncated": (b'{"article": {"title": ', "json_invalid"),
    # a proxy that keeps the first value and a reader that keeps the last see two articles
    "key twice": (b'{"article": {"title": "x", "title": "y"}}', "json_duplicate_key"),
}


@pytest.fixture
def server(loaded_tiny: Any, tmp_path: Path):
    app = create_app(ServerConfig(db=tmp_path / "f.db", tokens=TOKENS), model=loaded_tiny)
    with LiveServer(app) as live:
        live.app_store = app.state.store
        yield live
    app.state.store.close()


def post(conn: http.client.HTTPConnection, path: str, body: bytes) -> tuple[int, Any]:
    conn.request(
        "POST",
        path,
        body=body,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"},
    )
    response = conn.getresponse()
    data = response.read()
    return response.status, json.loads(data)


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_bodies_get_422_and_the_connection_stays_usable(server, name: str) -> None:
    body, kind = HOSTILE[name]
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        status, answer = post(conn, "/suggest", body)
        assert status == 422, answer
        assert answer["detail"][0]["type"] == kind and answer["detail"][0]["msg"]
        sock = conn.sock
        assert sock is not None  # the server did not close the kept-alive connection
        status, answer = post(conn, "/suggest", GOOD.encode())
        assert status == 200 and answer["suggestions"]
        assert conn.sock is sock  # the same connection served the next request
    finally:
        conn.close()


def test_a_surrogate_or_control_label_is_never_stored(server) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        status, answer = post(conn, "/feedback", (FEEDBACK % r'"x\ud800"').encode())
        assert status == 422 and answer["detail"][0]["loc"][:3] == ["body", "decisions", 0]
        status, answer = post(conn, "/feedback", (FEEDBACK % r'"x\u001b]52;c;x\u0007"').encode())
        assert status == 422 and "control character" in json.dumps(answer)
        status, _ = post(conn, "/feedback", (FEEDBACK % '"budget"').encode())
        assert status == 201
    finally:
        conn.close()
    assert [d.label for d in server.app_store.decisions()] == ["budget"]


def test_suggest_reads_text_through_the_one_hygiene(server) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        body = {"article": {"id": "a\u0000b", "title": "Cafe\u0301\u001b[2J", "body": "x\r\ny"}}
        status, answer = post(conn, "/suggest", json.dumps(body).encode())
    finally:
        conn.close()
    assert status == 200
    assert answer["suggestions"][0]["id"] == "a b"
    assert answer["suggestions"][0]["title"] == "Café [2J"


def test_strict_json_rules() -> None:
    assert strict_json(b'{"a": [1, 2.5, "\\ud83d\\ude00"]}') == {"a": [1, 2.5, "\U0001f600"]}
    assert json_depth(b'{"a": "[[[[", "b": [{"c": []}]}') == 4
    assert json_depth(b'"no containers"') == 0
    with pytest.raises(JSONRefused, match="nested 3 deep"):
        strict_json(b"[[[]]]", max_depth=2)
    with pytest.raises(JSONRefused, match="byte 1"):
        strict_json(b'"\xc3"')
    with pytest.raises(JSONRefused) as refused:
        strict_json(b'{"x": [1, {"y": "\\udc00"}]}')
    assert refused.value.loc == ["body", "x", 1, "y"]
    with pytest.raises(JSONRefused, match="integer out of range"):
        strict_json(b"[" + b"9" * 30 + b"]")
    with pytest.raises(JSONRefused, match="key 'top_k' appears twice"):
        strict_json(b'{"top_k": 1, "article": {}, "top_k": 9}')
    assert strict_json(b'[{"a": 1}, {"a": 2}]') == [{"a": 1}, {"a": 2}]  # one key per object


def test_a_feedback_article_id_is_limited_like_an_articles_own(server) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        body = {"article_id": "x" * 501, "decisions": [{"action": "add", "label": "budget"}]}
        status, answer = post(conn, "/feedback", json.dumps(body).encode())
        assert status == 422
        assert answer["detail"][0]["loc"][-1] == "article_id"
    finally:
        conn.close()
