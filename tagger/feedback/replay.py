"""Editor replay: score models against what editors decided, on articles they never saw.

For every article with a standing decision (tagger.feedback.store.resolve) whose text is
stored, each model suggests again; the article is left out when any of the models was
trained on it (the same title and body: the bundle's Bloom filter of its training texts,
tagger.overlap). What editors decided is the truth:

- a tag is **right** when it stands accepted or added, **wrong** when it stands rejected,
  and, on an article an editor finished (`reviews`), wrong too when the editor neither
  accepted nor added it: finishing an article is saying its tags are complete (the same
  reading `learn` makes when it trains on reviewed articles);
- `precision_decided` counts only explicit decisions (the suggestions accepted or
  rejected), `precision` adds the finished articles' implicit rejections; `recall` is
  over every right tag, `recall_added` over the tags editors had to add;
- a decision is **changed** when the model would have shown that label differently
  from the model the editor saw (selected it where it was not, or dropped it): *fixed*
  when the change agrees with the editor, *broken* when it does not;
- sections: the chosen (or accepted) section is right, a rejected one wrong.

The result is plain JSON-able data; `compare` says whether a candidate is worse than the
current model on the same articles.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from tagger.errors import ConfigError, InputError
from tagger.feedback.store import Decision, FeedbackStore, Resolved, resolve

Policies = Mapping[str, tuple[str, float | None]]  # tag -> (policy name, precision target)


def parse_since(text: str | None) -> datetime | None:
    """An ISO date or date-time (UTC when no zone is given), or None."""
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ConfigError(f"--since {text!r}: expected a date like 2026-11-01") from None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _when(at: str) -> datetime:
    value = datetime.fromisoformat(at)
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


@dataclass
class ReplayArticle:
    """One article's standing decisions and what the model the editor saw had selected."""

    article_id: str
    title: str
    body: str
    positives: set[str]
    accepted: set[str]
    added: set[str]
    rejected: set[str]
    finished: bool
    shown_selected: set[str]  # tags the shown model had selected (over threshold)
    section_truth: str | None = None
    section_rejected: str | None = None
    shown_section: str | None = None
    section_changed_by_editor: bool = False


@dataclass
class Tally:
    """Counts for one tag (or all tags) under one model."""

    accepted: int = 0
    rejected: int = 0
    added: int = 0
    tp: int = 0
    fp: int = 0  # rejected, or not kept on a finished article
    fp_decided: int = 0  # rejected only
    fn: int = 0
    added_hit: int = 0
    undecided: int = 0  # selected, with no decision, on an unfinished article
    changed: int = 0
    fixed: int = 0
    broken: int = 0

    @property
    def decisions(self) -> int:
        return self.accepted + self.rejected + self.added

    def to_dict(self) -> dict[str, Any]:
        precision = _ratio(self.tp, self.tp + self.fp)
        recall = _ratio(self.tp, self.tp + self.fn)
        f1 = (
            2 * precision * recall / (precision + recall)
            if precision is not None and recall is not None and precision + recall
            else (0.0 if precision is not None and recall is not None else None)
        )
        return {
            "decisions": self.decisions,
            "accepted": self.accepted,
            "rejected": self.rejected,
            "added": self.added,
            "selected": self.tp + self.fp + self.undecided,
            "true_positives": self.tp,
            "false_positives": self.fp,
            "undecided": self.undecided,
            "precision": precision,
            "precision_decided": _ratio(self.tp, self.tp + self.fp_decided),
            "recall": recall,
            "recall_added": _ratio(self.added_hit, self.added),
            "f1": f1,
            "changed": self.changed,
            "changed_share": _ratio(self.changed, self.decisions),
            "fixed": self.fixed,
            "broken": self.broken,
        }


def _ratio(a: int, b: int) -> float | None:
    return a / b if b else None


def load_replay_articles(
    store: FeedbackStore, since: datetime | None = None
) -> tuple[list[ReplayArticle], dict[str, int]]:
    """The decided articles (with a decision at or after `since`) and why others are out."""
    decisions = store.decisions()
    latest: dict[str, datetime] = {}
    for d in decisions:
        when = _when(d.at)
        if d.article_id not in latest or when > latest[d.article_id]:
            latest[d.article_id] = when
    resolved = resolve(decisions)
    shown = store.suggestions()
    by_id = {s.id: s for s in shown}
    shown_tags: dict[str, set[str]] = defaultdict(set)
    shown_section: dict[str, str] = {}
    for s in shown:
        if not s.article_id or not s.selected:
            continue
        if s.kind == "tag":
            shown_tags[s.article_id].add(s.label)
        else:
            shown_section[s.article_id] = s.label  # the latest shown wins
    finished = store.done()
    counts: Counter[str] = Counter()
    out = []
    for article_id, r in resolved.items():
        if not r:
            continue
        counts["decided"] += 1
        if since is not None and latest[article_id] < since:
            counts["before_since"] += 1
            continue
        article = store.article(article_id)
        if article is None:
            counts["missing_text"] += 1
            continue
        out.append(
            _replay_article(article_id, article, r, article_id in finished, by_id, shown_tags)
        )
        item = out[-1]
        item.shown_section = shown_section.get(article_id)
    counts["finished"] = sum(1 for a in out if a.finished)
    return out, dict(counts)


def _replay_article(
    article_id: str,
    article: Any,
    r: Resolved,
    finished: bool,
    suggestions: Mapping[int | None, Any],
    shown_tags: Mapping[str, set[str]],
) -> ReplayArticle:
    accepted = {t for t, d in r.tags.items() if d.action == "accept"}
    added = {t for t, d in r.tags.items() if d.action == "add"}
    rejected = set(r.rejected_tags)
    selected = set(shown_tags.get(article_id, set()))

    def was_selected(d: Decision) -> bool:
        s = suggestions.get(d.suggestion_id)
        return bool(s.selected) if s is not None else d.label in selected

    # what the editor saw, per decided label: the answered suggestion's own flag
    shown = {t for t, d in r.tags.items() if d.action != "add" and was_selected(d)}
    shown |= selected - set(r.tags)
    return ReplayArticle(
        article_id=article_id,
        title=article.title or "",
        body=article.body or "",
        positives=accepted | added,
        accepted=accepted,
        added=added,
        rejected=rejected,
        finished=finished,
        shown_selected=shown,
        section_truth=r.chosen_section,
        section_rejected=r.rejected_section,
        section_changed_by_editor=r.section is not None and r.section.action == "section",
    )


def score_model(
    items: Sequence[ReplayArticle],
    predicted_tags: Sequence[set[str]],
    predicted_sections: Sequence[str | None],
    policies: Policies | None = None,
) -> dict[str, Any]:
    """Tag and section figures of one model's suggestions on the replayed articles."""
    total = Tally()
    per_tag: dict[str, Tally] = defaultdict(Tally)
    for item, chosen in zip(items, predicted_tags, strict=True):
        for tag in item.positives | item.rejected | chosen | item.shown_selected:
            tally = per_tag[tag]
            was = tag in item.shown_selected
            now = tag in chosen
            right = tag in item.positives
            for t in (tally, total):
                t.accepted += tag in item.accepted
                t.added += tag in item.added
                t.rejected += tag in item.rejected
                if now and right:
                    t.tp += 1
                    t.added_hit += tag in item.added
                elif now and tag in item.rejected:
                    t.fp += 1
                    t.fp_decided += 1
                elif now and item.finished:
                    t.fp += 1
                elif now:
                    t.undecided += 1
                elif right:
                    t.fn += 1
                decided = right or tag in item.rejected
                if decided and was != now:
                    t.changed += 1
                    if now == right:
                        t.fixed += 1
                    else:
                        t.broken += 1
    sections = Counter()
    for item, top in zip(items, predicted_sections, strict=True):
        if item.section_truth is None and item.section_rejected is None:
            continue
        sections["decided"] += 1
        sections["editor_changed"] += item.section_changed_by_editor
        if item.section_truth is not None:
            sections["right" if top == item.section_truth else "wrong"] += 1
        elif top == item.section_rejected:
            sections["wrong"] += 1
        if item.shown_section is not None and top != item.shown_section:
            sections["changed"] += 1
            fixed = top == item.section_truth or (
                item.section_truth is None and item.shown_section == item.section_rejected
            )
            sections["fixed" if fixed else "broken"] += 1
    out: dict[str, Any] = {
        "tags": total.to_dict(),
        "per_tag": sorted(
            ({"label": tag, **t.to_dict()} for tag, t in per_tag.items()),
            key=lambda row: (-row["decisions"], row["label"]),
        ),
        "sections": {
            "decided": sections["decided"],
            "editor_changed": sections["editor_changed"],
            "right": sections["right"],
            "wrong": sections["wrong"],
            "accuracy": _ratio(sections["right"], sections["right"] + sections["wrong"]),
            "changed": sections["changed"],
            "fixed": sections["fixed"],
            "broken": sections["broken"],
        },
    }
    if policies:
        out["policies"] = policy_precision(per_tag, policies)
    return out


def policy_precision(per_tag: Mapping[str, Tally], policies: Policies) -> list[dict[str, Any]]:
    """Precision per precision policy (tags grouped by the policy that set their threshold)."""
    grouped: dict[str, Tally] = defaultdict(Tally)
    targets: dict[str, float | None] = {}
    members: Counter[str] = Counter()
    for tag, (name, target) in policies.items():
        targets[name] = target
        members[name] += 1
        t = per_tag.get(tag)
        if t is None:
            continue
        g = grouped[name]
        for key in ("tp", "fp", "fp_decided", "fn", "accepted", "rejected", "added", "undecided"):
            setattr(g, key, getattr(g, key) + getattr(t, key))
    rows = []
    for name in sorted(targets, key=lambda n: (targets[n] is None, n)):
        d = grouped[name].to_dict()
        target = targets[name]
        rows.append(
            {
                "policy": name,
                "target": target,
                "tags": members[name],
                "decisions": d["decisions"],
                "precision": d["precision"],
                "precision_decided": d["precision_decided"],
                "recall": d["recall"],
                "meets_target": (
                    None if target is None or d["precision"] is None else d["precision"] >= target
                ),
            }
        )
    return rows


def model_policies(model: Any) -> dict[str, tuple[str, float | None]]:
    """tag -> (policy, precision target) as recorded in a bundle (tagger.policy)."""
    record = model.manifest.get("policy") or {}
    out: dict[str, tuple[str, float | None]] = {}
    targets = {r["name"]: r.get("precision") for r in record.get("rules", [])}
    for tag, name in (record.get("tags") or {}).items():
        out[tag] = (name, targets.get(name))
    return out


@dataclass
class ReplayResult:
    """What `replay` found: the articles, and one block of figures per model."""

    articles: dict[str, Any]
    models: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    comparison: dict[str, Any] | None = None  # compare(current, candidate), when asked

    def to_dict(self) -> dict[str, Any]:
        out = {"articles": self.articles, "models": self.models, "warnings": self.warnings}
        if self.comparison is not None:
            out["comparison"] = self.comparison
        return out


def replay(
    models: Sequence[tuple[str, Any]],
    store: FeedbackStore,
    *,
    since: datetime | None = None,
    policies: Policies | None = None,
    predict: Callable[[Any, list[Any]], list[Any]] | None = None,
) -> ReplayResult:
    """Replay each (name, Tagger) on the decided articles none of them was trained on.

    `policies` (tag -> (policy, target)) groups precision by policy; by default each
    model's own recorded policy. `predict(model, articles)` returns Suggestions (default:
    `model.predict(..., explain=False)`).
    """
    from tagger.corpus.article import Article

    if not models:
        raise ConfigError("replay needs at least one model")
    items, counts = load_replay_articles(store, since)
    warnings = []
    trained: dict[str, int] = {}
    keep = [True] * len(items)
    for name, model in models:
        record = getattr(model, "training_filter", None)
        if record is None:
            warnings.append(
                f"{name}: the bundle records no training articles (trained before tagger "
                "recorded them): none could be left out, so its figures may be optimistic"
            )
            trained[name] = 0
            continue
        hits = [a in record for a in items]
        trained[name] = sum(hits)
        keep = [k and not h for k, h in zip(keep, hits, strict=True)]
    kept = [a for a, k in zip(items, keep, strict=True) if k]
    articles = {
        "decided": counts.get("decided", 0),
        "before_since": counts.get("before_since", 0),
        "missing_text": counts.get("missing_text", 0),
        "trained_on": trained,
        "replayed": len(kept),
        "finished": sum(1 for a in kept if a.finished),
        "since": since.isoformat() if since else None,
    }
    if counts.get("missing_text"):
        warnings.append(
            f"{counts['missing_text']} decided article(s) have no stored text: left out"
        )
    if not kept:
        raise InputError(
            f"no decided article to replay: {articles['decided']} decided, "
            f"{articles['before_since']} before --since, {articles['missing_text']} without text, "
            + ", ".join(f"{n} trained on by {name}" for name, n in trained.items())
        )
    texts = [Article(a.article_id, a.title, a.body) for a in kept]
    result = ReplayResult(articles, warnings=warnings)
    for name, model in models:
        suggestions = (
            predict(model, texts) if predict else model.predict(texts, explain=False, top_k=5)
        )
        tags = [{t.label for t in s.tags} for s in suggestions]
        sections = [s.section.label if s.section else None for s in suggestions]
        own = policies if policies is not None else model_policies(model)
        figures = score_model(kept, tags, sections, own)
        info = getattr(model, "model_info", {}) or {}
        result.models.append({"name": name, "model": info, **figures})
    return result


def compare(
    current: Mapping[str, Any], candidate: Mapping[str, Any], tolerance: float = 0.0
) -> dict[str, Any]:
    """Is `candidate` worse than `current` on the same replay? Tag F1 (precision with the
    finished articles' implicit rejections), section accuracy, and each precision policy
    the current model meets must not drop by more than `tolerance`."""
    reasons = []
    deltas: dict[str, float] = {}
    for key, label in (("tags", "f1"), ("tags", "precision"), ("tags", "recall")):
        a, b = current[key][label], candidate[key][label]
        if a is not None and b is not None:
            deltas[f"{key}.{label}"] = b - a
    a, b = current["tags"]["f1"], candidate["tags"]["f1"]
    if a is not None and b is not None and b < a - tolerance:
        reasons.append(f"tag F1 {b:.4f} < {a:.4f}")
    a, b = current["sections"]["accuracy"], candidate["sections"]["accuracy"]
    if a is not None and b is not None:
        deltas["sections.accuracy"] = b - a
        if b < a - tolerance:
            reasons.append(f"section accuracy {b:.4f} < {a:.4f}")
    before = {p["policy"]: p for p in current.get("policies", [])}
    for p in candidate.get("policies", []):
        old = before.get(p["policy"])
        if p["meets_target"] is False and (old is None or old["meets_target"] is not False):
            reasons.append(
                f"policy {p['policy']}: precision {p['precision']:.4f} below its target "
                f"{p['target']:g}"
            )
    return {"worse": bool(reasons), "reasons": reasons, "deltas": deltas, "tolerance": tolerance}


def format_replay(result: ReplayResult, *, min_decisions: int = 1, limit: int = 30) -> str:
    """Plain-text summary: one line per model, a per-tag table for the last one."""
    a = result.articles
    lines = [
        f"replayed {a['replayed']} of {a['decided']} decided article(s) "
        f"({a['finished']} finished; left out: {a['before_since']} before --since, "
        f"{a['missing_text']} without text, "
        + ", ".join(f"{n} trained on by {name}" for name, n in a["trained_on"].items())
        + ")",
        f"{'model':<28}{'prec':>7}{'prec*':>7}{'recall':>7}{'added':>7}{'F1':>7}"
        f"{'changed':>9}{'fixed':>7}{'broken':>7}{'section':>9}",
    ]
    for m in result.models:
        t, s = m["tags"], m["sections"]
        lines.append(
            f"{m['name'][:27]:<28}{_f(t['precision'])}{_f(t['precision_decided'])}"
            f"{_f(t['recall'])}{_f(t['recall_added'])}{_f(t['f1'])}"
            f"{_pct(t['changed_share']):>9}{t['fixed']:>7}{t['broken']:>7}{_f(s['accuracy'], 9)}"
        )
    lines.append(
        "prec: precision counting tags not kept on finished articles as rejected; prec*: on "
        "explicit accept/reject only; added: recall of the tags editors added"
    )
    for m in result.models:
        for p in m.get("policies", []):
            target = "best F1" if p["target"] is None else f"target {p['target']:g}"
            verdict = {True: "meets it", False: "BELOW", None: ""}[p["meets_target"]]
            lines.append(
                f"{m['name'][:27]}: policy {p['policy']} ({target}, {p['tags']} tag(s), "
                f"{p['decisions']} decisions): precision {_f(p['precision'], 0).strip()} {verdict}"
            )
    last = result.models[-1]
    rows = [r for r in last["per_tag"] if r["decisions"] >= min_decisions][:limit]
    if rows:
        lines.append(f"per tag ({last['name']}; most decided first):")
        lines.append(
            f"{'tag':<28}{'acc':>6}{'rej':>6}{'add':>6}{'prec':>7}{'recall':>7}{'changed':>9}"
        )
        for r in rows:
            lines.append(
                f"{r['label'][:27]:<28}{r['accepted']:>6}{r['rejected']:>6}{r['added']:>6}"
                f"{_f(r['precision'])}{_f(r['recall'])}{_pct(r['changed_share']):>9}"
            )
    return "\n".join(lines)


def _f(value: float | None, width: int = 7) -> str:
    return f"{value:>{width}.3f}" if value is not None else f"{'-':>{width}}"


def _pct(value: float | None) -> str:
    return f"{value:.1%}" if value is not None else "-"


def run_replay(
    model: str | Any,
    db: str | Any,
    *,
    against: str | Any | None = None,
    since: str | None = None,
    policy: str | Any | None = None,
    tolerance: float = 0.0,
) -> tuple[ReplayResult, dict[str, Any] | None]:
    """Load the bundles and the store, replay, and compare with `against` when given.

    What `tagger replay` and `tagger models promote` run. The candidate is replayed last.
    """
    from pathlib import Path

    from tagger.api import Tagger
    from tagger.feedback.store import open_store

    models = []
    if against is not None:
        models.append((f"current {Path(str(against)).name}", Tagger.load(against)))
    models.append((f"candidate {Path(str(model)).name}", Tagger.load(model)))
    policies = None
    if policy is not None:
        from tagger.policy import load_policy

        candidate = models[-1][1]
        labels = candidate.tag_model.labels if candidate.tag_model else []
        policies = load_policy(policy).assign(labels, vocabulary_of(candidate))
    with open_store(db, create=False) as store:
        result = replay(models, store, since=parse_since(since), policies=policies)
    verdict = None
    if against is not None:
        verdict = compare(result.models[0], result.models[1], tolerance)
        result.comparison = verdict
    return result, verdict


def vocabulary_of(model: Any) -> Any:
    """The model's recorded vocabulary snapshot (concepts and ancestors), or None."""
    record = model.manifest.get("vocabulary")
    if not record:
        return None
    from tagger.vocab.training import snapshot_vocabulary

    return snapshot_vocabulary(record)


class PromotionRefused(ConfigError):
    """The candidate replays worse than the current model (exit 2; --force overrides)."""


def promotion_check(
    db: str | Any,
    *,
    since: str | None = None,
    tolerance: float = 0.0,
    force: bool = False,
    echo: Callable[[str], None] = print,
) -> Callable[[Any, str, str | None], None]:
    """A check for `Registry.promote(check=...)`: replays the candidate against the
    current version on the store `db`, shows the figures, and refuses (PromotionRefused)
    when the candidate is worse, unless `force`."""

    def check(registry: Any, candidate: str, current: str | None) -> None:
        if current is None:
            echo("no current version: nothing to replay against")
            return
        _name, candidate_folder = registry.resolve(candidate)
        _name, current_folder = registry.resolve(current)
        try:
            result, verdict = run_replay(
                candidate_folder, db, against=current_folder, since=since, tolerance=tolerance
            )
        except InputError as exc:  # no evidence either way
            if force:
                echo(f"cannot replay ({exc}): promoted anyway (--force)")
                return
            raise PromotionRefused(
                f"cannot replay {candidate} against {current} ({exc}): not promoted "
                "(--force promotes it anyway)"
            ) from None
        result.models[0]["name"] = f"current {current}"
        result.models[1]["name"] = f"candidate {candidate}"
        echo(format_replay(result))
        assert verdict is not None
        if not verdict["worse"]:
            echo(f"{candidate} is not worse than {current} on the editors' decisions")
        elif force:
            echo(
                f"{candidate} is worse ({'; '.join(verdict['reasons'])}): promoted anyway (--force)"
            )
        else:
            raise PromotionRefused(
                f"{candidate} replays worse than {current} on the editors' decisions ("
                + "; ".join(verdict["reasons"])
                + "): not promoted (--force promotes it anyway)"
            )

    return check
