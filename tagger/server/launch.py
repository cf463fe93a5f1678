"""Run the real `tagger serve` command in a child process on loopback and wait until it
answers: what the deployment tests and the server benchmarks (bench/serve_*.py) share.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ServeProcess:
    """A running `tagger serve`: its process, URL and the file its output goes to."""

    process: subprocess.Popen
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait_healthy(self, seconds: float = 120) -> dict[str, Any]:
        """The first `/health` answer with status 200 (its JSON); RuntimeError if the
        command exits (with the last lines of its log) or does not answer within
        `seconds`."""
        import httpx

        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"tagger serve exited with {self.process.returncode}:\n{self.tail()}"
                )
            try:
                response = httpx.get(self.url + "/health", timeout=2)
                if response.status_code == 200:
                    return dict(response.json())
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"tagger serve did not answer within {seconds:g} s:\n{self.tail()}")

    def tail(self, lines: int = 10) -> str:
        """The last lines of the log (why the command exited)."""
        try:
            text = self.log.read_text(errors="replace")
        except OSError as exc:
            return f"(no log at {self.log}: {exc.strerror})"
        return "\n".join(text.splitlines()[-lines:]) or f"(nothing in {self.log})"

    def stop(self, grace: float = 30) -> int | None:
        """SIGTERM, SIGKILL after `grace` seconds. The exit code."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(grace)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def start_serve(
    model: Path,
    db: Path,
    *args: str,
    log: Path,
    env: Mapping[str, str] | None = None,
    port: int | None = None,
) -> ServeProcess:
    """Start `tagger serve --model MODEL --db DB --port PORT ARGS...` (the `tagger` script
    beside this Python), its stdout and stderr to `log`, with `env` over os.environ."""
    port = port or free_port()
    command = [
        str(Path(sys.executable).with_name("tagger")),
        "serve",
        "--model",
        str(model),
        "--db",
        str(db),
        "--port",
        str(port),
        *args,
    ]
    with Path(log).open("w") as handle:  # the child keeps its own descriptor
        process = subprocess.Popen(
            command, env={**os.environ, **(env or {})}, stdout=handle, stderr=subprocess.STDOUT
        )
    return ServeProcess(process, port, Path(log))
