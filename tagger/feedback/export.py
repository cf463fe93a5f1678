"""Turn the editors' decisions into a labeled corpus."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import IO, Any

from tagger.corpus.article import Article
from tagger.feedback.store import FeedbackStore, resolve


@dataclass
class ExportReport:
    articles: int = 0
    missing: list[str] = field(default_factory=list)  # decided on, but the text was never stored
    without_labels: int = 0  # only rejections: kept, as known negatives


def reviewed_articles(
    store: FeedbackStore,
    *,
    editors: Iterable[str] | None = None,
    report: ExportReport | None = None,
    renames: Any = None,
) -> list[Article]:
    """Every article with at least one standing decision, labeled by those decisions.

    Labels: accepted and added tags, the chosen section. Rejected tags (and a rejected
    section) go to `meta["negative_tags"]` (`meta["negative_section"]`). Labels the
    stored article came with are replaced: the editors' decisions are the truth.
    """
    report = report if report is not None else ExportReport()
    wanted = set(editors) if editors is not None else None
    decisions = [d for d in store.decisions() if wanted is None or d.editor in wanted]
    by_article: dict[str, list] = {}
    for d in decisions:
        by_article.setdefault(d.article_id, []).append(d)
    out: list[Article] = []
    for article_id, resolved in resolve(decisions).items():
        if not resolved:
            continue
        article = store.article(article_id)
        if article is None:
            report.missing.append(article_id)
            continue
        standing = [*resolved.tags.values(), *([resolved.section] if resolved.section else [])]
        article.tags = resolved.accepted_tags
        article.section = resolved.chosen_section
        meta = dict(article.meta)
        meta["negative_tags"] = resolved.rejected_tags
        concepts = {t: d.concept_id for t, d in resolved.tags.items() if d.concept_id}
        if concepts:  # the vocabulary concept each decision named (`tagger learn` maps by id)
            meta["concepts"] = concepts
        if renames:  # tagger tags merge: a decision about 'Rubio' counts for 'Marco Rubio'
            article.tags = renames.apply(article.tags)
            meta["negative_tags"] = [
                t for t in renames.apply(resolved.rejected_tags) if t not in article.tags
            ]
        if resolved.rejected_section:
            meta["negative_section"] = resolved.rejected_section
        meta["feedback"] = {
            "editors": sorted({d.editor for d in standing}),
            "decisions": len(by_article[article_id]),
            "last_decision_at": max(d.at for d in by_article[article_id]),
            "models": sorted({d.model_id for d in standing if d.model_id}),
        }
        article.meta = meta
        if not article.tags and not article.section:
            report.without_labels += 1
        out.append(article)
        report.articles += 1
    return out


def export_corpus(store: FeedbackStore, out: IO[str], **kwargs: object) -> ExportReport:
    """Write the reviewed articles as canonical JSONL."""
    from tagger.corpus.readers import write_jsonl

    report = ExportReport()
    articles = reviewed_articles(store, report=report, **kwargs)  # type: ignore[arg-type]
    write_jsonl(articles, out)
    return report
