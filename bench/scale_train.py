"""Tag training at growing scale: tagger against one-vs-rest LinearSVC in the same run.

    python bench/scale_train.py ../shared/data --sizes 10000,40000 --tags 2000
    python bench/scale_train.py ../shared/data --sizes 100000,1000000 --tags 200 --out-of-core \
        --work /tmp/scale-train --stream epochs=1
    python bench/scale_train.py ../shared/data --sizes 40000 --tags 2000 --sample-tags 20
    python bench/scale_train.py ../shared/data --sizes 40000 --tags 2000 --no-reference \
        --keep /tmp/models      # bundle and held-out articles for bench/predict_speed.py
    # the 10,000-tag run (issue 10): 10,717 tags on >= 2 of the 19,200 training articles
    python bench/scale_train.py ../shared/data --sizes 24000 --tags 14000 \
        --tag-source entities --no-reference --work /tmp/run10k-ent
    python bench/scale_train.py ../shared/data --sizes 24000 --tags 14000 \
        --tag-source entities --dry-run --work /tmp/run10k-ent   # the corpus only, counted

Corpora are built from Reuters-21578 and BBC texts, replicated where needed with new ids and
light perturbation (a few words dropped, sentences rotated). Tags: Reuters topics and BBC
sections, then keyword tags (the most document-frequent content words that are not stop
words; an article carries a keyword tag when the word is in its title or twice in its body)
and, when the words run out (about 7,500 at 20,000 articles), name tags (pairs of
capitalised words such as "Saudi Arabia", by the same rule, as entity tags would be)
until `--tags` are reached.

`--tag-source entities` (the 10,000-tag corpus) tags as a newsroom would first: tagger's own
entity pass (`tagger.entities.analyze_articles`, what `tagger entities` runs) over the base
articles gives "person-", "country-", "agency-", "org-", "place-" and "event-" tags with the
canonical name, where the entity is named in the title or at least twice; Reuters' editors'
PLACES / PEOPLE / ORGS / EXCHANGES labels become "reuters-places-usa" etc. Entity and label
tags on only one base article are left out (training keeps tags on at least 2 articles
above 1,000 tags). Then keyword and name tags fill up to `--tags`, leaving out words and
names that are already an entity tag, and an article keeps at most 40 tags in all (most
salient entities first). `--tags` counts the corpus's distinct tags: some of them end up on
one training article or only in the held-out part, so 14,000 gives 10,717 learned tags at
24,000 articles. The analyses are cached by content hash under WORK/entity-cache: the
first run costs about 400 CPU s of spaCy (23,802 articles), a second one about 3 s.
`--dry-run` builds and splits the corpus and prints its tag counts (tags with 1 and with 2
training positives, by kind, tags per article) without training.

20% of the corpus is held out for the F1 figures. Each size is
trained in a spawned child process so that its peak memory is its own (a forked child
would inherit the reference's joblib workers and hang). Reports train time, peak
RSS, bundle size, prediction speed (one core, no entities) and micro/macro-F1, with the
reference (tf-idf + OneVsRest LinearSVC, threshold 0) measured on the same articles.

With `--out-of-core` the corpus is written to JSONL files under `--work` as it is built (base
articles, then perturbed copies, never all held; reused by a later run with the same
arguments) and the child streams the training file
through tagger's reader, as `tagger train --out-of-core` does, so its peak memory is that of
training; the last `--test-articles` (2,000) articles are the test set, read after the peak is
taken (above the base corpus they are perturbed copies of training articles, so F1 is
optimistic there). There is no reference in that mode (it would hold the corpus). `--stream
key=value,...` changes `StreamConfig` settings for every size (as in bench/stream_dev.py):
`epochs=1` keeps a large run affordable, and memory does not depend on the number of epochs
(each epoch streams the same corpus through the same models). `--max-tags N` keeps only the
N most frequent tags in that mode (fewer blocks of tags, so fewer passes: an affordable run);
`--train-tags N` learns only the N most frequent of them (`tags.max_tags`) from the same files.

Full runs also count CPU seconds of the process tree (the joblib workers included), which
hold on a shared machine where wall time does not. With `--sample-tags N` there is no full
run: the per-tag cost is measured on N random tags in one process (CPU seconds, the
reference and tagger alternating by blocks; see `sampled`) and the training cost of all tags
is projected from it, for sizes a loaded machine cannot train whole.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import re
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    MemorySampler,
    memory_log,
    memory_now,
    one_core,
    peak_rss_mb,
    print_rows,
    save_results,
    timer,
    tree_cpu_seconds,
)

STOP_WORDS = (
    "the a an and or of to in on for with at by from as is was were be been are it its this "
    "that said says will would could should has have had not but they their he she his her "
    "we our you your i mr mrs year years also more than new one two after about over up out "
    "which who what when there into last first after before just been being can may"
)
STOP = set(STOP_WORDS.split())


def base_articles(data: Path) -> list[Any]:
    from tagger.corpus.readers import read_corpus

    reuters = [a for a in read_corpus([data / "reuters21578"], "reuters") if a.body.strip()]
    bbc = list(read_corpus([data / "bbc"], "folders"))
    for a in bbc:
        a.tags = [f"bbc-{a.section}"] if a.section else []
    for a in reuters + bbc:
        a.section = None
    return reuters + bbc


# tagger's entity types (the primary three, then spaCy's secondary ones that a newsroom
# tags: companies and other organisations, cities and regions, events) -> tag prefix
ENTITY_TYPES = {"PERSON": "person", "COUNTRY": "country", "AGENCY": "agency", "ORG": "org",
                "GPE": "place", "LOC": "place", "EVENT": "event"}  # fmt: skip
REUTERS_LABELS = ("places", "people", "orgs", "exchanges")
ENTITY_KINDS = (
    *dict.fromkeys(ENTITY_TYPES.values()),
    "reuters",
)  # tag prefixes that entity_tags adds
MAX_TAGS_PER_ARTICLE = 40


NAME = re.compile(r"\b([A-Z][a-z]{2,}) ([A-Z][a-z]{2,})\b")


def keyword_tags(articles: list[Any], wanted: int, after_entities: bool = False) -> None:
    """Add keyword tags until `wanted` distinct tags exist: single content words first;
    when the articles carry fewer than `wanted` distinct tags with them (about 7,500 at
    20,000 articles), name tags: pairs of capitalised words ("Saudi Arabia", "Lloyds
    Bank", the kind of entity a newsroom tags), the most frequent first. An article
    carries a keyword or name tag when it is in its title or twice in its body.
    With `after_entities` (the entity corpus) an article's tags stay at most
    MAX_TAGS_PER_ARTICLE in all, and no keyword or name repeats the name of a tag already
    there ("kw-japan", "name-Paul Volcker" beside "country-Japan", "person-Paul Volcker");
    without it up to 40 keyword tags are added to an article's topics."""
    have = {t for a in articles for t in a.tags}
    taken = {t.split("-", 1)[1].lower() for t in have if "-" in t} if after_entities else set()
    df: Counter[str] = Counter()
    words_of = []
    for a in articles:
        words = re.findall(r"[a-z]{4,}", (a.title + " " + a.body).lower())
        words_of.append(Counter(words))
        df.update(set(words) - STOP)
    keywords = [w for w, c in df.most_common() if c >= 5 and w not in have | taken]
    keywords = keywords[20 : 20 + max(0, wanted - len(have))]  # skip the very commonest
    chosen = set(keywords)
    for a, counts in zip(articles, words_of, strict=True):
        title = set(re.findall(r"[a-z]{4,}", a.title.lower()))
        extra = [w for w in chosen if (w in title or counts[w] >= 2)]
        room = MAX_TAGS_PER_ARTICLE - len(a.tags) if after_entities else MAX_TAGS_PER_ARTICLE
        a.tags = list(a.tags) + [f"kw-{w}" for w in sorted(extra)][: max(0, room)]
    left = wanted - len({t for a in articles for t in a.tags})
    if left <= 0:
        return
    carried: list[list[str]] = []
    name_count: Counter[str] = Counter()
    for a in articles:
        found = Counter(" ".join(m) for m in NAME.findall(a.title + "\n" + a.body))
        in_title = {" ".join(m) for m in NAME.findall(a.title)}
        names = [
            n
            for n, c in sorted(found.items())
            if (n in in_title or c >= 2)
            and not set(n.lower().split()) & STOP
            and n.lower() not in taken
        ]
        carried.append(names)
        name_count.update(names)
    picked = {n for n, c in name_count.most_common(left)}
    for a, names in zip(articles, carried, strict=True):
        room = max(0, MAX_TAGS_PER_ARTICLE - len(a.tags))
        a.tags = list(a.tags) + [f"name-{n}" for n in names if n in picked][:room]


def entity_tags(articles: list[Any], work: Path) -> dict[str, Any]:
    """Add entity tags from tagger's own entity pass (`analyze_articles`, what `tagger
    entities` runs: spaCy in `nlp.pipe` batches, gazetteers, canonical names), then the
    Reuters editors' PLACES / PEOPLE / ORGS / EXCHANGES labels. An article carries
    "person-", "country-" or "agency-" plus the canonical name when the entity is named
    (not a country inferred from a place) in its title or at least twice (the keyword
    rule), at most MAX_TAGS_PER_ARTICLE tags in all, the most salient first. Analyses are
    cached by content hash under WORK/entity-cache: a second run does not run spaCy.
    Returns the pass's figures (CPU seconds of this process, cache hits)."""
    from tagger.entities import analyze_articles

    cache = work / "entity-cache"
    cpu, start = time.process_time(), time.perf_counter()
    last = [0.0]

    def progress(_stage: str, done: int, total: int) -> None:
        if done == total or time.perf_counter() - last[0] > 60:
            last[0] = time.perf_counter()
            print(f"entities: {done}/{total} articles", file=sys.stderr, flush=True)

    found = analyze_articles(
        articles, cache_dir=cache, progress=progress, warn=lambda m: print(m, file=sys.stderr)
    )
    figures = {
        "entity_cpu_seconds": round(time.process_time() - cpu, 1),
        "entity_wall_seconds": round(time.perf_counter() - start, 1),
        "entity_articles": len(articles),
    }
    for article, entities in zip(articles, found, strict=True):
        tags = list(article.tags)
        for field in REUTERS_LABELS:
            tags += [f"reuters-{field}-{label}" for label in article.meta.get(field) or []]
        ranked = sorted(entities, key=lambda e: -float(e.get("salience", 0.0)))
        for entity in ranked:
            kind = ENTITY_TYPES.get(entity.get("type", ""))
            if kind is None or entity.get("inferred"):
                continue
            if entity.get("in_title") or int(entity.get("count", 0)) >= 2:
                tags.append(f"{kind}-{entity['name']}")
        article.tags = list(dict.fromkeys(tags))[:MAX_TAGS_PER_ARTICLE]
    # an entity or label tag on one article of the archive cannot be learned (training
    # keeps tags on at least 2 articles): left out, so that `--tags` counts learnable ones
    counts = Counter(t for a in articles for t in a.tags)
    new = {t for t in counts if t.startswith(tuple(f"{k}-" for k in ENTITY_KINDS))}
    for article in articles:
        article.tags = [t for t in article.tags if t not in new or counts[t] >= 2]
    figures["entity_tags_on_2_articles"] = sum(1 for t in new if counts[t] >= 2)
    figures["entity_tags_on_1_article"] = sum(1 for t in new if counts[t] == 1)
    return figures


def perturb(article: Any, copy: int, rng: Any) -> Any:
    from tagger.corpus.article import Article

    sentences = re.split(r"(?<=[.!?])\s+", article.body)
    shift = copy % max(1, len(sentences))
    sentences = sentences[shift:] + sentences[:shift]
    words = " ".join(sentences).split()
    keep = [w for w in words if rng.random() > 0.03]
    return Article(
        id=f"{article.id}-r{copy}", title=article.title, body=" ".join(keep), tags=article.tags
    )


def build(
    data: Path, size: int, tags: int, seed: int, source: str = "keywords", work: Path | None = None
) -> list[Any]:
    """`size` articles (base articles, then perturbed copies) in a random order, tagged by
    `source` ("keywords", or "entities": entity and Reuters label tags first, see
    `entity_tags`, the entity cache under `work`), keyword and name tags filling up to
    `tags`."""
    import numpy as np

    rng = np.random.default_rng(seed)
    base = base_articles(data)
    if source == "entities":
        print(json.dumps(entity_tags(base, work or Path(tempfile.gettempdir()))), flush=True)
    keyword_tags(base, tags, after_entities=source == "entities")
    out = list(base[:size])
    copy = 1
    while len(out) < size:
        out.extend(perturb(a, copy, rng) for a in base[: size - len(out)])
        copy += 1
    order = rng.permutation(len(out))
    return [out[i] for i in order]


def tag_counts(train: list[Any], test: list[Any]) -> dict[str, Any]:
    """What a corpus gives the tag model, without training: distinct tags with training
    positives, the tags training learns (`trained_labels`) by kind (the prefix before the
    first "-"), and the distribution of tags per article."""
    import numpy as np

    counts = Counter(t for a in train for t in set(a.tags))
    kept = trained_labels(train)
    per_article = np.array([len(set(a.tags)) for a in train + test])
    known = {*ENTITY_KINDS, "kw", "name", "bbc"}
    kinds = Counter(t.split("-", 1)[0] if t.split("-", 1)[0] in known else "topic" for t in kept)
    support = np.array(sorted(counts[t] for t in kept))
    return {
        "train_articles": len(train),
        "test_articles": len(test),
        "tags_with_train_positives": len(counts),
        "tags_learned": len(kept),
        "trained_tags_by_kind": dict(kinds.most_common()),
        "support_p50_p90_max": [int(np.percentile(support, q)) for q in (50, 90, 100)]
        if len(support)
        else [],
        "tags_per_article_mean": round(float(per_article.mean()), 2),
        "tags_per_article_p50_p90_p99_max": [
            int(np.percentile(per_article, q)) for q in (50, 90, 99, 100)
        ],
        "articles_without_tags": int((per_article == 0).sum()),
        "train_label_nonzeros": int(sum(counts.values())),
    }


def most_frequent_tags(articles: list[Any], keep: int) -> None:
    """Leave each article only the `keep` most frequent tags of the corpus (0: all)."""
    if keep <= 0:
        return
    counts = Counter(t for a in articles for t in set(a.tags))
    kept = {t for t, _ in counts.most_common(keep)}
    for a in articles:
        a.tags = [t for t in a.tags if t in kept]


def write_stream(
    data: Path, size: int, tags: int, seed: int, work: Path, test: int, max_tags: int = 0
) -> None:
    """train.jsonl (size - test articles) and test.jsonl, written as they are made; kept
    under `work` with the arguments that made them (corpus.json), so a later run with the
    same arguments reuses them instead of building them again."""
    import numpy as np

    spec = {"data": str(data), "size": size, "tags": tags, "seed": seed, "test": test,
            "max_tags": max_tags}  # fmt: skip
    made = work / "corpus.json"
    if made.is_file() and json.loads(made.read_text(encoding="utf-8")) == spec:
        return
    made.unlink(missing_ok=True)
    rng = np.random.default_rng(seed)
    base = base_articles(data)
    keyword_tags(base, tags)
    most_frequent_tags(base, max_tags)
    base = [base[i] for i in rng.permutation(len(base))]
    work.mkdir(parents=True, exist_ok=True)
    train_path, test_path = work / "train.jsonl", work / "test.jsonl"
    with (
        train_path.open("w", encoding="utf-8") as train,
        test_path.open("w", encoding="utf-8") as held,
    ):
        written, copy = 0, 0
        while written < size:
            for article in base[: size - written]:
                item = article if copy == 0 else perturb(article, copy, rng)
                out = held if written >= size - test else train
                out.write(json.dumps(item.to_dict(), ensure_ascii=False) + "\n")
                written += 1
            copy += 1
    made.write_text(json.dumps(spec), encoding="utf-8")


def run_stream(args: dict[str, Any], queue: Any) -> None:
    """Out-of-core training from the JSONL file, in this (spawned) process."""
    from tagger.api import TrainConfig
    from tagger.corpus.readers import read_corpus
    from tagger.labels import normalise_label_stream
    from tagger.stream_train import StreamConfig, train_streaming

    work = Path(args["work"])

    def source() -> Any:
        return normalise_label_stream(read_corpus([work / "train.jsonl"], "jsonl"))

    from stream_dev import parse

    stages: dict[str, float] = {}
    last = [""]

    def progress(stage: str, done: int, total: int) -> None:
        # the peak reached by the end of each stage (counting, each pass): where it grew;
        # also appended to WORK/stages.jsonl as it happens (a run stopped early still tells)
        name = stage if stage == "stream: counting" else f"{stage} {done}/{total}"
        if last[0] and name != last[0]:
            now = memory_now()
            stages[last[0]] = now["peak_mb"]
            with (work / "stages.jsonl").open("a", encoding="utf-8") as log:
                log.write(json.dumps({"stage": last[0], **now,
                                      "at": time.strftime("%H:%M:%S")}) + "\n")  # fmt: skip
        last[0] = name

    # RSS and its peak every 10 s (WORK/memory.jsonl): the peak-over-time curve
    load = os.getloadavg()
    cpu = time.process_time()
    config = TrainConfig()
    if args.get("train_tags"):  # learn only the N most frequent tags of the corpus
        config.tags.max_tags = args["train_tags"]
    with memory_log(work / "memory.jsonl", lambda: last[0]), timer() as elapsed:
        model = train_streaming(
            source, config, StreamConfig(**parse(args["stream"])), progress=progress
        )
    seconds, cpu = elapsed(), time.process_time() - cpu
    peak = peak_rss_mb()
    stages[last[0]] = peak
    test = list(read_corpus([work / "test.jsonl"], "jsonl"))
    corpus = model.manifest["corpus"]
    tags = model.tag_model.cv_metrics if model.tag_model else {}
    queue.put(
        measure(model, test, seconds, peak, args.get("keep"))
        | {
            "peak_by_stage_mb": stages,
            "cpu_seconds": cpu,
            "load_average_start": load,
            "load_average_end": os.getloadavg(),
            "training_articles": corpus["articles"],
            "term_dictionary": corpus.get("term_dictionary"),
            "calibration_entries": tags.get("calibration_entries"),
        }
    )


def reference(train: list[Any], test: list[Any], labels: list[str]) -> dict[str, Any]:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.svm import LinearSVC

    from tagger.evaluate import binarize, multilabel_metrics

    cpu = tree_cpu_seconds()
    with timer() as elapsed:
        vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2)
        x = vectorizer.fit_transform([f"{a.title}\n{a.body}" for a in train])
        y = binarize([a.tags for a in train], labels)
        keep = (y.sum(axis=0).A.ravel() > 0).nonzero()[0]
        model = OneVsRestClassifier(LinearSVC(random_state=0), n_jobs=2).fit(x, y[:, keep])
    seconds = elapsed()
    cpu = tree_cpu_seconds() - cpu
    scores = model.decision_function(vectorizer.transform([f"{a.title}\n{a.body}" for a in test]))
    y_test = binarize([a.tags for a in test], labels)[:, keep]
    metrics = multilabel_metrics(y_test, scores > 0, scores, [labels[j] for j in keep])
    return {
        "train_seconds": seconds,
        "cpu_seconds": cpu,
        "micro_f1": metrics["micro_f1"],
        "macro_f1": metrics["macro_f1"],
    }


def run_tagger(args: dict[str, Any], queue: Any) -> None:
    """In-memory training in this (spawned) process. Besides VmHWM (this process's peak,
    `peak_rss_mb`), the peak RSS and PSS of this process and of the process tree (the
    joblib workers) are sampled every second, overall and by training stage; each stage's
    figures are appended to WORK/stages.jsonl as it ends (a run stopped early still tells)."""
    from dataclasses import replace

    from tagger.api import Tagger, TrainConfig

    train, test = args["train"], args["test"]
    work = Path(args["work"])
    work.mkdir(parents=True, exist_ok=True)
    cpu = tree_cpu_seconds()
    with MemorySampler() as memory:

        def progress(stage: str, done: int, total: int) -> None:
            name = f"{stage} {done}/{total}"
            if name == memory.stage:
                return
            ended = memory.stage
            memory.sample()
            memory.stage = name
            with (work / "stages.jsonl").open("a", encoding="utf-8") as log:
                figures = {k: round(v) for k, v in memory.peaks.get(ended, {}).items()}
                line = {"stage": ended, "vmhwm_mb": round(peak_rss_mb()), **figures}
                log.write(json.dumps(line | {"at": time.strftime("%H:%M:%S")}) + "\n")

        config = TrainConfig()
        config.tags = replace(config.tags, **tag_settings(args.get("tag_settings", "")))
        features = tag_settings(args.get("feature_settings", ""))
        features = {k: tuple(v) if isinstance(v, list) else v for k, v in features.items()}
        config.features = replace(config.features, **features)
        with timer() as elapsed:
            model = Tagger.train(train, config, progress=progress)
        seconds = elapsed()
        progress("trained", 1, 1)
    cpu = tree_cpu_seconds() - cpu
    peak = peak_rss_mb()
    stages = {k: {n: round(v) for n, v in p.items()} for k, p in memory.peaks.items()}
    queue.put(
        measure(model, test, seconds, peak, args.get("keep"))
        | {"cpu_seconds": cpu, "memory_by_stage_mb": stages, "tree_peak_mb": stages["all"]}
    )


def tag_settings(spec: str) -> dict[str, Any]:
    """'stack_top=10,stack_min_gain=0.01' -> ModelConfig (or FeatureConfig) changes, values
    read as JSON ('char_ngrams=[3,5]': commas inside brackets do not split)."""
    out: dict[str, Any] = {}
    for part in filter(None, re.split(r",(?![^\[]*\])", spec)):
        key, value = part.split("=", 1)
        out[key] = json.loads(value)
    return out


def trained_labels(train: list[Any]) -> list[str]:
    """The tags training learns from these articles (above 1,000 tags, those on at least
    2 of them: `tagger.train.choose_tag_labels`), for the projections."""
    from tagger.train import TrainConfig, choose_tag_labels

    counts = Counter(t for a in train for t in set(a.tags))
    return choose_tag_labels(counts, TrainConfig().tags)[0]


def sampled(train: list[Any], labels: list[str], count: int, seed: int) -> dict[str, Any]:
    """Per-tag training cost on a random sample of `count` tags, on one core (one process,
    CPU seconds), the reference and tagger alternating block by block so that a change of
    load hits both: the features once each, then per block the reference's LinearSVC
    fits and tagger's `train_tag_model` (cross-validation, final fits, calibration, name
    rule) on the block's tags. The totals for all tags are projected from the means.
    The calibration budget (`tags.calibration_entries`, shared by all tags) is scaled to
    the sample, so that each sampled tag keeps what it would keep among all the tags."""
    import time
    from dataclasses import replace

    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.svm import LinearSVC

    from tagger.classify import train_tag_model
    from tagger.evaluate import binarize
    from tagger.features import Featurizer
    from tagger.train import TrainConfig

    config = TrainConfig()
    config.tags.n_jobs = 1
    rng = np.random.default_rng(seed)
    chosen = [labels[i] for i in sorted(rng.choice(len(labels), size=count, replace=False))]
    y = binarize([a.tags for a in train], chosen)
    start = time.process_time()
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2)
    x_ref = vectorizer.fit_transform([f"{a.title}\n{a.body}" for a in train])
    ref_features = time.process_time() - start
    start = time.process_time()
    x = Featurizer(config.features).fit_transform(train)
    features = time.process_time() - start
    titles, bodies = [a.title for a in train], [a.body for a in train]
    ref_fits = fits = 0.0
    nonzero = stored = 0
    budget = config.tags.calibration_entries
    for block in np.array_split(np.arange(count), 4):
        start = time.process_time()
        for j in block:
            LinearSVC(random_state=0).fit(x_ref, y[:, j].toarray().ravel())
        ref_fits += time.process_time() - start
        start = time.process_time()
        settings = replace(config.tags, calibration_entries=budget * len(block) // len(labels))
        model = train_tag_model(
            x, y[:, block], [chosen[j] for j in block], settings, titles=titles, bodies=bodies
        )
        fits += time.process_time() - start
        nonzero += int(model.coef.nnz)
        stored += deflated_bytes(model.coef)
    n = len(labels)
    return {
        "sampled_tags": count,
        "positives": [int(v) for v in np.asarray(y.sum(axis=0)).ravel()],
        "ref_features_cpu": ref_features,
        "features_cpu": features,
        "ref_per_tag_cpu": ref_fits / count,
        "per_tag_cpu": fits / count,
        "ref_projected_cpu": ref_features + n * ref_fits / count,
        "projected_cpu": features + n * fits / count,
        "features": int(x.shape[1]),
        "weights_per_tag": nonzero / count,
        "projected_weights_mb": n * nonzero / count * 8 / 1e6,  # float32 value + int32 column
        # as the bundle stores them (deflated .npy arrays): the weights' share of the bundle
        "projected_bundle_weights_mb": n * stored / count / 1e6,
        "peak_rss_mb": peak_rss_mb(),
    }


def deflated_bytes(coef: Any) -> int:
    """Bytes of a sparse weight matrix as a bundle stores it (bundle.write_arrays)."""
    from tagger.bundle import write_arrays

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "coef.npz"
        write_arrays(path, {"coef": coef})
        return path.stat().st_size


def measure(
    model: Any, test: list[Any], seconds: float, peak: float, keep: str | None = None
) -> dict[str, Any]:
    """Bundle size, prediction speed (one core, no evidence, after a first call on 10
    articles whose time is the start-up) and F1 of a trained model.
    With `keep` (a folder), the bundle is saved as KEEP/model and the held-out articles
    as KEEP/test.jsonl, for bench/predict_speed.py."""
    if keep:
        size = keep_model(model, test, Path(keep))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            size = keep_model(model, [], Path(tmp))
    result = model.evaluate(test)["tags"]
    with one_core():
        sample = test[:2000]
        # The first call builds what every later one reuses (the scoring split of the
        # weights, the language scorer): start-up, reported on its own, not throughput.
        with timer() as first:
            model.predict(test[-10:], explain=False)
        with timer() as elapsed:
            model.predict(sample, explain=False)
        rate = len(sample) / elapsed()
    return {
        "train_seconds": seconds,
        "peak_rss_mb": peak,
        "bundle_mb": size / 1e6,
        "predict_per_second": rate,
        "predict_startup_seconds": first(),
        "micro_f1": result["micro_f1"],
        "macro_f1": result["macro_f1"],
        "tags": len(model.tag_model.labels) if model.tag_model else 0,
        "features": model.featurizer.n_features,
        "nonzero_weights": int(model.tag_model.coef.nnz) if model.tag_model else 0,
    }


def keep_model(model: Any, test: list[Any], folder: Path) -> int:
    """Save the bundle as FOLDER/model (and `test` as FOLDER/test.jsonl); its bytes."""
    folder.mkdir(parents=True, exist_ok=True)
    model.save(folder / "model")
    if test:
        with (folder / "test.jsonl").open("w", encoding="utf-8") as out:
            for article in test:
                out.write(json.dumps(article.to_dict(), ensure_ascii=False) + "\n")
    return sum(p.stat().st_size for p in (folder / "model").rglob("*") if p.is_file())


def in_child(target: Any, args: dict[str, Any]) -> dict[str, Any]:
    """Run `target(args, queue)` in a spawned process and return what it puts."""
    context = mp.get_context("spawn")
    queue: Any = context.Queue()
    child = context.Process(target=_then_stop_workers, args=(target, args, queue))
    child.start()
    result = queue.get()
    child.join()
    return result


def _then_stop_workers(target: Any, args: dict[str, Any], queue: Any) -> None:
    """Run `target`, then shut joblib's loky workers down: a spawned child's exit joins
    its non-daemon child processes before loky's own exit hook runs, so idle workers
    left running would hang it (seen at 40,000 x 2,000)."""
    try:
        target(args, queue)
    finally:
        from joblib.externals.loky import get_reusable_executor

        get_reusable_executor().shutdown(wait=True, kill_workers=True)


def row(size: int, mine: dict[str, Any], ref: dict[str, Any] | None) -> tuple[str, ...]:
    return (
        str(size),
        str(mine["tags"]),
        f"{mine['train_seconds']:.0f}",
        f"{ref['train_seconds']:.0f}" if ref else "-",
        f"{mine['train_seconds'] / ref['train_seconds']:.2f}" if ref else "-",
        f"{mine.get('cpu_seconds', 0):.0f}",
        f"{ref['cpu_seconds']:.0f}" if ref else "-",
        f"{mine['peak_rss_mb']:.0f}",
        tree_peak(mine),
        f"{mine['bundle_mb']:.1f}",
        f"{mine['predict_per_second']:.0f}",
        f"{mine['predict_startup_seconds']:.2f}" if "predict_startup_seconds" in mine else "-",
        f"{mine['micro_f1']:.4f}",
        f"{ref['micro_f1']:.4f}" if ref else "-",
        f"{mine['macro_f1']:.4f}",
        f"{ref['macro_f1']:.4f}" if ref else "-",
    )


def tree_peak(mine: dict[str, Any]) -> str:
    """ "RSS / PSS" peak of the training process tree sampled every second (`MemorySampler`;
    in-memory runs), or "-"."""
    tree = mine.get("tree_peak_mb") or {}
    if not tree:
        return "-"
    return f"{tree['tree_rss_mb']:.0f} / {tree['tree_pss_mb']:.0f}"


def kept(keep: Path | None, size: int) -> str | None:
    """Where one size's bundle and test articles are kept (--keep), or None."""
    return str(keep / str(size)) if keep else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("data", type=Path, help="../shared/data")
    parser.add_argument("--sizes", default="10000,40000")
    parser.add_argument("--tags", type=int, default=2000)
    parser.add_argument("--out-of-core", action="store_true")
    parser.add_argument("--no-reference", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", type=Path, default=Path("/tmp/scale-train"))
    parser.add_argument("--test-articles", type=int, default=2000)
    parser.add_argument("--stream", default="", help="StreamConfig changes: key=value,...")
    parser.add_argument(
        "--tag-settings",
        default="",
        help="in-memory runs: tags (ModelConfig) changes, key=value,...",
    )
    parser.add_argument(
        "--feature-settings",
        default="",
        help="in-memory runs: features (FeatureConfig) changes, key=value,...",
    )
    parser.add_argument(
        "--max-tags", type=int, default=0, help="--out-of-core: keep the N commonest"
    )
    parser.add_argument(
        "--train-tags",
        type=int,
        default=0,
        help="--out-of-core: learn the N most frequent tags only (tags.max_tags; same corpus)",
    )
    parser.add_argument(
        "--sample-tags", type=int, default=0, help="per-tag cost on this many tags (no full run)"
    )
    parser.add_argument(
        "--keep",
        type=Path,
        default=None,
        help="keep each size's bundle and held-out articles in KEEP/SIZE/{model,test.jsonl}",
    )
    parser.add_argument(
        "--tag-source",
        choices=("keywords", "entities"),
        default="keywords",
        help="entities: tagger's entity pass and Reuters labels first (cached under --work)",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="build and split the corpus, count tags, no training"
    )
    args = parser.parse_args()
    if args.dry_run:
        for size in [int(s) for s in args.sizes.split(",")]:
            start = time.process_time()
            articles = build(args.data, size, args.tags, args.seed, args.tag_source, args.work)
            cut = int(0.8 * len(articles))
            result = {"articles": size, "tags_asked": args.tags, "tag_source": args.tag_source}
            result |= tag_counts(articles[:cut], articles[cut:])
            result["build_cpu_seconds"] = round(time.process_time() - start, 1)
            print(json.dumps(result))
            save_results(f"scale_train_dry_{args.tag_source}_{size}_{args.tags}", result)
        return
    if args.sample_tags:
        for size in [int(s) for s in args.sizes.split(",")]:
            articles = build(args.data, size, args.tags, args.seed, args.tag_source, args.work)
            train = articles[: int(0.8 * len(articles))]
            labels = trained_labels(train)
            result = sampled(train, labels, min(args.sample_tags, len(labels)), args.seed)
            result |= {"articles": size, "train_articles": len(train), "tags": len(labels)}
            result["ratio"] = result["projected_cpu"] / result["ref_projected_cpu"]
            print(json.dumps(result))
            save_results(f"scale_train_sample_{size}", result)
        return

    rows = [("articles", "tags", "train s", "ref s", "ratio", "CPU s", "ref CPU s", "peak MB",
             "tree RSS/PSS MB", "bundle MB", "art/s", "start s", "micro", "ref micro", "macro",
             "ref macro")]  # fmt: skip
    results = []
    for size in [int(s) for s in args.sizes.split(",")]:
        ref = None
        if args.out_of_core:
            write_stream(
                args.data, size, args.tags, args.seed, args.work, args.test_articles, args.max_tags
            )
            mine = in_child(
                run_stream,
                {
                    "work": str(args.work),
                    "stream": args.stream,
                    "train_tags": args.train_tags,
                    "keep": kept(args.keep, size),
                },
            )
        else:
            articles = build(args.data, size, args.tags, args.seed, args.tag_source, args.work)
            cut = int(0.8 * len(articles))
            train, test = articles[:cut], articles[cut:]
            labels = sorted({t for a in train for t in a.tags})
            ref = None if args.no_reference else reference(train, test, labels)
            mine = in_child(
                run_tagger,
                {
                    "train": train,
                    "test": test,
                    "keep": kept(args.keep, size),
                    "work": str(args.work),
                    "tag_settings": args.tag_settings,
                    "feature_settings": args.feature_settings,
                },
            )
        results.append({"articles": size, "tagger": mine, "reference": ref})
        rows.append(row(size, mine, ref))
        print_rows(rows)
        for key in ("peak_by_stage_mb", "memory_by_stage_mb"):
            if key in mine:
                print(json.dumps({"articles": size, key: mine[key]}))
    out = save_results(
        "scale_train",
        {
            "runs": results,
            "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        },
    )
    print(json.dumps({"wrote": str(out)}))


if __name__ == "__main__":
    main()
