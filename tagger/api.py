"""The Python API: train a Tagger on Articles, save and load it, predict and evaluate."""

from __future__ import annotations

import hashlib
import json
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, overload

import numpy as np

from tagger import __version__
from tagger.bundle import load_bundle, save_bundle
from tagger.classify import (
    ModelConfig,
    SectionModel,
    TagModel,
    train_section_model,
    train_tag_model,
)
from tagger.corpus.article import Article
from tagger.errors import BundleError, ConfigError, InputError
from tagger.evaluate import binarize
from tagger.features import FeatureConfig, Featurizer
from tagger.labels import normalise_labels
from tagger.suggestions import Suggestions

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the same parser, from PyPI
    import tomli as tomllib

Progress = Callable[[str, int, int], None]
# Entity lists per article, or True (extract), False (none), None (only if the model needs them).
EntityOption = Sequence[Sequence[dict[str, Any]]] | bool | None


def _no_progress(_stage: str, _done: int, _total: int) -> None:
    return None


@dataclass
class TrainConfig:
    """Everything that decides what `Tagger.train` builds."""

    features: FeatureConfig = field(default_factory=FeatureConfig)
    tags: ModelConfig = field(default_factory=ModelConfig)
    sections: ModelConfig = field(default_factory=lambda: ModelConfig(cv_folds=5, nb_weighted=True))
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
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        known = {"features", "tags", "sections", "seed", "name", "stream"}
        unknown = set(data) - known
        if unknown:
            raise ConfigError(f"unknown config keys: {', '.join(sorted(unknown))}")
        try:
            return cls(
                features=FeatureConfig.from_dict(data.get("features", {})),
                tags=ModelConfig.from_dict(data.get("tags", {})),
                sections=ModelConfig.from_dict(
                    {"cv_folds": 5, "nb_weighted": True, **data.get("sections", {})}
                ),
                seed=int(data.get("seed", 0)),
                name=str(data.get("name", "tagger-model")),
                stream=dict(data.get("stream") or {}),
            )
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"invalid config: {exc}") from exc

    @classmethod
    def from_file(cls, path: Path) -> TrainConfig:
        """Read a TOML or JSON config file."""
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read config ({exc.strerror})") from exc
        try:
            data = json.loads(text) if str(path).endswith(".json") else tomllib.loads(text)
        except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"{path}: invalid config file ({exc})") from exc
        from tagger.config_schema import validate_train_config

        return cls.from_dict(validate_train_config(data, str(path)))


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
        by_support = Counter(counts[t] for t in dropped)
        spread = ", ".join(f"{n} on {s} article(s)" for s, n in sorted(by_support.items()))
        shown = ", ".join(dropped[:10]) + (" …" if len(dropped) > 10 else "")
        notes.append(
            f"{len(dropped)} of {len(counts)} tag(s) are on fewer than {minimum} training "
            f"articles and are left out of the tag model ({spread}): {shown}"
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


TRAINING_FILTER = "training_filter"  # key of the features component (tagger.overlap)


class Tagger:
    """A trained model: featurizer, section model and tag model, with their manifest."""

    def __init__(
        self,
        featurizer: Featurizer,
        section_model: SectionModel | None,
        tag_model: TagModel | None,
        manifest: dict[str, Any] | None = None,
    ) -> None:
        self.featurizer = featurizer
        self.section_model = section_model
        self.tag_model = tag_model
        self.manifest = manifest or {}
        self._names: np.ndarray | None = None
        self.warnings: list[str] = []
        # the registry version (v1, v2, ...) when loaded from or saved to a registry
        self.version: str | None = None
        self.path: Path | None = None  # the bundle folder it was loaded from or saved to
        # the training articles (tagger.overlap): evaluate and learn warn about overlap
        self.training_filter: Any = None

    # -- training ---------------------------------------------------------------------

    @classmethod
    def train(
        cls,
        articles: Sequence[Article],
        config: TrainConfig | None = None,
        *,
        progress: Progress = _no_progress,
        groups: Sequence[Any] | None = None,
        entities: Sequence[Sequence[dict[str, Any]]] | None = None,
        spacy_model: str | None = None,
    ) -> Tagger:
        """Train a section model (if the corpus has sections) and a tag model (if it has tags).

        `groups` keeps related articles (near-duplicates) in one cross-validation fold.
        `entities` gives each article's entity dicts when entity features are on.
        """
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

        progress("features", 0, 1)
        featurizer = Featurizer(config.features)
        try:
            x = featurizer.fit_transform(articles, entities)
        except ValueError as exc:  # scikit-learn: too few articles for min_df/max_df
            raise InputError(
                f"cannot learn features from {len(articles)} article(s): {exc}; "
                "the corpus is too small (or lower word_min_df in the config)"
            ) from exc
        progress("features", 1, 1)

        section_model = None
        section_counts = Counter(articles[i].section for i in with_sections)
        if len(section_counts) == 1:
            warnings.append("only one section in the corpus: no section model trained")
        elif with_sections:
            labels = sorted(section_counts)  # type: ignore[arg-type]
            rare = [s for s in labels if section_counts[s] < 2]
            if rare:
                warnings.append(
                    f"section(s) seen once, learned from a single example: {', '.join(rare)}"
                )
            idx = np.array(with_sections)
            section_model = train_section_model(
                x[idx],
                [articles[i].section for i in with_sections],  # type: ignore[misc]
                labels,
                config.sections,
                seed=config.seed,
                groups=[groups[i] for i in with_sections] if groups is not None else None,
                progress=progress,
            )

        tag_model = None
        if any(articles[i].tags for i in with_tags):
            tag_counts = Counter(t for a in articles for t in a.tags)
            labels, notes = choose_tag_labels(tag_counts, config.tags)
            warnings.extend(notes)
            if not labels and section_model is None:
                raise InputError(notes[-1])
        else:
            labels = []
        if labels:
            # Articles with no tags are negatives for every tag only when the corpus is
            # tag-annotated throughout; otherwise they are left out of the tag model.
            idx = np.array(with_tags)
            y = binarize([articles[i].tags for i in with_tags], labels)
            tag_model = train_tag_model(
                x[idx],
                y,
                labels,
                config.tags,
                seed=config.seed,
                groups=[groups[i] for i in with_tags] if groups is not None else None,
                progress=progress,
                titles=[articles[i].title for i in with_tags],
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
            "entities": _entity_manifest(featurizer, spacy_model),
            "warnings": warnings,
        }
        tagger = cls(featurizer, section_model, tag_model, manifest)
        tagger.warnings = warnings
        from tagger.overlap import TrainingFilter

        pairs = ((a.title, a.body) for a in articles)
        tagger.training_filter = TrainingFilter.build(pairs, len(articles))
        return tagger

    # -- persistence --------------------------------------------------------------------

    def save(self, path: str | Path) -> dict[str, Any]:
        """Write the model as a bundle folder (crash-safe: see tagger.bundle); returns the
        manifest. A registry (`tagger.registry`) gets a new version, not promoted."""
        from tagger.registry import Registry, is_registry

        if is_registry(path):
            with Registry(path).new_version() as version:
                manifest = self.save(version)
                self.version = version.name
            return manifest
        components = {"features": self.featurizer.to_state()}
        if self.training_filter is not None:  # beside the features: data, checked on load
            meta, arrays = components["features"]
            filter_meta, bits = self.training_filter.to_state()
            meta = {**meta, TRAINING_FILTER: filter_meta}
            components["features"] = (meta, {**arrays, TRAINING_FILTER: bits})
        if self.section_model is not None:
            components["sections"] = self.section_model.to_state()
        if self.tag_model is not None:
            components["tags"] = self.tag_model.to_state()
        written = {"files", "versions", "format_version", "created_at", "components"}
        manifest = {k: v for k, v in self.manifest.items() if k not in written}
        manifest.update(model_facts(self.featurizer, self.section_model, self.tag_model))
        manifest["model_id"] = _model_id(manifest)
        self.manifest = save_bundle(Path(path), components, manifest, self.model_card())
        self.path = Path(path)
        return self.manifest

    @classmethod
    def load(cls, path: str | Path) -> Tagger:
        """Load a bundle: manifest, signature and checksums verified, then its arrays and
        JSON parsed (nothing in a bundle runs code) and checked against the manifest.
        A registry (`tagger.registry`) loads its current version."""
        from tagger.registry import registry_target

        path, version = registry_target(Path(path))
        manifest, states = load_bundle(path)
        try:
            featurizer = Featurizer.from_state(*states["features"])
            n = featurizer.n_features
            sections = (
                SectionModel.from_state(*states["sections"], n) if "sections" in states else None
            )
            tags = TagModel.from_state(*states["tags"], n) if "tags" in states else None
        except (ValueError, TypeError) as exc:
            raise BundleError(f"{path}: model files refused: {exc}") from None
        check_manifest(Path(path), manifest, featurizer, sections, tags)
        model = cls(featurizer, sections, tags, manifest)
        model.version, model.path = version, path
        from tagger.overlap import TrainingFilter

        meta, arrays = states["features"]
        model.training_filter = TrainingFilter.from_state(
            meta.get(TRAINING_FILTER), arrays.get(TRAINING_FILTER)
        )
        return model

    def model_card(self) -> str:
        m = self.manifest
        lines = [
            f"# Model card: {m.get('name', 'tagger-model')}",
            "",
            f"Trained with tagger {__version__} on {m.get('corpus', {}).get('articles', '?')} "
            f"articles (corpus sha256 `{str(m.get('corpus', {}).get('fingerprint', ''))[:16]}…`).",
            "",
            "## What it does",
            "",
            "Suggests one section per article and any number of tags, each with a calibrated "
            "probability; a tag is suggested when its probability passes the tag's own "
            "threshold, tuned by cross-validation.",
            "",
        ]
        for kind in ("sections", "tags"):
            labels = m.get("labels", {}).get(kind) or []
            metrics = (m.get("metrics") or {}).get(kind)
            if not labels:
                continue
            lines += [f"## {kind.title()} ({len(labels)})", "", ", ".join(labels), ""]
            if metrics:
                lines.append("Cross-validated metrics on the training corpus:")
                lines.append("")
                for key, value in metrics.items():
                    if isinstance(value, float):
                        lines.append(f"- {key}: {value:.4f}")
                lines.append("")
        lines += _memory_lines(m)
        lines += [
            "## Limits",
            "",
            "A model knows only the labels of its training corpus and the language and style "
            "of those articles. Scores are calibrated on that corpus; on other material they "
            "are estimates. Review suggestions before publishing them.",
            "",
        ]
        if m.get("warnings"):
            lines += ["## Training warnings", ""] + [f"- {w}" for w in m["warnings"]] + [""]
        return "\n".join(lines)

    # -- prediction ---------------------------------------------------------------------

    @property
    def model_info(self) -> dict[str, Any]:
        info = {
            "name": self.manifest.get("name"),
            "id": self.manifest.get("model_id"),
            "created_at": self.manifest.get("created_at"),
            "tagger_version": (self.manifest.get("versions") or {}).get("tagger", __version__),
        }
        if self.version is not None:  # loaded from a registry: which version
            info["version"] = self.version
        return info

    def feature_names(self) -> np.ndarray:
        """The featurizer's feature names (computed once), for evidence."""
        if self._names is None:
            self._names = self.featurizer.feature_names()
        return self._names

    @property
    def spacy_model(self) -> str | None:
        """The spaCy pipeline the model's entity features were made with, if any."""
        return (self.manifest.get("entities") or {}).get("spacy_model")

    @overload
    def predict(self, articles: Article | str | dict[str, Any], **kwargs: Any) -> Suggestions: ...

    @overload
    def predict(self, articles: Iterable[Any], **kwargs: Any) -> list[Suggestions]: ...

    def predict(
        self,
        articles: Article | str | dict[str, Any] | Iterable[Any],
        *,
        top_k: int = 5,
        explain: bool = True,
        n_evidence: int = 5,
        entities: EntityOption = None,
        spacy_model: str | None = None,
        use_cache: bool = True,
        warn: Callable[[str], None] | None = None,
    ) -> Suggestions | list[Suggestions]:
        """Suggest a section, tags (and pass through entities) for one article or many.

        `entities`: one list of entity dicts per article (from `tagger.entities`), or
        True to extract them here, False for none, None (default) to extract them only
        when the model was trained with entity features. They feed those features,
        suggest tags that name salient entities, and are returned with the suggestions.
        Runs through `tagger.pipeline` (batches); use `run_predict` there for streams.
        """
        from tagger.pipeline import PredictOptions, run_predict
        from tagger.predict import as_article, suggest

        single = isinstance(articles, Article | str | dict)
        items: Iterable[Any] = [articles] if single else articles  # type: ignore[list-item]
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
            results = [s for batch in run_predict(self, stream, options, warn=warn) for s in batch]
        else:  # the caller's own entity lists, one per article
            batch = [as_article(item) for item in items]
            lists = [list(e) for e in entities]
            if len(lists) != len(batch):
                raise ValueError(f"{len(lists)} entity lists for {len(batch)} articles")
            results = suggest(
                self, batch, lists, top_k=top_k, explain=explain, n_evidence=n_evidence, warn=warn
            )
        return results[0] if single else results

    def _entity_aliases(self) -> tuple[tuple[str, str], ...]:
        """A vocabulary's aliases of the model's tags, by which entities name them."""
        if not self.manifest.get("vocabulary"):
            return ()
        from tagger.vocab.training import entity_aliases

        return entity_aliases(self.manifest)

    # -- evaluation ---------------------------------------------------------------------

    def evaluate(
        self,
        articles: Iterable[Article],
        entities: EntityOption = None,
        *,
        spacy_model: str | None = None,
        use_cache: bool = True,
        warn: Callable[[str], None] | None = None,
    ) -> dict[str, Any]:
        """Section accuracy and macro-F1; tag micro/macro P/R/F1, P@1, P@3, F1@5.

        Label variants (case, spaces) are merged as `normalise_labels` merges them.
        Keeps only counts (`tagger.evaluate.Evaluation`): `articles` may be any stream.
        """
        from tagger.evaluate import Evaluation
        from tagger.pipeline import run_evaluate

        if isinstance(entities, bool) or entities is None:
            report = run_evaluate(
                self,
                articles,
                entities=entities,
                spacy_model=spacy_model,
                use_cache=use_cache,
                warn=warn,
            )
        else:  # the caller's own entity lists, one per article
            batch = list(articles)
            lists = [list(e) for e in entities]
            if len(lists) != len(batch):
                raise ValueError(f"{len(lists)} entity lists for {len(batch)} articles")
            evaluation = Evaluation(self)
            if batch:
                evaluation.add(batch, self.featurizer.transform(batch, lists))
            report = evaluation.report()
        if not report["articles"]:
            raise InputError("the test corpus is empty")
        return report


def _entity_manifest(featurizer: Featurizer, spacy_model: str | None) -> dict[str, Any] | None:
    """Which spaCy pipeline made the entity features, so prediction uses the same one."""
    if not featurizer.uses_entities:
        return None
    from tagger.entities.pipeline import choose_pipeline

    choice = choose_pipeline(spacy_model)
    return {"spacy_model": choice.name, "pipeline_version": choice.version}


def model_facts(
    featurizer: Featurizer, section_model: SectionModel | None, tag_model: TagModel | None
) -> dict[str, Any]:
    """What the manifest says about the model files: labels, thresholds, metrics, size."""
    return {
        "labels": {
            "sections": list(section_model.labels) if section_model else [],
            "tags": list(tag_model.labels) if tag_model else [],
        },
        "thresholds": (
            {
                t: round(th.value, 6)
                for t, th in zip(tag_model.labels, tag_model.thresholds, strict=True)
            }
            if tag_model
            else {}
        ),
        "metrics": {
            "sections": _summary(section_model.cv_metrics) if section_model else None,
            "tags": _summary(tag_model.cv_metrics) if tag_model else None,
        },
        "n_features": int(featurizer.n_features),
    }


def check_manifest(
    path: Path,
    manifest: dict[str, Any],
    featurizer: Featurizer,
    section_model: SectionModel | None,
    tag_model: TagModel | None,
) -> None:
    """The manifest's copies (labels, thresholds, metrics, features config) must be those of
    the verified model files, and its model id that of its name, corpus and config."""
    from tagger.bundle import MANIFEST, dump_json

    def same(a: Any, b: Any) -> bool:
        return json.loads(dump_json(a)) == json.loads(dump_json(b))

    where = Path(path) / MANIFEST
    facts = model_facts(featurizer, section_model, tag_model)
    facts["config.features"] = featurizer.config.to_dict()
    copies = dict(manifest)
    copies["config.features"] = (manifest.get("config") or {}).get("features")
    for key, value in facts.items():
        if not same(copies.get(key), value):
            raise BundleError(
                f"{where}: field '{key}' does not match the model files; refusing the bundle"
            )
    if manifest.get("model_id") != _model_id(manifest):
        raise BundleError(
            f"{where}: field 'model_id' is not the id of the bundle's name, corpus and "
            "config; refusing the bundle"
        )


def _memory_lines(m: dict[str, Any]) -> list[str]:
    """The model card's account of training size and peak memory (docs/scale.md)."""
    tags = (m.get("metrics") or {}).get("tags") or {}
    weights = tags.get("weights") or {}
    n_tags = len((m.get("labels") or {}).get("tags") or [])
    n_features = int(m.get("n_features") or 0)
    articles = (m.get("corpus") or {}).get("articles", "?")
    if not weights or not n_tags:
        return []
    kept = int(weights.get("nonzero", 0))
    dense = n_tags * n_features
    matrix = tags.get("matrix_nonzeros")
    entries = tags.get("calibration_entries")
    lines = [
        "## Training size and memory",
        "",
        f"- {articles} articles, {n_features} features, {n_tags} tags.",
        f"- Tag weights: {kept} non-zeros kept of {dense} ({100 * kept / max(dense, 1):.1f}%; "
        f"pruned with tolerance {weights.get('prune_tolerance')}), about "
        f"{kept * 8 / 1e6:.1f} MB as float32 values and int32 columns.",
    ]
    if matrix:
        lines.append(
            f"- Feature matrix: {matrix} non-zeros, about {matrix * 12 / 1e6:.0f} MB as "
            "float64 for the fits; training holds it, one fold's slices (about the same "
            "again) and, per worker, liblinear's copy of the rows it fits."
        )
    if entries:
        lines.append(
            f"- Out-of-fold scores kept for calibration: {entries} entries (about "
            f"{entries * 25 / 1e6:.0f} MB), instead of articles x tags."
        )
    lines += [
        "- Peak memory is therefore about three times the feature matrix plus the kept "
        "weights and scores; nothing of size articles x tags is held dense.",
        "",
    ]
    return lines


def _summary(metrics: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in metrics.items() if k != "per_label"}


def _model_id(manifest: dict[str, Any]) -> str:
    payload = json.dumps(
        [manifest.get("name"), manifest.get("corpus"), manifest.get("config")], sort_keys=True
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:12]
