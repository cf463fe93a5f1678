"""The train stage: a corpus of Articles to a Tagger (featurizer, section model, tag model).

`Tagger.train` calls `train` here; out-of-core training is `tagger.stream_train`. What the
trained model's manifest says about its files (labels, thresholds, metrics) comes from
`tagger.model_bundle.model_facts`, shared with saving and loading.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tagger.classify import ModelConfig, _workers, train_section_model, train_tag_model
from tagger.corpus.article import Article
from tagger.errors import ConfigError, InputError, read_settings_file
from tagger.evaluate import binarize
from tagger.features import SETTINGS_BEFORE_THEY_EXISTED as FEATURES_BEFORE_THEY_EXISTED
from tagger.features import FeatureConfig, Featurizer, fitted_config
from tagger.labels import normalise_labels
from tagger.model_bundle import model_facts

if TYPE_CHECKING:
    from tagger.api import Tagger

Progress = Callable[[str, int, int], None]


def _no_progress(_stage: str, _done: int, _total: int) -> None:
    return None


# Section-model settings that differ from ModelConfig's (which are the tag model's).
# c_grid and title_cross_chars: chosen on the development folds (bench/sections_dev.py,
# docs/sections.md).
SECTION_DEFAULTS: dict[str, Any] = {
    "cv_folds": 5,
    "nb_weighted": True,
    "title_chars": (2, 5),
    "title_cross_chars": (2, 5),
    "c_grid": (0.3, 1.0, 3.0, 10.0),
}


# Tag-model settings that differ from ModelConfig's: the NB-weighted member per tag,
# chosen on the Reuters development folds and checked on the keyword-tag corpus; a looser
# liblinear tolerance (0.3, not 0.1), which with the member on the word columns only
# (`nb_chars` false) brought the character block within issue 2's training budget, chosen
# on the Reuters development folds and checked on our corpus (docs/tags.md, ninth pass).
TAG_DEFAULTS: dict[str, Any] = {"nb_weighted": True, "fit_tolerance": 0.3}


@dataclass
class TrainConfig:
    """Everything that decides what `Tagger.train` builds."""

    features: FeatureConfig = field(default_factory=FeatureConfig)
    tags: ModelConfig = field(default_factory=lambda: ModelConfig(**TAG_DEFAULTS))
    sections: ModelConfig = field(default_factory=lambda: ModelConfig(**SECTION_DEFAULTS))
    seed: int = 0
    name: str = "tagger-model"
    # Out-of-core training settings (tagger.stream_train.StreamConfig), as given.
    stream: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = {
            "features": self.features.to_dict(),
            "tags": self.tags.to_dict(),
            "sections": self.sections.to_dict(),
            "seed": self.seed,
            "name": self.name,
        }
        if self.stream:
            out["stream"] = dict(self.stream)
        return out

    @classmethod
    def from_dict(
        cls, data: dict[str, Any], *, checked: bool = True, source: str = "config"
    ) -> TrainConfig:
        """Settings from a dict shaped like a config file. `checked`: validated against
        the schema as a `--config` file is (an unknown key or a wrong type is refused,
        naming `source` and the key); False reads an older bundle's manifest, whose
        settings may since have been renamed or removed."""
        if checked:
            from tagger.config_schema import validate_train_config

            data = validate_train_config(data, source)
        known = {"features", "tags", "sections", "seed", "name", "stream"}
        unknown = set(data) - known
        if unknown:
            raise ConfigError(f"unknown config keys: {', '.join(sorted(unknown))}")
        try:
            return cls(
                features=FeatureConfig.from_dict(data.get("features", {})),
                tags=ModelConfig.from_dict({**TAG_DEFAULTS, **data.get("tags", {})}),
                sections=ModelConfig.from_dict({**SECTION_DEFAULTS, **data.get("sections", {})}),
                seed=int(data.get("seed", 0)),
                name=str(data.get("name", "tagger-model")),
                stream=dict(data.get("stream") or {}),
            )
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"invalid config: {exc}") from exc

    @classmethod
    def from_file(cls, path: Path) -> TrainConfig:
        """Read a TOML or JSON config file."""
        data = read_settings_file(path, "config", "config")
        return cls.from_dict(data, source=str(path))


# Settings added after a bundle was saved, with the value that reproduces how it was
# trained (a manifest records every setting of its time; a newer default may differ).
SETTINGS_BEFORE_THEY_EXISTED: dict[str, dict[str, Any]] = {
    "features": FEATURES_BEFORE_THEY_EXISTED,
    "tags": {"nb_chars": True, "rare_calibration": 0},
}


def settings_as_trained(config: dict[str, Any]) -> dict[str, Any]:
    """A manifest's training configuration with the settings it predates filled in as
    its model was trained (`SETTINGS_BEFORE_THEY_EXISTED`), so that retraining it
    (`tagger learn`) does not change what it was asked for."""
    out = dict(config)
    for table, legacy in SETTINGS_BEFORE_THEY_EXISTED.items():
        if isinstance(out.get(table), dict):
            out[table] = {**legacy, **out[table]}
    return out


def corpus_fingerprint(articles: Sequence[Article]) -> str:
    """sha256 over ids, texts and labels, independent of article order."""
    lines = sorted(
        hashlib.sha256(
            json.dumps(
                [a.id, a.title, a.body, a.section, sorted(a.tags)], ensure_ascii=False
            ).encode()
        ).hexdigest()
        for a in articles
    )
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


# Above this many distinct tags, tags seen on a single article are left out by default:
# their own model is fitted to one example (its threshold is pooled anyway), and
# thousands of them cost most of the training time.
MANY_TAGS = 1000


def choose_tag_labels(counts: Counter[str], config: ModelConfig) -> tuple[list[str], list[str]]:
    """The tags the model learns (by training support) and the warnings to show."""
    minimum = config.min_tag_support
    if minimum is None:
        minimum = 2 if len(counts) > MANY_TAGS else 1
    labels = sorted(t for t, c in counts.items() if c >= minimum)
    notes: list[str] = []
    dropped = sorted((t for t, c in counts.items() if c < minimum), key=lambda t: (counts[t], t))
    if dropped:
        notes.append(
            f"{len(dropped)} of {len(counts)} tag(s) are on fewer than {minimum} training "
            f"articles and are left out of the tag model {_by_support(dropped, counts)}"
        )
    if config.max_tags is not None and len(labels) > config.max_tags:
        by_count = sorted(labels, key=lambda t: (-counts[t], t))
        labels = sorted(by_count[: config.max_tags])
        beyond = sorted(by_count[config.max_tags :], key=lambda t: (counts[t], t))
        notes.append(
            f"{len(beyond)} of {len(counts)} tag(s) are beyond the {config.max_tags} most "
            f"frequent (raise tags.max_tags to keep more) and are left out of the tag model "
            f"{_by_support(beyond, counts)}"
        )
    once = [t for t in labels if counts[t] == 1]
    if once:
        shown = ", ".join(once[:10]) + (" …" if len(once) > 10 else "")
        notes.append(f"{len(once)} tag(s) seen once: their threshold is shared, not tuned: {shown}")
    if not labels:
        notes.append(
            f"no tag is on at least {minimum} training articles: no tag model trained "
            "(lower tags.min_tag_support in the config to keep rarer tags)"
        )
    return labels, notes


def _by_support(tags: list[str], counts: Counter[str]) -> str:
    """'(N on S article(s), ...): first names' of tags left out, listed rarest first."""
    by_support = Counter(counts[t] for t in tags)
    spread = ", ".join(f"{n} on {s} article(s)" for s, n in sorted(by_support.items()))
    return f"({spread}): {', '.join(tags[:10])}" + (" …" if len(tags) > 10 else "")


def train(
    articles: Sequence[Article],
    config: TrainConfig | None = None,
    *,
    progress: Progress = _no_progress,
    groups: Sequence[Any] | None = None,
    entities: Sequence[Sequence[dict[str, Any]]] | None = None,
    spacy_model: str | None = None,
    vocabulary: Any = None,
) -> Tagger:
    """Train a section model (if the corpus has sections) and a tag model (if it has tags).

    `groups` keeps related articles (near-duplicates) in one cross-validation fold.
    `entities` gives each article's entity dicts when entity features are on.
    `vocabulary` (tagger.vocab) resolves the branches of a precision policy
    (`config.tags.policy`, tagger.policy), and its concepts' labels and aliases become
    names the tag name rules search besides each tag's own (`tag_names`).
    """
    from tagger.api import Tagger

    config = config or TrainConfig()
    articles = list(articles)
    if not articles:
        raise InputError("the training corpus is empty")
    warnings = normalise_labels(articles)
    with_sections = [i for i, a in enumerate(articles) if a.section]
    # An article whose only tag labels are editor rejections is still a known
    # negative for those tags (tagger.feedback), so it stays in the tag model.
    with_tags = [i for i, a in enumerate(articles) if a.tags or a.meta.get("negative_tags")]
    if not with_sections and not with_tags:
        raise InputError("the training corpus has no sections and no tags to learn")

    section_counts = Counter(articles[i].section for i in with_sections)
    labels: list[str] = []
    if any(articles[i].tags for i in with_tags):
        tag_counts = Counter(t for a in articles for t in a.tags)
        labels, notes = choose_tag_labels(tag_counts, config.tags)
        warnings.extend(notes)
        if not labels and len(section_counts) < 2:  # no section model either
            raise InputError("; ".join(notes))

    progress("features", 0, 1)
    featurizer = Featurizer(fitted_config(config.features, len(with_tags), len(labels)))
    try:
        x = featurizer.fit_transform(articles, entities)
    except ValueError as exc:  # scikit-learn: too few articles for min_df/max_df
        raise InputError(
            f"cannot learn features from {len(articles)} article(s): {exc}; "
            "the corpus is too small (or lower word_min_df in the config)"
        ) from exc
    progress("features", 1, 1)

    section_model = None
    if len(section_counts) == 1:
        warnings.append("only one section in the corpus: no section model trained")
    elif with_sections:
        section_labels = sorted(section_counts)  # type: ignore[arg-type]
        rare = [s for s in section_labels if section_counts[s] < 2]
        if rare:
            warnings.append(
                f"section(s) seen once, learned from a single example: {', '.join(rare)}"
            )
        idx = np.array(with_sections)
        section_model = train_section_model(
            x[idx],
            [articles[i].section for i in with_sections],  # type: ignore[misc]
            section_labels,
            config.sections,
            seed=config.seed,
            groups=[groups[i] for i in with_sections] if groups is not None else None,
            progress=progress,
            titles=[articles[i].title for i in with_sections],
            skip=featurizer.char_columns(),
        )

    tag_model = None
    policy_record = targets = None
    if labels and config.tags.policy:
        from tagger.policy import load_policy

        policy = load_policy(config.tags.policy)
        assigned = policy.assign(labels, vocabulary)
        targets = [assigned[t] for t in labels]
        policy_record = policy.record(labels, vocabulary)
    if labels:
        # Articles with no tags are negatives for every tag only when the corpus is
        # tag-annotated throughout; otherwise they are left out of the tag model.
        idx = np.array(with_tags)
        tag_rows_nnz = int(np.diff(x.indptr)[idx].sum())
        y = binarize([articles[i].tags for i in with_tags], labels)
        tag_model = train_tag_model(
            x if len(idx) == x.shape[0] else x[idx],  # every article: no copy
            y,
            labels,
            config.tags,
            seed=config.seed,
            groups=[groups[i] for i in with_tags] if groups is not None else None,
            progress=progress,
            titles=[articles[i].title for i in with_tags],
            targets=targets,
            bodies=[articles[i].body for i in with_tags],
            names=_tag_names(labels, vocabulary),
            char_columns=featurizer.char_columns(),
        )

    manifest = {
        "name": config.name,
        "config": config.to_dict(),
        "corpus": {
            "fingerprint": corpus_fingerprint(articles),
            "articles": len(articles),
            "with_section": len(with_sections),
            "with_tags": len(with_tags),
        },
        **model_facts(featurizer, section_model, tag_model),
        "entities": entity_manifest(featurizer, spacy_model),
        "warnings": warnings,
    }
    if tag_model is not None:
        # Measured, not a metric: it varies from run to run (tagger.model_bundle's card).
        manifest["training_memory"] = {
            "peak_rss_mb": peak_resident_mb(),
            "workers": _workers(config.tags, len(tag_model.labels), tag_rows_nnz),
        }
    if policy_record is not None:
        manifest["policy"] = policy_record
    tagger = Tagger(featurizer, section_model, tag_model, manifest)
    tagger.warnings = warnings
    from tagger.overlap import TrainingFilter

    pairs = ((a.title, a.body) for a in articles)
    tagger.training_filter = TrainingFilter.build(pairs, len(articles))
    return tagger


def _tag_names(labels: list[str], vocabulary: Any) -> list[list[str]] | None:
    """Each tag's other names in the vocabulary (tagger.vocab.training.tag_names)."""
    if vocabulary is None:
        return None
    from tagger.vocab.training import tag_names

    return tag_names(labels, vocabulary)


def peak_resident_mb() -> int | None:
    """This process's peak resident memory so far, in MB (VmHWM on Linux; elsewhere
    getrusage, whose figure on some systems includes the parent's before an exec), or
    None where neither is available. The model card reports it."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) // 1024
    except (OSError, ValueError):
        pass
    try:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return int(peak // (2**20 if sys.platform == "darwin" else 1024))
    except (ImportError, OSError):
        return None


def entity_manifest(featurizer: Featurizer, spacy_model: str | None) -> dict[str, Any] | None:
    """Which spaCy pipeline made the entity features, so prediction uses the same one."""
    if not featurizer.uses_entities:
        return None
    from tagger.entities.pipeline import choose_pipeline

    choice = choose_pipeline(spacy_model)
    return {"spacy_model": choice.name, "pipeline_version": choice.version}
