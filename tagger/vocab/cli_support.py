"""The vocabulary options of `tagger train` and `tagger predict`, kept out of cli.py."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tagger.errors import ConfigError
from tagger.vocab.match import (
    UNMATCHED_POLICIES,
    MappingReport,
    Match,
    map_corpus,
    rewrite_article,
)
from tagger.vocab.model import Vocabulary
from tagger.vocab.renames import RenameMap, load_renames


@dataclass
class PreparedVocabulary:
    """What `train --vocab/--renames` asked for, read before the corpus."""

    vocab: Vocabulary | None
    path: Path | None
    unmatched: str
    renames: RenameMap
    report: MappingReport | None = None
    snapshot_of: dict[str, Any] | None = None  # the bundle record `vocab` was made from

    def apply(self, articles: list[Any], console: Any) -> None:
        """Renames first, then tags to concepts, reporting what matched and what not."""
        if self.renames:
            changed = self.renames.apply_articles(articles)
            console.info(
                f"renames: {len(self.renames.renames)} rule(s), {changed} article(s) changed"
            )
        if self.vocab is None:
            return
        self.report = map_corpus(articles, self.vocab, self.unmatched)
        for line in self.report.lines():
            console.info(line)


def prepare_vocabulary(
    path: Path | None, unmatched: str, renames: Path | None
) -> PreparedVocabulary:
    if unmatched not in UNMATCHED_POLICIES:
        raise ConfigError(f"--unmatched must be one of {', '.join(UNMATCHED_POLICIES)}")
    vocab = None
    if path is not None:
        from tagger.commands.vocab import load_any

        vocab = load_any(path)
    return PreparedVocabulary(vocab, path, unmatched, load_renames(renames))


def record_vocabulary(model: Any, prepared: PreparedVocabulary) -> None:
    """Write the vocabulary's identity and the model's concepts into the manifest."""
    if prepared.renames:
        model.manifest["renames"] = dict(prepared.renames.renames)
    if prepared.vocab is None:
        return
    from tagger.vocab.training import vocabulary_manifest

    labels = list((model.manifest.get("labels") or {}).get("tags", []))
    labels += (model.manifest.get("labels") or {}).get("sections", [])
    record = vocabulary_manifest(prepared.vocab, prepared.path, labels, prepared.report)
    if prepared.snapshot_of is not None:  # the same vocabulary as the recorded one
        for key in ("name", "release", "fingerprint", "path"):
            record[key] = prepared.snapshot_of.get(key)
    model.manifest["vocabulary"] = record


def prediction_vocabulary(
    model: Any, path: Path | None, expand: bool, renames: Path | None = None
) -> Any:
    """The model's VocabularyState (with `path` as the current vocabulary and the
    renames of `renames` added to the model's own, if given)."""
    record = model.manifest.get("vocabulary")
    if expand and not record:
        raise ConfigError("--expand-broader needs a model trained with --vocab")
    extra = load_renames(renames)
    if path is None and not record and not model.manifest.get("renames") and not extra:
        return None
    from tagger.vocab.training import VocabularyState

    vocab = None
    if path is not None:
        from tagger.commands.vocab import load_any

        vocab = load_any(path)
    # a new state each time (the bundle's own renames plus `renames`), set on the model:
    # its predictions, and those of --jobs workers (the model is pickled with it), follow it
    state = VocabularyState(model.manifest, vocab)
    for old, new in extra.renames.items():
        state.renames.add(old, new)
    model._vocabulary_state = state
    return state


def relearning_vocabulary(model: Any, notes: list[str]) -> PreparedVocabulary:
    """The renames and vocabulary a model was trained with, to train its successor
    (`tagger learn`): the vocabulary file at its recorded path when it is readable (a
    change since training is noted, and the new model follows the current release), else
    the concepts recorded in the bundle (labels, aliases, ancestors)."""
    manifest = model.manifest
    renames = RenameMap(manifest.get("renames") or {})
    record = manifest.get("vocabulary")
    if not record:
        return PreparedVocabulary(None, None, "keep", renames)
    from tagger.vocab.training import snapshot_vocabulary, state_for

    state = state_for(model)
    if state.current is not None:
        if state.warning:
            notes.append(state.warning)
        return PreparedVocabulary(state.current, Path(record["path"]), "keep", renames)
    if state.warning:
        notes.append(state.warning)
    notes.append(
        f"the vocabulary file {record.get('path') or '(none recorded)'} is not at hand: "
        "tags are matched to the concepts recorded in the model"
    )
    snapshot = snapshot_vocabulary(record)
    snapshot.meta.update(name=record.get("name"), release=record.get("release"))
    return PreparedVocabulary(snapshot, None, "keep", renames, snapshot_of=record)


def labels_for_evaluation(model: Any, articles: Iterable[Any], console: Any) -> Iterator[Any]:
    """A test corpus's articles (streamed) with their tags as the model's training saw
    them: its renames, then its vocabulary (the file when unchanged since training, else
    the model's own record, aliases included). Says how many spellings matched at the end."""
    manifest = model.manifest
    renames = RenameMap(manifest["renames"]) if manifest.get("renames") else None
    record = manifest.get("vocabulary")
    if not record and renames is None:
        yield from articles
        return
    vocab = None
    if record:
        from tagger.vocab.training import snapshot_vocabulary, state_for

        state = state_for(model)
        current = state.current
        if state.warning:  # e.g. the vocabulary changed since training: with its summary
            console.warn(state.warning)
        unchanged = current is not None and current.fingerprint() == record.get("fingerprint")
        vocab = current if unchanged else snapshot_vocabulary(record)
    cache: dict[str, Match | None] = {}
    for article in articles:
        if renames is not None:
            renames.apply_articles([article])
        if vocab is not None:
            rewrite_article(article, vocab, cache)
        yield article
    if vocab is not None:
        matched = sum(1 for m in cache.values() if m is not None)
        console.info(
            f"test tags matched to the model's vocabulary: {matched} spelling(s); "
            f"{len(cache) - matched} tag(s) match no concept"
        )
