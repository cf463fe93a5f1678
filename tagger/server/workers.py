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
only the socket a worker gets differs. A replacement during a reload takes over its
slot's socket (connections waiting in it are served by the new worker); a worker that
died has its socket closed and a fresh one bound, so new connections are not queued on
a socket nobody accepts from. Linux (and BSDs) only: SO_REUSEPORT is required.
"""

from __future__ import annotations

import logging
import socket
import sys

from uvicorn.config import STARTUP_FAILURE, Config
from uvicorn.supervisors.multiprocess import Multiprocess, Process

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

    def __init__(self, config: Config) -> None:
        first = reuseport_socket(config.host, config.port)
        self.port = int(first.getsockname()[1])  # --port 0: the others share the one given
        slots = [first] + [
            reuseport_socket(config.host, self.port) for _ in range(config.workers - 1)
        ]
        super().__init__(config, sockets=slots)
        self.slots = slots
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

    def restart_all(self) -> None:
        """Replace each worker by a new one on its socket, serving before the old stops."""
        for slot, old in enumerate(self.processes):
            if self.should_exit.is_set():
                return
            new = self.spawn(slot)
            if not new.wait_until_ready(self.config.timeout_worker_healthcheck, self.should_exit):
                new.kill()
                new.join()
                if not self.should_exit.is_set():
                    logger.error(
                        "new worker [%s] was not ready in time; keeping worker [%s] and "
                        "aborting the restart",
                        new.pid,
                        old.pid,
                    )
                return
            old.terminate()
            old.join()
            self.processes[slot] = new

    def keep_subprocess_alive(self) -> None:
        if self.should_exit.is_set():
            return
        for slot, process in enumerate(self.processes):
            if process.is_alive(timeout=self.config.timeout_worker_healthcheck):
                continue
            process.kill()
            process.join()
            if process.exitcode == STARTUP_FAILURE:
                logger.error("worker [%s] failed to start, stopping", process.pid)
                self.should_exit.set()
                return
            if self.should_exit.is_set():
                return
            logger.info("worker [%s] died; starting another on a fresh socket", process.pid)
            # the dead worker's socket still listens (this process holds it): close it so
            # the kernel stops queueing connections there, and bind a new one
            self.slots[slot].close()
            self.slots[slot] = reuseport_socket(self.config.host, self.port)
            self.processes[slot] = self.spawn(slot)

    def handle_ttin(self) -> None:
        logger.info("SIGTTIN ignored: tagger serve keeps --workers processes")

    def handle_ttou(self) -> None:
        logger.info("SIGTTOU ignored: tagger serve keeps --workers processes")
