"""The Article record and its canonical JSONL form."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any


@dataclass
class Article:
    """One news article: clean text, metadata and (for training) labels."""

    id: str
    title: str = ""
    body: str = ""
    section: str | None = None
    tags: list[str] = field(default_factory=list)
    published: datetime | None = None
    authors: list[str] = field(default_factory=list)
    url: str | None = None
    source: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """Title and body as one text; entity offsets refer to this string."""
        if self.title and self.body:
            return f"{self.title}\n\n{self.body}"
        return self.title or self.body

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "body": self.body,
            "section": self.section,
            "tags": list(self.tags),
            "published": self.published.isoformat() if self.published else None,
            "authors": list(self.authors),
            "url": self.url,
            "source": self.source,
            "meta": dict(self.meta),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, default_id: str | None = None) -> Article:
        """Build an Article from a JSON object; raises ValueError with a reason."""
        if not isinstance(data, dict):
            raise ValueError(f"expected a JSON object, got {type(data).__name__}")
        title = _as_text(data.get("title") or data.get("headline"), "title")
        body = _as_text(
            data.get("body") or data.get("text") or data.get("content"),
            "body",
        )
        tags = data.get("tags") or []
        if isinstance(tags, str):
            tags = [t.strip() for t in re.split(r"[;,|]", tags) if t.strip()]
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise ValueError("'tags' must be a list of strings")
        authors = data.get("authors") or data.get("author") or []
        if isinstance(authors, str):
            authors = [a.strip() for a in re.split(r";|,| and ", authors) if a.strip()]
        if not isinstance(authors, list) or not all(isinstance(a, str) for a in authors):
            raise ValueError("'authors' must be a string or a list of strings")
        section = data.get("section")
        if section is not None and not isinstance(section, str):
            raise ValueError("'section' must be a string or null")
        meta = data.get("meta") or {}
        if not isinstance(meta, dict):
            raise ValueError("'meta' must be an object")
        article_id = data.get("id")
        if article_id is not None and (
            isinstance(article_id, bool) or not isinstance(article_id, (str, int))
        ):
            raise ValueError("'id' must be a string or a number")
        for name in ("url", "source"):
            if data.get(name) is not None and not isinstance(data.get(name), str):
                raise ValueError(f"'{name}' must be a string or null")
        raw_date = data.get("published") or data.get("date")
        published = parse_date(raw_date)
        if raw_date and published is None:
            # Keep what the source said rather than losing it silently.
            meta = {**meta, "published_raw": str(raw_date)}
        if article_id is None or str(article_id).strip() == "":
            article_id = default_id or content_id(title, body)
        return cls(
            id=str(article_id),
            title=title,
            body=body,
            section=section,
            tags=tags,
            published=published,
            authors=list(authors),
            url=data.get("url"),
            source=data.get("source"),
            meta=meta,
        )


def _as_text(value: Any, name: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValueError(f"'{name}' must be a string")
    return value


def content_id(title: str, body: str) -> str:
    """A stable id for an article whose source gives none."""
    digest = hashlib.sha1(f"{title}\n{body}".encode()).hexdigest()
    return f"sha1-{digest[:16]}"


def parse_date(value: Any) -> datetime | None:
    """Parse ISO 8601 dates (and a few common variants); None when absent or unparseable."""
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value
    text = str(value).strip()
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        parsed = None
        for fmt in ("%d-%b-%Y %H:%M:%S.%f", "%d-%b-%Y %H:%M:%S", "%B %d, %Y", "%Y/%m/%d"):
            try:
                parsed = datetime.strptime(text, fmt)
                break
            except ValueError:
                continue
        if parsed is None:
            return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed
