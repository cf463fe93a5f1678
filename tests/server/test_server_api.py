"""The HTTP API through an HTTP client: suggest, feedback, auth, limits, errors."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from tagger.errors import ConfigError
from tagger.server.app import ServerConfig, create_app, load_tokens

ANN = {"Authorization": "Bearer ann-token-0123456789abcdef"}
TOKENS = {"ann-token-0123456789abcdef": "ann", "bob-token-0123456789abcdef": "bob"}
ARTICLE = {
    "title": "Senate passes spending bill to avert shutdown",
    "body": "The Senate passed a stopgap spending bill on Friday, sending it to the House "
    "as lawmakers raced to avoid a government shutdown over the federal budget.",
}


@pytest.fixture
def client(tiny_model: Path, loaded_tiny: Any, tmp_path: Path):
    config = ServerConfig(model=tiny_model, db=tmp_path / "f.db", tokens=TOKENS, max_body=20_000)
    app = create_app(config, model=loaded_tiny)  # in this process (model processes: 2 CPU s)
    with TestClient(app, base_url="http://localhost") as c:
        yield c
    app.state.store.close()


def test_health_labels_docs_and_page(client: TestClient) -> None:
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["model"]["name"] == "tiny"
    labels = client.get("/labels").json()
    assert "Politics" in labels["sections"] and "Congress" in labels["tags"]
    docs = client.get("/docs")
    assert docs.status_code == 200
    # The docs page works offline: its scripts come from this service, not a CDN.
    assert "cdn." not in docs.text and "unpkg" not in docs.text
    script = re.search(r'src="([^"]*swagger-ui-bundle\.js)"', docs.text)
    assert script and client.get(script.group(1)).status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/suggest", "/feedback", "/labels", "/health"} <= set(paths)
    page = client.get("/")
    assert page.status_code == 200 and "editors' desk" in page.text
    assert "Load a file (.txt, .json, .jsonl)" in page.text and 'href="/favicon.ico"' in page.text
    assert client.get("/static/app.js").status_code == 200


def test_suggest_one_and_a_batch(client: TestClient) -> None:
    one = client.post("/suggest", json={"article": ARTICLE, "top_k": 3})
    assert one.status_code == 200
    [s] = one.json()["suggestions"]
    assert s["section"]["label"] == "Politics"
    assert len(s["tag_candidates"]) == 3 and s["tag_candidates"][0]["evidence"]
    assert s["id"].startswith("sha1-")
    batch = client.post(
        "/suggest",
        json={"articles": [ARTICLE, {"id": "b", "title": "Pope visits parish"}], "explain": False},
    ).json()["suggestions"]
    assert [x["id"] for x in batch] == [s["id"], "b"]
    assert "evidence" not in batch[0]["tag_candidates"][0]


def test_feedback_needs_a_valid_token(client: TestClient) -> None:
    body = {"article": ARTICLE, "decisions": [{"action": "add", "label": "Congress"}]}
    assert client.post("/feedback", json=body).status_code == 401
    wrong = client.post("/feedback", json=body, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
    assert client.get("/health").json()["decisions"] == 0
    assert client.get("/whoami", headers=ANN).json() == {"editor": "ann"}


def test_feedback_is_recorded_with_the_suggestions_it_answers(client: TestClient) -> None:
    s = client.post("/suggest", json={"article": ARTICLE}).json()["suggestions"][0]
    top = s["tag_candidates"][0]["label"]
    second = s["tag_candidates"][1]["label"]
    body = {
        "article": ARTICLE,
        "suggestions": s,
        "decisions": [
            {"action": "accept", "label": top},
            {"action": "reject", "label": second},
            {"action": "add", "label": "shutdown watch"},
            {"action": "accept", "kind": "section", "label": s["section"]["label"]},
        ],
        "done": True,
    }
    response = client.post("/feedback", json=body, headers=ANN)
    assert response.status_code == 201, response.text
    assert response.json()["editor"] == "ann" and len(response.json()["decisions"]) == 4
    store = client.app.state.store
    decisions = store.decisions(s["id"])
    assert [(d.editor, d.action, d.label) for d in decisions][:3] == [
        ("ann", "accept", top),
        ("ann", "reject", second),
        ("ann", "add", "shutdown watch"),
    ]
    assert decisions[0].model_id == s["model"]["id"] and decisions[0].score is not None
    assert decisions[2].suggestion_id is None
    assert store.done("ann") == {s["id"]}
    # decisions on a stored article by id only
    again = client.post(
        "/feedback",
        json={"article_id": s["id"], "decisions": [{"action": "undo", "label": top}]},
        headers={"Authorization": "Bearer bob-token-0123456789abcdef"},
    )
    assert again.status_code == 201 and store.count_decisions() == 5


def test_feedback_finishes_an_article_only_when_the_client_says_done(client: TestClient) -> None:
    s = client.post("/suggest", json={"article": ARTICLE}).json()["suggestions"][0]
    body = {"article": ARTICLE, "decisions": [{"action": "add", "label": "budget"}]}
    assert client.post("/feedback", json=body, headers=ANN).status_code == 201
    store = client.app.state.store
    assert store.done("ann") == set()
    body["done"] = True
    assert client.post("/feedback", json=body, headers=ANN).status_code == 201
    assert store.done("ann") == {s["id"]}


def test_a_different_text_under_a_stored_id_is_refused_with_409(client: TestClient) -> None:
    article = {**ARTICLE, "id": "cms-42"}
    body = {"article": article, "decisions": [{"action": "add", "label": "budget"}]}
    assert client.post("/feedback", json=body, headers=ANN).status_code == 201
    # the same text again is fine (a second save of the same article)
    assert client.post("/feedback", json=body, headers=ANN).status_code == 201
    edited = {**article, "body": ARTICLE["body"] + " The House agreed on Saturday."}
    response = client.post("/feedback", json={**body, "article": edited}, headers=ANN)
    assert response.status_code == 409 and "new id" in response.json()["detail"]
    store = client.app.state.store
    assert store.article("cms-42").body == ARTICLE["body"]
    assert store.count_decisions() == 2  # nothing of the refused request was kept


def test_a_section_change_answers_the_candidate_shown(client: TestClient) -> None:
    s = client.post("/suggest", json={"article": ARTICLE}).json()["suggestions"][0]
    other = next(c["label"] for c in s["section_candidates"] if c["label"] != s["section"]["label"])
    body = {
        "article": ARTICLE,
        "suggestions": s,
        "decisions": [{"action": "section", "kind": "section", "label": other}],
    }
    assert client.post("/feedback", json=body, headers=ANN).status_code == 201
    store = client.app.state.store
    [decision] = store.decisions()
    [shown] = [x for x in store.suggestions() if x.kind == "section" and x.label == other]
    assert decision.suggestion_id == shown.id and decision.score == shown.score


def test_suggest_returns_entities_when_asked(client: TestClient) -> None:
    article = {**ARTICLE, "body": ARTICLE["body"] + " Speaker Mike Johnson said the House agreed."}
    plain = client.post("/suggest", json={"article": article}).json()["suggestions"][0]
    assert plain["entities"] == []  # the tiny model has no entity features: none by default
    asked = client.post("/suggest", json={"article": article, "entities": True})
    assert asked.status_code == 200, asked.text
    entities = asked.json()["suggestions"][0]["entities"]
    assert any(e["name"] == "Mike Johnson" and e["type"] == "PERSON" for e in entities)
    assert [e["salience"] for e in entities] == sorted(
        (e["salience"] for e in entities), reverse=True
    )


def test_favicon(client: TestClient) -> None:
    response = client.get("/favicon.ico")
    assert response.status_code == 200 and "svg" in response.headers["content-type"]


def test_oversized_bodies_get_413(client: TestClient) -> None:
    big = {"article": {"title": "x", "body": "word " * 10_000}}
    assert client.post("/suggest", json=big).status_code == 413
    # a streamed body without a declared length is counted too
    chunks = (b'{"article": {"title": "x", "body": "' + b"y" * 5000 for _ in range(5))
    response = client.post("/suggest", content=chunks, headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert client.get("/health").status_code == 200


def test_malformed_and_invalid_requests_get_422_with_the_reason(client: TestClient) -> None:
    bad = client.post(
        "/suggest", content=b'{"article": {"title": ', headers={"content-type": "application/json"}
    )
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["type"] == "json_invalid"
    neither = client.post("/suggest", json={"top_k": 3})
    assert neither.status_code == 422 and "either 'article' or 'articles'" in neither.text
    empty = client.post("/suggest", json={"article": {"title": " ", "body": ""}})
    assert empty.status_code == 422 and "title or a body" in empty.text
    action = client.post(
        "/feedback",
        json={"article": ARTICLE, "decisions": [{"action": "like", "label": "x"}]},
        headers=ANN,
    )
    assert action.status_code == 422 and "action" in action.text
    section_add = client.post(
        "/feedback",
        json={
            "article": ARTICLE,
            "decisions": [{"action": "add", "kind": "section", "label": "X"}],
        },
        headers=ANN,
    )
    assert section_add.status_code == 422 and "for tags" in section_add.text
    forged = client.post(
        "/feedback",
        json={
            "article": ARTICLE,
            "suggestions": {"tags": [{"label": "x", "score": "high"}]},
            "decisions": [{"action": "accept", "label": "x"}],
        },
        headers=ANN,
    )
    assert forged.status_code == 422 and "malformed suggestions" in forged.text
    missing = client.post("/feedback", json={"article_id": "nope", "decisions": []}, headers=ANN)
    assert missing.status_code == 404
    assert client.app.state.store.count_decisions() == 0


def test_concurrent_requests_over_a_real_socket(live_server) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def work(i: int) -> tuple[int, int]:
        with httpx.Client(base_url=live_server.url, timeout=30) as http:
            a = http.post("/suggest", json={"article": {**ARTICLE, "id": f"c{i}"}})
            f = http.post(
                "/feedback",
                json={
                    "article": {**ARTICLE, "id": f"c{i}"},
                    "decisions": [{"action": "add", "label": f"t{i}"}],
                },
                headers=ANN,
            )
            return a.status_code, f.status_code

    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(work, range(40)))
    assert codes == [(200, 201)] * 40
    health = httpx.get(f"{live_server.url}/health").json()
    assert health["decisions"] == 40


def test_tokens_from_file_and_environment(tmp_path: Path) -> None:
    path = tmp_path / "tokens"
    path.write_text("# editors\nann:ann-token-0123456789abcdef\n\n")
    tokens = load_tokens(path, {"TAGGER_TOKENS": "bob:bob-token-0123456789abcdef"})
    assert tokens == TOKENS
    path.write_text("ann:tökén-that-no-client-can-send-0123\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"tokens:1: token of ann has characters a bearer"):
        load_tokens(path)
    path.write_text("ann:short\n")
    with pytest.raises(ConfigError, match="shorter"):
        load_tokens(path)
    path.write_text("no separator here\n")
    with pytest.raises(ConfigError, match=r"tokens:1: expected"):
        load_tokens(path)
    path.write_bytes(b"\x7fELF\x02\xd0\xff")  # a binary given by mistake: one line, exit 2
    with pytest.raises(ConfigError, match=r"tokens: cannot read tokens \(not UTF-8 text, byte 5\)"):
        load_tokens(path)


def test_serve_command_refuses_bad_tokens_cleanly(tiny_model: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from tagger.cli import app

    tokens = tmp_path / "tokens"
    tokens.write_text("ann:short\n")
    result = CliRunner().invoke(
        app,
        [
            "serve",
            "--model",
            str(tiny_model),
            "--db",
            str(tmp_path / "f.db"),
            "--tokens",
            str(tokens),
        ],
    )
    assert result.exit_code == 2 and "shorter than" in result.output
    assert "Traceback" not in result.output


def test_serve_without_the_server_extras_says_how_to_install(
    tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    from typer.testing import CliRunner

    from tagger.cli import app

    monkeypatch.setitem(sys.modules, "uvicorn", None)  # import uvicorn now fails
    result = CliRunner().invoke(
        app, ["serve", "--model", str(tiny_model), "--db", str(tmp_path / "f.db")]
    )
    assert result.exit_code == 2
    assert 'pip install -e ".[server]"' in result.output


def test_tagger_serve_command_on_loopback(tiny_model: Path, tmp_path: Path) -> None:
    import os
    import socket
    import subprocess
    import sys
    import time

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "TAGGER_TOKENS": "ann:ann-token-0123456789abcdef"}
    tagger = Path(sys.executable).with_name("tagger")
    db = tmp_path / "f.db"
    process = subprocess.Popen(
        [str(tagger), "serve", "--model", str(tiny_model), "--db", str(db), "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, process.stderr.read().decode()
            try:
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "tagger serve did not start"
            time.sleep(0.2)
        body = {"article": ARTICLE, "decisions": [{"action": "add", "label": "budget"}]}
        assert httpx.post(url + "/feedback", json=body, headers=ANN).status_code == 201
    finally:
        process.terminate()
        process.wait(30)
    from tagger.feedback.store import SQLiteStore

    with SQLiteStore(db) as store:
        assert [(d.editor, d.label) for d in store.decisions()] == [("ann", "budget")]


def test_serve_without_tokens_warns_once_not_as_an_error(tiny_model: Path, tmp_path: Path) -> None:
    import os
    import socket
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "TAGGER_TOKENS"}
    tagger = Path(sys.executable).with_name("tagger")
    with socket.socket() as busy:  # a port in use: the command stops right after the warning
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = str(busy.getsockname()[1])
        db = str(tmp_path / "f.db")
        process = subprocess.run(
            [str(tagger), "serve", "--model", str(tiny_model), "--db", db, "--port", port],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert "warning: no editor tokens configured" in process.stderr
    assert "error: warning" not in process.stderr
