"""Model work in model processes (`tagger.server.modelwork`): /health while every model
process is busy, a killed model process (503, then replaced), a reload that switches the
model processes (the old one finishes its request), and no process left after SIGKILL."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from server import gated_loader
from server.conftest import TOKENS, LiveServer
from server.processes import alive, descendants, wait_for
from tagger.server.app import ServerConfig, create_app
from tagger.server.launch import start_serve

ANN = {"Authorization": "Bearer ann-token-0123456789abcdef"}
ADMIN = "admin-token-0123456789abcdef"
ARTICLE = {
    "title": "Senate passes spending bill to avert shutdown",
    "body": "The Senate passed a stopgap spending bill on Friday, sending it to the House.",
}
LOADER = f"{gated_loader.__name__}:load"


@pytest.fixture
def gate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The gate file the model processes' predictions wait for (absent: closed)."""
    path = tmp_path / "gate"
    monkeypatch.setenv(gated_loader.GATE_ENV, str(path))
    return path


def started(gate: Path) -> list[int]:
    """Pids of the model processes whose prediction began."""
    return [int(p.name.split(".")[1]) for p in gate.parent.glob(gate.name + ".*.started")]


def nice(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[16])


@pytest.fixture
def served_app(tiny_model: Path, tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """create_app on a bundle path (model processes) served on a free port."""
    apps: list[Any] = []
    servers: list[LiveServer] = []

    def serve(model: Path = tiny_model, **options: Any) -> tuple[Any, LiveServer]:
        config = ServerConfig(model=model, db=tmp_path / "f.db", tokens=TOKENS, **options)
        app = create_app(config)
        server = LiveServer(app).__enter__()
        apps.append(app)
        servers.append(server)
        return app, server

    yield serve
    for server in servers:
        server.__exit__()
    for app in apps:
        app.state.store.close()


def test_health_and_feedback_answer_while_every_model_process_is_busy(
    served_app: Any, gate: Path
) -> None:
    app, server = served_app(model_processes=2, model_loader=LOADER, model_queue=4)
    health = httpx.get(server.url + "/health").json()
    assert health["model_work"] == {"mode": "processes", "ready": 2, "of": 2, "restarts": 0}
    children = app.state.model_work.processes.pids()
    assert len(children) == 2 and os.getpid() not in children
    # lower CPU priority than the process that answers HTTP
    assert all(nice(pid) == min(19, nice(os.getpid()) + 10) for pid in children)
    with ThreadPoolExecutor(4) as pool:
        url = server.url + "/suggest"
        busy = [pool.submit(httpx.post, url, json={"article": ARTICLE}, timeout=60) for _ in "ab"]
        wait_for(lambda: len(started(gate)) == 2, "both model processes did not begin")
        assert sorted(started(gate)) == sorted(children)
        for _ in range(3):  # both model processes are blocked in a prediction
            assert httpx.get(server.url + "/health", timeout=10).status_code == 200
        assert httpx.get(server.url + "/metrics", timeout=10).status_code == 200
        decision = {"article": ARTICLE, "decisions": [{"action": "add", "label": "budget"}]}
        stored = httpx.post(server.url + "/feedback", json=decision, headers=ANN, timeout=10)
        assert stored.status_code == 201
        assert not any(f.done() for f in busy)
        gate.touch()
        answers = [f.result(60) for f in busy]
    assert [a.status_code for a in answers] == [200, 200]
    assert answers[0].json()["model"]["name"] == "tiny"


@contextlib.contextmanager
def logged() -> Iterator[list[str]]:
    """The messages logged to uvicorn.error meanwhile (from after the server started:
    uvicorn's logging set-up replaces that logger's handlers)."""
    messages: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: messages.append(record.getMessage())  # type: ignore[method-assign]
    logging.getLogger("uvicorn.error").addHandler(handler)
    try:
        yield messages
    finally:
        logging.getLogger("uvicorn.error").removeHandler(handler)


def test_a_killed_model_process_gives_503_and_is_replaced(served_app: Any, gate: Path) -> None:
    app, server = served_app(model_processes=1, model_loader=LOADER)
    (first,) = app.state.model_work.processes.pids()
    with ThreadPoolExecutor(1) as pool, logged() as lines:
        request = pool.submit(httpx.post, server.url + "/suggest", json={"article": ARTICLE})
        wait_for(lambda: started(gate), "the prediction did not begin")
        os.kill(first, signal.SIGKILL)
        refused = request.result(60)
        # it said 'exited (code None)': the process was not reaped yet when it was logged
        wait_for(lambda: any(str(first) in m for m in lines), "the lost process was not logged")
    (line,) = [m for m in lines if str(first) in m]
    assert line == f"model process {first} was killed by signal 9 (SIGKILL); starting another"
    assert refused.status_code == 503 and refused.headers["retry-after"] == "1"
    assert "died" in refused.json()["detail"]
    gate.touch()
    answer = httpx.post(server.url + "/suggest", json={"article": ARTICLE}, timeout=60)
    assert answer.status_code == 200  # waited for the replacement
    (second,) = app.state.model_work.processes.pids()
    assert second != first and not alive(first)
    assert httpx.get(server.url + "/health").json()["model_work"]["restarts"] == 1
    assert "tagger_model_process_restarts_total 1.0" in httpx.get(server.url + "/metrics").text


def test_reload_switches_the_model_processes_and_the_old_one_finishes(
    served_app: Any, gate: Path, tiny_model: Path, other_model: Path, tmp_path: Path
) -> None:
    from server.test_deploy import put_bundle

    current = tmp_path / "current"
    put_bundle(tiny_model, current)
    app, server = served_app(current, model_loader=LOADER, admin_token=ADMIN)
    (old,) = app.state.model_work.processes.pids()
    with ThreadPoolExecutor(1) as pool:
        request = pool.submit(
            httpx.post, server.url + "/suggest", json={"article": ARTICLE}, timeout=60
        )
        wait_for(lambda: started(gate), "the prediction did not begin")
        put_bundle(other_model, current)
        reloaded = httpx.post(
            server.url + "/admin/reload", headers={"Authorization": f"Bearer {ADMIN}"}, timeout=60
        )
        assert reloaded.status_code == 200, reloaded.text
        (new,) = app.state.model_work.processes.pids()
        assert new != old and alive(old)  # the old one still has a request
        gate.touch()
        in_progress = request.result(60)
    assert in_progress.status_code == 200
    assert in_progress.json()["model"]["name"] == "tiny"  # finished with the model it began with
    after = httpx.post(server.url + "/suggest", json={"article": ARTICLE}, timeout=60)
    assert after.json()["model"]["name"] == "tiny-b"
    wait_for(lambda: not alive(old), "the old model process did not exit")


def test_no_process_is_left_after_the_server_is_killed(tiny_model: Path, tmp_path: Path) -> None:
    """SIGKILL: the model process sees its pipe close and exits by itself (no orphan). The
    graceful end (SIGTERM) is checked by the deploy tests, with one and two workers."""
    server = start_serve(tiny_model, tmp_path / "f.db", log=tmp_path / "serve.log")
    try:
        server.wait_healthy()
        tree = wait_for(
            lambda: len(found := descendants(server.pid)) >= 1 and found,
            "the model process did not start",
        )
        server.process.send_signal(signal.SIGKILL)
        assert server.process.wait(60) == -signal.SIGKILL
    finally:
        server.stop()
    wait_for(lambda: not any(alive(pid) for pid in tree), "a process outlived tagger serve", 30)


def test_a_model_process_that_cannot_load_stops_the_start(tiny_model: Path, tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from tagger.errors import ConfigError

    config = ServerConfig(
        model=tiny_model, db=tmp_path / "f.db", model_loader="tagger.api:no_such_loader"
    )
    app = create_app(config)
    with pytest.raises(ConfigError, match="no_such_loader"), TestClient(app):
        pass
    app.state.store.close()
    assert app.state.model_work.processes.pids() == []


def test_a_model_process_whose_server_went_away_while_it_loaded_exits_quietly(
    tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGTERM during a start or a reload stops the serving process while a model process
    still loads: that one's answer finds the pipe closed. It exits without a word (its
    BrokenPipeError, raised again while it reported the failure, was 30 lines of log)."""
    import multiprocessing

    from tagger.server.modelwork import child_main

    monkeypatch.setattr(signal, "signal", lambda *_args: None)  # not this test process's
    for path in (tmp_path / "no-such-bundle", tiny_model):  # fails to load, loads
        ours, theirs = multiprocessing.Pipe()
        ours.close()
        child_main(theirs, LOADER, str(path), None, 0)
        theirs.close()


def test_a_bundle_damaged_before_the_model_process_loads_it_is_one_log_line(
    tiny_model: Path, tmp_path: Path
) -> None:
    """The bundle changes between the worker's own load (or the supervisor's check) and
    its model process's: uvicorn's start-up logged Starlette's traceback (40 lines). Now
    one line names the bundle; the start-up still fails (uvicorn then exits 3)."""
    import asyncio
    import shutil

    import uvicorn
    from uvicorn.lifespan.on import LifespanOn

    bundle = tmp_path / "current"
    shutil.copytree(tiny_model, bundle)
    app = create_app(ServerConfig(model=bundle, db=tmp_path / "f.db", workers=2))
    (bundle / "manifest.json").write_text("{")  # damaged after the worker loaded it
    lifespan = LifespanOn(uvicorn.Config(app, lifespan="on"))
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[assignment]
    logging.getLogger("uvicorn.error").addHandler(handler)
    try:
        asyncio.run(lifespan.startup())
    finally:
        logging.getLogger("uvicorn.error").removeHandler(handler)
        app.state.store.close()
    assert lifespan.should_exit  # uvicorn's Server.startup exits 3 on this
    assert app.state.model_work.processes.pids() == []
    errors = [r for r in records if r.levelno >= logging.ERROR]
    text = "\n".join(r.getMessage() for r in errors)
    assert "Traceback" not in text and not any(r.exc_info for r in errors), text
    (line,) = [r.getMessage() for r in errors if "cannot start" in r.getMessage()]
    assert line.startswith(f"worker {os.getpid()} cannot start: ") and str(bundle) in line
    assert "\n" not in line
