"""Overload is answered, not suffered: requests in flight, rates, slow clients, batch size,
the entity budget, read tokens, and /health while the model is busy."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from server.conftest import TOKENS, GatedModel, LiveServer
from tagger.server.app import ServerConfig, create_app
from tagger.server.guards import Rate, RateLimiter, SharedRateLimiter

ANN = {"Authorization": "Bearer ann-token-0123456789abcdef"}
BOB = {"Authorization": "Bearer bob-token-0123456789abcdef"}
ARTICLE = {
    "title": "Senate passes spending bill to avert shutdown",
    "body": "The Senate passed a stopgap spending bill on Friday, sending it to the House.",
}


def make_app(tmp_path: Path, model: Any, **limits: Any):
    config = ServerConfig(db=tmp_path / "f.db", tokens=TOKENS, **limits)
    return create_app(config, model=model)


def test_requests_beyond_the_in_flight_limit_get_503_with_retry_after(
    loaded_tiny: Any, tmp_path: Path
) -> None:
    model = GatedModel(loaded_tiny)
    app = make_app(tmp_path, model, max_in_flight=1)
    with LiveServer(app) as server, ThreadPoolExecutor(1) as pool:
        first = pool.submit(httpx.post, server.url + "/suggest", json={"article": ARTICLE})
        assert model.started.wait(10)
        start = time.monotonic()
        busy = httpx.post(server.url + "/suggest", json={"article": ARTICLE}, timeout=5)
        assert busy.status_code == 503 and busy.headers["retry-after"] == "1"
        # at once: the gated request holds the model for up to 30 s
        assert "limit 1" in busy.json()["detail"] and time.monotonic() - start < 5
        # /health is never refused nor queued
        assert httpx.get(server.url + "/health", timeout=5).status_code == 200
        model.gate.set()
        assert first.result(10).status_code == 200
        assert httpx.post(server.url + "/suggest", json={"article": ARTICLE}).status_code == 200
    app.state.store.close()


def test_a_full_model_queue_answers_503_at_once(loaded_tiny: Any, tmp_path: Path) -> None:
    model = GatedModel(loaded_tiny)
    app = make_app(tmp_path, model, model_threads=1, model_queue=1)
    with LiveServer(app) as server, ThreadPoolExecutor(1) as pool:
        first = pool.submit(httpx.post, server.url + "/suggest", json={"article": ARTICLE})
        assert model.started.wait(10)
        queued = httpx.post(server.url + "/suggest", json={"article": ARTICLE}, timeout=5)
        assert queued.status_code == 503 and queued.headers["retry-after"] == "1"
        model.gate.set()
        assert first.result(10).status_code == 200
    app.state.store.close()


def test_health_answers_while_the_model_is_busy(loaded_tiny: Any, tmp_path: Path) -> None:
    """45 slow suggestions at once (more than the 40 threads FastAPI gives sync
    endpoints): /health still answers at once, from the event loop."""
    model = GatedModel(loaded_tiny)
    app = make_app(tmp_path, model, model_threads=1, model_queue=100, max_in_flight=100)
    with LiveServer(app) as server, ThreadPoolExecutor(45) as pool:
        slow = [
            pool.submit(httpx.post, server.url + "/suggest", json={"article": ARTICLE}, timeout=30)
            for _ in range(45)
        ]
        assert model.started.wait(10)
        time.sleep(0.3)  # let every request reach the server
        for _ in range(5):
            start = time.monotonic()
            health = httpx.get(server.url + "/health", timeout=3)
            assert health.status_code == 200 and time.monotonic() - start < 5
        assert httpx.get(server.url + "/metrics", timeout=3).status_code == 200
        model.gate.set()
        assert [f.result(30).status_code for f in slow] == [200] * 45
    app.state.store.close()


def test_rate_limits_per_client_give_429_with_retry_after(loaded_tiny: Any, tmp_path: Path) -> None:
    app = make_app(
        tmp_path, loaded_tiny, suggest_rate=6, suggest_burst=2, feedback_rate=6, feedback_burst=1
    )
    with TestClient(app, base_url="http://localhost") as client:
        codes = [client.post("/suggest", json={"article": ARTICLE}).status_code for _ in range(3)]
        assert codes == [200, 200, 429]
        limited = client.post("/suggest", json={"article": ARTICLE})
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
        assert "too many suggest requests" in limited.json()["detail"]
        # an editor's token is its own client; other endpoints are not limited
        assert client.post("/suggest", json={"article": ARTICLE}, headers=ANN).status_code == 200
        assert client.get("/labels").status_code == 200
        body = {"article": ARTICLE, "decisions": [{"action": "add", "label": "budget"}]}
        assert client.post("/feedback", json=body, headers=ANN).status_code == 201
        assert client.post("/feedback", json=body, headers=ANN).status_code == 429
        assert client.post("/feedback", json=body, headers=BOB).status_code == 201
        assert app.state.store.count_decisions() == 2
    app.state.store.close()


def test_the_rate_limiter_refills_and_forgets_old_clients() -> None:
    limiter = RateLimiter({"suggest": Rate(60, 2)}, max_clients=3)
    assert [limiter.take("suggest", "a", now=0.0) for _ in range(2)] == [0.0, 0.0]
    assert limiter.take("suggest", "a", now=0.0) == pytest.approx(1.0)
    assert limiter.take("suggest", "a", now=1.0) == 0.0  # one a second comes back
    for client in "bcde":
        limiter.take("suggest", client, now=1.0)
    assert len(limiter.buckets) == 3 and ("suggest", "a") not in limiter.buckets
    assert RateLimiter({"suggest": Rate(0, 1)}).take("suggest", "a") == 0.0


def test_rate_limiters_on_one_file_share_each_clients_bucket(tmp_path: Path) -> None:
    """Two workers (two limiters on the same file): one client's requests through both
    count against one bucket; another client keeps its own."""
    path = str(tmp_path / "rates.sqlite")
    first = SharedRateLimiter({"suggest": Rate(60, 2)}, path)
    second = SharedRateLimiter({"suggest": Rate(60, 2)}, path)
    assert first.take("suggest", "a", now=0.0) == 0.0
    assert second.take("suggest", "a", now=0.0) == 0.0
    assert first.take("suggest", "a", now=0.0) == pytest.approx(1.0)
    assert second.take("suggest", "a", now=0.5) == pytest.approx(0.5)
    assert second.take("suggest", "b", now=0.5) == 0.0
    assert first.take("suggest", "a", now=1.0) == 0.0  # one a second comes back, everywhere
    assert second.take("suggest", "a", now=1.0) == pytest.approx(1.0)
    assert first.take("feedback", "a", now=1.0) == 0.0  # no rate for the group: no limit
    first.close()
    second.close()


def test_the_shared_rate_file_forgets_the_oldest_clients(tmp_path: Path) -> None:
    limiter = SharedRateLimiter({"suggest": Rate(60, 1)}, str(tmp_path / "r.sqlite"), 3)
    limiter.EVICT_EVERY = 1
    for now, client in enumerate("abcde"):
        limiter.take("suggest", client, now=float(now))
    rows = limiter.db.execute("SELECT client FROM buckets ORDER BY at").fetchall()
    assert [r[0] for r in rows] == ["c", "d", "e"]
    assert limiter.take("suggest", "a", now=5.0) == 0.0  # forgotten: a full bucket again
    limiter.close()


def test_an_unusable_rate_file_falls_back_to_the_process_own_buckets(tmp_path: Path) -> None:
    limiter = SharedRateLimiter({"suggest": Rate(60, 1)}, str(tmp_path / "r.sqlite"))
    limiter.db.execute("DROP TABLE buckets")  # the file stops working under the worker
    assert limiter.take("suggest", "a", now=0.0) == 0.0
    assert limiter.failed
    assert limiter.take("suggest", "a", now=0.0) == pytest.approx(1.0)
    limiter.close()


def _read_response(sock: socket.socket, seconds: float = 5) -> bytes:
    """One whole HTTP response (headers and a Content-Length body)."""
    sock.settimeout(seconds)
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, rest = data.partition(b"\r\n\r\n")
    length = int(re.search(rb"content-length: (\d+)", head.lower()).group(1))  # type: ignore[union-attr]
    while len(rest) < length:
        rest += sock.recv(65536)
    return head + b"\r\n\r\n" + rest


def _read_all(sock: socket.socket, seconds: float) -> bytes:
    sock.settimeout(seconds)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except TimeoutError:
        data += b"<still open>"
    return data


def test_a_slow_body_is_cut_off_with_408(loaded_tiny: Any, tmp_path: Path) -> None:
    app = make_app(tmp_path, loaded_tiny, body_timeout=0.5)
    with LiveServer(app) as server, socket.create_connection(("127.0.0.1", server.port)) as s:
        s.sendall(
            b"POST /suggest HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1000\r\n\r\n" + b'{"article": {"title": "'
        )
        start = time.monotonic()
        answer = _read_all(s, 10)
        assert answer.startswith(b"HTTP/1.1 408") and b"within 0.5 s" in answer
        assert not answer.endswith(b"<still open>") and time.monotonic() - start < 8
        assert httpx.get(server.url + "/health").status_code == 200
    app.state.store.close()


def test_slow_headers_are_cut_off(
    loaded_tiny: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TAGGER_HEADER_TIMEOUT", "0.5")
    app = make_app(tmp_path, loaded_tiny)
    with LiveServer(app) as server:
        with socket.create_connection(("127.0.0.1", server.port)) as s:
            s.sendall(b"POST /suggest HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            start = time.monotonic()
            assert _read_all(s, 10) == b"" and time.monotonic() - start < 8
        with socket.create_connection(("127.0.0.1", server.port)) as idle:
            assert _read_all(idle, 10) == b""  # a connection that never says anything
        # a normal request on a kept-alive connection is not affected
        with httpx.Client(base_url=server.url) as http:
            assert http.get("/health").status_code == 200
            time.sleep(0.8)
            assert http.get("/health").status_code == 200
    app.state.store.close()


def test_batches_are_capped_in_characters(loaded_tiny: Any, tmp_path: Path) -> None:
    app = make_app(tmp_path, loaded_tiny, max_batch_chars=500)
    with TestClient(app, base_url="http://localhost") as client:
        big = [{"title": f"t{i}", "body": "word " * 40} for i in range(3)]
        refused = client.post("/suggest", json={"articles": big})
        assert refused.status_code == 413 and "over the limit of 500" in refused.text
        assert client.post("/suggest", json={"articles": big[:2]}).status_code == 200
    app.state.store.close()


def test_entities_beyond_the_budget_are_skipped_and_said_so(
    loaded_tiny: Any, tmp_path: Path
) -> None:
    app = make_app(tmp_path, loaded_tiny, entity_chars=100)
    with TestClient(app, base_url="http://localhost") as client:
        long = {**ARTICLE, "body": ARTICLE["body"] * 3}
        answer = client.post("/suggest", json={"article": long, "entities": True})
        assert answer.status_code == 200
        assert "entities skipped" in answer.json()["entities_skipped"]
        assert answer.json()["suggestions"][0]["entities"] == []
        short = client.post(
            "/suggest", json={"article": {"title": "Mike Johnson speaks"}, "entities": True}
        )
        assert short.status_code == 200 and "entities_skipped" not in short.json()
    app.state.store.close()


def test_a_model_needing_entities_refuses_batches_beyond_the_budget(
    loaded_tiny: Any, tmp_path: Path
) -> None:
    model = GatedModel(loaded_tiny, needs_entities=True)
    app = make_app(tmp_path, model, entity_chars=100)
    with TestClient(app, base_url="http://localhost") as client:
        long = {**ARTICLE, "body": ARTICLE["body"] * 3}
        refused = client.post("/suggest", json={"article": long})
        assert refused.status_code == 413 and "needs entities" in refused.text
        assert model.calls == 0
    app.state.store.close()


def test_queue_pushes_keep_the_batch_and_entity_budgets_of_suggest(
    loaded_tiny: Any, tmp_path: Path
) -> None:
    """POST /queue runs the model on its batch as /suggest does: the same 413s, before any
    model work (it took any batch the body limit let through)."""
    model = GatedModel(loaded_tiny, needs_entities=True)
    model.gate.set()
    app = make_app(tmp_path, model, max_batch_chars=500, entity_chars=100)
    with TestClient(app, base_url="http://localhost") as client:
        big = [{**ARTICLE, "id": f"a{i}"} for i in range(6)]
        refused = client.post("/queue", json={"articles": big}, headers=ANN)
        assert refused.status_code == 413 and "over the limit of 500" in refused.text
        long = {**ARTICLE, "body": ARTICLE["body"] * 3}
        refused = client.post("/queue", json={"article": long}, headers=ANN)
        assert refused.status_code == 413 and "needs entities" in refused.text
        assert model.calls == 0 and client.get("/queue").json()["waiting"] == 0
        short = client.post("/queue", json={"article": {"title": "Senate vote"}}, headers=ANN)
        assert short.status_code == 201 and model.calls == 1
    app.state.store.close()


def test_read_tokens_guard_suggest_and_labels(loaded_tiny: Any, tmp_path: Path) -> None:
    assert ServerConfig(host="0.0.0.0").requires_read_token
    assert not ServerConfig(host="127.0.0.1").requires_read_token
    assert ServerConfig(host="127.0.0.1", read_tokens=True).requires_read_token
    app = make_app(tmp_path, loaded_tiny, read_tokens=True)
    with TestClient(app, base_url="http://localhost") as client:
        assert client.post("/suggest", json={"article": ARTICLE}).status_code == 401
        assert client.get("/labels").status_code == 401
        assert client.post("/suggest", json={"article": ARTICLE}, headers=ANN).status_code == 200
        assert client.get("/labels", headers=ANN).status_code == 200
        assert client.get("/health").status_code == 200
    app.state.store.close()


def test_concurrent_clients_see_no_errors_under_the_limits(
    loaded_tiny: Any, tmp_path: Path
) -> None:
    """A burst over every limit: only 200, 429 and 503 come back, never 500."""
    model = GatedModel(loaded_tiny)
    model.gate.set()
    app = make_app(tmp_path, model, max_in_flight=4, model_queue=2, suggest_rate=600)
    codes: list[int] = []
    lock = threading.Lock()

    def hammer(_: int) -> None:
        with httpx.Client(base_url=server.url, timeout=10) as http:
            for _ in range(5):
                code = http.post("/suggest", json={"article": ARTICLE}).status_code
                with lock:
                    codes.append(code)

    with LiveServer(app) as server, ThreadPoolExecutor(12) as pool:
        list(pool.map(hammer, range(12)))
    assert set(codes) <= {200, 429, 503} and 200 in codes and len(codes) == 60
    app.state.store.close()


def test_a_refusal_does_not_wait_for_the_body_and_keeps_the_connection(
    loaded_tiny: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full model queue answers 503 as soon as the headers are in; the body sent after
    it is dropped and the connection serves the next request; a refused body that never
    comes closes the connection after the header timeout."""
    monkeypatch.setenv("TAGGER_HEADER_TIMEOUT", "1")
    model = GatedModel(loaded_tiny)
    app = make_app(tmp_path, model, model_threads=1, model_queue=1)
    body = json.dumps({"article": ARTICLE}).encode()
    head = (
        b"POST /suggest HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n"
    )
    with LiveServer(app) as server, ThreadPoolExecutor(1) as pool:
        first = pool.submit(httpx.post, server.url + "/suggest", json={"article": ARTICLE})
        assert model.started.wait(10)
        with socket.create_connection(("127.0.0.1", server.port)) as s:
            s.sendall(head)  # headers only
            answer = _read_response(s)
            assert answer.startswith(b"HTTP/1.1 503") and b"retry-after: 1" in answer.lower()
            assert b"connection: close" not in answer.lower()
            s.sendall(body + b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            assert _read_response(s).startswith(b"HTTP/1.1 200")  # the same connection
        with socket.create_connection(("127.0.0.1", server.port)) as s:
            s.sendall(head)
            start = time.monotonic()
            answer = _read_all(s, 10)  # the 503, then the server closes: no body came
            assert answer.startswith(b"HTTP/1.1 503") and not answer.endswith(b"<still open>")
            assert time.monotonic() - start < 8
        model.gate.set()
        assert first.result(10).status_code == 200
    app.state.store.close()


def test_a_batch_over_the_article_limit_is_refused_before_its_articles_are_read(
    loaded_tiny: Any, tmp_path: Path
) -> None:
    """A body within --max-body can hold 600,000 articles '{}': validating (and reporting)
    each one cost a worker 2 GB and a minute of its event loop, for one 422 of 85 MB. The
    batch limit is applied as the body is validated: one short 413, as for 101 articles."""
    app = make_app(tmp_path, loaded_tiny)
    many = b'{"articles": [' + b",".join([b"{}"] * 20_000) + b"]}"
    json_type = {"content-type": "application/json"}
    with TestClient(app, base_url="http://localhost") as client:
        for path, headers in (("/suggest", json_type), ("/queue", {**json_type, **ANN})):
            refused = client.post(path, content=many, headers=headers)
            assert refused.status_code == 413, (path, refused.status_code)
            assert refused.json() == {"detail": "batch over the limit of 100 articles"}
            over = [{**ARTICLE, "id": f"a{i}"} for i in range(101)]
            refused = client.post(path, json={"articles": over}, headers=headers)
            assert refused.status_code == 413 and "limit of 100 articles" in refused.text
        bad = client.post("/suggest", json={"articles": [{}]})  # other errors stay 422
        assert bad.status_code == 422 and "needs a title or a body" in bad.text
        assert 'tagger_rejected_requests_total{reason="batch"} 4.0' in client.get("/metrics").text
    app.state.store.close()
