"""Metrics and reports for section and tag predictions, from counts that add up batch by batch.

`SectionCounts` and `TagCounts` keep only what the metrics need (a confusion count per
(true, predicted) pair; per-tag true/false positives and negatives; sums of P@k and F1@5),
so `Evaluation` scores a stream of any length in the memory of one batch.
`multiclass_metrics` and `multilabel_metrics` score one in-memory batch the same way.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

if TYPE_CHECKING:
    import scipy.sparse as sp

    from tagger.api import Tagger
    from tagger.corpus.article import Article


def _prf(tp: float, fp: float, fn: float) -> tuple[float, float, float]:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


class SectionCounts:
    """One-label-per-article predictions as confusion counts."""

    def __init__(self) -> None:
        self.confusion: Counter[tuple[str, str]] = Counter()

    def add(self, true: Sequence[str], predicted: Sequence[str | None]) -> None:
        self.confusion.update(
            (t, p if p is not None else "") for t, p in zip(true, predicted, strict=True)
        )

    def metrics(
        self, labels: Sequence[str], rename: dict[str, str] | None = None
    ) -> dict[str, Any]:
        """Accuracy, macro-F1 and a per-label table; `rename` maps true labels at the end."""
        confusion: Counter[tuple[str, str]] = Counter()
        for (t, p), count in self.confusion.items():
            confusion[(rename.get(t, t) if rename else t, p)] += count
        n = sum(confusion.values())
        support: Counter[str] = Counter()
        predicted: Counter[str] = Counter()
        correct: Counter[str] = Counter()
        for (t, p), count in confusion.items():
            support[t] += count
            predicted[p] += count
            if t == p:
                correct[t] += count
        per_label = []
        f1s = []
        for label in sorted(set(labels) | set(support)):
            tp = float(correct[label])
            p, r, f = _prf(tp, predicted[label] - tp, support[label] - tp)
            per_label.append(
                {"label": label, "support": support[label], "precision": p, "recall": r, "f1": f}
            )
            if support[label]:
                f1s.append(f)
        return {
            "n": n,
            "accuracy": float(sum(correct.values()) / n) if n else 0.0,
            "macro_f1": float(np.mean(f1s)) if f1s else 0.0,
            "per_label": per_label,
        }


def multiclass_metrics(
    true: Sequence[str], predicted: Sequence[str | None], labels: Sequence[str]
) -> dict[str, Any]:
    """Accuracy, macro-F1 and a per-label table for one-label-per-article predictions."""
    counts = SectionCounts()
    counts.add(list(true), list(predicted))
    return counts.metrics(labels)


class TagCounts:
    """Many-labels-per-article predictions as per-label counts and ranked-metric sums."""

    def __init__(self, labels: Sequence[str], *, ranked: bool = True) -> None:
        self.labels = list(labels)
        self.ranked = ranked  # False: P@k and F1@5 are not computed (reported as 0)
        size = len(self.labels)
        self.n = 0
        self.tp = np.zeros(size, dtype=np.int64)
        self.fp = np.zeros(size, dtype=np.int64)
        self.fn = np.zeros(size, dtype=np.int64)
        self.support = np.zeros(size, dtype=np.int64)
        self.predicted = np.zeros(size, dtype=np.int64)
        self.ranked_rows = 0  # articles with at least one known true tag
        self.hits = {1: 0, 3: 0}  # P@k numerators (hits in the top k)
        self.f1_at_5 = 0.0  # sum over ranked rows

    def add(
        self,
        y_true: np.ndarray | sp.spmatrix,
        y_pred: np.ndarray | sp.spmatrix,
        scores: np.ndarray | sp.spmatrix,
    ) -> None:
        """Count one batch: true and selected labels (dense or sparse), and the scores."""
        y_true = _bool_csr(y_true)
        y_pred = _bool_csr(y_pred)
        n_labels = y_true.shape[1]
        true_count = np.asarray(y_true.sum(axis=0)).ravel().astype(np.int64)
        pred_count = np.asarray(y_pred.sum(axis=0)).ravel().astype(np.int64)
        tp = np.asarray(y_true.multiply(y_pred).sum(axis=0)).ravel().astype(np.int64)
        self.n += int(y_true.shape[0])
        self.tp += tp
        self.fp += pred_count - tp
        self.fn += true_count - tp
        self.support += true_count
        self.predicted += pred_count
        per_row = np.diff(y_true.indptr)
        rows = np.flatnonzero(per_row > 0)
        if len(rows) == 0 or not self.ranked or n_labels == 0:
            return
        self.ranked_rows += len(rows)
        for k in self.hits:
            self.hits[k] += int(_ranking_hits(y_true, scores, rows, k).sum())
        k = min(5, n_labels)
        hits = _ranking_hits(y_true, scores, rows, k)
        p5 = hits / k
        r5 = hits / per_row[rows]
        with np.errstate(invalid="ignore", divide="ignore"):
            f = np.where(p5 + r5 > 0, 2 * p5 * r5 / (p5 + r5), 0.0)
        self.f1_at_5 += float(f.sum())

    def metrics(self) -> dict[str, Any]:
        """Micro and macro P/R/F1 of selected tags, P@1, P@3 and F1@5 of ranked tags.

        Macro averages are over labels with at least one true article in the data.
        """
        tp, fp, fn = (a.astype(float) for a in (self.tp, self.fp, self.fn))
        micro_p, micro_r, micro_f = _prf(tp.sum(), fp.sum(), fn.sum())
        per_label = []
        macro = []
        for j, label in enumerate(self.labels):
            p, r, f = _prf(tp[j], fp[j], fn[j])
            support = int(self.support[j])
            per_label.append(
                {
                    "label": label,
                    "support": support,
                    "predicted": int(self.predicted[j]),
                    "precision": p,
                    "recall": r,
                    "f1": f,
                }
            )
            if support:
                macro.append((p, r, f))
        macro_arr = np.array(macro) if macro else np.zeros((1, 3))
        rows = self.ranked_rows

        def precision_at(k: int) -> float:
            return float(self.hits[k] / min(k, len(self.labels)) / rows) if rows else 0.0

        return {
            "n": self.n,
            "micro_precision": micro_p,
            "micro_recall": micro_r,
            "micro_f1": micro_f,
            "macro_precision": float(macro_arr[:, 0].mean()),
            "macro_recall": float(macro_arr[:, 1].mean()),
            "macro_f1": float(macro_arr[:, 2].mean()),
            "p_at_1": precision_at(1),
            "p_at_3": precision_at(3),
            "f1_at_5": self.f1_at_5 / rows if rows else 0.0,
            "per_label": per_label,
        }


def _bool_csr(matrix: Any) -> sp.csr_matrix:
    out = sp.csr_matrix(matrix, dtype=bool)
    out.eliminate_zeros()
    return out


def _top_k_sparse(scores: sp.csr_matrix, rows: np.ndarray, k: int) -> list[np.ndarray]:
    """Column indices of each row's k highest stored scores (ties by column), best first."""
    coo = scores[rows].tocoo()
    order = np.lexsort((coo.col, -coo.data, coo.row))
    row_of, col_of = coo.row[order], coo.col[order]
    starts = np.searchsorted(row_of, np.arange(len(rows)))
    ends = np.searchsorted(row_of, np.arange(len(rows)), side="right")
    return [col_of[s : min(e, s + k)] for s, e in zip(starts, ends, strict=True)]


def _ranking_hits(
    y_true: sp.csr_matrix, scores: np.ndarray | sp.spmatrix, rows: np.ndarray, k: int
) -> np.ndarray:
    """Per row: how many of the k best-scored labels are true."""
    if not sp.issparse(scores):
        ranked = np.argsort(-np.asarray(scores)[rows], axis=1, kind="stable")[:, :k]
        dense_true = y_true[rows].toarray()
        return np.take_along_axis(dense_true, ranked, axis=1).sum(axis=1)
    tops = _top_k_sparse(sp.csr_matrix(scores), rows, k)
    hits = np.zeros(len(rows))
    for r, (i, top) in enumerate(zip(rows, tops, strict=True)):
        true_cols = y_true.indices[y_true.indptr[i] : y_true.indptr[i + 1]]
        hits[r] = np.isin(top, true_cols).sum()
    return hits


def multilabel_metrics(
    y_true: np.ndarray | sp.spmatrix,
    y_pred: np.ndarray | sp.spmatrix,
    scores: np.ndarray | sp.spmatrix,
    labels: Sequence[str],
    *,
    ranked: bool = True,
) -> dict[str, Any]:
    """Micro and macro P/R/F1 of selected tags, P@1, P@3 and F1@5 of ranked tags.

    Label and selection matrices may be dense or sparse; sparse scores rank absent
    entries last. Macro averages are over labels with at least one true article in
    the data. `ranked=False` skips P@k and F1@5 (reported as 0).
    """
    counts = TagCounts(labels, ranked=ranked)
    counts.add(y_true, y_pred, scores)
    return counts.metrics()


def binarize(tag_lists: Sequence[Sequence[str]], labels: Sequence[str]) -> sp.csr_matrix:
    """Sparse boolean matrix (articles x labels); tags outside `labels` are ignored."""
    index = {label: j for j, label in enumerate(labels)}
    indptr = [0]
    indices: list[int] = []
    for tags in tag_lists:
        columns = sorted({index[t] for t in tags if t in index})
        indices.extend(columns)
        indptr.append(len(indices))
    return sp.csr_matrix(
        (np.ones(len(indices), dtype=bool), np.array(indices, dtype=np.int64), np.array(indptr)),
        shape=(len(tag_lists), len(labels)),
    )


class LabelForms:
    """Label spellings seen in a stream, merged as `tagger.labels.normalise_labels` merges
    them: case and whitespace variants take the most common spelling, or the model's own."""

    def __init__(self, model_labels: Sequence[str]) -> None:
        from tagger.corpus.text import normalise_label

        self._normalise = normalise_label
        self.known = {normalise_label(label).casefold(): label for label in model_labels}
        self.forms: defaultdict[str, Counter[str]] = defaultdict(Counter)

    def key(self, raw: str) -> str:
        """Count one use of `raw` and return its variant group (blank labels give '')."""
        form = self._normalise(raw)
        key = form.casefold()
        if key:
            self.forms[key][form] += 1
        return key

    def spelling(self, key: str) -> str:
        """The final spelling of a group: the model's label, else the most common form."""
        if key in self.known:
            return self.known[key]
        return sorted(self.forms[key].items(), key=lambda kv: (-kv[1], kv[0]))[0][0]


class Evaluation:
    """A model's evaluation report, accumulated batch by batch from counts only.

    Gives the same report as scoring every article at once after merging label variants
    (`normalise_labels`): sections' accuracy, macro-F1 and per-label table, tags' micro and
    macro P/R/F1, P@1, P@3, F1@5 and per-label table, and labels the model does not know.
    """

    def __init__(self, model: Tagger, *, figures: bool = False) -> None:
        self.model = model
        self.histograms = None  # tagger.report.ScoreHistograms, with `figures`
        if figures and model.tag_model is not None:
            from tagger.report import ScoreHistograms

            self.histograms = ScoreHistograms(model.tag_model.labels)
        self.figures = figures
        self.articles = 0
        self.section_forms = LabelForms(model.section_model.labels if model.section_model else [])
        self.tag_forms = LabelForms(model.tag_model.labels if model.tag_model else [])
        self.sections = SectionCounts()
        self.sectioned = 0
        self.tags = TagCounts(model.tag_model.labels) if model.tag_model else None
        self.unknown_tags: Counter[str] = Counter()  # by variant group, in order of first use

    def add(self, batch: Sequence[Article], x: sp.csr_matrix) -> None:
        """Score one batch whose features are `x` (one row per article)."""
        self.articles += len(batch)
        section_keys = [self.section_forms.key(a.section) if a.section else "" for a in batch]
        tag_keys = []
        for article in batch:
            keys = dict.fromkeys(self.tag_forms.key(t) for t in article.tags if t.strip())
            keys.pop("", None)
            tag_keys.append(list(keys))
        section_model, tag_model = self.model.section_model, self.model.tag_model
        idx = [i for i, key in enumerate(section_keys) if key]
        if section_model is not None and idx:
            probs = section_model.predict_proba(x[np.array(idx)], [batch[i].title for i in idx])
            predicted = [section_model.labels[j] for j in probs.argmax(axis=1)]
            self.sections.add([section_keys[i] for i in idx], predicted)
            self.sectioned += len(idx)
        idx = [i for i, keys in enumerate(tag_keys) if keys]
        if tag_model is not None and self.tags is not None and idx:
            labels = tag_model.labels
            probs = tag_model.predict_proba(x[np.array(idx)])
            selected = tag_model.choose(
                probs, [batch[i].title for i in idx], [batch[i].body for i in idx]
            )
            known = self.tag_forms.known
            true = [[known[k] for k in tag_keys[i] if k in known] for i in idx]
            y_true = binarize(true, labels)
            self.tags.add(y_true, selected, probs)
            if self.histograms is not None:
                self.histograms.add(y_true, probs)
            self.unknown_tags.update(k for i in idx for k in tag_keys[i] if k not in known)

    def report(self) -> dict[str, Any]:
        """The report as `Tagger.evaluate` returns it."""
        report: dict[str, Any] = {"articles": self.articles, "model": self.model.model_info}
        section_model = self.model.section_model
        if section_model is not None and self.sectioned:
            keys = {t for t, _p in self.sections.confusion}
            rename = {k: self.section_forms.spelling(k) for k in keys}
            report["sections"] = self.sections.metrics(section_model.labels, rename)
            unknown = sorted({v for v in rename.values() if v not in section_model.labels})
            if unknown:
                report["sections"]["unknown_labels"] = unknown
        if self.tags is not None and self.tags.n:
            report["tags"] = self.tags.metrics()
            if self.unknown_tags:
                report["tags"]["unknown_labels"] = {
                    self.tag_forms.spelling(k): count
                    for k, count in self.unknown_tags.most_common()
                }
        if self.figures:
            from tagger.report import evaluation_figures

            confusion: Counter[tuple[str, str]] = Counter()
            for (t, p), count in self.sections.confusion.items():
                confusion[(self.section_forms.spelling(t), p)] += count
            tag_model = self.model.tag_model
            thresholds = (
                dict(zip(tag_model.labels, tag_model.threshold_values.tolist(), strict=True))
                if tag_model is not None
                else {}
            )
            report["figures"] = evaluation_figures(report, self.histograms, thresholds, confusion)
        return report


def evaluate_model(
    model: Tagger,
    articles: Iterable[Article],
    entities: Sequence[Sequence[dict[str, Any]]] | bool | None = None,
    *,
    spacy_model: str | None = None,
    use_cache: bool = True,
    warn: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """`Tagger.evaluate`: the report of `model` on labeled `articles` (a stream, through
    `tagger.pipeline.run_evaluate`), or on a list with the caller's own entity lists."""
    from tagger.errors import InputError
    from tagger.pipeline import run_evaluate

    if isinstance(entities, bool) or entities is None:
        report = run_evaluate(
            model,
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
        evaluation = Evaluation(model)
        if batch:
            evaluation.add(batch, model.featurizer.transform(batch, lists))
        report = evaluation.report()
    if not report["articles"]:
        raise InputError("the test corpus is empty")
    return report
