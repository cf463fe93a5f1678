"""The supervisor of `tagger serve --workers N` (`tagger.server.workers`) on a reload:
a damaged bundle is refused before any worker is replaced, SIGHUPs that arrive together
make one reload, SIGTERM stops a reload at once, a worker that cannot start says so.
Driven without real workers (they take seconds each to load a model)."""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Iterator
from typing import Any

import pytest
from uvicorn.config import Config
from uvicorn.supervisors.multiprocess import SIGNALS

from tagger.errors import BundleError
from tagger.server.workers import ReusePortWorkers


class FakeWorker:
    """A worker process that is alive and never ready, or has exited with `exitcode`."""

    def __init__(self, pid: int, exitcode: int | None = None) -> None:
        self.pid, self.exitcode = pid, exitcode
        self.terminated = False
        self.process = self  # uvicorn's Process keeps the multiprocessing one here

    def is_alive(self, timeout: float = 0) -> bool:
        return self.exitcode is None

    def is_ready(self, timeout: float = 0) -> bool:
        time.sleep(min(timeout, 0.05))
        return False

    def kill(self) -> None:
        if self.exitcode is None:
            self.exitcode = -signal.SIGKILL

    def join(self) -> None:
        pass

    def terminate(self) -> None:
        self.terminated = True


@pytest.fixture
def supervisor(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A supervisor of two (fake) workers, its reloads noted in `.notes`; the signal
    handlers it installs are this test process's only while the test runs."""
    saved = {sig: signal.getsignal(sig) for sig in SIGNALS}  # those uvicorn's supervisor sets
    notes: list[tuple[str, str]] = []

    def build(check: Any = None, new_exitcode: int | None = None) -> ReusePortWorkers:
        config = Config("x:y", host="127.0.0.1", port=0, workers=2, timeout_worker_healthcheck=20)
        workers = ReusePortWorkers(
            config,
            check=check,
            on_reload=lambda *note: notes.append(note),
            on_replace=lambda detail: notes.append(("replaced", detail)),
        )
        workers.notes = notes  # type: ignore[attr-defined]
        workers.processes = [FakeWorker(101), FakeWorker(102)]  # type: ignore[list-item]
        spawned = iter(range(201, 300))
        monkeypatch.setattr(workers, "spawn", lambda _slot: FakeWorker(next(spawned), new_exitcode))
        built.append(workers)
        return workers

    built: list[ReusePortWorkers] = []
    yield build
    for workers in built:
        for sock in workers.slots:
            sock.close()
    for sig, handler in saved.items():
        signal.signal(sig, handler)


def test_a_damaged_bundle_is_refused_before_any_worker_is_replaced(supervisor: Any) -> None:
    """SIGHUP with a bundle that fails its checksums started a new worker, which died
    with a 40-line traceback, then 'not ready in time'; /health said nothing."""

    def damaged() -> None:
        raise BundleError("/models/current/tags.json: checksum mismatch")

    workers = supervisor(check=damaged)
    old = list(workers.processes)
    logged: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: logged.append(record.getMessage())  # type: ignore[method-assign]
    logging.getLogger("uvicorn.error").addHandler(handler)
    try:
        workers.signal_queue.append(signal.SIGHUP)
        workers.handle_signals()
    finally:
        logging.getLogger("uvicorn.error").removeHandler(handler)
    assert workers.processes == old and not any(w.terminated for w in old)
    ((outcome, detail),) = workers.notes
    assert outcome == "failed" and "checksum mismatch" in detail
    (line,) = logged
    assert line.startswith("reload on SIGHUP failed: ") and "keep serving" in line


def test_sighups_that_arrive_together_make_one_reload(supervisor: Any) -> None:
    checks: list[int] = []
    workers = supervisor(check=lambda: checks.append(1), new_exitcode=3)
    workers.signal_queue.extend([signal.SIGHUP] * 5)
    workers.handle_signals()
    assert len(checks) == 1 and len(workers.notes) == 1 and not workers.signal_queue


def test_a_new_worker_that_cannot_start_is_reported_and_the_old_ones_serve_on(
    supervisor: Any,
) -> None:
    workers = supervisor(new_exitcode=3)  # app_from_env: the bundle would not load
    old = list(workers.processes)
    workers.handle_hup()
    assert workers.processes == old and not any(w.terminated for w in old)
    ((outcome, detail),) = workers.notes
    assert outcome == "failed" and "exited with code 3 before serving" in detail
    assert not workers.should_exit.is_set() and not workers.failed


def test_sigterm_during_a_reload_stops_it_at_once(supervisor: Any) -> None:
    """The reload held the supervisor's loop until every new worker was ready (up to the
    health-check timeout each), and SIGTERM waited in the queue behind it."""
    workers = supervisor()  # the new workers never become ready
    workers.signal_queue.append(signal.SIGTERM)  # as the signal handler does
    started = time.monotonic()
    workers.handle_hup()
    assert time.monotonic() - started < 5  # not the 20 s health-check timeout
    assert workers.should_exit.is_set() and workers.notes == []
    assert not any(w.terminated for w in workers.processes)  # terminate_all stops them


def test_a_worker_that_cannot_start_makes_the_command_exit_3(supervisor: Any) -> None:
    workers = supervisor()
    workers.processes[1] = FakeWorker(102, exitcode=3)
    workers.keep_subprocess_alive()
    assert workers.failed and workers.should_exit.is_set()


def test_a_worker_that_died_is_replaced_and_noted(supervisor: Any) -> None:
    """Only the log said so ('died'); now the note for /health and /metrics has it, with
    how the worker ended."""
    workers = supervisor()
    workers.processes[1] = FakeWorker(102, exitcode=-signal.SIGKILL)
    workers.keep_subprocess_alive()
    assert [w.pid for w in workers.processes] == [101, 201] and not workers.failed
    (note,) = workers.notes
    assert note == (
        "replaced",
        "worker [102] was killed by signal 9 (SIGKILL); started worker [201]",
    )
