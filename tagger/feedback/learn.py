"""Train a new bundle from the original corpus plus the editors' decisions."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from tagger.corpus.article import Article
from tagger.errors import ConfigError, InputError
from tagger.feedback.export import ExportReport, reviewed_articles
from tagger.feedback.replay import vocabulary_of
from tagger.feedback.store import FeedbackStore

Progress = Callable[[str, int, int], None]
MIN_HELDOUT = 5  # fewer held-out articles would make the comparison noise


def _no_progress(_stage: str, _done: int, _total: int) -> None:
    return None


@dataclass
class LearnResult:
    """What `learn` built and how the old and new model compare on the same held-out data."""

    out: Path
    model_id: str
    parent_id: str | None
    original: int
    reviewed: int
    learned: int  # reviewed articles trained on (not held out)
    trained_on: int
    heldout: int
    heldout_source: str
    old: dict[str, Any] = field(default_factory=dict)
    new: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    vocabulary: list[str] = field(default_factory=list)  # how tags matched the vocabulary
    # why the old model's figures cannot be compared with the new one's (None: they can)
    not_comparable: str | None = None


def in_holdout(article_id: str, fraction: float, seed: int = 0) -> bool:
    """A stable pseudo-random choice by id, so reruns hold out the same articles."""
    digest = hashlib.sha256(f"{seed}:{article_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fraction


def merge_corpus(original: Sequence[Article], reviewed: Sequence[Article]) -> list[Article]:
    """Original articles, with an editor-reviewed version replacing any with the same id."""
    reviewed_ids = {a.id for a in reviewed}
    return [a for a in original if a.id not in reviewed_ids] + list(reviewed)


def heldout_metrics(
    model: Any,
    articles: Sequence[Article],
    tags: Sequence[str],
    entities: Sequence[Sequence[dict[str, Any]]] | None = None,
) -> dict[str, Any]:
    """Tag and section metrics of a model on articles, over a fixed tag set.

    Scoring both models over the same label set keeps the comparison fair: a tag the
    old model never learned counts as missed, not as absent. `entities` (one list per
    article) is needed by a model with entity features.
    """
    from tagger.evaluate import binarize, multiclass_metrics, multilabel_metrics

    articles = list(articles)
    x = model.featurizer.transform(articles, entities if model.featurizer.uses_entities else None)
    out: dict[str, Any] = {"articles": len(articles)}
    tagged = [i for i, a in enumerate(articles) if a.tags]
    if tags and tagged:
        probs = np.zeros((len(tagged), len(tags)))
        selected = np.zeros((len(tagged), len(tags)), dtype=bool)
        if model.tag_model is not None:
            index = {t: j for j, t in enumerate(tags)}
            p = model.tag_model.predict_proba(x[np.array(tagged)])
            over = model.tag_model.choose(
                p, [articles[i].title for i in tagged], [articles[i].body for i in tagged]
            )
            for k, label in enumerate(model.tag_model.labels):
                j = index.get(label)
                if j is not None:
                    probs[:, j], selected[:, j] = p[:, k], over[:, k]
        y_true = binarize([articles[i].tags for i in tagged], tags)
        metrics = multilabel_metrics(y_true, selected, probs, tags)
        out["tags"] = {k: v for k, v in metrics.items() if k != "per_label"}
    sectioned = [i for i, a in enumerate(articles) if a.section]
    if sectioned:
        labels = sorted({articles[i].section for i in sectioned})  # type: ignore[type-var]
        true = [articles[i].section for i in sectioned]
        if model.section_model is not None:
            p = model.section_model.predict_proba(
                x[np.array(sectioned)], [articles[i].title for i in sectioned]
            )
            predicted = [model.section_model.labels[j] for j in p.argmax(axis=1)]
        else:
            predicted = [None] * len(sectioned)
        metrics = multiclass_metrics(true, predicted, labels)  # type: ignore[arg-type]
        out["sections"] = {k: v for k, v in metrics.items() if k != "per_label"}
    return out


class _Notes:
    """A console for `PreparedVocabulary.apply` that keeps its lines."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines

    def info(self, line: str) -> None:
        self.lines.append(line)


def by_concept_id(articles: Sequence[Article], vocab: Any) -> None:
    """Tags an editor chose as a concept (the decision's concept id, `meta["concepts"]`)
    become that concept's id, so matching finds the concept even if it was relabelled."""
    for article in articles:
        concepts = article.meta.get("concepts") or {}
        if concepts:
            article.tags = [
                concepts[t] if t in concepts and vocab.get(concepts[t]) is not None else t
                for t in article.tags
            ]


def _leakage(old: Any, held: Sequence[Article], from_original: Any) -> str | None:
    """Why the old model's held-out figures are not comparable, or None: it was trained
    on some of the held-out articles (its bundle's training filter, tagger.overlap; for
    an older bundle without one, held-out articles taken from the original corpus)."""
    found = getattr(old, "training_filter", None)
    if found is not None:
        seen = sum(1 for a in held if a in found)
        if not seen:
            return None
        return (
            f"the old model was trained on {seen} of the {len(held)} held-out articles: its "
            "figures there are inflated (it has seen the answers), so the change is not "
            "shown; give --test with articles neither model was trained on"
        )
    if from_original:
        return (
            f"{len(from_original)} of the {len(held)} held-out articles come from the original "
            "corpus, which the old model was probably trained on (its bundle does not record "
            "its training articles): the change is not shown; give --test with articles "
            "neither model was trained on"
        )
    return None


def _same_path(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


def learn(
    model_path: str | Path,
    store: FeedbackStore,
    out: str | Path,
    *,
    corpus: Sequence[Article] | None = None,
    test: Sequence[Article] | None = None,
    holdout: float = 0.2,
    seed: int | None = None,
    force: bool = False,
    progress: Progress = _no_progress,
) -> LearnResult:
    """Train a bundle on `corpus` plus the reviewed articles and compare it with the old one.

    Held-out data is `test` when given; otherwise a stable `holdout` share (by id hash)
    of the reviewed articles, or when that is too small, of the original corpus with the
    reviewed versions in place of the originals; it is left out of training. `seed`
    (default: the old model's) seeds training and the hold-out. A model with entity features
    gets its entities extracted (cached) with the spaCy pipeline it was trained with.
    `model_path` is never written to. When `out` is a registry (`tagger.registry`, it may
    be the registry `model_path` names) the new model is its next version, not promoted.
    """
    from tagger.api import Tagger, TrainConfig
    from tagger.labels import normalise_labels
    from tagger.registry import is_registry
    from tagger.train import settings_as_trained

    model_path, out = Path(model_path), Path(out)
    to_registry = is_registry(out)
    if not to_registry and (
        _same_path(model_path, out) or model_path.resolve() in out.resolve().parents
    ):
        raise ConfigError(
            f"--out {out} would overwrite the model {model_path}: choose a new folder"
        )
    if out.exists() and not force and not to_registry:
        raise ConfigError(f"{out} already exists: choose a new folder (or --force to replace it)")
    if not 0 < holdout < 1:
        raise ConfigError("--holdout must be between 0 and 1")
    old = Tagger.load(model_path)
    old_config = old.manifest.get("config") or {}
    seed = seed if seed is not None else int(old_config.get("seed", 0))
    report = ExportReport()
    reviewed = reviewed_articles(store, report=report)
    warnings = []
    if report.missing:
        warnings.append(
            f"{len(report.missing)} article(s) have decisions but no stored text: left out"
        )
    original = list(corpus or [])
    # the old model's renames and vocabulary: the new model keeps them (concept ids too)
    from tagger.vocab.cli_support import record_vocabulary, relearning_vocabulary

    vocabulary_notes: list[str] = []
    prepared = relearning_vocabulary(old, vocabulary_notes)
    if prepared.vocab is not None:
        by_concept_id(reviewed, prepared.vocab)
    if prepared.renames or prepared.vocab is not None:
        original = [Article.from_dict(a.to_dict()) for a in original]  # the caller's stay
        prepared.apply([*original, *reviewed], _Notes(vocabulary_notes))
    if not reviewed:
        raise InputError("the feedback store has no reviewed article to learn from")
    reviewed_ids = {a.id for a in reviewed}
    if test is None:
        # The same articles for both models, chosen by id hash (stable, seeded): the
        # reviewed share when it is big enough, else the same share of the original
        # corpus too, with the reviewed versions in place of the originals.
        def labeled_share(articles: Sequence[Article]) -> list[Article]:
            return [
                a for a in articles if in_holdout(a.id, holdout, seed) and (a.tags or a.section)
            ]

        held = labeled_share(reviewed)
        if len(held) < MIN_HELDOUT:
            held = labeled_share(merge_corpus(original, reviewed))
        if len(held) < MIN_HELDOUT:
            raise InputError(
                f"only {len(held)} labeled article(s) fall in the {holdout:.0%} hold-out "
                f"({len(original)} original, {len(reviewed)} reviewed): give --corpus with the "
                "original training corpus, or --test with a labeled test corpus"
            )
        held_ids = {a.id for a in held}
        from_original = len(held_ids - reviewed_ids)
        source = (
            f"{len(held)} articles held out ({holdout:.0%} by id, seed {seed}): "
            f"{len(held) - from_original} reviewed, {from_original} original"
        )
        if from_original:
            warnings.append(
                f"too few reviewed articles to hold out: {from_original} of the held-out "
                "articles come from the original corpus, which the old model was probably "
                "trained on (its figures there are optimistic)"
            )
        test_articles = held
    else:
        test_articles = [Article.from_dict(a.to_dict()) for a in test]
        if prepared.renames or prepared.vocab is not None:
            quiet = replace(prepared, report=None)  # the training report stays the corpus's
            quiet.apply(test_articles, _Notes([]))
        held_ids = {a.id for a in test_articles}
        source = f"{len(test_articles)} articles of the given test corpus"
    not_comparable = _leakage(old, test_articles, held_ids - reviewed_ids if test is None else ())
    train_reviewed = [a for a in reviewed if a.id not in held_ids]
    if not train_reviewed:
        warnings.append(
            f"nothing reviewed was learned: all {len(reviewed)} reviewed article(s) are in the "
            "held-out data, so the new model is trained on the original corpus only"
        )
    training = [a for a in merge_corpus(original, train_reviewed) if a.id not in held_ids]
    if not training:
        raise InputError(
            "nothing to train on: every article is held out (give --corpus with the original "
            "training corpus)"
        )
    config = TrainConfig.from_dict(
        settings_as_trained(old.manifest.get("config") or {}), checked=False
    )
    if seed is not None:
        config.seed = seed
    train_entities = test_entities = None
    if old.featurizer.uses_entities:
        # the entity pipeline the old model was trained with; analyses are cached
        from tagger.pipeline import analyze, plan_entities

        plan = plan_entities(old, True, warn=warnings.append)
        train_entities = analyze(training, plan, warnings.append)
        test_entities = analyze(test_articles, plan, warnings.append)
    new = Tagger.train(
        training,
        config,
        progress=progress,
        entities=train_entities,
        spacy_model=old.spacy_model,
        vocabulary=vocabulary_of(old),
    )
    record_vocabulary(new, prepared)
    parent = old.manifest.get("model_id")
    new.manifest["lineage"] = {
        "parent_model_id": parent,
        "original_articles": len(original),
        "reviewed_articles": len(train_reviewed),
        "negative_tags": sum(len(a.meta.get("negative_tags") or []) for a in train_reviewed),
    }
    if old.version is not None:
        new.manifest["lineage"]["parent_version"] = old.version
    manifest = new.save(out)
    if new.version is not None:
        out = out / new.version
    normalise_labels(test_articles)
    tags = sorted(
        {t for a in test_articles for t in a.tags}
        | set(old.tag_model.labels if old.tag_model else [])
        | set(new.tag_model.labels if new.tag_model else [])
    )
    return LearnResult(
        out=out,
        model_id=manifest["model_id"],
        parent_id=parent,
        original=len(original),
        reviewed=len(reviewed),
        learned=len(train_reviewed),
        trained_on=len(training),
        heldout=len(test_articles),
        heldout_source=source,
        old=heldout_metrics(old, test_articles, tags, test_entities),
        new=heldout_metrics(new, test_articles, tags, test_entities),
        warnings=warnings + list(new.warnings),
        vocabulary=vocabulary_notes,
        not_comparable=not_comparable,
    )


def format_learn_result(result: LearnResult) -> str:
    """The old and new model side by side on the same held-out data."""
    from tagger.registry import is_registry

    origin = (
        f"from {result.parent_id}"
        if result.model_id != result.parent_id
        else "the old model's id too: same corpus summary and settings"
    )
    registry = result.out.parent
    lines = [
        f"new bundle {result.out} (model id {result.model_id}, {origin}): "
        f"trained on {result.trained_on} articles ({result.original} original, "
        f"{result.learned} of {result.reviewed} reviewed)",
        *result.vocabulary,
        f"held-out data: {result.heldout_source}",
        f"{'metric':<22}{'old':>8}{'new':>8}{'change':>9}",
    ]
    for kind, keys in (
        ("tags", ("micro_f1", "macro_f1", "micro_precision", "micro_recall", "p_at_1")),
        ("sections", ("accuracy", "macro_f1")),
    ):
        old, new = result.old.get(kind), result.new.get(kind)
        if not old or not new:
            continue
        for key in keys:
            a, b = old[key], new[key]
            change = f"{b - a:>+9.4f}" if result.not_comparable is None else f"{'n/a':>9}"
            lines.append(f"{kind + ' ' + key:<22}{a:>8.4f}{b:>8.4f}{change}")
    if result.not_comparable is not None:
        lines.append(f"old and new not comparable: {result.not_comparable}")
    if is_registry(registry):
        lines.append(
            f"not promoted: `tagger models promote {registry} {result.out.name}` makes it current"
        )
    return "\n".join(lines)
