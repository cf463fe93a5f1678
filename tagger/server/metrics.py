"""Prometheus metrics of the service (prometheus-client).

One process: each app has its own registry. `tagger serve --workers N` sets
PROMETHEUS_MULTIPROC_DIR before the workers start, so every worker writes its samples
there and `/metrics` on any worker reports the sum over all live workers (gauges of
requests in flight are summed over live workers; the model-info gauge has one sample per
worker, labelled with its pid).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from tagger.server.guards import Message, Receive, Scope, Send

PATHS = (
    "/suggest",
    "/feedback",
    "/health",
    "/labels",
    "/metrics",
    "/whoami",
    "/admin/reload",
    "/",
    "/docs",
    "/openapi.json",
)


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def method_label(method: str) -> str:
    """A bounded set of method labels: a client may send any token as a method."""
    return method if method in METHODS else "other"


def path_label(path: str) -> str:
    """A bounded set of path labels (no label per article id or static file)."""
    if path in PATHS:
        return path
    if path.startswith("/static"):
        return "/static"
    return "other"


RELOADS_HELP = "Model reloads, by outcome (ok, failed)."
WORKER_RESTARTS_HELP = "HTTP workers (--workers N) that died and were replaced."


class SupervisorCounters:
    """Counters the supervisor of `--workers N` adds to (rolling reloads, replaced
    workers). It serves no /metrics: its samples go to the workers' shared folder under
    its own pid, and every worker's /metrics sums them in with the workers' own."""

    def __init__(self) -> None:
        from prometheus_client.values import MultiProcessValue

        # prometheus-client picks its value class when imported, which `tagger serve`
        # did before it set PROMETHEUS_MULTIPROC_DIR: ask for the shared-folder one
        self.value_class = MultiProcessValue() if multiprocess_dir() else None
        self.values: dict[tuple[str, tuple[str, ...]], Any] = {}

    def inc(self, name: str, help_text: str, **labels: str) -> None:
        """Add 1 to counter `name` (exposed as NAME_total) with `labels`."""
        if self.value_class is None:
            return
        key = (name, tuple(labels.values()))
        if key not in self.values:
            self.values[key] = self.value_class(
                "counter", name, name + "_total", tuple(labels), key[1], help_text
            )
        self.values[key].inc(1)


class Metrics:
    """Counters, histograms and gauges of one app (or one worker)."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.multiprocess = multiprocess_dir() is not None
        self.registry = CollectorRegistry(auto_describe=True)
        registry = self.registry
        self.requests = Counter(
            "tagger_http_requests",
            "HTTP requests answered, by method, path and status.",
            ["method", "path", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "tagger_http_request_duration_seconds",
            "Time from the request's arrival to the end of its response.",
            ["path"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=registry,
        )
        self.in_flight = Gauge(
            "tagger_http_requests_in_flight",
            "Requests being answered now.",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.rejects = Counter(
            "tagger_rejected_requests",
            "Requests refused before any work: in_flight (503), rate (429), host (400), "
            "body_size (413), body_timeout (408), content_type (415), bad_json (422), batch (413), "
            "entity_budget (413), model_queue (503).",
            ["reason"],
            registry=registry,
        )
        self.decisions = Counter(
            "tagger_decisions_stored",
            "Editors' decisions stored by /feedback.",
            registry=registry,
        )
        self.articles = Counter(
            "tagger_articles_suggested",
            "Articles answered by /suggest.",
            registry=registry,
        )
        self.model = Gauge(
            "tagger_model_info",
            "The loaded model (1) by name and id; 0 for a model replaced by a reload.",
            ["name", "model_id"],
            registry=registry,
            multiprocess_mode="liveall",
        )
        self.reloads = Counter(
            "tagger_model_reloads",
            RELOADS_HELP,
            ["outcome"],
            registry=registry,
        )
        self.model_restarts = Counter(
            "tagger_model_process_restarts",
            "Model processes that died and were replaced (their request got 503).",
            registry=registry,
        )

    def set_model(self, info: dict[str, Any], previous: dict[str, Any] | None = None) -> None:
        if previous is not None:
            self.model.labels(str(previous.get("name")), str(previous.get("id"))).set(0)
        self.model.labels(str(info.get("name")), str(info.get("id"))).set(1)

    def reject(self, reason: str) -> None:
        self.rejects.labels(reason).inc()

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type."""
        from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

        if self.multiprocess:
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    def worker_exited(self) -> None:
        """Drop this worker's live gauges (multiprocess mode)."""
        if self.multiprocess:
            from prometheus_client import multiprocess

            multiprocess.mark_process_dead(os.getpid())


class Observe:
    """Outermost ASGI wrapper: counts and times every request, and writes access logs."""

    def __init__(
        self,
        app: Any,
        metrics: Metrics,
        access_log: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500
        size = 0

        async def observed(message: Message) -> None:
            nonlocal status, size
            if message["type"] == "http.response.start":
                status = int(message["status"])
            elif message["type"] == "http.response.body":
                size += len(message.get("body", b""))
            await send(message)

        path = path_label(scope.get("path", ""))
        self.metrics.in_flight.inc()
        try:
            await self.app(scope, receive, observed)
        finally:
            self.metrics.in_flight.dec()
            elapsed = time.perf_counter() - start
            method = method_label(scope.get("method", ""))
            self.metrics.requests.labels(method, path, str(status)).inc()
            self.metrics.latency.labels(path).observe(elapsed)
            if self.access_log is not None:
                client = scope.get("client")
                self.access_log(
                    {
                        "client": f"{client[0]}:{client[1]}" if client else None,
                        "method": scope.get("method"),
                        "path": scope.get("path"),
                        "query": scope.get("query_string", b"").decode("latin-1") or None,
                        "status": status,
                        "bytes": size,
                        "ms": round(elapsed * 1000, 2),
                    }
                )
