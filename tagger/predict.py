"""The featurize and classify stages of prediction: one batch of Articles to Suggestions."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from tagger.classify import evidence_terms, terms_by_contribution, weights_at
from tagger.corpus.article import Article
from tagger.errors import InputError
from tagger.suggestions import Evidence, LabelSuggestion, Suggestions

if TYPE_CHECKING:
    from tagger.api import Tagger


def suggest(
    model: Tagger,
    batch: Sequence[Article],
    entities: Sequence[Sequence[dict[str, Any]]] | None,
    *,
    top_k: int = 5,
    explain: bool = True,
    n_evidence: int = 5,
    warn: Callable[[str], None] | None = None,
) -> list[Suggestions]:
    """Suggestions for one batch; `entities` (one list per article, or None) feed the
    model's entity features, tags that name salient entities, and the output. A model
    trained with a vocabulary gives its tags their concepts (`tagger.vocab`)."""
    if not batch:
        return []
    x = model.featurizer.transform(batch, entities)
    names = model.feature_names() if explain else None
    section_model, tag_model = model.section_model, model.tag_model
    titles = [a.title for a in batch]
    # The section model reads its own view of the rows (without the character block).
    x_sections = section_model.view(x) if section_model else x
    section_probs = section_model.proba_of_view(x_sections, titles) if section_model else None
    section_names = names
    if section_model is not None and names is not None:
        section_names = section_model.view_names(names)
    tag_probs = tag_model.predict_proba(x) if tag_model else None
    tag_selected = rule_hits = title_hits = None
    if tag_probs is not None and tag_model is not None:
        # Not `choose`: the name rules' hits are needed again to label their source.
        title_hits = tag_model.rule_hits(titles)
        lead_hits = tag_model.lead_hits([a.body for a in batch], len(batch))
        rule_hits = (title_hits | lead_hits) & tag_model.rules_allowed
        tag_selected = tag_model.select(tag_probs) | rule_hits
    weights_of: dict[int, np.ndarray] = {}

    def section_weights(j: int) -> np.ndarray:
        """A section's evidence weights, combined once per batch (not once per article)."""
        if j not in weights_of:
            weights_of[j] = section_model.evidence_weights(j)  # type: ignore[union-attr]
        return weights_of[j]

    chars = model.featurizer.char_columns() if explain else None
    shown_of = shown_tags(tag_probs, tag_selected, top_k) if tag_probs is not None else None
    rows = [_evidence_row(x, i, chars) for i in range(len(batch))] if explain else []
    tag_weights = (
        _tag_weights_at(tag_model, rows, shown_of, tag_selected, top_k)
        if explain and shown_of is not None
        else {}
    )
    results = []
    for i, article in enumerate(batch):
        row_indices, row_values = rows[i] if explain else (None, None)
        section_row = slice(x_sections.indptr[i], x_sections.indptr[i + 1])
        section, section_candidates = None, []
        if section_probs is not None and section_model is not None:
            order = np.argsort(-section_probs[i])[: max(1, top_k)]
            for rank, j in enumerate(order):
                evidence = []
                if explain and rank == 0:
                    evidence = _evidence(
                        evidence_terms(
                            x_sections.indices[section_row],
                            x_sections.data[section_row],
                            section_weights(j),
                            section_names,
                            n_evidence,
                        )
                    )
                section_candidates.append(
                    LabelSuggestion(
                        section_model.labels[j],
                        float(section_probs[i, j]),
                        selected=rank == 0,
                        evidence=evidence,
                    )
                )
            section = section_candidates[0]
        tags: list[LabelSuggestion] = []
        candidates: list[LabelSuggestion] = []
        if tag_probs is not None and tag_model is not None:
            thresholds = tag_model.threshold_values
            probs = tag_probs[i]
            chosen = tag_selected[i]
            for j in shown_of[i]:  # type: ignore[index]
                selected = bool(chosen[j])
                evidence = []
                looked_up = tag_weights.get((i, j))  # what shows evidence: _tag_weights_at
                if looked_up is not None:
                    evidence = _evidence(
                        terms_by_contribution(
                            row_indices, row_values * looked_up, names, n_evidence
                        )
                    )
                source = "model"
                if selected and probs[j] < thresholds[j]:
                    # Selected by a rule, not by its threshold: say which.
                    if rule_hits[i, j]:
                        source = "name"
                        rule = tag_model.name_rule
                        reason = "tag named in the title"
                        if not title_hits[i, j]:  # type: ignore[index]
                            rule, reason = tag_model.lead_rule, "tag named in the lead"
                        weight = float(rule.precision[j])  # type: ignore[union-attr]
                    else:
                        source = "best"
                        reason = "best tag: no tag passed its threshold"
                        weight = float(probs[j])
                    if explain:
                        evidence.insert(0, Evidence("rule", reason, weight))
                suggestion = LabelSuggestion(
                    tag_model.labels[j],
                    float(probs[j]),
                    selected=selected,
                    threshold=float(thresholds[j]),
                    evidence=evidence,
                    source=source,
                )
                if selected:
                    tags.append(suggestion)
                if len(candidates) < top_k:
                    candidates.append(suggestion)
            if entities is not None:
                # A tag that names a salient entity is suggested even when the model
                # has seen few examples of it (source "entity", entity evidence).
                from tagger.entities.suggest import apply_entity_tags

                apply_entity_tags(
                    tags,
                    candidates,
                    entities[i],
                    tag_model.labels,
                    probs,
                    thresholds,
                    aliases=model._entity_aliases(),
                    allowed=tag_model.rules_allowed,
                )
        results.append(
            Suggestions(
                article_id=article.id,
                title=article.title,
                section=section,
                section_candidates=section_candidates,
                tags=tags,
                tag_candidates=candidates,
                entities=list(entities[i]) if entities is not None else [],
                model=model.model_info,
            )
        )
    chosen = getattr(model, "_vocabulary_state", None)  # set by predict --vocab/--renames
    if chosen is not None or model.manifest.get("vocabulary") or model.manifest.get("renames"):
        from tagger.vocab.training import apply_vocabulary, state_for

        apply_vocabulary(chosen or state_for(model), results, warn)
    return results


def _evidence_row(x: Any, i: int, chars: tuple[int, int] | None) -> tuple[np.ndarray, np.ndarray]:
    """Row i's columns and values that may be evidence: not the character block's."""
    row = slice(x.indptr[i], x.indptr[i + 1])
    indices, values = x.indices[row], x.data[row]
    if chars is None:
        return indices, values
    words = (indices < chars[0]) | (indices >= chars[1])
    return indices[words], values[words]


def _tag_weights_at(
    tag_model: Any,
    rows: list[tuple[np.ndarray, np.ndarray]],
    shown_of: list[np.ndarray],
    chosen: np.ndarray,
    top_k: int,
) -> dict[tuple[int, int], np.ndarray]:
    """Each tag's weights at the columns of every article that shows its evidence (a
    chosen tag, or one of the first `top_k` shown), keyed (article, tag): one search of
    the tag's weight row per batch, not one per article."""
    articles_of: dict[int, list[int]] = {}
    for i, shown in enumerate(shown_of):
        for place, j in enumerate(shown.tolist()):
            if place < top_k or chosen[i, j]:
                articles_of.setdefault(j, []).append(i)
    out: dict[tuple[int, int], np.ndarray] = {}
    for j, articles in articles_of.items():
        columns = [rows[i][0] for i in articles]
        found = weights_at(tag_model.weight_row(j), np.concatenate(columns))
        ends = np.cumsum([len(c) for c in columns])
        for i, part in zip(articles, np.split(found, ends[:-1]), strict=True):
            out[i, j] = part
    return out


def shown_tags(probs: np.ndarray, chosen: np.ndarray, top_k: int) -> list[np.ndarray]:
    """Per row, the tags shown: the `top_k` most probable plus every chosen tag (thresholds
    differ per tag, so a chosen tag may rank below unchosen ones), best first, ties by tag
    index. One partition of the whole batch instead of a sort of every row."""
    n, width = probs.shape
    k = min(top_k, width)
    candidate = np.zeros(probs.shape, dtype=bool)
    if k > 0:
        # the k-th largest probability of each row; every tag at or above it is a
        # candidate (ties at the k-th place included, then cut by index)
        kth = -np.partition(-probs, k - 1, axis=1)[:, k - 1]
        candidate = probs >= kth[:, None]
    rows, columns = np.nonzero(candidate | chosen)
    starts = np.searchsorted(rows, np.arange(n + 1))
    out = []
    for i in range(n):
        tags = columns[starts[i] : starts[i + 1]]  # ascending tag index
        p = probs[i, tags]
        order = tags[np.argsort(-p, kind="stable")]  # best first, ties by index
        top = order[candidate[i, order]][:k]
        keep = chosen[i, order]
        keep[np.isin(order, top)] = True
        out.append(order[keep])
    return out


def _evidence(terms: list[tuple[str, float]]) -> list[Evidence]:
    """Evidence items of feature names: an entity feature ("PERSON=Marco Rubio") is the
    entity it names, any other name a term of the text."""
    out = []
    for term, weight in terms:
        kind, _, name = term.partition("=")
        if name and kind.isupper():
            out.append(Evidence("entity", name, weight))
        else:
            out.append(Evidence("term", term, weight))
    return out


def predict_items(
    model: Tagger,
    items: Iterable[Any],
    entities: Sequence[Sequence[dict[str, Any]]] | bool | None = None,
    *,
    top_k: int = 5,
    explain: bool = True,
    n_evidence: int = 5,
    spacy_model: str | None = None,
    use_cache: bool = True,
    warn: Callable[[str], None] | None = None,
) -> list[Suggestions]:
    """`Tagger.predict` on many: Articles, dicts or texts, through the pipeline's batches;
    `entities` given as lists (one per article) are used as they are, in one batch."""
    from tagger.pipeline import PredictOptions, run_predict

    if isinstance(entities, bool) or entities is None:
        options = PredictOptions(
            top_k=top_k,
            explain=explain,
            n_evidence=n_evidence,
            entities=entities,
            spacy_model=spacy_model,
            use_cache=use_cache,
        )
        stream = (as_article(item) for item in items)
        return [s for batch in run_predict(model, stream, options, warn=warn) for s in batch]
    batch = [as_article(item) for item in items]  # the caller's own entity lists
    lists = [list(e) for e in entities]
    if len(lists) != len(batch):
        raise ValueError(f"{len(lists)} entity lists for {len(batch)} articles")
    return suggest(
        model, batch, lists, top_k=top_k, explain=explain, n_evidence=n_evidence, warn=warn
    )


def as_article(item: Any) -> Article:
    """An Article from an Article, a JSON-like dict or plain text (first line the title)."""
    if isinstance(item, Article):
        return item
    if isinstance(item, str):
        from tagger.corpus.readers import article_from_plain_text

        return article_from_plain_text(item, None, None)
    if isinstance(item, dict):
        try:
            return Article.from_dict(item)
        except ValueError as exc:
            raise InputError(f"invalid article: {exc}") from exc
    raise TypeError(f"expected an Article, a dict or a text, got {type(item).__name__}")
