"""The HTTP service: suggestions for the CMS, decisions from editors, the editors' page.

The model is loaded once; endpoints are plain functions that FastAPI runs in its
thread pool, so requests are answered concurrently (the store keeps one SQLite
connection per thread).
"""

from __future__ import annotations

import hmac
import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from fastapi import Depends, FastAPI, Header, HTTPException, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel, Field, model_validator

from tagger import __version__
from tagger.corpus.article import Article
from tagger.errors import ConfigError, TaggerError
from tagger.feedback.store import (
    MAX_KEY_CHARS,
    Decision,
    FeedbackStore,
    StoreError,
    fingerprint,
    open_store,
    shown_from_suggestions,
)
from tagger.hygiene import sanitize_article

STATIC = Path(__file__).parent / "static"
MIN_TOKEN_CHARS = 16


@dataclass
class ServerConfig:
    """What `tagger serve` needs: model, store, editor tokens and limits."""

    model: Path | None = None
    db: Path | str | None = None
    tokens: dict[str, str] = field(default_factory=dict)  # token -> editor
    max_body: int = 2_000_000
    max_batch: int = 100


def load_tokens(path: Path | None, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Editor tokens from a file of 'editor:token' lines and/or TAGGER_TOKENS=ed:tok,ed:tok."""
    entries: list[tuple[str, str]] = []
    if path is not None:
        try:
            lines = Path(path).read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read tokens ({exc.strerror})") from exc
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


def _token_entry(text: str, where: str) -> tuple[str, str]:
    editor, sep, token = text.partition(":")
    editor, token = editor.strip(), token.strip()
    if not sep or not editor or not token:
        raise ConfigError(f"{where}: expected 'editor:token'")
    if len(token) < MIN_TOKEN_CHARS:
        raise ConfigError(f"{where}: token of {editor} is shorter than {MIN_TOKEN_CHARS} chars")
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
        return Article.from_dict(self.model_dump())


class SuggestRequest(BaseModel):
    """One article (`article`) or a batch (`articles`)."""

    article: ArticleIn | None = None
    articles: list[ArticleIn] | None = None
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


class FeedbackRequest(BaseModel):
    """Decisions on one article, with the article and the suggestions they answer."""

    article: ArticleIn | None = None
    article_id: str | None = None
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


class BodyLimit:
    """Refuse request bodies over `max_body` bytes with 413, declared or streamed."""

    def __init__(self, app: Any, max_body: int) -> None:
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body:
            await self._refuse(send)
            return
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                await self._refuse(send)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        replayed = False

        async def replay() -> dict:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, send: Any) -> None:
        payload = json.dumps(
            {"detail": f"request body over the limit of {self.max_body} bytes"}
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})


def create_app(
    config: ServerConfig, *, model: Any = None, store: FeedbackStore | None = None
) -> FastAPI:
    """Build the app; loads the model and opens the store unless they are given."""
    if model is None:
        from tagger.api import Tagger

        if config.model is None:
            raise ConfigError("no model given")
        model = Tagger.load(config.model)
    owns_store = store is None
    if store is None:
        if config.db is None:
            raise ConfigError("no feedback database given")
        store = open_store(config.db)
        store.verify()  # writable and passes quick_check, or refused at start-up
    tokens = dict(config.tokens)
    bearer = HTTPBearer(auto_error=False)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        if owns_store:
            store.close()

    # FastAPIOffline serves the /docs and /redoc assets from the package, not a CDN:
    # the service works offline.
    app = FastAPIOffline(
        title="tagger",
        version=__version__,
        description="Section and tag suggestions for news articles, and editors' decisions.",
        lifespan=lifespan,
    )
    app.state.model = model
    app.state.store = store
    app.add_middleware(BodyLimit, max_body=config.max_body)

    def editor(credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> str:
        """The editor a bearer token belongs to; 401 without a valid one."""
        offered = (credentials.credentials if credentials else "").encode()
        found = None
        for token, name in tokens.items():
            # compare with every token, in constant time each, and never stop early
            if hmac.compare_digest(offered, token.encode()):
                found = name
        if found is None:
            raise HTTPException(
                401, "an editor token is required", headers={"WWW-Authenticate": "Bearer"}
            )
        return found

    @app.exception_handler(TaggerError)
    async def tagger_error(_request: Request, exc: TaggerError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> FileResponse:
        return FileResponse(STATIC / "favicon.svg", media_type="image/svg+xml")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/health")
    def health() -> JSONResponse:
        """Liveness, the loaded model, and the store's state and number of decisions
        (503 when the store cannot be written)."""
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
            },
            status_code=200 if ok else 503,
        )

    @app.get("/labels")
    def labels() -> dict[str, Any]:
        """The sections and tags the model knows (the page completes from these)."""
        return {
            "model": model.model_info,
            "sections": list(model.section_model.labels) if model.section_model else [],
            "tags": list(model.tag_model.labels) if model.tag_model else [],
        }

    @app.post("/suggest")
    def suggest(request: SuggestRequest) -> dict[str, Any]:
        """Suggest a section and tags, with scores and evidence, for one article or a batch."""
        items = [request.article] if request.article is not None else request.articles or []
        if len(items) > config.max_batch:
            raise HTTPException(413, f"batch over the limit of {config.max_batch} articles")
        articles = [a.to_article() for a in items]  # type: ignore[union-attr]
        results = model.predict(
            articles, top_k=request.top_k, explain=request.explain, entities=request.entities
        )
        return {
            "model": model.model_info,
            "suggestions": [s.to_dict(explain=request.explain) for s in results],
        }

    @app.get("/whoami")
    def whoami(name: str = Depends(editor)) -> dict[str, str]:
        """The editor the token belongs to."""
        return {"editor": name}

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
        if article is not None:
            sanitize_article(article)
        if article is not None and request.article_id and request.article_id != article.id:
            raise HTTPException(422, "'article_id' differs from the article's id")
        article_id = article.id if article is not None else str(request.article_id)
        if article is None and store.article(article_id) is None:
            raise HTTPException(404, f"article {article_id!r} is not in the store")
        decisions = [
            Decision(article_id, name, d.action, d.label, kind=d.kind, note=d.note)
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
            ids = store.add_decisions(decisions)
            if request.done:
                store.mark_done(article_id, name)
            response = {"article_id": article_id, "editor": name, "decisions": ids}
            if key:
                store.remember(name, key, digest, response)
        return response

    return app
