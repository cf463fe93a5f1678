"""The review queue over HTTP: push with a token, lease the next, decide, leases expire."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tagger.server.app import ServerConfig, create_app

ANN = {"Authorization": "Bearer ann-token-0123456789abcdef"}
BOB = {"Authorization": "Bearer bob-token-0123456789abcdef"}
CMS = {"Authorization": "Bearer cms-token-0123456789abcdef"}
TOKENS = {
    "ann-token-0123456789abcdef": "ann",
    "bob-token-0123456789abcdef": "bob",
    "cms-token-0123456789abcdef": "cms",
}


class Clock:
    now = 5_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def served(loaded_tiny: Any, tmp_path: Path) -> Iterator[tuple[TestClient, Any]]:
    config = ServerConfig(db=tmp_path / "f.db", tokens=TOKENS, lease_seconds=60)
    app = create_app(config, model=loaded_tiny)
    app.state.queue.clock = Clock()
    with TestClient(app, base_url="http://localhost") as client:
        yield client, app
    app.state.store.close()


def _articles(load_sample: Any, n: int) -> list[dict[str, Any]]:
    return [{"id": a.id, "title": a.title, "body": a.body} for a in load_sample()[1::2][:n]]


def test_a_cms_pushes_and_editors_review_without_overlap(served: Any, load_sample: Any) -> None:
    client, app = served
    articles = _articles(load_sample, 3)
    assert client.post("/queue", json={"articles": articles}).status_code == 401
    pushed = client.post("/queue", json={"articles": articles}, headers=CMS)
    assert pushed.status_code == 201
    assert pushed.json()["added"] == [a["id"] for a in articles]
    assert pushed.json()["counts"]["waiting"] == 3
    again = client.post("/queue", json={"article": articles[0]}, headers=CMS).json()
    assert again["added"] == [] and again["queued_before"] == [articles[0]["id"]]
    changed = {**articles[0], "body": "another text"}
    refused = client.post("/queue", json={"article": changed}, headers=CMS).json()
    assert refused["refused"][0]["id"] == articles[0]["id"]
    # the most uncertain article first, with suggestions from the served model
    rows = {r["article_id"]: r["uncertainty"] for r in app.state.queue.rows()}
    first = client.post("/queue/next", json={}, headers=ANN).json()
    assert first["article"]["id"] == max(rows, key=rows.get)
    assert first["suggestions"][0]["id"] == first["article"]["id"]
    assert first["lease"]["editor"] == "ann" and first["model"]["id"]
    second = client.post("/queue/next", json={}, headers=BOB).json()
    assert second["article"]["id"] != first["article"]["id"]
    # bob may not decide on ann's article while her lease runs
    article_id = first["article"]["id"]
    decisions = [{"action": "add", "label": "budget"}]
    body = {"article_id": article_id, "decisions": decisions, "done": True}
    assert client.post("/feedback", json=body, headers=BOB).status_code == 409
    saved = client.post(
        "/feedback",
        json={**body, "suggestions": first["suggestions"][0]},
        headers=ANN,
    )
    assert saved.status_code == 201
    # everything the store keeps: the decision, the suggestions shown, the review
    store = app.state.store
    assert [d.label for d in store.decisions(article_id)] == ["budget"]
    assert store.suggestions(article_id) and article_id in store.done("ann")
    assert client.post("/feedback", json=body, headers=ANN).status_code == 409  # once only
    counts = client.get("/queue").json()
    assert (counts["waiting"], counts["leased"], counts["done"]) == (1, 1, 1)
    assert counts["editors"] == {
        "ann": {"leased": 0, "done": 1},
        "bob": {"leased": 1, "done": 0},
    }


def test_an_abandoned_lease_returns_after_it_expires(served: Any, load_sample: Any) -> None:
    client, app = served
    client.post("/queue", json={"articles": _articles(load_sample, 1)}, headers=CMS)
    held = client.post("/queue/next", json={"order": "oldest"}, headers=ANN).json()
    assert client.post("/queue/next", json={}, headers=BOB).json()["article"] is None
    renewed = client.post(f"/queue/{held['article']['id']}/renew", headers=ANN).json()
    assert renewed["until"] == app.state.queue.clock.now + 60
    app.state.queue.clock.now += 61  # ann closed her laptop
    taken = client.post("/queue/next", json={}, headers=BOB).json()
    assert taken["article"]["id"] == held["article"]["id"]
    assert taken["lease"]["leased_at"] >= renewed["until"]
    late = client.post(f"/queue/{held['article']['id']}/renew", headers=ANN)
    assert late.status_code == 409 and "not leased to ann" in late.json()["detail"]
    released = client.post(f"/queue/{held['article']['id']}/release", headers=BOB).json()
    assert released["released"] and client.get("/queue").json()["waiting"] == 1
    skipped = client.post("/queue/next", json={"skip": [held["article"]["id"]]}, headers=ANN)
    assert skipped.json()["article"] is None
    bad = client.post("/queue/next", json={"order": "random"}, headers=ANN)
    assert bad.status_code == 422
