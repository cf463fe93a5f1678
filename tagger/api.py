"""The Python API: a Tagger is a trained model; this class is a facade over the stages.

- `Tagger.train` -> `tagger.train` (in memory; out of core: `tagger.stream_train`)
- `Tagger.save` / `Tagger.load` / `model_card` -> `tagger.model_bundle` (files: `tagger.bundle`)
- `Tagger.predict` / `Tagger.evaluate` -> `tagger.pipeline` (batches), `tagger.predict`,
  `tagger.evaluate`
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, overload

import numpy as np

from tagger import __version__
from tagger.classify import SectionModel, TagModel
from tagger.corpus.article import Article
from tagger.features import Featurizer
from tagger.model_bundle import TRAINING_FILTER, check_manifest, model_facts
from tagger.suggestions import Suggestions
from tagger.train import MANY_TAGS, Progress, TrainConfig, choose_tag_labels, corpus_fingerprint

__all__ = [
    "MANY_TAGS",
    "TRAINING_FILTER",
    "EntityOption",
    "Tagger",
    "TrainConfig",
    "check_manifest",
    "choose_tag_labels",
    "corpus_fingerprint",
    "model_facts",
]

# Entity lists per article, or True (extract), False (none), None (only if the model needs them).
EntityOption = Sequence[Sequence[dict[str, Any]]] | bool | None


def _no_progress(_stage: str, _done: int, _total: int) -> None:
    return None


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
        vocabulary: Any = None,
    ) -> Tagger:
        """Train a section model (if the corpus has sections) and a tag model (if it has tags).

        `groups` keeps related articles (near-duplicates) in one cross-validation fold.
        `entities` gives each article's entity dicts when entity features are on.
        `vocabulary` resolves a precision policy's branches. See `tagger.train.train`.
        """
        from tagger.train import train

        return train(
            articles,
            config,
            progress=progress,
            groups=groups,
            entities=entities,
            spacy_model=spacy_model,
            vocabulary=vocabulary,
        )

    # -- persistence --------------------------------------------------------------------

    def save(self, path: str | Path) -> dict[str, Any]:
        """Write the model as a bundle folder (crash-safe: see tagger.bundle); returns the
        manifest. A registry (`tagger.registry`) gets a new version, not promoted."""
        from tagger.model_bundle import save_model

        return save_model(self, path)

    @classmethod
    def load(cls, path: str | Path) -> Tagger:
        """Load a bundle: manifest, signature and checksums verified, then its arrays and
        JSON parsed (nothing in a bundle runs code) and checked against the manifest.
        A registry (`tagger.registry`) loads its current version."""
        from tagger.model_bundle import load_model

        return load_model(path)

    def model_card(self) -> str:
        from tagger.model_bundle import model_card

        return model_card(self.manifest)

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
        from tagger.predict import predict_items

        single = isinstance(articles, Article | str | dict)
        items: Iterable[Any] = [articles] if single else articles  # type: ignore[list-item]
        results = predict_items(
            self,
            items,
            entities,
            top_k=top_k,
            explain=explain,
            n_evidence=n_evidence,
            spacy_model=spacy_model,
            use_cache=use_cache,
            warn=warn,
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
        from tagger.evaluate import evaluate_model

        return evaluate_model(
            self, articles, entities, spacy_model=spacy_model, use_cache=use_cache, warn=warn
        )
