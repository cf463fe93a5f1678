"""The bundle stage for a Tagger: its components and manifest written to and read from a
bundle folder (`tagger.bundle` does the files: checksums, signature, atomic swap).

What the manifest says about the model files (`model_facts`), the model id, the check of
the manifest's copies against the verified files on loading, and the model card.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tagger import __version__
from tagger.bundle import check_bundle_target, load_bundle, save_bundle
from tagger.classify import FINAL_CHUNK_TAGS, SectionModel, TagModel
from tagger.errors import BundleError
from tagger.features import Featurizer

if TYPE_CHECKING:
    from tagger.api import Tagger

TRAINING_FILTER = "training_filter"  # key of the features component (tagger.overlap)


def save_model(model: Tagger, path: str | Path) -> dict[str, Any]:
    """Write the model as a bundle folder (crash-safe: see tagger.bundle); returns the
    manifest. A registry (`tagger.registry`) gets a new version, not promoted."""
    from tagger.registry import Registry, is_registry

    if is_registry(path):
        with Registry(path).new_version() as version:
            manifest = save_model(model, version)
            model.version = version.name
        return manifest
    components = {"features": model.featurizer.to_state()}
    if model.training_filter is not None:  # beside the features: data, checked on load
        meta, arrays = components["features"]
        filter_meta, bits = model.training_filter.to_state()
        meta = {**meta, TRAINING_FILTER: filter_meta}
        components["features"] = (meta, {**arrays, TRAINING_FILTER: bits})
    if model.section_model is not None:
        components["sections"] = model.section_model.to_state()
    if model.tag_model is not None:
        components["tags"] = model.tag_model.to_state()
    written = {"files", "versions", "format_version", "created_at", "components"}
    manifest = {k: v for k, v in model.manifest.items() if k not in written}
    manifest.update(model_facts(model.featurizer, model.section_model, model.tag_model))
    manifest["model_id"] = model_id(manifest)
    model.manifest = save_bundle(Path(path), components, manifest, model_card(model.manifest))
    model.path = Path(path)
    return model.manifest


def check_save_target(path: str | Path) -> None:
    """Refuse now what `save_model` would refuse at the end (see
    `tagger.bundle.check_bundle_target`), before training spends its time."""
    from tagger.registry import is_registry

    if not is_registry(path):
        check_bundle_target(Path(path))


def load_model(path: str | Path) -> Tagger:
    """Load a bundle: manifest, signature and checksums verified, then its arrays and
    JSON parsed (nothing in a bundle runs code) and checked against the manifest.
    A registry (`tagger.registry`) loads its current version."""
    from tagger.api import Tagger
    from tagger.registry import registry_target

    path, version = registry_target(Path(path))
    manifest, states = load_bundle(path)
    try:
        featurizer = Featurizer.from_state(*states["features"])
        n = featurizer.n_features
        sections = SectionModel.from_state(*states["sections"], n) if "sections" in states else None
        tags = TagModel.from_state(*states["tags"], n) if "tags" in states else None
    except (ValueError, TypeError) as exc:
        raise BundleError(f"{path}: model files refused: {exc}") from None
    check_manifest(Path(path), manifest, featurizer, sections, tags)
    model = Tagger(featurizer, sections, tags, manifest)
    model.version, model.path = version, path
    from tagger.overlap import TrainingFilter

    meta, arrays = states["features"]
    model.training_filter = TrainingFilter.from_state(
        meta.get(TRAINING_FILTER), arrays.get(TRAINING_FILTER)
    )
    return model


def model_card(m: dict[str, Any]) -> str:
    """The MODEL_CARD.md of a model with manifest `m`, for people."""
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
    from tagger.policy import policy_lines

    lines += policy_lines(m)
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
            "sections": summary(section_model.cv_metrics) if section_model else None,
            "tags": summary(tag_model.cv_metrics) if tag_model else None,
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
    check_model_id(Path(path), manifest)


def check_model_id(path: Path, manifest: dict[str, Any]) -> None:
    """The manifest's model id must be that of its name, corpus and config."""
    from tagger.bundle import MANIFEST

    if manifest.get("model_id") != model_id(manifest):
        raise BundleError(
            f"{Path(path) / MANIFEST}: field 'model_id' is not the id of the bundle's name, "
            "corpus and config; refusing the bundle"
        )


def verified_manifest(path: str | Path) -> dict[str, Any]:
    """A bundle's manifest, checked as loading checks it but without parsing the model:
    schema, signature, every file's checksum (and no file beyond those listed), model
    id. Only `Tagger.load`, which parses the model files, also compares the manifest's
    copies of labels, thresholds and metrics with them. A registry (`tagger.registry`):
    its current version."""
    from tagger.bundle import read_manifest, verify_files
    from tagger.registry import registry_target

    folder, _version = registry_target(Path(path))
    manifest = read_manifest(folder)
    verify_files(folder, manifest)
    check_model_id(folder, manifest)
    return manifest


def _pruning(weights: dict[str, Any]) -> str:
    """How the tag weights were pruned, for the model card."""
    before = weights.get("nonzero_before_pruning")
    rule = weights.get("prune_rule", "l2")
    how = (
        "no decision value of a training article moved by more than"
        if rule == "articles"
        else "no decision value of any L2-normalised article moved by more than"
    )
    text = f"pruned by rule {rule!r}: {how} {weights.get('prune_tolerance')}"
    return f"{text}; {before} before pruning" if before is not None else text


# Bytes per unit of what training holds (in memory, `tagger.classify.train_tag_model`;
# docs/scale.md derives them): a feature non-zero (the featurizer's float32 rows, the fits'
# float64 copy and one fold's slices of it), a kept out-of-fold score (held: int32 row,
# float64 score and weight, label; during the pooled calibration, a few float64 buffers
# over all of them), a kept weight (float32 value, int32 column).
BYTES_PER_MATRIX_NONZERO = 32
BYTES_PER_CALIBRATION_ENTRY = 100
BYTES_PER_WEIGHT = 8


def training_memory_estimate(matrix: int, entries: int, kept: int, tags: int) -> int:
    """Bytes of the arrays in-memory tag training holds at its peak: the feature matrix,
    plus the larger of the calibration phase (out-of-fold scores) and the final fits'
    phase (the weights, and one chunk of at most `FINAL_CHUNK_TAGS` tags' weights in
    transit, twice). The interpreter, the libraries and the articles come on top."""
    chunk = 2 * kept * min(1.0, FINAL_CHUNK_TAGS / max(tags, 1))
    phases = max(entries * BYTES_PER_CALIBRATION_ENTRY, (kept + chunk) * BYTES_PER_WEIGHT)
    return int(matrix * BYTES_PER_MATRIX_NONZERO + phases)


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
    matrix = int(tags.get("matrix_nonzeros") or 0)
    entries = int(tags.get("calibration_entries") or 0)
    memory = m.get("training_memory") or {}
    lines = [
        "## Training size and memory",
        "",
        f"- {articles} articles, {n_features} features, {n_tags} tags.",
        f"- Tag weights: {kept} non-zeros kept of {dense} ({100 * kept / max(dense, 1):.1f}%; "
        f"{_pruning(weights)}), about {kept * BYTES_PER_WEIGHT / 1e6:.1f} MB in memory as "
        "float32 values and int32 columns (values rounded to 11 significant bits, so the "
        "bundle's deflated arrays take about 4 bytes a weight).",
    ]
    if matrix:
        lines.append(
            f"- Feature matrix: {matrix} non-zeros, about "
            f"{matrix * BYTES_PER_MATRIX_NONZERO / 1e6:.0f} MB held in training "
            f"({BYTES_PER_MATRIX_NONZERO} bytes a non-zero: the float32 rows, the float64 "
            "copy the fits use and one cross-validation fold's slices of it); worker "
            "processes read it memory-mapped and hold liblinear's copy of the rows they fit."
        )
    if entries:
        lines.append(
            f"- Out-of-fold scores kept for calibration: {entries} entries, instead of "
            f"articles x tags (about {entries * BYTES_PER_CALIBRATION_ENTRY / 1e6:.0f} MB "
            "at the pooled calibration); they are let go before the final fits."
        )
    if matrix or entries:
        estimate = training_memory_estimate(matrix, entries, kept, n_tags)
        lines.append(
            f"- Estimated peak of these arrays: {estimate / 1e6:.0f} MB = "
            f"{BYTES_PER_MATRIX_NONZERO} B x matrix non-zeros + the larger of "
            f"{BYTES_PER_CALIBRATION_ENTRY} B x calibration entries and "
            f"{BYTES_PER_WEIGHT} B x kept weights (plus one chunk of at most "
            f"{FINAL_CHUNK_TAGS} tags' weights in transit); the interpreter, the libraries "
            "and the articles come on top. Nothing of size articles x tags is held dense."
        )
    if memory.get("peak_rss_mb"):
        lines.append(
            f"- Measured: the training process's peak resident memory (VmHWM, including "
            f"everything it held before training) was {memory['peak_rss_mb']} MB when the "
            f"tag model was done, with {memory.get('workers', 1)} worker process(es)."
        )
    lines.append("")
    return lines


def summary(metrics: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in metrics.items() if k != "per_label"}


def model_id(manifest: dict[str, Any]) -> str:
    payload = json.dumps(
        [manifest.get("name"), manifest.get("corpus"), manifest.get("config")], sort_keys=True
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:12]
