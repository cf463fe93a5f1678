"""Tag governance: what a desk should merge, retire or add to keep its tags clean.

`governance_report` reads a corpus (and optionally a vocabulary, the editors' feedback
store and the articles' entities) and lists merge candidates, dead tags, tags editors
add that the model never suggests, frequent entities without a tag, and sections that
collide with tags, each with counts and example articles.
"""

from __future__ import annotations

import html
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone
from itertools import combinations
from typing import Any

from tagger.corpus.article import Article
from tagger.vocab.normalise import label_key, strip_title

REASONS = {
    "spelling": "differ only by case, hyphens or punctuation",
    "title": "differ by a title (Sen., President, ...)",
    "first name": "one drops the other's first name",
    "plural": "singular and plural",
    "same concept": "both name one concept of the vocabulary",
    "overlap": "tag the same articles",
}


class _Groups:
    """Union-find over labels, remembering why two labels were joined."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}
        self.why: dict[frozenset[str], str] = {}

    def find(self, x: str) -> str:
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def join(self, a: str, b: str, reason: str) -> None:
        if a == b:
            return
        self.why.setdefault(frozenset((a, b)), reason)
        self.parent[self.find(a)] = self.find(b)

    def groups(self) -> list[list[str]]:
        out: dict[str, list[str]] = defaultdict(list)
        for label in self.parent:
            out[self.find(label)].append(label)
        return [sorted(g) for g in out.values() if len(g) > 1]


def _is_name(label: str) -> bool:
    words = label.replace(".", ". ").split()
    return len(words) >= 2 and all(w[:1].isupper() for w in words)


def merge_candidates(
    articles: Sequence[Article],
    vocab: Any = None,
    min_overlap: float = 0.8,
    min_count: int = 3,
    examples: int = 3,
) -> list[dict[str, Any]]:
    """Groups of tags that are one tag, each with the label to keep (the vocabulary's
    preferred label, else the most used), every other label's count, why, and examples."""
    counts = Counter(t for a in articles for t in a.tags)
    docs: dict[str, list[str]] = defaultdict(list)
    for a in articles:
        for t in dict.fromkeys(a.tags):
            docs[t].append(a.id)
    groups = _Groups()
    by_key: dict[str, list[str]] = defaultdict(list)
    by_stripped: dict[str, list[str]] = defaultdict(list)
    for label in counts:
        key = label_key(label)
        by_key[key].append(label)
        by_stripped[strip_title(key)].append(label)
    for same in by_key.values():
        for other in same[1:]:
            groups.join(other, same[0], "spelling")
    for same in by_stripped.values():
        for other in same[1:]:
            if label_key(other) != label_key(same[0]):
                groups.join(other, same[0], "title")
    # 'Rubio' (or 'Sen. Rubio') and 'Marco Rubio': the surname alone joins the most used
    # full name that ends with it.
    surnames: dict[str, list[str]] = defaultdict(list)
    for label in counts:
        stripped = strip_title(label_key(label)).split()
        if len(stripped) >= 2 and _is_name(label):
            surnames[stripped[-1]].append(label)
    for label in counts:
        stripped = strip_title(label_key(label)).split()
        if len(stripped) == 1 and stripped[0] in surnames and label[:1].isupper():
            full = max(surnames[stripped[0]], key=lambda x: (counts[x], x))
            groups.join(label, full, "first name")
    keys = {label_key(label): label for label in counts}
    for key, label in keys.items():
        for suffix in ("s", "es"):
            if key.endswith(suffix) and key[: -len(suffix)] in keys:
                groups.join(label, keys[key[: -len(suffix)]], "plural")
                break
    if vocab is not None:
        from tagger.vocab.match import match_tag

        by_concept: dict[str, list[str]] = defaultdict(list)
        for label in counts:
            m = match_tag(vocab, label)
            if m is not None:
                by_concept[m.concept.id].append(label)
        for same in by_concept.values():
            for other in same[1:]:
                groups.join(other, same[0], "same concept")
    frequent = sorted(t for t in counts if counts[t] >= min_count)
    sets = {t: set(docs[t]) for t in frequent}
    for a, b in combinations(frequent, 2):
        inter = len(sets[a] & sets[b])
        if inter and inter / len(sets[a] | sets[b]) >= min_overlap:
            groups.join(a, b, "overlap")

    findings = []
    for group in groups.groups():
        keep = max(group, key=lambda x: (counts[x], len(x), x))
        if vocab is not None:
            from tagger.vocab.match import match_tag

            for label in group:
                m = match_tag(vocab, label)
                if m is not None and m.concept.label in group:
                    keep = m.concept.label
                    break
        variants = []
        for label in sorted(group, key=lambda x: (-counts[x], x)):
            if label == keep:
                continue
            variants.append(
                {
                    "label": label,
                    "count": counts[label],
                    "reason": _reason(groups, label, keep, group),
                    "examples": docs[label][:examples],
                }
            )
        findings.append(
            {
                "keep": keep,
                "count": counts[keep],
                "variants": variants,
                "examples": docs[keep][:examples],
            }
        )
    findings.sort(key=lambda f: -sum(v["count"] for v in f["variants"]))
    return findings


def _reason(groups: _Groups, label: str, keep: str, group: list[str]) -> str:
    """Why `label` belongs with `keep`: the direct link if there is one, else the
    first link that joined it to the group."""
    direct = groups.why.get(frozenset((label, keep)))
    if direct:
        return direct
    for other in group:
        why = groups.why.get(frozenset((label, other)))
        if why:
            return why
    return "linked"


def merge_pairs(findings: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(variant, label to keep) for every merge candidate."""
    return [(v["label"], f["keep"]) for f in findings for v in f["variants"]]


def dead_tags(
    articles: Sequence[Article], months: int = 12, now: datetime | None = None, examples: int = 3
) -> list[dict[str, Any]]:
    """Tags not used in the last `months` months before `now` (default: the newest
    article's date), with their last use."""
    dated = [a for a in articles if a.published is not None]
    if not dated:
        return []

    def aware(d: datetime) -> datetime:
        return d if d.tzinfo else d.replace(tzinfo=timezone.utc)

    newest = now or max(aware(a.published) for a in dated)  # type: ignore[arg-type]
    cutoff = aware(newest) - timedelta(days=30.44 * months)
    last: dict[str, Article] = {}
    counts: Counter[str] = Counter()
    for a in dated:
        for t in a.tags:
            counts[t] += 1
            if t not in last or aware(a.published) > aware(last[t].published):  # type: ignore[arg-type]
                last[t] = a
    out = []
    for tag, article in sorted(last.items(), key=lambda kv: aware(kv[1].published)):  # type: ignore[arg-type]
        if aware(article.published) < cutoff:  # type: ignore[arg-type]
            out.append(
                {
                    "tag": tag,
                    "count": counts[tag],
                    "last_used": article.published.isoformat(),  # type: ignore[union-attr]
                    "examples": [article.id],
                }
            )
    return out


def feedback_findings(store: Any, min_count: int = 2, examples: int = 3) -> dict[str, Any]:
    """From the editors' decisions: tags suggested but never accepted (dead), and tags
    editors keep adding that the model never suggests."""
    from tagger.feedback.store import resolve

    shown: Counter[str] = Counter()
    for s in store.suggestions():
        if s.kind == "tag":
            shown[s.label] += 1
    decisions = store.decisions()
    accepted: Counter[str] = Counter()
    rejected: Counter[str] = Counter()
    added: Counter[str] = Counter()
    added_where: dict[str, list[str]] = defaultdict(list)
    rejected_where: dict[str, list[str]] = defaultdict(list)
    for article_id, resolved in resolve(decisions).items():
        for label, decision in resolved.tags.items():
            if decision.action == "accept":
                accepted[label] += 1
            elif decision.action == "reject":
                rejected[label] += 1
                rejected_where[label].append(article_id)
            elif decision.action == "add":
                added[label] += 1
                added_where[label].append(article_id)
    never_accepted = [
        {
            "tag": tag,
            "suggested": shown[tag],
            "rejected": rejected[tag],
            "examples": rejected_where[tag][:examples],
        }
        for tag in sorted(shown, key=lambda t: (-rejected[t], t))
        if rejected[tag] >= min_count and not accepted[tag] and not added[tag]
    ]
    added_not_suggested = [
        {"tag": tag, "added": n, "suggested": shown[tag], "examples": added_where[tag][:examples]}
        for tag, n in added.most_common()
        if n >= min_count and shown[tag] == 0
    ]
    return {"never_accepted": never_accepted, "added_never_suggested": added_not_suggested}


def untagged_entities(
    articles: Sequence[Article],
    entity_lists: Sequence[Sequence[dict[str, Any]]],
    vocab: Any = None,
    min_articles: int = 3,
    min_salience: float = 0.25,
    examples: int = 3,
) -> list[dict[str, Any]]:
    """People, countries and agencies salient in at least `min_articles` articles that no
    tag of the corpus (nor, with a vocabulary, any concept) names."""
    tag_keys = {strip_title(label_key(t)) for a in articles for t in a.tags}
    where: dict[tuple[str, str], list[str]] = defaultdict(list)
    for article, entities in zip(articles, entity_lists, strict=True):
        for e in entities:
            if (
                e.get("type") in ("PERSON", "COUNTRY", "AGENCY")
                and e.get("salience", 0) >= min_salience
            ):
                where[(e["name"], e["type"])].append(article.id)
    out = []
    for (name, kind), ids in sorted(where.items(), key=lambda kv: -len(kv[1])):
        if len(ids) < min_articles or label_key(name) in tag_keys:
            continue
        concept = vocab.lookup(name) if vocab is not None else None
        out.append(
            {
                "entity": name,
                "type": kind,
                "articles": len(ids),
                "concept": {"id": concept.id, "label": concept.label} if concept else None,
                "examples": ids[:examples],
            }
        )
    return out


def section_collisions(
    articles: Sequence[Article], min_share: float = 0.9, min_count: int = 3, examples: int = 3
) -> list[dict[str, Any]]:
    """Sections spelled like a tag, and tags that cover (almost) exactly one section."""
    sections = Counter(a.section for a in articles if a.section)
    tags = Counter(t for a in articles for t in a.tags)
    tag_by_key: dict[str, str] = {}
    for t in sorted(tags, key=lambda t: (-tags[t], t)):  # the most used spelling
        tag_by_key.setdefault(label_key(t), t)
    out = []
    for section, n in sections.items():
        tag = tag_by_key.get(label_key(section))
        if tag is not None:
            ids = [a.id for a in articles if a.section == section and tag in a.tags]
            out.append(
                {
                    "section": section,
                    "tag": tag,
                    "reason": "same name",
                    "section_count": n,
                    "tag_count": tags[tag],
                    "both": len(ids),
                    "examples": ids[:examples],
                }
            )
    for tag, n in tags.items():
        if n < min_count:
            continue
        in_section = Counter(a.section for a in articles if tag in a.tags and a.section)
        if not in_section:
            continue
        section, both = in_section.most_common(1)[0]
        if label_key(section) == label_key(tag):
            continue
        if both / n >= min_share and both / sections[section] >= min_share:
            ids = [a.id for a in articles if a.section == section and tag in a.tags]
            out.append(
                {
                    "section": section,
                    "tag": tag,
                    "reason": "same articles",
                    "section_count": sections[section],
                    "tag_count": n,
                    "both": both,
                    "examples": ids[:examples],
                }
            )
    return out


def governance_report(
    articles: Sequence[Article],
    *,
    vocab: Any = None,
    store: Any = None,
    entity_lists: Sequence[Sequence[dict[str, Any]]] | None = None,
    months: int = 12,
    now: datetime | None = None,
    min_overlap: float = 0.8,
) -> dict[str, Any]:
    """Every finding of the report, as plain data (the JSON form)."""
    tags = Counter(t for a in articles for t in a.tags)
    report: dict[str, Any] = {
        "articles": len(articles),
        "tags": len(tags),
        "tag_uses": sum(tags.values()),
        "merge_candidates": merge_candidates(articles, vocab, min_overlap=min_overlap),
        "dead_tags": {"unused": dead_tags(articles, months, now), "months": months},
        "section_collisions": section_collisions(articles),
    }
    if vocab is not None:
        from tagger.vocab.match import closest, match_tag

        outside = []
        for tag, n in tags.most_common():
            if match_tag(vocab, tag) is None:
                near = [{"id": c.id, "label": c.label} for c in closest(vocab, tag)]
                outside.append({"tag": tag, "count": n, "closest": near})
        report["outside_vocabulary"] = outside
    if store is not None:
        found = feedback_findings(store)
        report["dead_tags"]["never_accepted"] = found["never_accepted"]
        report["added_never_suggested"] = found["added_never_suggested"]
    if entity_lists is not None:
        report["untagged_entities"] = untagged_entities(articles, entity_lists, vocab)
    return report


def render_html(report: dict[str, Any], titles: dict[str, str] | None = None) -> str:
    """The report as one self-contained HTML page."""
    titles = titles or {}
    e = html.escape

    def examples(d: dict[str, Any]) -> str:
        ids = d["examples"]
        return "; ".join(f"<span title='{e(i)}'>{e(titles.get(i, i))}</span>" for i in ids)

    def text(key: str) -> Callable[[dict[str, Any]], str]:
        return lambda d: e(str(d[key]))

    def concept(d: dict[str, Any]) -> str:
        return e(f"{d['concept']['id']} {d['concept']['label']}") if d["concept"] else ""

    merges = [
        {**v, "keep": f["keep"], "keep_count": f["count"]}
        for f in report["merge_candidates"]
        for v in f["variants"]
    ]
    dead = report["dead_tags"]
    # (heading, findings or None when the report has no such part, [(column, cell)])
    sections: list[tuple[str, list[dict[str, Any]] | None, list[tuple[str, Any]]]] = [
        ("Merge candidates", merges, [
            ("variant", lambda d: f"{e(d['label'])} ({d['count']})"),
            ("merge into", lambda d: f"{e(d['keep'])} ({d['keep_count']})"),
            ("why", lambda d: e(REASONS.get(d["reason"], d["reason"]))),
            ("examples", examples)]),
        (f"Dead tags: unused for {dead['months']} months", dead["unused"], [
            ("tag", text("tag")), ("uses", text("count")), ("last used", text("last_used")),
            ("example", examples)]),
        ("Dead tags: suggested, never accepted by editors", dead.get("never_accepted"), [
            ("tag", text("tag")), ("suggested", text("suggested")),
            ("rejected", text("rejected")), ("examples", examples)]),
        ("Tags editors keep adding that the model never suggests",
         report.get("added_never_suggested"), [
            ("tag", text("tag")), ("added", text("added")), ("examples", examples)]),
        ("Frequent entities with no tag", report.get("untagged_entities"), [
            ("entity", text("entity")), ("type", text("type")), ("articles", text("articles")),
            ("concept", concept), ("examples", examples)]),
        ("Sections that collide with tags", report["section_collisions"], [
            ("section", text("section")), ("tag", text("tag")), ("why", text("reason")),
            ("section / tag / both",
             lambda d: f"{d['section_count']} / {d['tag_count']} / {d['both']}"),
            ("examples", examples)]),
        ("Tags outside the vocabulary", report.get("outside_vocabulary"), [
            ("tag", text("tag")), ("uses", text("count")),
            ("closest concepts",
             lambda d: e(", ".join(f"{c['id']} {c['label']}" for c in d["closest"])))]),
    ]  # fmt: skip
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<title>Tag governance report</title><style>"
        "body{font:14px/1.4 system-ui,sans-serif;margin:2em;max-width:70em}"
        "table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;"
        "padding:.25em .5em;text-align:left;vertical-align:top}th{background:#f3f3f3}"
        ".none{color:#666}</style></head><body>",
        "<h1>Tag governance report</h1>",
        f"<p>{report['articles']} articles, {report['tags']} tags, "
        f"{report['tag_uses']} tag uses.</p>",
    ]
    for heading, findings, columns in sections:
        if findings is None:
            continue
        parts.append(f"<h2>{e(heading)}</h2>")
        if not findings:
            parts.append("<p class='none'>Nothing found.</p>")
        else:
            head = "".join(f"<th>{e(name)}</th>" for name, _ in columns)
            rows = "".join(
                "<tr>" + "".join(f"<td>{cell(d)}</td>" for _, cell in columns) + "</tr>"
                for d in findings
            )
            parts.append(f"<table><tr>{head}</tr>{rows}</table>")
        if heading == "Merge candidates":
            parts.append(
                "<p>Apply one with <code>tagger tags merge VARIANT TARGET</code>; training, "
                "prediction and feedback export then use the target.</p>"
            )
    parts.append("</body></html>\n")
    return "\n".join(parts)
