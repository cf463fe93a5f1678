"""The review queue over HTTP: a CMS pushes articles, editors lease the next one.

`POST /queue` (a token: the CMS is an editor of the tokens file) queues articles and
scores how unsure the model is about each; `POST /queue/next` leases the editor's next
article and returns it with its suggestions; `/queue/{id}/renew` and `/release` keep or
give back a lease; `GET /queue` counts waiting, leased and done articles, per editor.
Decisions go to `POST /feedback` (with `done: true` the lease holder finishes the
article, in the same transaction as the decisions). See tagger.feedback.queue.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from fastapi import Depends, FastAPI
from pydantic import BaseModel, Field, model_validator

from tagger.feedback.queue import ReviewQueue
from tagger.server.app import MAX_BATCH, ArticleIn  # imported by create_app, after app.py


class QueuePush(BaseModel):
    """One article (`article`) or a batch (`articles`) to queue for review."""

    article: ArticleIn | None = None
    articles: list[ArticleIn] | None = Field(None, max_length=MAX_BATCH)  # 413 beyond

    @model_validator(mode="after")
    def _one_or_many(self) -> QueuePush:
        if (self.article is None) == (self.articles is None):
            raise ValueError("give either 'article' or 'articles'")
        if self.articles is not None and not self.articles:
            raise ValueError("'articles' is empty")
        return self


class NextRequest(BaseModel):
    order: Literal["uncertain", "newest", "oldest"] | None = Field(
        None, description="Which article first (default: the server's --order)."
    )
    skip: list[str] = Field(
        default_factory=list,
        max_length=1000,
        description="Articles to pass over (given back to the queue if held).",
    )
    top_k: int = Field(8, ge=1, le=50)


def add_queue_routes(
    app: FastAPI,
    queue: ReviewQueue,
    *,
    order: str,
    check_batch: Callable[[list[Any]], Any],
    run_model: Callable[[Any, dict[str, Any]], Awaitable[bytes]],
    editor: Callable[..., str],
    reader: Callable[..., Any],
) -> None:
    """Register the queue's endpoints on `app` (model work goes through `run_model`:
    `tagger.server.modelwork.ModelWork.run`; a pushed batch passes `check_batch` first,
    the limits of /suggest, which raises HTTPException 413)."""

    def lease_body(lease: Any) -> dict[str, Any]:
        return {
            "article_id": lease.article_id,
            "editor": lease.editor,
            "leased_at": lease.leased_at,
            "until": lease.until,
            "seconds": queue.lease_seconds,
        }

    @app.post("/queue", status_code=201)
    async def push(request: QueuePush, name: str = Depends(editor)) -> dict[str, Any]:
        """Queue articles for review (a CMS pushes what it publishes). An id already
        queued stays as it is; an id stored with another text is refused (in `refused`)."""
        raw = [request.article] if request.article is not None else request.articles or []
        check_batch(raw)
        articles = [a.to_article() for a in raw]  # type: ignore[union-attr]
        work = {"op": "uncertainty", "articles": [a.to_dict() for a in articles], "top_k": 8}
        scores = json.loads(await run_model(app.state.model, work))
        result = await asyncio.to_thread(
            queue.add, articles, by=name, uncertainty=lambda _batch: scores
        )
        return {
            "added": result.added,
            "queued_before": result.queued_before,
            "refused": result.refused,
            "counts": await asyncio.to_thread(queue.counts),
        }

    @app.get("/queue")
    async def counts(_reader: str | None = Depends(reader)) -> dict[str, Any]:
        """Waiting, leased and done articles, and per editor what they hold and did."""
        return {
            "order": order,
            "lease_seconds": queue.lease_seconds,
            **await asyncio.to_thread(queue.counts),
        }

    @app.post("/queue/next")
    async def next_article(request: NextRequest, name: str = Depends(editor)) -> dict[str, Any]:
        """Lease the editor's next article (the one they hold, else the first waiting) and
        return it with the model's suggestions; `article` is null when nothing waits."""
        lease = await asyncio.to_thread(
            queue.lease, name, request.order or order, skip=request.skip
        )
        tally = await asyncio.to_thread(queue.counts)
        if lease is None:
            return {"article": None, "lease": None, "counts": tally}
        article = await asyncio.to_thread(queue.store.article, lease.article_id)
        work = {"op": "suggest_one", "article": article.to_dict(), "top_k": request.top_k}
        answer = json.loads(await run_model(app.state.model, work))
        return {
            "article": article.to_dict(),
            "lease": lease_body(lease),
            "model": answer["model"],
            "suggestions": [answer["suggestions"]],
            "counts": tally,
        }

    @app.post("/queue/{article_id}/renew")
    def renew(article_id: str, name: str = Depends(editor)) -> dict[str, Any]:
        """Extend the editor's lease (409 when another editor has the article now)."""
        return lease_body(queue.renew(article_id, name))

    @app.post("/queue/{article_id}/release")
    def release(article_id: str, name: str = Depends(editor)) -> dict[str, Any]:
        """Give the article back to the queue now."""
        return {"article_id": article_id, "released": queue.release(article_id, name)}
