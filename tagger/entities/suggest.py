"""Entity-based tag suggestions: a tag of the vocabulary that names a salient entity."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from tagger.entities.gazetteer import fold, gazetteer

MIN_SALIENCE = 0.25


@lru_cache(maxsize=8)
def _label_keys(
    labels: tuple[str, ...], aliases: tuple[tuple[str, str], ...] = ()
) -> dict[str, int]:
    """Folded names a tag stands for ('USA' and 'United States' for a tag 'USA') -> index;
    `aliases` adds a vocabulary's (alias or 'wikidata:Q..', tag label) pairs."""
    gaz = gazetteer()
    keys: dict[str, int] = {}
    position = {label: index for index, label in enumerate(labels)}
    for alias, label in aliases:
        if label in position:
            keys.setdefault(fold(alias), position[label])
    for index, label in enumerate(labels):
        keys.setdefault(fold(label), index)
        code = gaz.country(label, demonyms=False)
        if code:
            keys.setdefault(fold(gaz.country_name(code)), index)
        agency = gaz.agency(label)
        if agency:
            keys.setdefault(fold(agency), index)
    return keys


def entity_tags(
    entities: Sequence[dict[str, Any]],
    labels: Sequence[str],
    min_salience: float = MIN_SALIENCE,
    aliases: tuple[tuple[str, str], ...] = (),
) -> dict[int, dict[str, Any]]:
    """Tag index -> the most salient entity (PERSON, COUNTRY, AGENCY) that the tag names."""
    keys = _label_keys(tuple(labels), aliases)
    found: dict[int, dict[str, Any]] = {}
    for entity in entities:
        if entity.get("type") not in ("PERSON", "COUNTRY", "AGENCY"):
            continue
        if entity.get("salience", 0.0) < min_salience:
            continue
        index = keys.get(fold(entity["name"]))
        if index is None and entity.get("wikidata"):
            index = keys.get(fold(f"wikidata:{entity['wikidata']}"))
        if index is not None and index not in found:
            found[index] = entity
    return found


def apply_entity_tags(
    tags: list[Any],
    candidates: list[Any],
    entities: Sequence[dict[str, Any]],
    labels: Sequence[str],
    probs: Any,
    thresholds: Any,
    aliases: tuple[tuple[str, str], ...] = (),
    allowed: Sequence[bool] | None = None,
) -> None:
    """Suggest tags named by salient entities (source 'entity', with entity evidence);
    a tag the model already suggests gets the entity as extra evidence. With a
    vocabulary, an entity named by a concept's alias is that concept's one suggestion.
    A tag whose `allowed` is false (under a precision policy) is chosen only by its
    threshold: the entity then adds evidence but never selects it."""
    from tagger.suggestions import Evidence, LabelSuggestion

    for index, entity in sorted(entity_tags(entities, labels, aliases=aliases).items()):
        evidence = Evidence("entity", entity["name"], float(entity["salience"]))
        label = labels[index]
        existing = next((s for s in [*tags, *candidates] if s.label == label), None)
        if existing is not None and existing.selected:
            existing.evidence.append(evidence)
            continue
        if allowed is not None and not allowed[index]:
            continue
        if existing is None:
            existing = LabelSuggestion(
                label, float(probs[index]), threshold=float(thresholds[index])
            )
            candidates.append(existing)
        existing.selected = True
        existing.source = "entity"
        existing.evidence.append(evidence)
        tags.append(existing)
