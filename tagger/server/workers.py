"""`tagger serve --workers N`: N processes, each accepting on its own SO_REUSEPORT socket.

uvicorn's supervisor hands every worker the one listening socket. Whichever worker
wakes first then accepts every connection waiting in the backlog, and a kept-alive
connection stays with the worker that accepted it: 8 clients that connect together all
ended up on one worker (measured: 367 of 367 requests; `bench/serve_workers.py`), so a
second worker added nothing. Here each worker slot has a socket of its own bound to the
same port with SO_REUSEPORT, and the kernel spreads new connections over the listening
sockets by a hash of their addresses and ports.

The supervisor is uvicorn's (`Multiprocess`: health pings, SIGHUP replaces the workers
one at a time, each new one serving before the old one stops; SIGTERM/SIGINT stop all);
the socket a worker gets differs, and so does a reload: the bundle is verified before
any worker is replaced (a damaged one is refused in one log line, the workers keep
serving), the outcome is noted for /health, SIGHUPs that arrive together make one
reload, and SIGTERM/SIGINT during a reload stop it at once (they waited for every new
worker to load the model). A replacement during a reload takes over its
slot's socket (connections waiting in it are served by the new worker); a worker that
died has its socket closed and a fresh one bound, so new connections are not queued on
a socket nobody accepts from. Linux (and BSDs) only: SO_REUSEPORT is required.
"""

from __future__ import annotations

import logging
import signal
import socket
import sys
import time
from collections.abc import Callable

from uvicorn.config import STARTUP_FAILURE, Config
from uvicorn.supervisors.multiprocess import Multiprocess, Process

from tagger.errors import TaggerError
from tagger.server import SIGHUP_AT_START, how_it_ended

logger = logging.getLogger("uvicorn.error")


def reuseport_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to (host, port) with SO_REUSEPORT, inheritable by a worker."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family=family)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        logger.error("cannot listen on %s:%s: %s", host, port, exc.strerror or exc)
        sys.exit(STARTUP_FAILURE)
    sock.set_inheritable(True)
    return sock


class ReusePortWorkers(Multiprocess):
    """uvicorn's process supervisor with one SO_REUSEPORT listening socket per worker."""

    def __init__(
        self,
        config: Config,
        *,
        check: Callable[[], None] | None = None,
        on_reload: Callable[[str, str], None] | None = None,
        on_replace: Callable[[str], None] | None = None,
    ) -> None:
        """`check` verifies the bundle before a reload (TaggerError: refused);
        `on_reload(outcome, detail)` is told how each reload went, `on_replace(detail)`
        of each worker that died and was replaced."""
        self.check = check
        self.on_reload = on_reload
        self.on_replace = on_replace
        self.failed = False  # a worker could not start: the command exits 3
        first = reuseport_socket(config.host, config.port)
        self.port = int(first.getsockname()[1])  # --port 0: the others share the one given
        slots = [first] + [
            reuseport_socket(config.host, self.port) for _ in range(config.workers - 1)
        ]
        super().__init__(config, sockets=slots)  # from here on signals are queued
        self.slots = slots
        if SIGHUP_AT_START.is_set():  # kept while the command started: done once serving
            self.signal_queue.append(signal.SIGHUP)
        logger.info(
            "Uvicorn running on http://%s:%d with %d workers, one SO_REUSEPORT socket each",
            config.host,
            self.port,
            len(slots),
        )

    def spawn(self, slot: int) -> Process:
        process = Process(self.config, [self.slots[slot]])
        process.start()
        return process

    def init_processes(self) -> None:
        self.processes = [self.spawn(slot) for slot in range(len(self.slots))]

    def handle_signals(self) -> None:
        """As uvicorn's, but SIGHUPs waiting together make one reload, not one each."""
        if self.signal_queue.count(signal.SIGHUP) > 1:
            first = self.signal_queue.index(signal.SIGHUP)
            self.signal_queue[:] = [
                sig for i, sig in enumerate(self.signal_queue) if sig != signal.SIGHUP or i == first
            ]
        super().handle_signals()

    def handle_hup(self) -> None:
        if self.check is not None:
            try:
                self.check()
            except TaggerError as exc:
                self.note("failed", f"the new bundle is refused ({exc}); the workers keep serving")
                return
        logger.info("Received SIGHUP, replacing the workers one at a time")
        failure = self.restart_all()
        if not self.should_exit.is_set():
            self.note("failed" if failure else "ok", failure or "every worker replaced")

    def note(self, outcome: str, detail: str) -> None:
        """One log line for the reload, and the note /health shows."""
        if outcome == "ok":
            logger.info("reload on SIGHUP: %s", detail)
        else:
            logger.error("reload on SIGHUP failed: %s", detail)
        if self.on_reload is not None:
            self.on_reload(outcome, detail)

    def stopping(self) -> bool:
        """True once SIGINT or SIGTERM arrived, even while a reload holds the main loop."""
        if not self.should_exit.is_set() and any(
            sig in (signal.SIGINT, signal.SIGTERM) for sig in self.signal_queue
        ):
            logger.info("Received SIGTERM or SIGINT during a reload: stopping it")
            self.should_exit.set()
        return self.should_exit.is_set()

    def wait_until_ready(self, process: Process) -> bool:
        """Whether `process` serves within the health-check timeout (False if it exits or
        the supervisor is stopping)."""
        deadline = time.monotonic() + self.config.timeout_worker_healthcheck
        while time.monotonic() < deadline and not self.stopping():
            if not process.process.is_alive():
                return False
            if process.is_ready(timeout=0.5):
                return True
            time.sleep(0.1)
        return False

    def restart_all(self) -> str | None:  # type: ignore[override]
        """Replace each worker by a new one on its socket, serving before the old stops.
        Why it stopped early, if it did (None when done or stopping)."""
        for slot, old in enumerate(self.processes):
            if self.stopping():
                return None
            new = self.spawn(slot)
            if not self.wait_until_ready(new):
                new.kill()
                new.join()
                if self.stopping():
                    return None
                code = new.exitcode
                why = (
                    how_it_ended(code)
                    if code is not None and code != -signal.SIGKILL
                    else f"was not ready within {self.config.timeout_worker_healthcheck:g} s"
                )
                return (
                    f"new worker [{new.pid}] {why} before serving; keeping worker [{old.pid}] "
                    f"and the model it serves, the remaining workers not replaced"
                )
            old.terminate()
            old.join()
            self.processes[slot] = new
        return None

    def keep_subprocess_alive(self) -> None:
        if self.should_exit.is_set():
            return
        for slot, process in enumerate(self.processes):
            if process.is_alive(timeout=self.config.timeout_worker_healthcheck):
                continue
            ended = process.process.exitcode  # None: alive, but it did not answer the ping
            process.kill()
            process.join()
            if process.exitcode == STARTUP_FAILURE:
                logger.error("worker [%s] failed to start, stopping", process.pid)
                self.failed = True
                self.should_exit.set()
                return
            if self.should_exit.is_set():
                return
            how = (
                how_it_ended(ended)
                if ended is not None
                else "did not answer the health check in time and was killed"
            )
            # the dead worker's socket still listens (this process holds it): close it so
            # the kernel stops queueing connections there, and bind a new one
            self.slots[slot].close()
            self.slots[slot] = reuseport_socket(self.config.host, self.port)
            self.processes[slot] = self.spawn(slot)
            detail = f"worker [{process.pid}] {how}; started worker [{self.processes[slot].pid}]"
            logger.error("%s on a fresh socket", detail)
            if self.on_replace is not None:
                self.on_replace(detail)

    def handle_ttin(self) -> None:
        logger.info("SIGTTIN ignored: tagger serve keeps --workers processes")

    def handle_ttou(self) -> None:
        logger.info("SIGTTOU ignored: tagger serve keeps --workers processes")
