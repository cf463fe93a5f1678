"""Model work (featurizing, classifying, spaCy entities) away from the event loop.

The process that answers HTTP (`/health`, refusals, `/feedback`) runs an event loop; model
work in threads of that process held the GIL while it waited for a CPU, and the loop
waited with it (`/health` p99 320 ms under 100 clients at load average 6). So each
serving process keeps `model_processes` long-lived child processes (spawned, not forked),
each of which loads the model once and answers one request at a time, at a lower CPU
priority (`os.nice`) than the process that answers HTTP. Requests and answers cross a
pipe as JSON bytes (plain data both ways; nothing is unpickled from a request), and a
`/suggest` answer is the response body as the child encoded it.

- A child that dies (killed, out of memory) fails the request it had with 503 and is
  replaced; the other children keep serving.
- A reload starts children for the new model and swaps them in once they are all ready;
  the old ones finish the requests they have, then exit.
- A child exits when its pipe closes: at shutdown, and when the serving process dies
  (even by SIGKILL), so no child outlives it. Children ignore SIGINT (a Ctrl-C reaches the
  whole process group; the serving process decides when they stop).

With `model_processes` 0, or a model object given to `create_app`, model work runs in a
thread pool of the serving process instead (as before; less memory, but `/health` then
shares the GIL with the model).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import logging
import multiprocessing
import os
import signal
import traceback
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from fastapi import HTTPException

from tagger.corpus.article import Article
from tagger.errors import ConfigError, TaggerError
from tagger.hygiene import sanitize_article
from tagger.server import how_it_ended

log = logging.getLogger("uvicorn.error")

DEFAULT_LOADER = "tagger.api:Tagger.load"
START_SECONDS = 600.0  # a child that has not loaded its model by then is given up

# the first byte of a message from a child
LOADED, FAILED, RESULT, ERROR = b"L", b"F", b"R", b"E"


def request_article(data: dict[str, Any]) -> Article:
    """An article of a request body, its texts sanitized (`tagger.hygiene`)."""
    return sanitize_article(Article.from_dict(data))


def encode(value: Any) -> bytes:
    """JSON as the HTTP answer carries it (the encoding of Starlette's JSONResponse)."""
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


def answer(model: Any, request: dict[str, Any]) -> bytes:
    """Do one piece of model work; the answer as JSON bytes.

    ops: `suggest` (the /suggest response body), `uncertainty` (a score an article, for
    the review queue), `suggest_one` (the model and one article's suggestions)."""
    op = request["op"]
    if op == "suggest":
        articles = [request_article(a) for a in request["articles"]]
        explain = bool(request["explain"])
        results = model.predict(
            articles, top_k=request["top_k"], explain=explain, entities=request["entities"]
        )
        body: Any = {
            "model": model.model_info,
            "suggestions": [s.to_dict(explain=explain) for s in results],
        }
        if request.get("skipped"):
            body["entities_skipped"] = request["skipped"]
    elif op == "uncertainty":
        from tagger.feedback.queue import model_uncertainty

        body = model_uncertainty(model, request["top_k"])(
            [Article.from_dict(a) for a in request["articles"]]
        )
    elif op == "suggest_one":
        found = model.predict([Article.from_dict(request["article"])], top_k=request["top_k"])
        body = {"model": model.model_info, "suggestions": found[0].to_dict(explain=True)}
    else:
        raise ValueError(f"unknown model operation {op!r}")
    return encode(body)


def resolve(loader: str) -> Callable[[str], Any]:
    """The function a 'module:attribute.path' names."""
    module, _, attribute = loader.partition(":")
    target: Any = importlib.import_module(module)
    for part in attribute.split("."):
        target = getattr(target, part)
    return target  # type: ignore[no-any-return]


def child_main(conn: Any, loader: str, path: str, version: str | None, nice: int) -> None:
    """A model process: load the model once, then answer requests until the pipe closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if nice:
        with contextlib.suppress(OSError):  # a lower priority is a wish, not a need
            os.nice(nice)
    try:
        model = resolve(loader)(path)
        if version is not None:
            model.version = version  # a registry's version folder: name it as the registry does
        from tagger.language import batch_scorer

        batch_scorer()  # identifier and scorer here, not in the first request
        loaded = LOADED + encode(model.model_info)
    except Exception as exc:  # reported to the serving process, which refuses to start
        model, loaded = None, FAILED + str(exc).encode("utf-8", "replace")
    try:
        conn.send_bytes(loaded)
    except OSError:
        return  # the serving process stopped (or died) while this one loaded: nothing to say
    if model is None:
        return
    while True:
        try:
            data = conn.recv_bytes()
        except (EOFError, OSError):
            return  # the serving process closed the pipe or died
        try:
            reply = RESULT + answer(model, json.loads(data))
        except TaggerError as exc:
            reply = ERROR + encode({"kind": "tagger", "message": str(exc)})
        except Exception as exc:  # the request fails (500), the process serves on
            traceback.print_exc()
            reply = ERROR + encode({"kind": "internal", "message": f"{type(exc).__name__}: {exc}"})
        try:
            conn.send_bytes(reply)
        except OSError:
            return


class ModelProcessDied(Exception):
    """The model process doing a request died before answering."""


@dataclass
class Child:
    """One model process and the parent's end of its pipe."""

    process: Any
    conn: Any
    info: dict[str, Any]

    def exchange(self, data: bytes) -> bytes:
        """Send one request and wait for its answer (blocking: run in a thread)."""
        self.conn.send_bytes(data)
        return bytes(self.conn.recv_bytes())

    def stop(self, grace: float) -> None:
        """Close the pipe (the child exits after the work it has), then wait for it;
        terminate, then kill, if it does not exit (blocking)."""
        self.conn.close()
        self.process.join(grace)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()


class ModelProcesses:
    """`count` long-lived model processes for one model; a request goes to an idle one."""

    def __init__(
        self,
        path: str,
        *,
        count: int = 1,
        version: str | None = None,
        loader: str = DEFAULT_LOADER,
        nice: int = 10,
        on_restart: Callable[[], None] | None = None,
    ) -> None:
        self.path, self.version, self.loader, self.nice = path, version, loader, nice
        self.count = max(1, count)
        self.children: list[Child] = []
        self.busy = 0  # requests waiting for or in a child (changed on the event loop)
        self.restarts = 0
        self.closed = False
        self.on_restart = on_restart
        self._idle: asyncio.Queue[Child] | None = None
        self._io = ThreadPoolExecutor(self.count + 2, thread_name_prefix="model-io")
        self._context = multiprocessing.get_context("spawn")
        self._replacing: set[asyncio.Task[None]] = set()

    # -- life ------------------------------------------------------------------------------

    def _spawn(self) -> Child:
        """Start one model process and wait until its model is loaded (blocking)."""
        ours, theirs = self._context.Pipe()
        process = self._context.Process(
            target=child_main,
            args=(theirs, self.loader, self.path, self.version, self.nice),
            name="tagger-model",
            daemon=True,  # multiprocessing ends it if this process exits without closing it
        )
        process.start()
        theirs.close()
        try:
            if not ours.poll(START_SECONDS):
                raise ConfigError(f"a model process did not load {self.path} in time")
            message = ours.recv_bytes()
        except EOFError:
            process.join(5)
            ours.close()
            raise ConfigError(
                f"a model process {how_it_ended(process.exitcode)} before loading {self.path}"
            ) from None
        except ConfigError:
            Child(process, ours, {}).stop(0)
            raise
        if message[:1] != LOADED:
            Child(process, ours, {}).stop(5)
            reason = message[1:].decode("utf-8", "replace")
            raise ConfigError(reason if self.path in reason else f"{self.path}: {reason}")
        return Child(process, ours, json.loads(message[1:]))

    async def start(self) -> None:
        """Start every process; returns when each has its model loaded (ConfigError if one
        cannot load it: none is left running then)."""
        if self._idle is not None:
            return
        loop = asyncio.get_running_loop()
        spawned = await asyncio.gather(
            *(loop.run_in_executor(self._io, self._spawn) for _ in range(self.count)),
            return_exceptions=True,
        )
        children = [c for c in spawned if isinstance(c, Child)]
        failed = [e for e in spawned if isinstance(e, BaseException)]
        if failed:
            await asyncio.gather(*(loop.run_in_executor(self._io, c.stop, 5) for c in children))
            raise failed[0]
        self.children = children
        self._idle = asyncio.Queue()
        for child in children:
            self._idle.put_nowait(child)

    async def close(self, grace: float = 30) -> None:
        """Stop every process (each finishes the request it has first)."""
        self.closed = True
        for task in list(self._replacing):
            task.cancel()
        loop = asyncio.get_running_loop()
        children, self.children = self.children, []
        await asyncio.gather(*(loop.run_in_executor(self._io, c.stop, grace) for c in children))
        self._io.shutdown(wait=False)

    async def retire(self) -> None:
        """After a reload: let the requests this pool has finish, then close it."""
        while self.busy:
            await asyncio.sleep(0.05)
        await self.close()

    def pids(self) -> list[int]:
        return [c.process.pid for c in self.children]

    @property
    def info(self) -> dict[str, Any]:
        """The model the processes loaded (as the first of them reports it)."""
        return self.children[0].info if self.children else {}

    # -- requests --------------------------------------------------------------------------

    async def call(self, request: dict[str, Any]) -> bytes:
        """Run `request` (see `answer`) in an idle model process; its answer bytes.
        TaggerError for a refused request (422), ModelProcessDied if the process died."""
        if self._idle is None:
            await self.start()
        assert self._idle is not None
        data = encode(request)
        loop = asyncio.get_running_loop()
        self.busy += 1
        try:
            child = await self._idle.get()
            future = loop.run_in_executor(self._io, child.exchange, data)
            try:
                reply = await asyncio.shield(future)
            except asyncio.CancelledError:
                future.add_done_callback(lambda done: self._returned(child, done))
                raise
            except (EOFError, OSError):
                self._lost(child)
                raise ModelProcessDied(
                    f"the model process (pid {child.process.pid}) died during the request"
                ) from None
            self._idle.put_nowait(child)
        finally:
            self.busy -= 1
        if reply[:1] == RESULT:
            return reply[1:]
        error = json.loads(reply[1:])
        if error.get("kind") == "tagger":
            raise TaggerError(error["message"])
        raise RuntimeError(f"model process: {error.get('message')}")

    def _returned(self, child: Child, done: asyncio.Future[bytes] | Future[bytes]) -> None:
        """A request whose caller went away finished: the child is idle again (or lost)."""
        if done.cancelled() or done.exception() is not None:
            self._lost(child)
        elif self._idle is not None:
            self._idle.put_nowait(child)

    def _lost(self, child: Child) -> None:
        """A child died: forget it and start another (unless closing)."""
        if child not in self.children:  # closing (close stops it), or already handled
            return
        self.children.remove(child)
        if self.closed:
            self._io.submit(child.stop, 0)
            return
        self.restarts += 1
        if self.on_restart is not None:
            self.on_restart()
        self._io.submit(self._report_lost, child)
        task = asyncio.get_running_loop().create_task(self._replace())
        self._replacing.add(task)
        task.add_done_callback(self._replacing.discard)

    @staticmethod
    def _report_lost(child: Child) -> None:
        """Log how a lost child ended, then stop it (blocking). Its pipe broke as it died:
        it is reaped within moments (its exit code was None when logged at once)."""
        child.process.join(2)
        log.error(
            "model process %s %s; starting another",
            child.process.pid,
            how_it_ended(child.process.exitcode),
        )
        child.stop(0)

    async def _replace(self) -> None:
        loop = asyncio.get_running_loop()
        delay = 0.5
        while not self.closed:
            try:
                child = await loop.run_in_executor(self._io, self._spawn)
            except (ConfigError, OSError) as exc:
                log.error("a replacement model process failed to start: %s", exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30)
                continue
            if self.closed:
                await loop.run_in_executor(self._io, child.stop, 5)
                return
            self.children.append(child)
            assert self._idle is not None
            self._idle.put_nowait(child)
            return


class ModelWork:
    """Where model work runs (model processes, or threads of this process), and how many
    requests may wait for it (503 with Retry-After beyond `queue`)."""

    def __init__(
        self,
        queue: int,
        *,
        threads: int = 2,
        processes: ModelProcesses | None = None,
    ) -> None:
        self.limit = max(1, queue)
        self.pending = 0  # changed on the event loop only
        self.processes = processes
        self.pool = (
            ThreadPoolExecutor(max(1, threads), thread_name_prefix="model")
            if processes is None
            else None
        )

    async def start(self) -> None:
        if self.processes is not None:
            await self.processes.start()

    async def close(self) -> None:
        if self.processes is not None:
            await self.processes.close()
        if self.pool is not None:
            self.pool.shutdown(wait=True)

    def swap(self, processes: ModelProcesses) -> None:
        """Serve with `processes` from now on; the old ones finish their requests."""
        old, self.processes = self.processes, processes
        if old is not None:
            task = asyncio.get_running_loop().create_task(old.retire())
            _retiring.add(task)
            task.add_done_callback(_retiring.discard)

    def status(self) -> dict[str, Any]:
        """For /health: where model work runs and how many processes are ready."""
        if self.processes is None:
            return {"mode": "threads"}
        return {
            "mode": "processes",
            "ready": len(self.processes.children),
            "of": self.processes.count,
            "restarts": self.processes.restarts,
        }

    async def run(self, model: Any, request: dict[str, Any]) -> bytes:
        """Do `request` (see `answer`) with `model` (threads) or the model processes."""
        if self.pending >= self.limit:
            raise HTTPException(
                503,
                f"busy: {self.pending} model requests queued (limit {self.limit}); retry shortly",
                headers={"Retry-After": "1"},
            )
        self.pending += 1
        try:
            if self.processes is None:
                loop = asyncio.get_running_loop()
                return await loop.run_in_executor(self.pool, answer, model, request)
            try:
                return await self.processes.call(request)
            except ModelProcessDied as exc:
                raise HTTPException(
                    503, f"{exc}; it is being replaced, retry shortly", {"Retry-After": "1"}
                ) from None
        finally:
            self.pending -= 1


_retiring: set[asyncio.Task[None]] = set()  # keeps retiring pools' tasks referenced
