"""Bundles (format 2): arrays and JSON round-trip exactly, the manifest is checked field by
field and against the model files, old pickled bundles are refused or converted on
request, signing, and saves that never leave `--out` without a complete bundle."""

from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp
from typer.testing import CliRunner

from tagger import bundle as bundle_module
from tagger.api import Tagger, TrainConfig
from tagger.bundle import (
    FORMAT_VERSION,
    KEY_ENV,
    MANIFEST,
    MODEL_CARD,
    SIGNATURE,
    read_arrays,
    read_manifest,
    sha256_file,
    write_arrays,
)
from tagger.classify import ModelConfig, TagModel
from tagger.cli import app
from tagger.corpus.article import Article
from tagger.errors import BundleError
from tagger.features import FeatureConfig, Featurizer
from tagger.writers import OutputError

STATE_FILES = {
    "features.json",
    "features.npz",
    "sections.json",
    "sections.npz",
    "tags.json",
    "tags.npz",
    MODEL_CARD,
}


@pytest.fixture(autouse=True)
def _no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory, fast_model: Tagger) -> Path:
    path = tmp_path_factory.mktemp("bundles") / "model"
    os.environ.pop(KEY_ENV, None)
    fast_model.save(path)
    return path


@pytest.fixture
def bundle(saved: Path, tmp_path: Path) -> Path:
    """A fresh plain-folder copy of the saved bundle that a test may damage."""
    return Path(shutil.copytree(saved, tmp_path / "model"))


@pytest.fixture
def no_unpickling(monkeypatch: pytest.MonkeyPatch) -> None:
    import pickle

    import joblib

    def refuse(*_args: Any, **_kwargs: Any) -> None:
        raise AssertionError("something tried to unpickle a bundle")

    monkeypatch.setattr(joblib, "load", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)


def edit_manifest(path: Path, change: Any) -> None:
    manifest = json.loads((path / MANIFEST).read_text())
    change(manifest)
    (path / MANIFEST).write_text(json.dumps(manifest))


def suggestions(model: Tagger, articles: list[Article]) -> list[dict[str, Any]]:
    out = [s.to_dict() for s in model.predict(articles)]
    for row in out:
        row.pop("model")
    return out


def cli(*args: Any) -> Any:
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exception is None or isinstance(result.exception, SystemExit)
    return result


def error_lines(result: Any) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("error:")]


# -- round trip -------------------------------------------------------------------------------


def test_save_writes_arrays_json_manifest_and_card(saved: Path) -> None:
    manifest = json.loads((saved / MANIFEST).read_text())
    assert manifest["format_version"] == FORMAT_VERSION == 2
    assert manifest["components"] == ["features", "sections", "tags"]
    assert set(manifest["files"]) == STATE_FILES
    assert {p.name for p in saved.iterdir()} == STATE_FILES | {MANIFEST}
    for name, digest in manifest["files"].items():
        assert sha256_file(saved / name) == digest
    assert manifest["versions"]["tagger"] and manifest["versions"]["numpy"]
    for key in ("created_at", "labels", "thresholds", "corpus", "config", "metrics", "model_id"):
        assert key in manifest, key
    card = (saved / MODEL_CARD).read_text()
    assert card.startswith("# Model card") and "90 articles" in card
    # `--out` is a link to the one version folder; nothing else is left beside it.
    assert saved.is_symlink() and os.readlink(saved).startswith(".model.v-")
    assert sorted(p.name for p in saved.parent.iterdir()) == sorted(
        ["model", ".model.lock", os.readlink(saved)]
    )


def test_a_trained_model_predicts_the_same_after_save_and_load(
    tmp_path: Path, load_sample: Any
) -> None:
    articles = load_sample()
    train, test = articles[::3], articles[1::7]
    config = TrainConfig(
        features=FeatureConfig(char_ngrams=(3, 4), char_weight=0.5),
        tags=ModelConfig(cv_folds=2, n_jobs=1),
        sections=ModelConfig(cv_folds=2, n_jobs=1),
        name="round-trip",
    )
    trained = Tagger.train(train, config)
    before = suggestions(trained, test)
    manifest = trained.save(tmp_path / "m")
    loaded = Tagger.load(tmp_path / "m")
    assert suggestions(loaded, test) == before
    assert loaded.model_info["id"] == manifest["model_id"] == trained.model_info["id"]
    x_before, x_after = trained.featurizer.transform(test), loaded.featurizer.transform(test)
    assert (x_before != x_after).nnz == 0
    assert (trained.tag_model.coef != loaded.tag_model.coef).nnz == 0
    assert loaded.tag_model.thresholds == trained.tag_model.thresholds
    assert loaded.tag_model.name_rule.max_support == trained.tag_model.name_rule.max_support


def _sklearn_vectorizer(block: Any, **params: Any) -> Any:
    """Today's transform: a scikit-learn TfidfVectorizer given the block's vocabulary and idf."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer(sublinear_tf=True, dtype=np.float32, **params)
    vectorizer.vocabulary_ = {t: i for i, t in enumerate(block.terms)}
    vectorizer.idf_ = block.idf
    return vectorizer


def test_features_are_those_scikit_learn_computes(load_sample: Any) -> None:
    from sklearn.preprocessing import normalize

    articles = load_sample()
    entities = [
        [{"type": "PERSON", "name": a.title.split()[0]}, {"type": "COUNTRY", "name": "Peru"}]
        for a in articles
    ]
    config = FeatureConfig(char_ngrams=(2, 5), char_weight=0.7, entity_weight=0.3)
    featurizer = Featurizer(config)
    featurizer.fit_transform(articles[:150], entities[:150])
    fresh = Featurizer.from_state(*_json_round_trip(featurizer.to_state()))
    texts = [f"{a.title} . {a.title} . {a.body}" for a in articles[150:]]
    tokens = [sorted({f"{e['type']}={e['name']}" for e in row}) for row in entities[150:]]
    word = _sklearn_vectorizer(
        featurizer.word, ngram_range=config.word_ngrams, strip_accents="unicode"
    )
    char = _sklearn_vectorizer(featurizer.char, analyzer="char_wb", ngram_range=(2, 5))
    entity = _sklearn_vectorizer(featurizer.entity, analyzer=lambda t: t, lowercase=False)
    expected = normalize(
        sp.hstack(
            [
                word.transform(texts),
                char.transform(texts) * 0.7,
                entity.transform(tokens) * 0.3,
            ],
            format="csr",
            dtype=np.float32,
        )
    )
    got = fresh.transform(articles[150:], entities[150:])
    assert got.shape == expected.shape and got.nnz == expected.nnz > 0
    assert abs(got - expected).max() < 1e-6
    assert list(fresh.feature_names()) == list(featurizer.feature_names())


def _json_round_trip(state: tuple[dict[str, Any], dict[str, Any]]) -> tuple[dict, dict]:
    meta, arrays = state
    return json.loads(bundle_module.dump_json(meta)), arrays


def test_dense_and_sparse_arrays_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    dense = rng.normal(size=(3, 7)).astype(np.float32)
    sparse = sp.random(40, 900, density=0.01, format="csr", random_state=1, dtype=np.float32)
    arrays = {"dense": dense, "ints": np.arange(5), "sparse": sparse, "fortran": dense.T.copy("F")}
    write_arrays(tmp_path / "a.npz", arrays)
    data = (tmp_path / "a.npz").read_bytes()
    back = read_arrays(data, "a.npz")
    assert set(back) == set(arrays)
    assert np.array_equal(back["dense"], dense) and back["dense"].dtype == np.float32
    assert np.array_equal(back["fortran"], dense.T)
    assert sp.issparse(back["sparse"]) and (back["sparse"] != sparse).nnz == 0
    write_arrays(tmp_path / "b.npz", arrays)
    assert (tmp_path / "b.npz").read_bytes() == data  # deterministic files


def test_a_tag_model_with_sparse_weights_round_trips(fast_model: Tagger) -> None:
    tags = fast_model.tag_model
    meta, arrays = tags.to_state()
    arrays["coef"] = sp.csr_matrix(arrays["coef"])
    back = TagModel.from_state(meta, arrays, tags.coef.shape[1])
    assert sp.issparse(back.coef) and np.array_equal(back.coef.toarray(), tags.coef.toarray())


# -- the manifest: schema, agreement with the files, model id -----------------------------------


def _set(path: str, value: Any) -> Any:
    def change(manifest: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target = manifest
        for key in parents:
            target = target[key]
        target[last] = value(target[last]) if callable(value) else value

    return change


MANIFEST_EDITS = [
    ("labels.tags", lambda tags: [*tags[:-1], "renamed"], "field 'labels' does not match"),
    ("labels.sections", lambda s: s[::-1], "field 'labels' does not match"),
    ("labels.tags", 5, "field 'labels.tags': expected a list of strings"),
    ("name", "another name", "field 'model_id'"),
    ("model_id", "0123456789ab", "field 'model_id'"),
    ("model_id", "not hex", "field 'model_id': expected 12 hexadecimal digits"),
    ("metrics.tags.micro_f1", 0.99, "field 'metrics' does not match"),
    ("metrics.sections", [], "field 'metrics.sections': expected an object"),
    ("thresholds", lambda t: {k: 0.01 for k in t}, "field 'thresholds' does not match"),
    ("format_version", True, "field 'format_version': True"),
    ("format_version", "2", "field 'format_version': '2'"),
    ("files", ["tags.npz"], "field 'files': expected an object"),
    ("labels", ["sections", "tags"], "field 'labels': expected an object"),
    ("corpus.articles", -1, "field 'corpus.articles'"),
    ("corpus.fingerprint", "0" * 64, "field 'model_id'"),
    ("config.features.word_min_df", 1, "field 'config.features' does not match"),
    ("n_features", 7, "field 'n_features' does not match"),
    ("components", ["features", "pickles"], "field 'components'"),
    ("warnings", "none", "field 'warnings'"),
    ("extra", {"a": 1}, "field 'extra': unknown field"),
]


@pytest.mark.usefixtures("no_unpickling")
@pytest.mark.parametrize(("field", "value", "message"), MANIFEST_EDITS)
def test_edited_manifests_are_refused(bundle: Path, field: str, value: Any, message: str) -> None:
    edit_manifest(bundle, _set(field, value))
    with pytest.raises(BundleError, match=message.replace(".", r"\.")):
        Tagger.load(bundle)


@pytest.mark.usefixtures("no_unpickling")
def test_missing_field_deep_nesting_duplicates_and_nan_are_refused(bundle: Path) -> None:
    edit_manifest(bundle, lambda m: m.pop("thresholds"))
    with pytest.raises(BundleError, match="field 'thresholds': missing"):
        Tagger.load(bundle)
    path = bundle / MANIFEST
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(BundleError, match="nested too deeply"):
        Tagger.load(bundle)
    path.write_text('{"format_version": 2, "format_version": 2}')
    with pytest.raises(BundleError, match="'format_version' appears twice"):
        Tagger.load(bundle)
    path.write_text('{"format_version": NaN}')
    with pytest.raises(BundleError, match="NaN is not valid JSON"):
        Tagger.load(bundle)


@pytest.mark.usefixtures("no_unpickling")
def test_nested_free_form_values_are_bounded(bundle: Path) -> None:
    deep: Any = 1
    for _ in range(200):
        deep = {"x": deep}
    edit_manifest(bundle, lambda m: m.update(lineage=deep))
    with pytest.raises(BundleError, match="field 'lineage': nested deeper than 32"):
        Tagger.load(bundle)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("labels.tags", 5, "field 'labels.tags'"),
        ("format_version", True, "field 'format_version'"),
        ("name", "x", "field 'model_id'"),
        ("files", [], "field 'files'"),
    ],
)
def test_cli_refuses_edited_manifests_in_one_line(
    bundle: Path, corpus_files: dict[str, Path], field: str, value: Any, message: str
) -> None:
    edit_manifest(bundle, _set(field, value))
    for args in (
        ["info", bundle],
        ["predict", "--model", bundle, "--no-entities", corpus_files["test"]],
    ):
        result = cli(*args)
        assert result.exit_code == 2, result.output
        (line,) = error_lines(result)
        assert message in line and "internal error" not in line
        assert result.stdout == ""


def test_cli_refuses_a_deeply_nested_manifest(bundle: Path) -> None:
    (bundle / MANIFEST).write_text('{"a":' * 100_000 + "1" + "}" * 100_000)
    result = cli("info", bundle)
    assert result.exit_code == 2
    (line,) = error_lines(result)
    assert line.endswith("JSON nested too deeply; refusing it")


def test_labels_and_thresholds_come_from_the_model_files(bundle: Path) -> None:
    model = Tagger.load(bundle)
    state = json.loads((bundle / "tags.json").read_text())
    assert model.tag_model.labels == state["labels"]
    assert [t.value for t in model.tag_model.thresholds] == [
        t["value"] for t in state["thresholds"]
    ]


# -- tampering with the model files --------------------------------------------------------------


@pytest.mark.usefixtures("no_unpickling")
def test_tampered_and_missing_files_are_refused(bundle: Path) -> None:
    target = bundle / "tags.npz"
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0xFF
    target.write_bytes(bytes(data))
    with pytest.raises(BundleError, match=r"tags\.npz: checksum mismatch") as info:
        Tagger.load(bundle)
    assert "altered" in str(info.value)
    (bundle / "features.json").unlink()
    with pytest.raises(BundleError, match=r"features\.json: missing from the bundle"):
        Tagger.load(bundle)


@pytest.mark.usefixtures("no_unpickling")
def test_consistent_but_wrong_model_files_are_refused(bundle: Path) -> None:
    """Files re-hashed after an edit pass the checksums but not the model's own checks."""
    state = json.loads((bundle / "tags.json").read_text())
    state["thresholds"] = state["thresholds"][:-1]
    (bundle / "tags.json").write_text(json.dumps(state))
    edit_manifest(
        bundle, lambda m: m["files"].update({"tags.json": sha256_file(bundle / "tags.json")})
    )
    with pytest.raises(BundleError, match=r"tags\.thresholds: expected one threshold per label"):
        Tagger.load(bundle)


def test_missing_bundle_and_missing_manifest(tmp_path: Path, bundle: Path) -> None:
    with pytest.raises(BundleError, match="no such model bundle"):
        Tagger.load(tmp_path / "absent")
    a_file = tmp_path / "file.npz"
    a_file.write_bytes(b"x")
    with pytest.raises(BundleError, match="is a folder"):
        Tagger.load(a_file)
    (bundle / MANIFEST).unlink()
    with pytest.raises(BundleError, match=r"manifest\.json: missing"):
        Tagger.load(bundle)


@pytest.mark.parametrize("version", [3, 0, None, 1.0])
def test_unknown_format_version_is_refused(bundle: Path, version: Any) -> None:
    edit_manifest(bundle, lambda m: m.update(format_version=version))
    with pytest.raises(BundleError, match=r"field 'format_version'.*is not a format"):
        Tagger.load(bundle)


def test_another_scikit_learn_version_loads(bundle: Path) -> None:
    """No pickle: the versions in the manifest are a record, not a condition."""
    edit_manifest(bundle, lambda m: m["versions"].update({"scikit-learn": "0.24.2"}))
    assert Tagger.load(bundle).tag_model is not None


# -- old bundles ----------------------------------------------------------------------------------


def write_legacy_bundle(model: Tagger, path: Path) -> Path:
    """A format-1 bundle as tagger wrote them: joblib pickles of scikit-learn vectorizers."""
    import joblib

    legacy = object.__new__(Featurizer)
    cfg = model.featurizer.config
    legacy.__dict__.update(
        config=cfg,
        word=_sklearn_vectorizer(
            model.featurizer.word,
            ngram_range=cfg.word_ngrams,
            strip_accents="unicode",
            min_df=cfg.word_min_df,
            max_df=cfg.word_max_df,
        ),
        char=None
        if model.featurizer.char is None
        else _sklearn_vectorizer(
            model.featurizer.char,
            analyzer="char_wb",
            ngram_range=cfg.char_ngrams,
            min_df=cfg.char_min_df,
        ),
        entity=None,
    )
    path.mkdir()
    files = {}
    for name, obj in (
        ("features", legacy),
        ("sections", model.section_model),
        ("tags", model.tag_model),
    ):
        joblib.dump(obj, path / f"{name}.joblib", compress=3)
        files[f"{name}.joblib"] = sha256_file(path / f"{name}.joblib")
    (path / MODEL_CARD).write_text(model.model_card())
    files[MODEL_CARD] = sha256_file(path / MODEL_CARD)
    manifest = {k: v for k, v in model.manifest.items() if k not in ("components", "files")}
    manifest.update(format_version=1, files=files)
    (path / MANIFEST).write_text(json.dumps(manifest))
    return path


@pytest.fixture
def legacy(fast_model: Tagger, tmp_path: Path) -> Path:
    return write_legacy_bundle(fast_model, tmp_path / "old")


def test_old_bundles_are_refused_with_how_to_convert(
    legacy: Path, corpus_files: dict[str, Path], no_unpickling: None
) -> None:
    with pytest.raises(BundleError, match="format-1 bundle") as info:
        Tagger.load(legacy)
    assert "tagger train" in str(info.value)
    assert f"tagger bundle convert {legacy} NEW --trust" in str(info.value)
    for args in (
        ["info", legacy],
        ["predict", "--model", legacy, "--no-entities", corpus_files["test"]],
    ):
        result = cli(*args)
        assert result.exit_code == 2
        (line,) = error_lines(result)
        assert "tagger bundle convert" in line


def test_convert_needs_trust(legacy: Path, tmp_path: Path, no_unpickling: None) -> None:
    result = cli("bundle", "convert", legacy, tmp_path / "new")
    assert result.exit_code == 2
    (line,) = error_lines(result)
    assert "--trust" in line and "runs any code" in line
    assert not (tmp_path / "new").exists()


def test_convert_checks_the_old_checksums_first(
    legacy: Path, tmp_path: Path, no_unpickling: None
) -> None:
    with (legacy / "tags.joblib").open("ab") as handle:
        handle.write(b"more")
    result = cli("bundle", "convert", legacy, tmp_path / "new", "--trust")
    assert result.exit_code == 2
    assert "tags.joblib: checksum mismatch" in error_lines(result)[0]


def test_convert_with_trust_writes_a_format_2_bundle_that_predicts_the_same(
    legacy: Path, tmp_path: Path, fast_model: Tagger, sample_split: Any
) -> None:
    import joblib

    result = cli("bundle", "convert", legacy, tmp_path / "new", "--trust")
    assert result.exit_code == 0, result.output
    converted = Tagger.load(tmp_path / "new")
    assert converted.model_info["id"] == fast_model.model_info["id"]
    articles = [Article.from_dict(r) for r in sample_split[1]]
    assert suggestions(converted, articles) == suggestions(fast_model, articles)
    # The legacy featurizer's scikit-learn rows are the converted featurizer's rows.
    old_word = joblib.load(legacy / "features.joblib").__dict__["word"]
    texts = [f"{a.title} . {a.title} . {a.body}" for a in articles]
    assert abs(old_word.transform(texts) - converted.featurizer.word.transform(texts)).max() == 0


# -- signing --------------------------------------------------------------------------------------


def test_signed_bundles(
    fast_model: Tagger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, "newsroom secret")
    fast_model.save(tmp_path / "signed")
    assert (tmp_path / "signed" / SIGNATURE).is_file()
    assert Tagger.load(tmp_path / "signed").tag_model is not None
    monkeypatch.setenv(KEY_ENV, "another secret")
    with pytest.raises(BundleError, match="signature does not match"):
        Tagger.load(tmp_path / "signed")
    monkeypatch.delenv(KEY_ENV)
    assert Tagger.load(tmp_path / "signed").tag_model is not None  # no key: not checked
    fast_model.save(tmp_path / "unsigned")
    assert not (tmp_path / "unsigned" / SIGNATURE).exists()
    monkeypatch.setenv(KEY_ENV, "newsroom secret")
    with pytest.raises(BundleError, match=f"unsigned bundle, but {KEY_ENV} is set"):
        Tagger.load(tmp_path / "unsigned")
    result = cli("info", tmp_path / "unsigned")
    assert result.exit_code == 2 and "unsigned bundle" in error_lines(result)[0]


def test_a_signed_manifest_cannot_be_edited(
    fast_model: Tagger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, "newsroom secret")
    fast_model.save(tmp_path / "signed")
    real = tmp_path / "signed"
    # A change the unsigned checks cannot see (a free-form field) is caught by the signature.
    edit_manifest(real, lambda m: m.update(warnings=["all good"]))
    with pytest.raises(BundleError, match="signature does not match"):
        Tagger.load(real)


# -- crash-safe saves --------------------------------------------------------------------------


def _model_id(path: Path) -> str:
    return Tagger.load(path).model_info["id"]


@pytest.fixture
def other_model(fast_model: Tagger) -> Tagger:
    """The same model under another name (so another id): tells old and new apart."""
    return Tagger(
        fast_model.featurizer,
        fast_model.section_model,
        fast_model.tag_model,
        {**fast_model.manifest, "name": "replacement"},
    )


def test_save_replaces_a_plain_folder_and_then_swaps_links(
    bundle: Path, other_model: Tagger, fast_model: Tagger
) -> None:
    assert not bundle.is_symlink()
    new_id = other_model.save(bundle)["model_id"]
    assert bundle.is_symlink() and _model_id(bundle) == new_id
    first = os.readlink(bundle)
    fast_model.save(bundle)
    assert os.readlink(bundle) != first and _model_id(bundle) == fast_model.model_info["id"]
    # The current version and the one before it stay (a reader may still be in it).
    versions = sorted(p.name for p in bundle.parent.glob(".model.v-*"))
    assert versions == sorted([first, os.readlink(bundle)])
    other_model.save(bundle)
    assert first not in {p.name for p in bundle.parent.iterdir()}
    assert len(list(bundle.parent.glob(".model.v-*"))) == 2


def _id_of(model: Tagger) -> str:
    from tagger.model_bundle import model_id

    return model_id(model.manifest)


@pytest.mark.parametrize("call", ["rename", "replace"])
def test_a_crash_at_any_rename_leaves_a_complete_bundle(
    bundle: Path, other_model: Tagger, fast_model: Tagger, call: str
) -> None:
    """Kill the saving process (os._exit: no cleanup runs) at each rename in turn; `--out`
    always loads, as the old model or the new one; the next save cleans up."""
    old_id, new_id = _id_of(fast_model), _id_of(other_model)
    assert old_id != new_id
    fast_model.save(bundle)  # `--out` is a link from here on
    seen = set()
    for step in range(1, 4):
        pid = os.fork()
        if pid == 0:  # the child saves and dies at its `step`-th call
            calls = [0]

            def dying(
                src: Any,
                dst: Any,
                _real: Any = getattr(os, call),
                _at: int = step,
                _n: list = calls,
            ) -> None:
                _n[0] += 1
                if _n[0] == _at:
                    os._exit(17)
                _real(src, dst)

            setattr(os, call, dying)
            try:
                other_model.save(bundle)
            finally:
                os._exit(0)
        _, status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(status)
        loaded = _model_id(bundle)
        assert loaded == (new_id if code == 0 else old_id) or (code == 17 and loaded == new_id)
        seen.add((code, loaded))
        fast_model.save(bundle)  # back to the old model, cleaning what the crash left
        names = [p.name for p in bundle.parent.iterdir()]
        assert not [n for n in names if n.startswith((".model.tmp-", ".model.link-"))]
        assert len([n for n in names if n.startswith(".model.v-")]) <= 2
    assert (17, old_id) in seen  # it died before the swap: the old model, complete
    assert (0, new_id) in seen  # no such call left to die at: the save completed


def test_a_failed_swap_of_a_plain_folder_keeps_the_old_bundle(
    bundle: Path, other_model: Tagger, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = {p.name: p.read_bytes() for p in bundle.iterdir()}
    monkeypatch.setattr(bundle_module, "exchange", lambda _a, _b: False)  # no renameat2
    real_rename = os.rename
    calls = []

    def flaky(src: Any, dst: Any) -> None:
        calls.append(Path(dst).name)
        if calls.count("model") == 1 and Path(dst).name == "model":  # not the restore
            raise OSError("rename failed")
        real_rename(src, dst)

    monkeypatch.setattr(bundle_module.os, "rename", flaky)
    with pytest.raises(OSError, match="rename failed"):
        other_model.save(bundle)
    monkeypatch.undo()
    assert not bundle.is_symlink()
    assert {p.name: p.read_bytes() for p in bundle.iterdir()} == before
    assert Tagger.load(bundle).tag_model is not None


def test_failure_while_writing_leaves_the_old_bundle(
    bundle: Path, other_model: Tagger, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = {p.name: p.read_bytes() for p in bundle.iterdir()}
    real = bundle_module.write_arrays
    calls = []

    def failing(path: Path, arrays: Any) -> None:
        calls.append(path)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(path, arrays)

    monkeypatch.setattr(bundle_module, "write_arrays", failing)
    # one line naming the bundle, exit 1 (the command ran, the disk failed it)
    with pytest.raises(OutputError, match=f"{bundle}: cannot write the bundle: No space left"):
        other_model.save(bundle)
    monkeypatch.undo()
    assert {p.name: p.read_bytes() for p in bundle.iterdir()} == before
    assert sorted(p.name for p in bundle.parent.iterdir()) == [".model.lock", "model"]


def test_leftover_staging_folders_are_cleaned_on_the_next_save(
    bundle: Path, fast_model: Tagger
) -> None:
    for name in (".model.tmp-x1", ".model.old-x2", ".model.v-00000000T000000-dead"):
        (bundle.parent / name).mkdir()
        (bundle.parent / name / "f").write_text("left")
    os.symlink("nowhere", bundle.parent / ".model.link-x3")
    (bundle.parent / ".other.tmp-x4").mkdir()  # another bundle's: not ours to remove
    fast_model.save(bundle)
    names = sorted(p.name for p in bundle.parent.iterdir())
    assert names == sorted([".model.lock", "model", ".other.tmp-x4", os.readlink(bundle)])


def test_a_file_in_the_way_is_not_overwritten(tmp_path: Path, fast_model: Tagger) -> None:
    target = tmp_path / "model"
    target.write_text("precious")
    with pytest.raises(BundleError, match="not a folder"):
        fast_model.save(target)
    assert target.read_text() == "precious"
    assert [p.name for p in tmp_path.iterdir()] == ["model"]


def test_read_manifest_never_unpickles(bundle: Path, no_unpickling: None) -> None:
    assert read_manifest(bundle)["format_version"] == FORMAT_VERSION


def test_a_folder_that_is_not_a_bundle_is_not_replaced(tmp_path: Path, fast_model: Tagger) -> None:
    """`--out` naming a folder of other files (a typo, the corpus folder) refuses rather
    than swapping the folder away and removing what it held."""
    target = tmp_path / "notes"
    target.mkdir()
    (target / "important.txt").write_text("precious")
    with pytest.raises(BundleError, match="not a model bundle"):
        fast_model.save(target)
    assert not target.is_symlink()
    assert (target / "important.txt").read_text() == "precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes"]


def test_an_empty_folder_becomes_the_bundle(tmp_path: Path, fast_model: Tagger) -> None:
    target = tmp_path / "model"
    target.mkdir()
    fast_model.save(target)
    assert target.is_symlink() and read_manifest(target)["format_version"] == FORMAT_VERSION


def test_train_refuses_a_folder_of_other_files_before_reading(tmp_path: Path) -> None:
    target = tmp_path / "data"
    target.mkdir()
    corpus = target / "corpus.jsonl"
    corpus.write_text('{"title": "t", "body": "b", "tags": ["x"]}\n')
    result = CliRunner().invoke(app, ["train", str(corpus), "--out", str(target)])
    assert result.exit_code == 2
    assert "not a model bundle" in result.output and "read " not in result.output
    assert not target.is_symlink() and corpus.exists()
