"""The Dask engine: one task per shard on a LocalCluster or on a running scheduler.

Needs the `dask` extra (`pip install 'tagger[dask]'`) here and on every worker, and a
bundle path every worker can read (a shared disk): each worker loads and verifies the
bundle once (`Tagger.load`), checked against the model the client loaded, and keeps it
for every task it runs. A worker killed mid-task is replaced (LocalCluster) and its task
runs again elsewhere; the part's temporary name and rename make that exactly-once.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from typing import Any

from tagger.engines.task import ShardJob, check_worker, run_shard
from tagger.errors import ConfigError, InputError

PROBE_SECONDS = 3  # a TCP connect to the scheduler's port
CONNECT_SECONDS = 5  # a scheduler that does not answer in this time is refused (exit 2)
PROGRESS_TOPIC = "tagger-progress"


def _imports() -> tuple[Any, Any]:
    try:
        import distributed
        from distributed import Client
    except ImportError:
        raise ConfigError(
            "--engine dask needs the dask extra: pip install 'tagger[dask]' "
            "(on this machine and on every worker)"
        ) from None
    return distributed, Client


def _quiet_logs() -> None:
    """Dask logs worker restarts and lost connections itself; our summary says what matters."""
    if os.environ.get("TAGGER_DEBUG"):
        return
    for name in (
        "distributed",
        "distributed.client",
        "distributed.nanny",
        "distributed.scheduler",
        "tornado",
    ):
        logging.getLogger(name).setLevel(logging.CRITICAL)


def _probe(address: str) -> None:
    """A quick TCP connect to the scheduler, so that a wrong address fails in seconds."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(address if "://" in address else f"tcp://{address}")
    if parts.scheme not in ("tcp", "tls") or not parts.hostname:
        return  # other transports: the Client's own timeout applies
    try:
        port = parts.port or 8786
    except ValueError:
        raise ConfigError(f"--cluster: bad port in {address!r}") from None
    try:
        with socket.create_connection((parts.hostname, port), timeout=PROBE_SECONDS):
            return
    except OSError as exc:
        reason = "no answer" if isinstance(exc, TimeoutError) else exc.strerror or str(exc)
        raise InputError(
            f"cannot reach the Dask scheduler at {address}: {reason} "
            "(is `dask scheduler` running there?)"
        ) from None


def local_cluster(workers: int) -> Any:
    """A LocalCluster on this machine's loopback: `workers` processes of one thread."""
    distributed, _ = _imports()
    return distributed.LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        # the scheduler serves /health even without a dashboard: any free port, no warning
        scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"},
        silence_logs=logging.CRITICAL,
    )


@contextmanager
def dask_client(cluster: str | None, workers: int) -> Iterator[Any]:
    """A connected Client: to `cluster` (an address), else to a new LocalCluster."""
    if cluster:
        _probe(cluster)  # before the slow imports: a wrong address fails in seconds
    _, Client = _imports()
    _quiet_logs()
    if cluster:
        if "://" not in cluster and ":" not in cluster:
            raise ConfigError(
                f"--cluster: expected an address like tcp://HOST:8786, got {cluster!r}"
            )
        try:
            client = Client(cluster, timeout=CONNECT_SECONDS, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as exc:
            reason = "no answer" if isinstance(exc, OSError | TimeoutError) else str(exc)
            raise InputError(
                f"cannot reach the Dask scheduler at {cluster}: {reason} within "
                f"{CONNECT_SECONDS} s (is `dask scheduler` running there?)"
            ) from None
        try:
            yield client
        finally:
            client.close()
        return
    local = local_cluster(workers)
    client = Client(local, set_as_default=False)
    try:
        yield client
    finally:
        client.close()
        local.close()


def _check_workers(client: Any, job: ShardJob) -> None:
    """Every worker must import tagger and read the bundle: refuse the run otherwise."""
    try:
        client.wait_for_workers(1, timeout=CONNECT_SECONDS * 2)
    except (TimeoutError, OSError):
        raise InputError(
            f"the Dask scheduler at {client.scheduler.address} has no worker "
            "(start one with `dask worker ADDRESS`)"
        ) from None
    answers = client.run(check_worker, job.model_path, job.model_fingerprint, on_error="return")
    problems = []
    for address, answer in sorted(answers.items()):
        if isinstance(answer, BaseException):
            reason = f"{type(answer).__name__}: {answer}"
            if isinstance(answer, ImportError) or "No module named" in reason:
                reason += " (install tagger[dask] on every worker)"
            problems.append(f"worker {address} cannot run tagger: {reason}")
        elif answer:
            problems.append(f"worker {address} {answer}")
    if problems:
        more = f" (and {len(problems) - 1} more worker(s))" if len(problems) > 1 else ""
        raise InputError(problems[0] + more)


def _run_with_events(job: ShardJob) -> dict[str, Any]:
    """A task: run_shard, reporting progress per batch as a Dask event."""
    from distributed import get_worker

    worker = get_worker()

    def notify(index: int, done: int) -> None:
        worker.log_event(PROGRESS_TOPIC, {"run": job.run_key, "index": index, "done": done})

    return run_shard(job, notify)


class DaskEngine:
    """A Dask client for one run: to --cluster at once (so that a scheduler that does not
    answer is refused before anything is written), to a LocalCluster only when there is
    work. Use as a context manager; `results` yields each shard's receipt as it finishes."""

    def __init__(self, cluster: str | None, workers: int) -> None:
        self.cluster, self.workers = cluster, workers
        self._stack = ExitStack()
        self._client: Any = None

    def __enter__(self) -> DaskEngine:
        from importlib.util import find_spec

        try:
            found = find_spec("distributed") is not None
        except ValueError:  # in sys.modules as None: blocked
            found = False
        if not found:  # said before anything is written
            _imports()
        if self.cluster:
            self._client = self._stack.enter_context(dask_client(self.cluster, self.workers))
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def results(
        self, jobs: list[ShardJob], notify: Callable[[int, int], None]
    ) -> Iterator[dict[str, Any]]:
        from tagger.engines.run import failed_result

        if not jobs:
            return
        distributed, _ = _imports()
        if self._client is None:
            self._client = self._stack.enter_context(dask_client(None, self.workers))
        client = self._client
        _check_workers(client, jobs[0])
        run = jobs[0].run_key

        def on_event(event: Any) -> None:
            message = event[1] if isinstance(event, tuple) else event
            if isinstance(message, dict) and message.get("run") == run:
                notify(int(message["index"]), int(message["done"]))

        client.subscribe_topic(PROGRESS_TOPIC, on_event)
        keys = [f"tagger-{job.kind}-{run}-{job.shard['index']:05d}" for job in jobs]
        futures = client.map(_run_with_events, jobs, key=keys, pure=False)
        by_key = {future.key: job for future, job in zip(futures, jobs, strict=True)}
        try:
            for future in distributed.as_completed(futures, loop=client.loop):
                job = by_key[future.key]
                try:
                    result = future.result()
                except distributed.KilledWorker:
                    result = failed_result(
                        job, "the workers running it died again and again (KilledWorker)"
                    )
                except Exception as exc:
                    result = failed_result(job, exc)
                yield result
        finally:
            client.cancel([f for f in futures if not f.done()])
            with suppress(ValueError, KeyError):
                client.unsubscribe_topic(PROGRESS_TOPIC)
