"""Reports people can look at: figures as data (JSON) and as a self-contained HTML page.

`tagger evaluate --report` and `tagger replay --report` write one HTML file whose plots
are inline SVG drawn by matplotlib (imported only here, only when a report is asked
for: `pip install 'tagger[report]'`): no script, no stylesheet, font or image from
anywhere else, so it opens offline and nothing is fetched. The same figures as data go
into `--json` under "figures".

Evaluation figures come from counts kept batch by batch (`ScoreHistograms`: per tag, how
many positive and negative articles scored in each of `BINS` probability bins), so a
test corpus of any size fits: a reliability diagram of the calibrated tag probabilities,
precision-recall curves with the tag's own threshold marked (the micro-average over all
tags and the `CURVES` tags with the most support: 90 curves would be unreadable and
heavy), per-tag F1 against support, and the sections' confusion matrix.
Feedback figures: acceptance per week, per model version and per tag, and the replay's
per-model and per-tag figures.
"""

from __future__ import annotations

import html
import io
import json
import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from tagger.errors import ConfigError

BINS = 100  # probability bins of the score histograms (curves resolve 0.01)
RELIABILITY_BINS = 10
CURVES = 12  # per-tag precision-recall curves drawn (most support first)
CONFUSION_LABELS = 30  # sections shown in the confusion matrix (most frequent)
TAG_BARS = 30  # tags in the per-tag acceptance chart


class ScoreHistograms:
    """Per tag: positives and negatives per probability bin; overall sums for reliability."""

    def __init__(self, labels: Sequence[str], bins: int = BINS) -> None:
        self.labels = list(labels)
        self.bins = bins
        self.positives = np.zeros((len(self.labels), bins), dtype=np.int64)
        self.totals = np.zeros((len(self.labels), bins), dtype=np.int64)
        self.prob_sum = np.zeros(bins)  # sum of probabilities per bin, all tags

    def add(self, y_true: Any, probs: np.ndarray) -> None:
        """One batch: the (articles x tags) truth (dense or sparse) and probabilities."""
        probs = np.asarray(probs, dtype=np.float64)
        if probs.size == 0:
            return
        t = len(self.labels)
        index = np.minimum((probs * self.bins).astype(np.int64), self.bins - 1)
        flat = (np.arange(t)[None, :] * self.bins + index).ravel()
        self.totals += np.bincount(flat, minlength=t * self.bins).reshape(t, self.bins)
        truth = y_true.toarray() if hasattr(y_true, "toarray") else np.asarray(y_true)
        truth = truth.astype(bool).ravel()
        self.positives += np.bincount(flat[truth], minlength=t * self.bins).reshape(t, self.bins)
        self.prob_sum += np.bincount(index.ravel(), weights=probs.ravel(), minlength=self.bins)

    def curve(self, rows: Any = slice(None)) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(cut-offs, precision, recall) at each bin's lower edge, over the given tags."""
        pos = self.positives[rows].reshape(-1, self.bins).sum(axis=0)
        tot = self.totals[rows].reshape(-1, self.bins).sum(axis=0)
        tp = np.cumsum(pos[::-1])[::-1]  # scored at or above each bin's lower edge
        predicted = np.cumsum(tot[::-1])[::-1]
        with np.errstate(invalid="ignore", divide="ignore"):
            precision = np.where(predicted > 0, tp / np.maximum(predicted, 1), np.nan)
            recall = tp / pos.sum() if pos.sum() else np.zeros(self.bins)
        return np.arange(self.bins) / self.bins, precision, recall

    def reliability(self, n: int = RELIABILITY_BINS) -> list[dict[str, Any]]:
        """Mean predicted probability against the observed share of positives, n bins."""
        step = self.bins // n
        pos = self.positives.sum(axis=0)
        tot = self.totals.sum(axis=0)
        rows = []
        for k in range(n):
            part = slice(k * step, (k + 1) * step if k < n - 1 else self.bins)
            count = int(tot[part].sum())
            rows.append(
                {
                    "bin": [k / n, (k + 1) / n],
                    "count": count,
                    "mean_predicted": float(self.prob_sum[part].sum() / count) if count else None,
                    "observed": float(pos[part].sum() / count) if count else None,
                }
            )
        return rows


# A model's tag figures in a replay, in the order the figures and the table show them.
MODEL_FIGURES = ("precision", "precision_decided", "recall", "recall_added", "f1", "changed_share")


def _clean(values: np.ndarray) -> list[float | None]:
    return [None if not np.isfinite(v) else round(float(v), 5) for v in values]


def evaluation_figures(
    report: dict[str, Any],
    histograms: ScoreHistograms | None,
    thresholds: dict[str, float],
    confusion: Counter[tuple[str, str]] | None,
) -> dict[str, Any]:
    """The evaluation's figures as data (what the HTML page draws)."""
    figures: dict[str, Any] = {}
    tags = report.get("tags")
    if tags and histograms is not None:
        figures["reliability"] = histograms.reliability()
        cut, precision, recall = histograms.curve()
        curves = [
            {
                "label": "all tags (micro)",
                "cutoff": _clean(cut),
                "precision": _clean(precision),
                "recall": _clean(recall),
                "threshold": None,
            }
        ]
        support = histograms.positives.sum(axis=1)
        for j in np.argsort(-support, kind="stable")[:CURVES]:
            if not support[j]:
                break
            label = histograms.labels[j]
            cut, precision, recall = histograms.curve(j)
            threshold = thresholds.get(label)
            point = None
            if threshold is not None:
                k = min(int(threshold * histograms.bins), histograms.bins - 1)
                point = {
                    "value": threshold,
                    "precision": _clean(precision[k : k + 1])[0],
                    "recall": _clean(recall[k : k + 1])[0],
                }
            curves.append(
                {
                    "label": label,
                    "cutoff": _clean(cut),
                    "precision": _clean(precision),
                    "recall": _clean(recall),
                    "threshold": point,
                }
            )
        figures["pr_curves"] = curves
        figures["tag_f1_support"] = [
            {
                "label": r["label"],
                "support": r["support"],
                "f1": r["f1"],
                "precision": r["precision"],
                "recall": r["recall"],
                "threshold": thresholds.get(r["label"]),
            }
            for r in tags.get("per_label", [])
        ]
    sections = report.get("sections")
    if sections and confusion:
        frequent = Counter()
        for (t, _p), count in confusion.items():
            frequent[t] += count
        labels = [label for label, _n in frequent.most_common(CONFUSION_LABELS)]
        index = {label: i for i, label in enumerate(labels)}
        matrix = [[0] * (len(labels) + 1) for _ in labels]
        for (t, p), count in confusion.items():
            if t in index:
                matrix[index[t]][index.get(p, len(labels))] += count
        figures["section_confusion"] = {
            "labels": labels,
            "columns": [*labels, "other"],
            "matrix": matrix,
            "shown_of": len(frequent),
        }
    return figures


# -- feedback figures -------------------------------------------------------------------------


def feedback_figures(store: Any) -> dict[str, Any]:
    """Acceptance rate (accepted / (accepted + rejected), standing tag decisions) per ISO
    week of the decision, per model version and per tag."""
    from tagger.feedback.stats import feedback_stats
    from tagger.feedback.store import resolve

    weeks: dict[str, Counter[str]] = defaultdict(Counter)
    for r in resolve(store.decisions()).values():
        for d in r.tags.values():
            year, week, _day = datetime.fromisoformat(d.at).isocalendar()
            action = {"accept": "accepted", "reject": "rejected", "add": "added"}[d.action]
            weeks[f"{year}-W{week:02d}"][action] += 1
    stats = feedback_stats(store)

    def rate(c: Any) -> float | None:
        n = c["accepted"] + c["rejected"]
        return c["accepted"] / n if n else None

    return {
        "acceptance_by_week": [
            {"week": w, **dict(c), "acceptance": rate(c)} for w, c in sorted(weeks.items())
        ],
        "acceptance_by_model": stats["models"],
        "acceptance_by_tag": stats["tags"][: max(TAG_BARS, 0)],
        "tag_acceptance": stats["tag_acceptance"],
    }


def replay_figures(result: Any, db: Any) -> dict[str, Any]:
    """The replay's figures: feedback acceptance from the store and per-model figures."""
    from tagger.feedback.store import open_store

    with open_store(db, create=False) as store:
        figures = feedback_figures(store)
    figures["models"] = [
        {
            "name": m["name"],
            **{k: m["tags"][k] for k in MODEL_FIGURES},
            "section_accuracy": m["sections"]["accuracy"],
            "policies": m.get("policies", []),
        }
        for m in result.models
    ]
    figures["per_tag"] = {
        m["name"]: [
            {k: r[k] for k in ("label", "decisions", "precision", "recall", "changed_share")}
            for r in m["per_tag"]
        ]
        for m in result.models
    }
    return figures


# -- drawing ----------------------------------------------------------------------------------


def pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise ConfigError(
            "--report draws with matplotlib: pip install 'tagger[report]' (or matplotlib)"
        ) from None
    matplotlib.use("svg", force=True)
    matplotlib.rcParams["svg.fonttype"] = "none"  # text as text: small and searchable
    matplotlib.rcParams["svg.hashsalt"] = "tagger"  # same ids every run
    matplotlib.rcParams["font.size"] = 9
    import matplotlib.pyplot as plt

    return plt


def _svg(fig: Any) -> str:
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    pyplot().close(fig)
    text = buffer.getvalue()
    # Inline in HTML an <svg> needs no prolog, DOCTYPE, namespace declarations or RDF
    # metadata, all of which name URLs: the page then holds no address at all.
    text = text[text.index("<svg") :]
    text = re.sub(r"<metadata>.*?</metadata>", "", text, flags=re.DOTALL)
    return re.sub(r'\s+xmlns(:\w+)?="[^"]*"', "", text)


def _reliability_svg(rows: list[dict[str, Any]]) -> str:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(4.2, 4))
    ax.plot([0, 1], [0, 1], color="#999", linestyle="--", linewidth=1, label="perfect")
    pts = [(r["mean_predicted"], r["observed"], r["count"]) for r in rows if r["count"]]
    if pts:
        x, y, _n = zip(*pts, strict=True)
        ax.plot(x, y, marker="o", color="#1f77b4", label="tags")
        for xi, yi, ni in pts:
            ax.annotate(f"{ni}", (xi, yi), fontsize=6, xytext=(3, -8), textcoords="offset points")
    ax.set(
        xlim=(0, 1),
        ylim=(0, 1),
        xlabel="mean predicted probability",
        ylabel="observed share of true tags",
        title="Reliability (calibrated tag scores)",
    )
    ax.legend(loc="upper left")
    return _svg(fig)


def _pr_svg(curves: list[dict[str, Any]]) -> str:
    plt = pyplot()
    n = len(curves)
    cols = 4
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(10, 2.4 * rows), squeeze=False)
    for ax, c in zip(axes.ravel(), curves, strict=False):
        r = np.array([np.nan if v is None else v for v in c["recall"]])
        p = np.array([np.nan if v is None else v for v in c["precision"]])
        ax.plot(r, p, color="#1f77b4", linewidth=1.2)
        t = c.get("threshold")
        if t and t["precision"] is not None:
            ax.plot([t["recall"]], [t["precision"]], "o", color="#d62728")
            ax.annotate(
                f"t={t['value']:.2f}",
                (t["recall"], t["precision"]),
                fontsize=7,
                xytext=(4, 4),
                textcoords="offset points",
            )
        ax.set(xlim=(0, 1.02), ylim=(0, 1.02), title=c["label"][:40])
        ax.tick_params(labelsize=7)
    for ax in axes.ravel()[n:]:
        ax.axis("off")
    fig.supxlabel("recall")
    fig.supylabel("precision")
    fig.tight_layout()
    return _svg(fig)


def _f1_support_svg(rows: list[dict[str, Any]]) -> str:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    pts = [(r["support"], r["f1"]) for r in rows if r["support"]]
    if pts:
        x, y = zip(*pts, strict=True)
        ax.scatter(x, y, s=12, alpha=0.7, color="#1f77b4")
        ax.set_xscale("log")
    ax.set(
        xlabel="support (true articles in the test data)",
        ylabel="F1",
        ylim=(-0.02, 1.02),
        title="Per-tag F1 against support",
    )
    return _svg(fig)


def _confusion_svg(data: dict[str, Any]) -> str:
    plt = pyplot()
    m = np.array(data["matrix"], dtype=float)
    totals = m.sum(axis=1, keepdims=True)
    share = np.divide(m, totals, out=np.zeros_like(m), where=totals > 0)
    size = max(4, 0.35 * len(data["columns"]) + 2)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(
        range(len(data["columns"])),
        [c[:20] for c in data["columns"]],
        rotation=60,
        ha="right",
        fontsize=7,
    )
    ax.set_yticks(range(len(data["labels"])), [c[:20] for c in data["labels"]], fontsize=7)
    if m.shape[0] <= 15:
        for i in range(m.shape[0]):
            for j in range(m.shape[1]):
                if m[i, j]:
                    ax.text(
                        j,
                        i,
                        f"{int(m[i, j])}",
                        ha="center",
                        va="center",
                        fontsize=6,
                        color="white" if share[i, j] > 0.5 else "black",
                    )
    ax.set(
        xlabel="predicted section", ylabel="true section", title="Sections: confusion (row shares)"
    )
    return _svg(fig)


def _bars_svg(
    labels: list[str],
    values: list[float | None],
    title: str,
    xlabel: str,
    counts: list[int] | None = None,
) -> str:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 0.25 * len(labels) + 1.2))
    y = np.arange(len(labels))
    ax.barh(y, [v or 0 for v in values], color="#1f77b4")
    ax.set_yticks(y, [label[:40] for label in labels], fontsize=7)
    ax.invert_yaxis()
    if counts is not None:
        for yi, v, n in zip(y, values, counts, strict=True):
            ax.text((v or 0) + 0.01, yi, f"n={n}", va="center", fontsize=6)
    ax.set(xlim=(0, 1.1), xlabel=xlabel, title=title)
    return _svg(fig)


def _weeks_svg(rows: list[dict[str, Any]]) -> str:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 3))
    x = np.arange(len(rows))
    ax.plot(
        x,
        [np.nan if r["acceptance"] is None else r["acceptance"] for r in rows],
        marker="o",
        color="#1f77b4",
    )
    ax.set_xticks(x, [r["week"] for r in rows], rotation=45, ha="right", fontsize=7)
    ax.set(ylim=(0, 1.02), ylabel="acceptance", title="Tag acceptance per week")
    return _svg(fig)


def _models_svg(models: list[dict[str, Any]]) -> str:
    plt = pyplot()
    keys = ("precision", "precision_decided", "recall", "recall_added", "f1", "changed_share")
    fig, ax = plt.subplots(figsize=(7, 3))
    width = 0.8 / max(len(models), 1)
    for i, m in enumerate(models):
        ax.bar(
            np.arange(len(keys)) + i * width, [m[k] or 0 for k in keys], width, label=m["name"][:40]
        )
    ax.set_xticks(np.arange(len(keys)) + width * (len(models) - 1) / 2, keys, fontsize=7)
    ax.set(ylim=(0, 1.05), title="Replay on the editors' decisions")
    ax.legend(fontsize=7)
    return _svg(fig)


def _per_tag_precision_svg(per_tag: dict[str, list[dict[str, Any]]]) -> str:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, rows in per_tag.items():
        pts = [(r["decisions"], r["precision"]) for r in rows if r["precision"] is not None]
        if pts:
            x, y = zip(*pts, strict=True)
            ax.scatter(x, y, s=12, alpha=0.6, label=name[:40])
    ax.set_xscale("log")
    ax.set(
        xlabel="decisions on the tag",
        ylabel="precision",
        ylim=(-0.02, 1.02),
        title="Per-tag precision on the editors' decisions",
    )
    ax.legend(fontsize=7)
    return _svg(fig)


# -- the page ---------------------------------------------------------------------------------

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px;color:#222}
h1{font-size:1.4em}h2{font-size:1.1em;margin-top:2em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:.85em}td,th{padding:2px 8px;text-align:right}
td:first-child,th:first-child{text-align:left}tr:nth-child(even){background:#f6f6f6}
figure{margin:1em 0}svg{max-width:100%;height:auto}.note{color:#666;font-size:.85em}
"""


def _table(rows: list[dict[str, Any]], columns: Sequence[str]) -> str:
    def cell(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.3f}"
        return html.escape("-" if v is None else str(v))

    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{cell(r.get(c))}</td>" for c in columns) + "</tr>" for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _page(title: str, parts: list[str]) -> str:
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>{''.join(parts)}</body></html>\n"
    )


def _section(heading: str, body: str, note: str = "") -> str:
    extra = f"<p class='note'>{html.escape(note)}</p>" if note else ""
    return f"<h2>{html.escape(heading)}</h2>{extra}<figure>{body}</figure>"


def evaluation_html(report: dict[str, Any]) -> str:
    """The evaluation report as one self-contained HTML page."""
    figures = report.get("figures") or {}
    model = report.get("model") or {}
    parts = [
        f"<p>Model {html.escape(str(model.get('name')))} ({html.escape(str(model.get('id')))}), "
        f"{report.get('articles', 0)} test articles.</p>"
    ]
    tags = report.get("tags")
    if tags:
        keys = ("micro_precision", "micro_recall", "micro_f1", "macro_f1", "p_at_1", "p_at_3")
        parts.append(_section("Tags", _table([{k: tags[k] for k in keys}], keys)))
    if figures.get("reliability"):
        parts.append(
            _section(
                "Reliability diagram",
                _reliability_svg(figures["reliability"]),
                "Each point: the test scores in one probability bin (n beside it).",
            )
        )
    if figures.get("pr_curves"):
        parts.append(
            _section(
                "Precision-recall curves",
                _pr_svg(figures["pr_curves"]),
                f"All tags together and the {len(figures['pr_curves']) - 1} tags with the most "
                "test support; the red point is the tag's chosen threshold (bin resolution "
                f"{1 / BINS:g}).",
            )
        )
    if figures.get("tag_f1_support"):
        rows = figures["tag_f1_support"]
        parts.append(_section("Per-tag F1 against support", _f1_support_svg(rows)))
        parts.append(
            _section(
                "Per tag",
                _table(
                    sorted(rows, key=lambda r: -r["support"]),
                    ("label", "support", "precision", "recall", "f1", "threshold"),
                ),
            )
        )
    sections = report.get("sections")
    if sections:
        parts.append(_section("Sections", _table([sections], ("n", "accuracy", "macro_f1"))))
    if figures.get("section_confusion"):
        c = figures["section_confusion"]
        note = (
            f"The {len(c['labels'])} most frequent of {c['shown_of']} sections."
            if c["shown_of"] > len(c["labels"])
            else ""
        )
        parts.append(_section("Section confusion matrix", _confusion_svg(c), note))
    return _page(f"Evaluation: {model.get('name') or 'model'}", parts)


def replay_html(data: dict[str, Any]) -> str:
    """The replay (and the store's acceptance figures) as one self-contained HTML page."""
    figures = data.get("figures") or {}
    a = data["articles"]
    parts = [
        f"<p>{a['replayed']} of {a['decided']} decided articles replayed ({a['finished']} "
        f"finished); left out: {a['before_since']} before --since, {a['missing_text']} without "
        "text, "
        + html.escape(", ".join(f"{n} trained on by {k}" for k, n in a["trained_on"].items()))
        + ".</p>"
    ]
    if data.get("comparison"):
        c = data["comparison"]
        verdict = (
            ("candidate is worse: " + "; ".join(c["reasons"]))
            if c["worse"]
            else ("candidate is not worse than the current model")
        )
        parts.append(f"<p><strong>{html.escape(verdict)}</strong></p>")
    if figures.get("models"):
        parts.append(
            _section(
                "Models on the editors' decisions",
                _models_svg(figures["models"])
                + _table(
                    figures["models"],
                    ("name", *MODEL_FIGURES, "section_accuracy"),
                ),
            )
        )
        policies = [
            {"model": m["name"], **p} for m in figures["models"] for p in m.get("policies", [])
        ]
        if policies:
            parts.append(
                _section(
                    "Precision per policy",
                    _table(
                        policies,
                        (
                            "model",
                            "policy",
                            "target",
                            "tags",
                            "decisions",
                            "precision",
                            "meets_target",
                        ),
                    ),
                )
            )
    if figures.get("per_tag"):
        parts.append(_section("Per-tag precision", _per_tag_precision_svg(figures["per_tag"])))
        last = list(figures["per_tag"].items())[-1]
        parts.append(
            _section(
                f"Per tag: {last[0]}",
                _table(
                    last[1][:200], ("label", "decisions", "precision", "recall", "changed_share")
                ),
            )
        )
    if figures.get("acceptance_by_week"):
        parts.append(_section("Acceptance per week", _weeks_svg(figures["acceptance_by_week"])))
    for key, title, note in (
        ("acceptance_by_model", "Acceptance per model version", ""),
        ("acceptance_by_tag", "Acceptance per tag", "The {n} tags with the most decisions."),
    ):
        rows = figures.get(key)
        if rows:
            chart = _bars_svg(
                [r["label"] for r in rows],
                [r["acceptance"] for r in rows],
                "",
                "acceptance",
                [r["accepted"] + r["rejected"] for r in rows],
            )
            parts.append(_section(title, chart, note.format(n=len(rows))))
    return _page("Editor replay", parts)


def split_reports(paths: Sequence[Path] | None) -> tuple[list[Path], list[Path]]:
    """`--report` files: the HTML pages (`.html`, `.htm`) and the JSON ones. Refuses
    (exit 2) before any work when a page is asked for and matplotlib is missing."""
    paths = list(paths or [])
    pages = [p for p in paths if p.suffix.lower() in (".html", ".htm")]
    if pages:
        pyplot()
    return pages, [p for p in paths if p not in pages]


def _write(path: Path, text: str) -> None:
    from tagger.writers import write_text

    write_text(path, text)


def write_evaluation_report(path: Path, report: dict[str, Any]) -> None:
    _write(path, evaluation_html(report))


def write_replay_report(path: Path, data: dict[str, Any]) -> None:
    _write(path, replay_html(json.loads(json.dumps(data, default=float))))
