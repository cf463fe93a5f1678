"""The HTTP service: suggestions for the CMS, decisions from editors, the editors' page.

Requests pass guards first (`tagger.server.guards`: Host allowlist, security headers,
requests in flight, per-client rates, body size, read time and strict JSON). Model work
runs in model processes of their own (`tagger.server.modelwork`: each loads the model
once, at a lower CPU priority), so `/health`, `/metrics`, refusals and `/feedback` are
answered by a process that never waits for the model, not even for the GIL; the store
keeps one SQLite connection per thread. The model is one reference, swapped whole by a
reload (SIGHUP or `POST /admin/reload`), together with its model processes: requests in
progress finish with the model they started with.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import re
import signal
import sys
import threading
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from fastapi import Depends, FastAPI, Header, HTTPException, Request
from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field, model_validator

from tagger import __version__
from tagger.corpus.article import Article
from tagger.errors import ConfigError, TaggerError, read_user_text
from tagger.feedback.queue import LeaseError, ReviewQueue
from tagger.feedback.store import (
    MAX_KEY_CHARS,
    Decision,
    FeedbackStore,
    StoreError,
    fingerprint,
    open_store,
    shown_from_suggestions,
)
from tagger.registry import is_registry
from tagger.server import SIGHUP_AT_START, hold_sighup
from tagger.server.guards import (
    Admission,
    AdmissionControl,
    BodyGate,
    ConnectionRecycle,
    HostAllowlist,
    Rate,
    SecurityHeaders,
    default_allowed_hosts,
    token_owner,
)
from tagger.server.modelwork import DEFAULT_LOADER, ModelProcesses, ModelWork, request_article

log = logging.getLogger("uvicorn.error")
STATIC = Path(__file__).parent / "static"
MIN_TOKEN_CHARS = 16
# articles a /suggest or POST /queue batch may have (413 beyond). Checked as the body is
# validated: a body of 2 MB holds 600,000 articles '{}', and validating each one (or
# reporting each one's error) cost a worker 2 GB and a minute of its event loop.
MAX_BATCH = 100
CONFIG_ENV = "TAGGER_SERVE_CONFIG"
LOOPBACK = ("127.0.0.1", "localhost", "::1")


@dataclass
class ServerConfig:
    """What `tagger serve` needs: model, store, tokens, and the limits that keep it up."""

    model: Path | None = None
    db: Path | str | None = None
    tokens: dict[str, str] = field(default_factory=dict)  # token -> editor
    max_body: int = 2_000_000
    max_batch: int = MAX_BATCH  # a lower limit only (the request models refuse beyond)
    # where it listens (the Host allowlist and the read-token default follow from it)
    host: str = "127.0.0.1"
    allowed_hosts: list[str] | None = None  # None: the bound host and the loopback names
    read_tokens: bool | None = None  # None: required when `host` is not loopback
    admin_token: str | None = None  # POST /admin/reload needs it
    # overload
    max_in_flight: int = 64  # requests in progress per process (503 beyond)
    # model work: this many model processes per serving process (0: threads in it)
    model_processes: int = 1
    model_nice: int = 10  # the model processes' niceness above the serving process's
    model_loader: str = DEFAULT_LOADER  # 'module:function' a model process loads with
    model_threads: int = 2  # threads doing model work when model_processes is 0
    model_queue: int = 8  # /suggest requests waiting for or in model work (503 beyond)
    suggest_rate: float = 600.0  # per client and minute (429 beyond); 0: no limit
    suggest_burst: int = 60
    feedback_rate: float = 1200.0
    feedback_burst: int = 120
    # with --workers N: the SQLite file the workers keep their rate buckets in (one rate
    # per client however many workers it reaches); None: each process keeps its own
    shared_rates: str | None = None
    # with --workers N: the file where the supervisor notes how its last reload went
    # (/health reports it); None: this process reloads itself and knows
    reload_status: str | None = None
    # with --workers N: the file where the supervisor notes the workers it replaced
    workers_status: str | None = None
    body_timeout: float = 30.0  # seconds to receive a request body (408 beyond)
    max_batch_chars: int = 1_000_000  # title + body characters per /suggest request
    entity_chars: int = 200_000  # characters per request that entity extraction may read
    max_json_depth: int = 32
    # seconds a model thread may hold the GIL while the event loop waits for it (Python's
    # default is 0.005: each of the loop's many system calls then waits up to 5 ms)
    switch_interval: float = 0.0005
    # processes and logs
    workers: int = 1
    # with workers > 1: a kept-alive connection is closed after this many requests so
    # the kernel assigns its client's next connection to a worker afresh (0: never)
    keepalive_requests: int = 100
    log_format: str = "text"
    vocab: Path | None = None  # the page completes from it (default: the model's)
    # a registry's `current` pointer is read this often (seconds); a new version is loaded
    # and swapped in like a reload
    watch_interval: float = 1.0
    # the review queue (tagger.feedback.queue)
    lease_seconds: float = 600.0
    queue_order: str = "uncertain"  # uncertain, newest or oldest

    @property
    def requires_read_token(self) -> bool:
        if self.read_tokens is not None:
            return self.read_tokens
        return self.host not in LOOPBACK

    @property
    def hosts(self) -> list[str]:
        return list(self.allowed_hosts or default_allowed_hosts(self.host))

    def to_env(self) -> str:
        """The config as JSON, for worker processes (`app_from_env`)."""
        data = dataclasses.asdict(self)
        data["model"] = str(self.model) if self.model is not None else None
        data["db"] = str(self.db) if self.db is not None else None
        data["vocab"] = str(self.vocab) if self.vocab is not None else None
        return json.dumps(data)

    @classmethod
    def from_env(cls, text: str) -> ServerConfig:
        data = json.loads(text)
        if data.get("model") is not None:
            data["model"] = Path(data["model"])
        if data.get("vocab") is not None:
            data["vocab"] = Path(data["vocab"])
        return cls(**data)


def load_tokens(path: Path | None, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Editor tokens from a file of 'editor:token' lines and/or TAGGER_TOKENS=ed:tok,ed:tok."""
    entries: list[tuple[str, str]] = []
    if path is not None:
        lines = read_user_text(path, "tokens").splitlines()
        for number, line in enumerate(lines, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            entries.append(_token_entry(line, f"{path}:{number}"))
    env = (environ or {}).get("TAGGER_TOKENS", "")
    for part in env.split(","):
        if part.strip():
            entries.append(_token_entry(part.strip(), "TAGGER_TOKENS"))
    tokens: dict[str, str] = {}
    for editor, token in entries:
        if token in tokens and tokens[token] != editor:
            raise ConfigError(f"the same token is given to {tokens[token]} and {editor}")
        tokens[token] = editor
    return tokens


SENDABLE_TOKEN = re.compile(r"[\x21-\x7e]+")  # printable ASCII, no space


def _token_entry(text: str, where: str) -> tuple[str, str]:
    editor, sep, token = text.partition(":")
    editor, token = editor.strip(), token.strip()
    if not sep or not editor or not token:
        raise ConfigError(f"{where}: expected 'editor:token'")
    if len(token) < MIN_TOKEN_CHARS:
        raise ConfigError(f"{where}: token of {editor} is shorter than {MIN_TOKEN_CHARS} chars")
    if not SENDABLE_TOKEN.fullmatch(token):
        # an Authorization header carries ASCII; such a token could never match a request
        raise ConfigError(
            f"{where}: token of {editor} has characters a bearer token cannot carry "
            "(non-ASCII, spaces or controls)"
        )
    return editor, token


# -- request and response bodies --------------------------------------------------------


class ArticleIn(BaseModel):
    """An article to tag: title and/or body; the id is derived from the text if absent."""

    id: str | None = Field(None, max_length=500)
    title: str = ""
    body: str = ""
    url: str | None = None
    source: str | None = None
    published: str | None = None

    @model_validator(mode="after")
    def _has_text(self) -> ArticleIn:
        if not self.title.strip() and not self.body.strip():
            raise ValueError("an article needs a title or a body")
        return self

    def to_article(self) -> Article:
        """The article with its texts sanitized (`tagger.hygiene`), for /suggest (in the
        model process) as for /feedback."""
        return request_article(self.model_dump())


class SuggestRequest(BaseModel):
    """One article (`article`) or a batch (`articles`)."""

    article: ArticleIn | None = None
    articles: list[ArticleIn] | None = Field(None, max_length=MAX_BATCH)
    top_k: int = Field(5, ge=1, le=50)
    explain: bool = True
    entities: bool | None = Field(
        None,
        description="Return the articles' entities (true: extract them with spaCy; default: "
        "only when the model uses entity features).",
    )

    @model_validator(mode="after")
    def _one_or_many(self) -> SuggestRequest:
        if (self.article is None) == (self.articles is None):
            raise ValueError("give either 'article' or 'articles'")
        if self.articles is not None and not self.articles:
            raise ValueError("'articles' is empty")
        return self


class DecisionIn(BaseModel):
    action: Literal["accept", "reject", "add", "section", "undo"]
    label: str = Field(..., min_length=1, max_length=200)
    kind: Literal["tag", "section"] = "tag"
    note: str | None = Field(None, max_length=2000)
    concept_id: str | None = Field(
        None,
        max_length=500,
        description="The vocabulary concept of the label (default: the one whose "
        "preferred label it is, when the model has a vocabulary).",
    )


class FeedbackRequest(BaseModel):
    """Decisions on one article, with the article and the suggestions they answer."""

    article: ArticleIn | None = None
    article_id: str | None = Field(None, max_length=500)  # as an article's own id
    suggestions: dict[str, Any] | None = Field(
        None, description="The suggestions object /suggest returned for this article."
    )
    decisions: list[DecisionIn] = Field(..., max_length=1000)
    done: bool = Field(
        False,
        description="The editor finished this article (it is then never offered to them "
        "again for review). Not finished unless the client says so.",
    )

    @model_validator(mode="after")
    def _names_an_article(self) -> FeedbackRequest:
        if self.article is None and not self.article_id:
            raise ValueError("give 'article' (or the 'article_id' of a stored one)")
        return self


# -- the app ------------------------------------------------------------------------------


def create_app(
    config: ServerConfig, *, model: Any = None, store: FeedbackStore | None = None
) -> FastAPI:
    """Build the app; loads the model and opens the store unless they are given."""
    from tagger.server.metrics import Metrics, Observe

    in_processes = model is None and config.model_processes > 0
    if model is None:
        model = load_model(config)  # here for what the app tells (labels, ids, vocabulary)
    if not in_processes:  # else the model processes load it (70 MB this process is spared)
        from tagger.language import batch_scorer

        batch_scorer()  # identifier and scorer at start-up, not in the first request
    owns_store = store is None
    if store is None:
        if config.db is None:
            raise ConfigError("no feedback database given")
        store = open_store(config.db)
        store.verify()  # writable and passes quick_check, or refused at start-up
    tokens = dict(config.tokens)
    bearer = HTTPBearer(auto_error=False)
    metrics = Metrics()
    work = ModelWork(
        config.model_queue,
        threads=config.model_threads,
        processes=None if not in_processes else model_processes(config, model, metrics),
    )
    reload_lock = asyncio.Lock()
    from tagger.vocab.editing import EditorVocabulary

    vocabulary = EditorVocabulary(model, config.vocab)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            await work.start()  # every model process has the model loaded before serving
        except (TaggerError, OSError) as exc:  # e.g. the bundle damaged since it was read
            who = f"worker {os.getpid()}" if config.workers > 1 else "tagger serve"
            log.error("%s cannot start: %s", who, exc)
            app.state.startup_failure = str(exc)  # logged: StartupFailureLine drops the trace
            raise
        # named once this process can serve it (with --workers N, a worker shows in
        # /metrics when ready: its socket listens from then on, bench/serve_workers.py)
        metrics.set_model(app.state.model.model_info)
        hup = config.workers <= 1 and threading.current_thread() is threading.main_thread()
        if hup:
            loop = asyncio.get_running_loop()
            reloads: set[asyncio.Task[None]] = set()

            def on_hup() -> None:
                if len(reloads) > 1:  # one reloads, one waits: that one reads the bundle later
                    return
                task = loop.create_task(_reload_logged(app, reload))
                reloads.add(task)
                task.add_done_callback(reloads.discard)

            loop.add_signal_handler(signal.SIGHUP, on_hup)
            if SIGHUP_AT_START.is_set():  # kept by hold_sighup while starting: done now
                SIGHUP_AT_START.clear()
                on_hup()
        interval = sys.getswitchinterval()
        sys.setswitchinterval(config.switch_interval)
        watcher = None
        if config.model is not None and is_registry(config.model):
            watcher = asyncio.get_running_loop().create_task(_follow_current(app, reload))
        try:
            yield
        finally:
            if watcher is not None:
                watcher.cancel()
            sys.setswitchinterval(interval)
            if hup:
                asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
                hold_sighup()  # not the default action (the end) while it shuts down
            await work.close()
            metrics.worker_exited()
            app.state.vocabulary.close()
            if owns_store:
                store.close()

    app = FastAPI(
        title="tagger",
        version=__version__,
        description="Section and tag suggestions for news articles, and editors' decisions.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
    )
    app.state.model = model
    app.state.store = store
    app.state.metrics = metrics
    app.state.config = config
    app.state.vocabulary = vocabulary
    app.state.model_work = work
    # innermost first: the body gate sees only admitted requests from allowed hosts
    app.add_middleware(
        BodyGate,
        max_body=config.max_body,
        body_timeout=config.body_timeout,
        max_depth=config.max_json_depth,
        on_reject=metrics.reject,
    )
    admission = Admission(
        max_in_flight=config.max_in_flight,
        rates={
            "suggest": Rate(config.suggest_rate, config.suggest_burst),
            "feedback": Rate(config.feedback_rate, config.feedback_burst),
        },
        max_body=config.max_body,
        group_limits={"suggest": config.model_queue},
        shared_rates=config.shared_rates,
    )
    app.add_middleware(AdmissionControl, limits=admission, tokens=tokens, on_reject=metrics.reject)
    app.add_middleware(HostAllowlist, allowed=config.hosts)
    app.add_middleware(SecurityHeaders)
    access_log = None
    if config.log_format == "json":
        from tagger.server.logs import json_access_log

        access_log = json_access_log
    app.add_middleware(Observe, metrics=metrics, access_log=access_log)
    if config.workers > 1 and config.keepalive_requests > 0:
        app.add_middleware(ConnectionRecycle, requests=config.keepalive_requests)
    app.add_middleware(StartupFailureLine, state=app.state)

    def editor(credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> str:
        """The editor a bearer token belongs to; 401 without a valid one."""
        found = token_owner(tokens, credentials.credentials if credentials else "")
        if found is None:
            raise HTTPException(
                401, "an editor token is required", headers={"WWW-Authenticate": "Bearer"}
            )
        return found

    async def reader(
        credentials: HTTPAuthorizationCredentials | None = Depends(bearer),
    ) -> str | None:
        """With read tokens on (`--read-tokens`), reading needs an editor token too."""
        if not config.requires_read_token:
            return None
        return editor(credentials)

    def batch_budget(
        current: Any, items: list[ArticleIn], entities: bool | None
    ) -> tuple[bool | None, str | None]:
        """The limits of a batch the model will read (/suggest, POST /queue): 413 beyond
        `max_batch` articles or `max_batch_chars` characters, or beyond `entity_chars` for
        a model that needs entities. Else (entities, why they were skipped or None)."""
        if len(items) > config.max_batch:
            metrics.reject("batch")
            raise HTTPException(413, f"batch over the limit of {config.max_batch} articles")
        chars = sum(len(a.title) + len(a.body) for a in items)
        if chars > config.max_batch_chars:
            metrics.reject("batch")
            raise HTTPException(
                413,
                f"batch of {chars} characters over the limit of {config.max_batch_chars}; "
                "send fewer or shorter articles a request",
            )
        needs = bool(current.featurizer.uses_entities)
        if not ((needs if entities is None else entities) and chars > config.entity_chars):
            return entities, None
        if needs:
            metrics.reject("entity_budget")
            raise HTTPException(
                413,
                f"this model needs entities and entity extraction reads at most "
                f"{config.entity_chars} characters a request (this batch has {chars}); "
                "send fewer articles a request",
            )
        return False, (
            f"entities skipped: the batch has {chars} characters, entity extraction "
            f"reads at most {config.entity_chars} a request; send fewer articles to get them"
        )

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        """422 with the reasons, but 413 for a batch over the limit (refused as it is
        validated, before its articles are: see MAX_BATCH)."""
        errors = exc.errors()
        if any(e.get("type") == "too_long" and e["loc"][-1:] == ("articles",) for e in errors):
            metrics.reject("batch")
            return JSONResponse(
                {"detail": f"batch over the limit of {min(config.max_batch, MAX_BATCH)} articles"},
                status_code=413,
            )
        return await request_validation_exception_handler(request, exc)

    @app.exception_handler(TaggerError)
    async def tagger_error(_request: Request, exc: TaggerError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.exception_handler(LeaseError)
    async def lease_error(_request: Request, exc: LeaseError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=409)

    @app.exception_handler(StoreError)
    async def store_error(_request: Request, exc: StoreError) -> JSONResponse:
        return JSONResponse(
            {"detail": f"the feedback store cannot be used ({exc})"}, status_code=503
        )

    from tagger.server.queue import add_queue_routes

    queue = ReviewQueue(store, lease_seconds=config.lease_seconds)  # type: ignore[arg-type]
    app.state.queue = queue
    add_queue_routes(
        app,
        queue,
        order=config.queue_order,
        check_batch=lambda items: batch_budget(app.state.model, items, None),
        run_model=work.run,
        editor=editor,
        reader=reader,
    )

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> FileResponse:
        return FileResponse(STATIC / "favicon.svg", media_type="image/svg+xml")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    _mount_docs(app)

    @app.get("/health")
    async def health() -> JSONResponse:
        """Liveness, the loaded model, and the store's state and number of decisions
        (503 when the store cannot be written). Answered on the event loop: never
        queued behind model work."""
        state = getattr(store, "state", "ok")
        try:
            decisions: int | None = store.count_decisions()
        except TaggerError as exc:
            state, decisions = str(exc), None
        ok = state in ("ok", "unchecked")
        return JSONResponse(
            {
                "status": "ok" if ok else "degraded",
                "model": app.state.model.model_info,
                "store": {"state": state, "decisions": decisions},
                "decisions": decisions,
                "model_work": work.status(),
                "reload": last_reload(),
                "workers": workers_replaced(),
            },
            status_code=200 if ok else 503,
        )

    def last_reload() -> dict[str, str] | None:
        """How the last reload went (None: none yet); with --workers N, the supervisor's."""
        if config.reload_status is None:
            return getattr(app.state, "last_reload", None)
        return _read_note(config.reload_status)

    def workers_replaced() -> dict[str, Any] | None:
        """With --workers N, how many workers died and were replaced, and the last one
        (the supervisor's note); None with one process."""
        if config.workers <= 1:
            return None
        noted = _read_note(config.workers_status) if config.workers_status else None
        return {"of": config.workers, **(noted or {"replaced": 0, "last": None})}

    @app.get("/metrics", include_in_schema=False)
    async def metrics_page() -> Response:
        """Prometheus metrics (text exposition format)."""
        body, content_type = metrics.render()
        return Response(body, media_type=content_type)

    @app.get("/labels")
    async def labels(_reader: str | None = Depends(reader)) -> dict[str, Any]:
        """The sections and tags the model knows (the page completes from these), and
        the vocabulary concept (id, parent) of each tag that is one."""
        current = app.state.model
        tags = list(current.tag_model.labels) if current.tag_model else []
        return {
            "model": current.model_info,
            "sections": list(current.section_model.labels) if current.section_model else [],
            "tags": tags,
            "vocabulary": app.state.vocabulary.name,
            "concepts": app.state.vocabulary.label_concepts(),
        }

    @app.get("/vocab/complete")
    def complete(
        q: str = "", limit: int = 10, _reader: str | None = Depends(reader)
    ) -> dict[str, Any]:
        """Tags to add: current concepts whose preferred label or alias starts with `q`
        (never retired ones), with id and parent; the model's labels without a vocabulary."""
        limit = max(1, min(limit, 50))
        vocabulary = app.state.vocabulary
        return {"vocabulary": vocabulary.name, "concepts": vocabulary.complete(q[:200], limit)}

    @app.post("/suggest")
    async def suggest(
        request: SuggestRequest, _reader: str | None = Depends(reader)
    ) -> dict[str, Any]:
        """Suggest a section and tags, with scores and evidence, for one article or a batch.

        Limits (413 with the reason): `max_batch` articles, `max_batch_chars` characters
        of title and body in all. Entity extraction reads at most `entity_chars`
        characters a request: a larger batch that asks for entities gets its suggestions
        without them (`entities_skipped` says why); a model that needs entity features
        refuses such a batch (413): send fewer articles a request.
        """
        items = [request.article] if request.article is not None else request.articles or []
        current = app.state.model
        entities, skipped = batch_budget(current, items, request.entities)  # type: ignore[arg-type]
        work_request = {
            "op": "suggest",
            "articles": [a.model_dump() for a in items],  # type: ignore[union-attr]
            "top_k": request.top_k,
            "explain": request.explain,
            "entities": entities,
            "skipped": skipped,
        }
        body = await work.run(current, work_request)  # the response body, encoded
        metrics.articles.inc(len(items))
        return Response(body, media_type="application/json")

    @app.get("/whoami")
    def whoami(name: str = Depends(editor)) -> dict[str, str]:
        """The editor the token belongs to."""
        return {"editor": name}

    async def reload() -> dict[str, Any]:
        """Load the bundle at `config.model` fully, then swap it in."""
        if config.model is None:
            raise HTTPException(409, "this server was given a model object, not a bundle path")
        async with reload_lock:
            previous = app.state.model.model_info
            try:
                fresh = await asyncio.to_thread(load_model, config)
                fresh_vocabulary = await asyncio.to_thread(EditorVocabulary, fresh, config.vocab)
                if work.processes is not None:
                    processes = model_processes(config, fresh, metrics)
                    try:
                        await processes.start()  # all loaded before any request goes there
                    except TaggerError:
                        fresh_vocabulary.close()
                        raise
                    work.swap(processes)  # the old ones finish their requests, then exit
            except TaggerError as exc:
                metrics.reloads.labels("failed").inc()
                detail = f"the new bundle is refused ({exc}); still serving {previous['id']}"
                app.state.last_reload = reload_note("failed", detail)
                raise HTTPException(422, detail) from None
            app.state.model, stale = fresh, app.state.vocabulary
            app.state.vocabulary = fresh_vocabulary
            stale.close()
            # decisions on suggestions the previous model made are still verified
            app.state.served_models = {*getattr(app.state, "served_models", ()), previous["id"]}
            metrics.set_model(fresh.model_info, previous)
            metrics.reloads.labels("ok").inc()
            app.state.last_reload = reload_note("ok", f"now serving {fresh.model_info['id']}")
            return {"previous": previous, "model": fresh.model_info}

    @app.post("/admin/reload")
    async def admin_reload(
        credentials: HTTPAuthorizationCredentials | None = Depends(bearer),
    ) -> JSONResponse:
        """Load the bundle again from its folder and swap it in without dropping requests.

        Needs the admin token (TAGGER_ADMIN_TOKEN). With several workers the supervisor
        replaces them one by one (each new worker is serving before an old one stops)."""
        offered = credentials.credentials if credentials else ""
        if not config.admin_token:
            raise HTTPException(403, "no admin token configured (set TAGGER_ADMIN_TOKEN)")
        if token_owner({config.admin_token: "admin"}, offered) is None:
            raise HTTPException(
                401, "the admin token is required", headers={"WWW-Authenticate": "Bearer"}
            )
        if config.workers > 1:
            await asyncio.to_thread(check_bundle, config)
            os.kill(os.getppid(), signal.SIGHUP)
            return JSONResponse(
                {"reloading": f"{config.workers} workers, one at a time"}, status_code=202
            )
        return JSONResponse(await reload())

    @app.post("/feedback", status_code=201)
    def feedback(
        request: FeedbackRequest,
        name: str = Depends(editor),
        idempotency_key: str | None = Header(
            None,
            max_length=MAX_KEY_CHARS,
            description="A key the client makes up per request: a retry with the same key "
            "returns the first response and stores nothing new.",
        ),
    ) -> dict[str, Any]:
        """Record an editor's decisions (append-only), the article and the suggestions shown.

        An article id names one text: posting a different title or body under a stored
        id is refused with 409 (give the new version a new id), so decisions always
        answer the text they were made on. The suggestions' model id is recorded as
        verified only if this service served that model.
        """
        try:
            return _feedback(request, name, idempotency_key)
        except StoreError as exc:
            raise HTTPException(503, f"the feedback store cannot be written ({exc})") from exc

    def _feedback(request: FeedbackRequest, name: str, key: str | None) -> dict[str, Any]:
        digest = fingerprint(request.model_dump(mode="json")) if key else ""
        article = request.article.to_article() if request.article is not None else None
        if article is not None and request.article_id and request.article_id != article.id:
            raise HTTPException(422, "'article_id' differs from the article's id")
        article_id = article.id if article is not None else str(request.article_id)
        if article is None and store.article(article_id) is None:
            raise HTTPException(404, f"article {article_id!r} is not in the store")
        decisions = [
            Decision(
                article_id,
                name,
                d.action,
                d.label,
                kind=d.kind,
                note=d.note,
                concept_id=d.concept_id or app.state.vocabulary.concept_id(d.label),
            )
            for d in request.decisions
        ]
        for d in decisions:
            d.validate()
        served = {app.state.model.model_info.get("id"), *getattr(app.state, "served_models", ())}
        shown = shown_from_suggestions(request.suggestions, served) if request.suggestions else []
        # one transaction: the article, what was shown and what was decided, or nothing;
        # with a key, its response too (a retry waits for the first and finds it)
        with store.transaction():
            if key:
                previous = store.replayed(name, key, digest)
                if previous is not None:
                    return previous
            if article is not None:
                stored = store.article(article_id)
                if stored is not None and (stored.title, stored.body) != (
                    article.title,
                    article.body,
                ):
                    raise HTTPException(
                        409,
                        f"article {article_id!r} is stored with a different text; "
                        "post the new version under a new id",
                    )
                store.add_article(article)
            by_label: dict[tuple[str, str], int] = {}
            if shown:
                ids = store.add_suggestions(article_id, shown)
                for s, sid in zip(shown, ids, strict=True):
                    by_label.setdefault((s.kind, s.label), sid)
            for d in decisions:
                if d.action in ("accept", "reject", "section"):
                    d.suggestion_id = by_label.get((d.kind, d.label))
            if queue.is_queued(article_id):  # the lease holder's, or refused (409)
                if request.done:
                    queue.complete(article_id, name)
                else:
                    queue.check_writer(article_id, name)
            ids = store.add_decisions(decisions)
            if request.done:
                store.mark_done(article_id, name)
            response = {"article_id": article_id, "editor": name, "decisions": ids}
            if key:
                store.remember(name, key, digest, response)
        metrics.decisions.inc(len(ids))
        return response

    return app


async def _follow_current(app: FastAPI, reload: Any) -> None:
    """Watch a registry's `current` pointer; when it names another version, load that
    version fully and swap it in (requests in progress finish with the old one)."""
    from tagger.registry import Registry

    config: ServerConfig = app.state.config
    registry = Registry(config.model)  # type: ignore[arg-type]
    refused: str | None = None  # a version that would not load is not tried again
    while True:
        await asyncio.sleep(config.watch_interval)
        try:
            live = registry.current()
        except TaggerError as exc:
            log.error("cannot read %s: %s", registry.path, exc)
            continue
        if live is None or live == getattr(app.state.model, "version", None) or live == refused:
            continue
        try:
            result = await reload()
        except HTTPException as exc:
            refused = live
            log.error("current is %s, which does not load: %s", live, exc.detail)
        else:
            refused = None
            log.info("now serving %s (model %s)", live, result["model"]["id"])


async def _reload_logged(app: FastAPI, reload: Any) -> None:
    try:
        result = await reload()
    except HTTPException as exc:
        log.error("reload on SIGHUP failed: %s", exc.detail)
    else:
        log.info("reloaded on SIGHUP: now serving model %s", result["model"]["id"])


class StartupFailureLine:
    """ASGI wrapper: a start-up failure the lifespan logged in one line reaches uvicorn
    without the traceback Starlette attaches to it (uvicorn logged that whole: 40 lines
    for a bundle damaged between the supervisor's check and a new worker's start)."""

    def __init__(self, app: Any, state: Any) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return

        async def one_line(message: Any) -> None:
            if message["type"] == "lifespan.startup.failed" and getattr(
                self.state, "startup_failure", None
            ):
                message = {"type": message["type"], "message": ""}
            await send(message)

        await self.app(scope, receive, one_line)


def _stamped(detail: str) -> dict[str, str]:
    return {"at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "detail": detail}


def reload_note(outcome: str, detail: str) -> dict[str, str]:
    """What /health says of the last reload: ok or failed, when, and what happened."""
    return {"outcome": outcome, **_stamped(detail)}


def write_reload_note(path: str, outcome: str, detail: str) -> None:
    """The supervisor of --workers N tells its workers' /health how a reload went."""
    _write_note(path, reload_note(outcome, detail))


def _write_note(path: str, note: dict[str, Any]) -> None:
    staging = f"{path}.{os.getpid()}.tmp"
    with contextlib.suppress(OSError):  # /health then shows the previous note
        Path(staging).write_text(json.dumps(note))
        os.replace(staging, path)


def _read_note(path: str) -> dict[str, Any] | None:
    """A note the supervisor wrote (None: none yet, or unreadable)."""
    try:
        return dict(json.loads(Path(path).read_text()))
    except (OSError, ValueError):
        return None


class SupervisorNotes:
    """What the supervisor of --workers N tells its workers of the reloads it made and
    the workers it replaced: notes in the run's folder for their /health, and counts for
    their /metrics (`tagger_model_reloads_total`, `tagger_worker_restarts_total`)."""

    def __init__(self, config: ServerConfig) -> None:
        from tagger.server.metrics import SupervisorCounters

        self.config = config
        self.counters = SupervisorCounters()
        self.replaced = 0

    def reload(self, outcome: str, detail: str) -> None:
        from tagger.server.metrics import RELOADS_HELP

        if self.config.reload_status is not None:
            write_reload_note(self.config.reload_status, outcome, detail)
        self.counters.inc("tagger_model_reloads", RELOADS_HELP, outcome=outcome)

    def worker_replaced(self, detail: str) -> None:
        from tagger.server.metrics import WORKER_RESTARTS_HELP

        self.replaced += 1
        if self.config.workers_status is not None:
            note = {"replaced": self.replaced, "last": _stamped(detail)}
            _write_note(self.config.workers_status, note)
        self.counters.inc("tagger_worker_restarts", WORKER_RESTARTS_HELP)


def model_processes(config: ServerConfig, model: Any, metrics: Any) -> ModelProcesses:
    """Model processes for `model` (loaded from `config.model`): they load the same
    bundle (a registry's version folder, not `current`, which may have moved since)."""
    return ModelProcesses(
        str(getattr(model, "path", None) or config.model),
        count=config.model_processes,
        version=getattr(model, "version", None),
        loader=config.model_loader,
        nice=config.model_nice,
        on_restart=metrics.model_restarts.inc,
    )


def load_model(config: ServerConfig) -> Any:
    from tagger.api import Tagger

    if config.model is None:
        raise ConfigError("no model given")
    return Tagger.load(config.model)


def check_bundle(config: ServerConfig) -> None:
    """Verify the bundle's manifest, checksums and model id (nothing is loaded)."""
    from tagger.model_bundle import verified_manifest

    if config.model is None:
        raise ConfigError("no model given")
    verified_manifest(config.model)


DOCS_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>tagger - API</title>
<link rel="icon" href="/favicon.ico" type="image/svg+xml">
<link rel="stylesheet" href="/static-offline-docs/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/static-offline-docs/swagger-ui-bundle.js"></script>
<script src="/static/docs.js"></script></body></html>
"""

REDOC_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>tagger - API</title>
<link rel="icon" href="/favicon.ico" type="image/svg+xml"></head>
<body><redoc spec-url="/openapi.json"></redoc>
<script src="/static-offline-docs/redoc.standalone.js"></script></body></html>
"""


def _mount_docs(app: FastAPI) -> None:
    """API docs served from the fastapi-offline package (no CDN), without inline script."""
    import fastapi_offline

    assets = Path(fastapi_offline.__file__).parent / "static"
    app.mount("/static-offline-docs", StaticFiles(directory=assets), name="offline-docs")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return HTMLResponse(DOCS_PAGE)

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return HTMLResponse(REDOC_PAGE)


def app_from_env() -> FastAPI:
    """The app factory of `tagger serve --workers N`: each worker builds its app from the
    config the command put in TAGGER_SERVE_CONFIG (and loads the bundle once)."""
    text = os.environ.get(CONFIG_ENV)
    if not text:
        raise ConfigError(f"{CONFIG_ENV} is not set (start the service with tagger serve)")
    try:
        return create_app(ServerConfig.from_env(text))
    except TaggerError as exc:  # a bundle replaced since it was checked: one line, not a
        # traceback, and uvicorn's code for a worker that cannot start (no restart loop)
        from uvicorn.config import STARTUP_FAILURE

        log.error("worker %d cannot start: %s", os.getpid(), exc)
        sys.exit(STARTUP_FAILURE)
