"""ASGI guards in front of the app: Host allowlist, security headers, admission control
(requests in flight, per-client rate limits) and a body gate (size, read time, strict JSON).

Each guard answers with a short JSON body and the right status itself, so a refused
request never reaches the endpoints and never costs model work. Admission refusals (503,
429) are sent before the body is read: the answer does not wait for a slow upload, and
the kept-alive connection stays usable when the body's length is declared within the
size limit (uvicorn drops the rest of the body as it arrives; the protocol,
`tagger.server.protocol`, closes the connection if it does not arrive in time).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import math
import re
import sqlite3
import time
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from tagger.errors import DuplicateKey, unique_keys

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
# Paths that never queue behind anything: the orchestrator's and the scraper's.
UNGUARDED_PATHS = frozenset({"/health", "/metrics"})
RATE_GROUPS = {"/suggest": "suggest", "/feedback": "feedback"}

# The editors' page loads its script and style from /static only. The API docs pages
# (Swagger UI, ReDoc) inject style elements at run time, so they get 'unsafe-inline' for
# styles (never for scripts); ReDoc also starts a web worker from a blob.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
CSP_DOCS = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
DOCS_PATHS = frozenset({"/docs", "/redoc", "/docs/oauth2-redirect"})
SECURITY_HEADERS = [
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
]


async def send_json(
    send: Send,
    status: int,
    detail: Any,
    headers: Iterable[tuple[bytes, bytes]] = (),
    *,
    close: bool = False,
) -> None:
    """Answer with `{"detail": ...}` (and `Connection: close` when the body was not read)."""
    payload = json.dumps({"detail": detail}, ensure_ascii=False).encode()
    head = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
        *headers,
    ]
    if close:
        head.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": head})
    await send({"type": "http.response.body", "body": payload})


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers") or []:
        if key == name:
            return value
    return None


# -- Host allowlist ---------------------------------------------------------------------


def host_name(value: str) -> str:
    """The host of a Host header without its port, lower case ('[::1]:8000' -> '::1')."""
    value = value.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        return value[1:end] if end > 0 else value
    if value.count(":") == 1:
        value = value.split(":", 1)[0]
    return value.rstrip(".")


def default_allowed_hosts(bound: str) -> tuple[str, ...]:
    """The bound host (unless it is a wildcard address) and the loopback names."""
    names = [] if bound in ("0.0.0.0", "::", "") else [host_name(bound)]
    return tuple(dict.fromkeys([*names, *LOOPBACK_HOSTS]))


class HostAllowlist:
    """400 for a Host header not on the list: a DNS-rebinding page cannot reach the API.

    '*' on the list allows any host (then a proxy in front must check it).
    """

    def __init__(self, app: ASGIApp, allowed: Iterable[str]) -> None:
        self.app = app
        self.allowed = {host_name(h) for h in allowed}
        self.any = "*" in self.allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.any:
            await self.app(scope, receive, send)
            return
        raw = _header(scope, b"host")
        name = host_name(raw.decode("latin-1")) if raw else ""
        if name in self.allowed:
            await self.app(scope, receive, send)
            return
        shown = raw.decode("latin-1")[:100] if raw else "(none)"
        await send_json(
            send,
            400,
            f"Host {shown!r} is not served here (allowed: {', '.join(sorted(self.allowed))}; "
            "see tagger serve --allowed-host)",
            close=True,
        )


class SecurityHeaders:
    """CSP, X-Frame-Options, nosniff and Referrer-Policy on every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        csp = (CSP_DOCS if scope.get("path") in DOCS_PATHS else CSP).encode()

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers") or []}
                extra = [(k, v) for k, v in SECURITY_HEADERS if k not in names]
                if b"content-security-policy" not in names:
                    extra.append((b"content-security-policy", csp))
                message = {**message, "headers": [*(message.get("headers") or []), *extra]}
            await send(message)

        await self.app(scope, receive, with_headers)


class ConnectionRecycle:
    """`Connection: close` on a kept-alive connection's `requests`-th answer (nginx's
    `keepalive_requests`).

    With `--workers N` the kernel assigns a connection to a worker when it opens
    (SO_REUSEPORT, by a hash of its addresses), and a kept-alive connection then stays
    there: 8 clients were split 1,034 / 467 requests over two workers. Closing each
    connection after a bounded number of requests makes clients reconnect, and each new
    connection is assigned afresh, so the split evens out over time.
    """

    def __init__(self, app: ASGIApp, requests: int, remember: int = 10_000) -> None:
        self.app = app
        self.requests = requests
        self.remember = remember  # connections counted at most (the oldest are forgotten)
        self.counts: OrderedDict[tuple[Any, ...], int] = OrderedDict()

    def _count(self, scope: Scope) -> int:
        key = (tuple(scope.get("client") or ()), tuple(scope.get("server") or ()))
        count = self.counts.pop(key, 0) + 1
        if count >= self.requests:
            return count  # closed with this answer: forgotten
        self.counts[key] = count
        while len(self.counts) > self.remember:
            self.counts.popitem(last=False)
        return count

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._count(scope) < self.requests:
            await self.app(scope, receive, send)
            return

        async def closing(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (k, v) for k, v in message.get("headers") or [] if k.lower() != b"connection"
                ]
                message = {**message, "headers": [*headers, (b"connection", b"close")]}
            await send(message)

        await self.app(scope, receive, closing)


# -- admission: requests in flight and per-client rates ----------------------------------


@dataclass
class Rate:
    """`per_minute` requests a minute on average, bursts of up to `burst`; 0 = no limit."""

    per_minute: float
    burst: int

    @property
    def enabled(self) -> bool:
        return self.per_minute > 0


def refill(rate: Rate, level: float, at: float, now: float) -> tuple[float, float]:
    """One request against a token bucket holding `level` at time `at`: (the level it
    leaves, 0 when the request may go ahead else the seconds until it would)."""
    per_second = rate.per_minute / 60.0
    level = min(float(rate.burst), level + max(0.0, now - at) * per_second)
    if level >= 1.0:
        return level - 1.0, 0.0
    return level, (1.0 - level) / per_second


class RateLimiter:
    """Token buckets per (client, group) in this process; the oldest clients are
    forgotten beyond a bound."""

    def __init__(self, rates: Mapping[str, Rate], max_clients: int = 10_000) -> None:
        self.rates = dict(rates)
        self.max_clients = max_clients
        self.buckets: OrderedDict[tuple[str, str], tuple[float, float]] = OrderedDict()

    def take(self, group: str, client: str, now: float | None = None) -> float:
        """0 when the request may go ahead, else the seconds until it would."""
        rate = self.rates.get(group)
        if rate is None or not rate.enabled:
            return 0.0
        now = time.monotonic() if now is None else now
        key = (group, client)
        level, at = self.buckets.pop(key, (float(rate.burst), now))
        level, wait = refill(rate, level, at, now)
        self.buckets[key] = (level, now)
        while len(self.buckets) > self.max_clients:
            self.buckets.popitem(last=False)
        return wait


class SharedRateLimiter(RateLimiter):
    """The same token buckets kept in a SQLite file that every worker process of one
    `tagger serve --workers N` opens, so a client's rate is one rate however many
    workers its connections reach.

    Each request is one short write transaction (WAL, no fsync: the file lives in the
    run's temporary folder and means nothing after it), tens of microseconds; the
    buckets' times are CLOCK_MONOTONIC, the same in every process of the machine. If the
    file cannot be used the process falls back to its own buckets (logged once) rather
    than refusing or failing requests.
    """

    EVICT_EVERY = 256

    def __init__(self, rates: Mapping[str, Rate], path: str, max_clients: int = 10_000) -> None:
        super().__init__(rates, max_clients)
        self.path = path
        self.takes = 0
        self.failed = False
        # one connection, used from the event loop thread only
        self.db = sqlite3.connect(path, timeout=5.0, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=OFF")
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS buckets (grp TEXT NOT NULL, client TEXT NOT NULL, "
            "level REAL NOT NULL, at REAL NOT NULL, PRIMARY KEY (grp, client)) WITHOUT ROWID"
        )
        self.db.execute("CREATE INDEX IF NOT EXISTS buckets_at ON buckets (at)")

    def take(self, group: str, client: str, now: float | None = None) -> float:
        rate = self.rates.get(group)
        if rate is None or not rate.enabled:
            return 0.0
        if self.failed:
            return super().take(group, client, now)
        now = time.monotonic() if now is None else now
        try:
            return self._take(rate, group, client, now)
        except sqlite3.Error as exc:
            import logging

            logging.getLogger("uvicorn.error").error(
                "rate limits: %s unusable (%s); this worker keeps its own from now on",
                self.path,
                exc,
            )
            self.failed = True
            if self.db.in_transaction:
                self.db.rollback()
            return super().take(group, client, now)

    def _take(self, rate: Rate, group: str, client: str, now: float) -> float:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            row = self.db.execute(
                "SELECT level, at FROM buckets WHERE grp = ? AND client = ?", (group, client)
            ).fetchone()
            level, wait = refill(rate, *(row or (float(rate.burst), now)), now)
            self.db.execute(
                "INSERT OR REPLACE INTO buckets VALUES (?, ?, ?, ?)", (group, client, level, now)
            )
            self.takes += 1
            if self.takes % self.EVICT_EVERY == 0:
                self.db.execute(
                    "DELETE FROM buckets WHERE (grp, client) IN (SELECT grp, client FROM "
                    "buckets ORDER BY at LIMIT max(0, (SELECT COUNT(*) FROM buckets) - ?))",
                    (self.max_clients,),
                )
            self.db.execute("COMMIT")
        except BaseException:
            if self.db.in_transaction:
                self.db.rollback()
            raise
        return wait

    def close(self) -> None:
        self.db.close()


def bearer_token(scope: Scope) -> str:
    raw = _header(scope, b"authorization") or b""
    scheme, _, token = raw.decode("latin-1").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def token_owner(tokens: Mapping[str, str], offered: str) -> str | None:
    """The editor `offered` belongs to: compared with every token in constant time each."""
    found = None
    data = offered.encode()
    for token, name in tokens.items():
        if hmac.compare_digest(data, token.encode()):
            found = name
    return found


@dataclass
class Admission:
    """Limits enforced before a request's body is parsed."""

    max_in_flight: int = 64
    rates: Mapping[str, Rate] | None = None  # group ("suggest", "feedback") -> Rate
    # requests of a group in progress ("suggest": those waiting for or in model work)
    group_limits: Mapping[str, int] | None = None
    max_body: int = 2_000_000
    # a SQLite file the workers of one `tagger serve --workers N` share their rates in
    shared_rates: str | None = None


class AdmissionControl:
    """503 + Retry-After beyond `max_in_flight` requests in this process; 429 + Retry-After
    beyond a client's rate. A client is the editor of a valid bearer token, else the
    address the connection comes from (proxies' X-Forwarded-For is not trusted).
    /health and /metrics are never refused here.
    """

    def __init__(
        self,
        app: ASGIApp,
        limits: Admission,
        tokens: Mapping[str, str],
        on_reject: Callable[[str], None] | None = None,
    ) -> None:
        self.app = app
        self.limits = limits
        self.tokens = tokens
        self.limiter = (
            SharedRateLimiter(limits.rates or {}, limits.shared_rates)
            if limits.shared_rates
            else RateLimiter(limits.rates or {})
        )
        self.in_flight = 0
        self.group_in_flight: Counter[str] = Counter()
        self.on_reject = on_reject or (lambda _reason: None)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in UNGUARDED_PATHS:
            await self.app(scope, receive, send)
            return
        group = RATE_GROUPS.get(scope.get("path", "")) if scope.get("method") == "POST" else None
        if group is not None:
            wait = self.limiter.take(group, self.client(scope))
            if wait > 0:
                self.on_reject("rate")
                await send_json(
                    send,
                    429,
                    f"too many {group} requests from this client; retry in {math.ceil(wait)} s",
                    [(b"retry-after", str(max(1, math.ceil(wait))).encode())],
                    close=not self.keeps_connection(scope),
                )
                return
        group_limit = (self.limits.group_limits or {}).get(group or "")
        busy = None
        if self.in_flight >= self.limits.max_in_flight:
            busy = ("in_flight", f"{self.in_flight} requests", self.limits.max_in_flight)
        elif group and group_limit is not None and self.group_in_flight[group] >= group_limit:
            # refused before its body is parsed: a full model queue costs nothing more
            busy = ("model_queue", f"{self.group_in_flight[group]} {group} requests", group_limit)
        if busy is not None:
            reason, what, limit = busy
            self.on_reject(reason)
            await send_json(
                send,
                503,
                f"busy: {what} in progress (limit {limit}); retry shortly",
                [(b"retry-after", b"1")],
                close=not self.keeps_connection(scope),
            )
            return
        self.in_flight += 1
        if group:
            self.group_in_flight[group] += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1
            if group:
                self.group_in_flight[group] -= 1

    def keeps_connection(self, scope: Scope) -> bool:
        """Whether a refused request's connection may serve the next one: its body (sent
        after the refusal, dropped as it arrives) must have a declared length within the
        size limit; a chunked or oversized one closes the connection."""
        declared = _header(scope, b"content-length")
        if declared is None:
            return scope.get("method") in ("GET", "HEAD", "OPTIONS", "DELETE")
        return declared.isdigit() and int(declared) <= self.limits.max_body

    def client(self, scope: Scope) -> str:
        token = bearer_token(scope)
        if token:
            owner = token_owner(self.tokens, token)
            if owner is not None:
                return f"editor:{owner}"
        client = scope.get("client")
        return f"addr:{client[0]}" if client else "addr:?"


# -- the body gate: size, read time and strict JSON ---------------------------------------

OFFLOAD_BYTES = 256_000
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_SURROGATE = re.compile("[\ud800-\udfff]")


class JSONRefused(ValueError):
    """A request body that is not strict JSON: `kind` names the rule, `loc` where."""

    def __init__(self, kind: str, message: str, loc: list[Any] | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.loc = ["body", *(loc or [])]

    def detail(self) -> list[dict[str, Any]]:
        return [{"type": self.kind, "loc": self.loc, "msg": str(self)}]


def json_depth(data: bytes) -> int:
    """How deeply arrays and objects nest in `data`, counted without parsing it."""
    brackets = _JSON_STRING.sub(b"", data).translate(None, _NOT_BRACKETS)
    if not brackets:
        return 0
    codes = np.frombuffer(brackets, dtype=np.uint8)
    steps = np.where((codes == ord("[")) | (codes == ord("{")), 1, -1)
    return int(np.cumsum(steps).max())


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise JSONRefused("json_not_finite", f"number {text[:40]} is out of range")
    return value


def _no_constant(name: str) -> Any:
    raise JSONRefused("json_not_finite", f"{name} is not JSON (numbers must be finite)")


def strict_json(data: bytes, max_depth: int = 32) -> Any:
    """Parse a request body as strict JSON: UTF-8, finite numbers, no lone surrogates, no
    key twice in an object, at most `max_depth` levels. Raises JSONRefused with the reason."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise JSONRefused(
            "utf8_invalid", f"the body is not valid UTF-8 (byte {exc.start})", [exc.start]
        ) from None
    depth = json_depth(data)
    if depth > max_depth:
        raise JSONRefused("json_too_deep", f"JSON nested {depth} deep (at most {max_depth})")
    try:
        value = json.loads(
            text, parse_constant=_no_constant, parse_float=_finite, object_pairs_hook=unique_keys
        )
    except DuplicateKey as exc:
        raise JSONRefused("json_duplicate_key", f"JSON object: {exc}") from None
    except json.JSONDecodeError as exc:
        raise JSONRefused(
            "json_invalid",
            f"JSON decode error: {exc.msg} (line {exc.lineno}, column {exc.colno})",
            [exc.pos],
        ) from None
    except RecursionError:
        raise JSONRefused("json_too_deep", f"JSON nested over {max_depth} deep") from None
    _check_strings(value)
    return value


def _check_strings(value: Any) -> None:
    """Refuse lone surrogates (and numbers that are not finite) anywhere in `value`."""
    stack: list[tuple[Any, list[Any]]] = [(value, [])]
    while stack:
        item, path = stack.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                raise JSONRefused(
                    "json_surrogate",
                    "a string holds a lone surrogate (\\ud800-\\udfff): not valid Unicode",
                    path,
                )
        elif isinstance(item, dict):
            for key, child in item.items():
                if _SURROGATE.search(key):
                    raise JSONRefused(
                        "json_surrogate", "a key holds a lone surrogate: not valid Unicode", path
                    )
                stack.append((child, [*path, key]))
        elif isinstance(item, list):
            stack.extend((child, [*path, i]) for i, child in enumerate(item))
        elif isinstance(item, int) and not isinstance(item, bool) and abs(item) > 2**63:
            raise JSONRefused("json_not_finite", "integer out of range", path)


def is_json_type(value: bytes | None) -> bool:
    """application/json or a +json type, with any parameters (charset)."""
    if value is None:
        return False
    media = value.split(b";", 1)[0].strip().lower()
    return media == b"application/json" or (
        media.startswith(b"application/") and media.endswith(b"+json")
    )


class BodyGate:
    """Read each request body before the app sees it: 413 over `max_body` bytes (declared
    or streamed), 408 when it takes longer than `body_timeout` seconds (slow uploads hold
    no connection for long), 415 when a body is not declared JSON (a form or text/plain, which
    another site's page can make a browser send without asking), 422 when it is not strict
    JSON (see `strict_json`)."""

    def __init__(
        self,
        app: ASGIApp,
        max_body: int,
        body_timeout: float = 30.0,
        max_depth: int = 32,
        on_reject: Callable[[str], None] | None = None,
    ) -> None:
        self.app = app
        self.max_body = max_body
        self.body_timeout = body_timeout
        self.max_depth = max_depth
        self.on_reject = on_reject or (lambda _reason: None)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body:
            self.on_reject("body_size")
            await self._too_large(send)
            return
        deadline = time.monotonic() + self.body_timeout
        chunks, size, more = [], 0, True
        while more:
            remaining = deadline - time.monotonic()
            try:
                if remaining <= 0:
                    raise asyncio.TimeoutError
                message = await asyncio.wait_for(receive(), remaining)
            except asyncio.TimeoutError:
                self.on_reject("body_timeout")
                await send_json(
                    send,
                    408,
                    f"the request body did not arrive within {self.body_timeout:g} s",
                    close=True,
                )
                return
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                self.on_reject("body_size")
                await self._too_large(send)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        if body.strip():  # a copy of up to max_body bytes: made once
            if not is_json_type(_header(scope, b"content-type")):
                self.on_reject("content_type")
                await send_json(
                    send,
                    415,
                    "send the body as JSON, with the header Content-Type: application/json",
                )
                return
            try:
                if len(body) > OFFLOAD_BYTES:  # a large body is parsed off the event loop
                    await asyncio.to_thread(strict_json, body, self.max_depth)
                else:
                    strict_json(body, self.max_depth)
            except JSONRefused as exc:
                self.on_reject("bad_json")
                await send_json(send, 422, exc.detail())
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, send: Send) -> None:
        await send_json(
            send, 413, f"request body over the limit of {self.max_body} bytes", close=True
        )
