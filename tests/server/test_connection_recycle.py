"""With several workers a kept-alive connection is closed after a bounded number of
answers, so its client reconnects and the kernel assigns it to a worker afresh."""

from __future__ import annotations

import asyncio
from typing import Any

from tagger.server.guards import ConnectionRecycle


async def plain_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain"), (b"Connection", b"keep-alive")],
        }
    )
    await send({"type": "http.response.body", "body": b"ok"})


def answer(app: ConnectionRecycle, client: tuple[str, int]) -> dict[bytes, bytes]:
    """The response headers (lower-case names) of one request from `client`."""
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    scope = {"type": "http", "client": client, "server": ("127.0.0.1", 8000), "path": "/"}
    asyncio.run(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    assert [m["body"] for m in sent if m["type"] == "http.response.body"] == [b"ok"]
    return {k.lower(): v for k, v in start["headers"]}


def test_the_nth_answer_on_a_connection_closes_it_and_counting_starts_again() -> None:
    app = ConnectionRecycle(plain_app, requests=3)
    first = ("127.0.0.1", 40001)
    seen = [answer(app, first).get(b"connection") for _ in range(7)]
    assert seen == [b"keep-alive", b"keep-alive", b"close"] * 2 + [b"keep-alive"]


def test_connections_are_counted_apart_and_the_count_is_bounded() -> None:
    app = ConnectionRecycle(plain_app, requests=2, remember=3)
    assert answer(app, ("10.0.0.1", 1)).get(b"connection") == b"keep-alive"
    assert answer(app, ("10.0.0.2", 2)).get(b"connection") == b"keep-alive"
    assert answer(app, ("10.0.0.1", 1)).get(b"connection") == b"close"
    for port in range(10, 20):  # many connections: only the newest 3 are remembered
        answer(app, ("10.0.0.3", port))
    assert len(app.counts) == 3
    assert answer(app, ("10.0.0.2", 2)).get(b"connection") == b"keep-alive"  # forgotten


def test_only_several_workers_recycle_connections(tiny_model: Any, tmp_path: Any) -> None:
    from starlette.testclient import TestClient

    from tagger.server.app import ServerConfig, create_app

    def connection_headers(workers: int) -> list[str | None]:
        config = ServerConfig(
            model=tiny_model,
            db=tmp_path / f"fb{workers}.db",
            workers=workers,
            keepalive_requests=2,
            model_processes=0,
        )
        with TestClient(create_app(config), base_url="http://localhost") as client:
            answers = [client.get("/health") for _ in range(2)]
        assert [a.status_code for a in answers] == [200, 200]
        return [a.headers.get("connection") for a in answers]

    assert connection_headers(1) == [None, None]
    assert connection_headers(2) == [None, "close"]
