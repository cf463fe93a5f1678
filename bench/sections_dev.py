"""Development runs for the section model: candidate members and mixes, on folds that are
NOT the ones bench/sections.py reports.

    python bench/sections_dev.py --bbc ../shared/data/bbc --sample corpus/sample.jsonl \\
        --reuters ../shared/data/reuters21578 [--only NAMES] [--max-folds N] [--errors]

Validation discipline (fixed on 30 Nov 2026 before any of the ideas below was measured):
  * development folds: scikit-learn's StratifiedKFold, 5 folds, shuffle, random_state 1
    (one repeat) on the same collections as bench/sections.py (articles sorted by id);
    bench/sections.py reports RepeatedStratifiedKFold 5 x 2 with random_state 0, so no
    development fold is a reported fold;
  * a variant is chosen only from these development figures, and is kept only if its mean
    accuracy is not below the current model's on any collection (a change that helps one
    collection and hurts another goes); the kept model is then measured once with
    bench/sections.py (the report), and nothing is changed after seeing those figures;
  * anything chosen per collection (C, a mixing weight) is chosen inside the model from
    its own inner cross-validation on the training part only (nested), never on the
    held-out articles.

Per development fold, each member is fitted once with tagger's own features
(`Featurizer`, the defaults): its inner 5-fold out-of-fold decision values (as
`train_section_model` computes them, same inner folds) and its final fit's decision values
on the held-out articles, cached under --cache (one .npz per collection, fold and member),
so that every mix is scored without refitting. Members:
  svm@C      multi-class LinearSVC on the word features (tagger's first member at C=1)
  nb@C       NB-weighted one-vs-rest SVMs (tagger's second member at C=1)
  nbsvm@B    (with --nbsvm) NBSVM as published (Wang and Manning 2012): binarised
             features, log-count ratios with alpha 1, one-vs-rest L2-loss SVM C=1,
             interpolation beta B
  title@C    LinearSVC on the title's character 2-5-grams (tagger's third member: title@1)
  tchar      the same on the title's character 2-5-grams across word boundaries (analyzer
             "char": "QTR NET", "SHR 1" are grams of their own)
  nba@C      nb@C with the tag model's smoothing of the log-count ratio (alpha 0.03, chosen
             for tags on the Reuters development folds) instead of the sections' 1
  wc@C       svm@C on the word features plus the tag model's character block (`Featurizer`
             with char_ngrams (3, 5): each block L2-normalised, then the stack)
  nbwc@C     nb@C on those features
  bchar      LinearSVC (C 1) on that character block alone (rows re-normalised)
  cnb@A      Complement Naive Bayes (Rennie et al. 2003) on the word features, smoothing A
  mnb@A      multinomial Naive Bayes on the word features, smoothing A
  lr@C       multinomial logistic regression on the word features
  emb@C      (with --embeddings DIR, from bench/embed_sections.py) multinomial logistic
             regression on pretrained sentence embeddings (all-MiniLM-L6-v2)
  esvm@C     LinearSVC on those embeddings
Twelfth pass (1 Dec 2026, fixed before the emb members were run): a pretrained sentence
encoder as a member of another kind (dense, semantic), mixed in after "kept" by inner
log-loss as the tenth pass's members; kept only if not below "kept" on any collection AND
within the speed budgets of issue 2 (prediction >= 1,000 articles/s on one core, training
Reuters under 2 minutes), which a transformer encoder on 2 cores cannot meet: the pass asks
whether such a member would reach the +0.01 at all.
Tenth pass (1 Dec 2026, fixed before the cnb/mnb/lr members were run): a member of another
family (generative Naive Bayes, or the logistic loss) mixed in after "kept" by inner log-loss,
as the title members are; kept only if not below "kept" on any collection.
Seventh pass (1 Dec 2026, fixed before these members were run): the candidates built on
them are scored against "kept" (the shipped model: C and word members by inner CV, title
then tchar); one is kept only if it is not below "kept" on any collection.
--members chooses which are fitted (default: all but nbsvm); a candidate whose members are
not fitted is not scored.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import print_rows, save_results
from sections import collections, reference_fold

from tagger.api import TrainConfig
from tagger.classify import (
    _fit_multiclass,
    _fit_nb_weighted,
    _folds,
    _linear_svc,
    _title_features,
    choose_title_weight,
    fit_temperature,
    log_loss,
    softmax,
    without_columns,
)
from tagger.features import Featurizer

DEV_SEED = 1
C_GRID = (0.3, 1.0, 3.0, 10.0)


def fit_nbsvm(x: sp.csr_matrix, y: np.ndarray, n_labels: int, beta: float, seed: int) -> Any:
    """NBSVM (Wang and Manning 2012) one-vs-rest on binarised features: coef in the
    binarised space, already multiplied by r and interpolated."""
    xb = x.copy()
    xb.data[:] = 1.0
    coef = np.zeros((n_labels, x.shape[1]))
    intercept = np.full(n_labels, -10.0)
    total = np.asarray(xb.sum(axis=0)).ravel()
    for j in range(n_labels):
        positive = y == j
        if not positive.any():
            continue
        inside = np.asarray(xb[positive].sum(axis=0)).ravel()
        p, q = inside + 1.0, total - inside + 1.0
        r = np.log(p / p.sum()) - np.log(q / q.sum())
        model = _linear_svc(1.0, seed).fit(xb @ sp.diags(r), positive)
        w = model.coef_[0]
        w = (1 - beta) * np.abs(w).mean() + beta * w
        coef[j] = r * w
        intercept[j] = model.intercept_[0]
    return coef, intercept


def binary(x: sp.csr_matrix) -> sp.csr_matrix:
    xb = x.copy()
    xb.data[:] = 1.0
    return xb


def member_specs(cfg: Any, seed: int, nbsvm: bool) -> dict[str, tuple[str, Any]]:
    """name -> (space, fit(x, y, n_labels) -> (coef, intercept))."""
    from dataclasses import replace

    specs: dict[str, tuple[str, Any]] = {}
    fit_title = _fit_multiclass
    for c in C_GRID:
        mc = replace(cfg, c=c)
        specs[f"svm@{c:g}"] = ("word", lambda x, y, n, mc=mc: _fit_multiclass(x, y, n, mc, seed))
        specs[f"nb@{c:g}"] = ("word", lambda x, y, n, mc=mc: _fit_nb_weighted(x, y, n, mc, seed))
    for beta in (0.25, 1.0) if nbsvm else ():
        specs[f"nbsvm@{beta:g}"] = (
            "binary",
            lambda x, y, n, beta=beta: fit_nbsvm(x, y, n, beta, seed),
        )
    specs["title"] = ("title", lambda x, y, n: fit_title(x, y, n, cfg, seed))
    for c in (0.3, 3.0):
        mc = replace(cfg, c=c)
        specs[f"title@{c:g}"] = ("title", lambda x, y, n, mc=mc: fit_title(x, y, n, mc, seed))
    specs["tchar"] = ("tchar", lambda x, y, n: fit_title(x, y, n, cfg, seed))
    for c in C_GRID:
        mc = replace(cfg, c=c)
        specs[f"nba@{c:g}"] = (
            "word",
            lambda x, y, n, mc=mc: _fit_nb_weighted(x, y, n, mc, seed, 0.03),
        )
        specs[f"wc@{c:g}"] = ("wc", lambda x, y, n, mc=mc: _fit_multiclass(x, y, n, mc, seed))
        specs[f"nbwc@{c:g}"] = ("wc", lambda x, y, n, mc=mc: _fit_nb_weighted(x, y, n, mc, seed))
    specs["bchar"] = ("char", lambda x, y, n: _fit_multiclass(x, y, n, cfg, seed))
    for alpha in (0.1, 0.3, 1.0):
        specs[f"cnb@{alpha:g}"] = ("word", lambda x, y, n, a=alpha: fit_nb("cnb", x, y, n, a))
        specs[f"mnb@{alpha:g}"] = ("word", lambda x, y, n, a=alpha: fit_nb("mnb", x, y, n, a))
    for c in (10.0, 30.0):
        specs[f"lr@{c:g}"] = ("word", lambda x, y, n, c=c: fit_lr(x, y, n, c, seed))
    for c in (1.0, 10.0, 100.0):
        specs[f"emb@{c:g}"] = ("emb", lambda x, y, n, c=c: fit_lr(x, y, n, c, seed))
        specs[f"esvm@{c:g}"] = ("emb", lambda x, y, n, c=c: fit_svc(x, y, n, c, seed))
    return specs


def fit_svc(x: Any, y: np.ndarray, n_labels: int, c: float, seed: int) -> Any:
    model = _linear_svc(c, seed).fit(x, y)
    coef = np.zeros((n_labels, x.shape[1]))
    intercept = np.full(n_labels, -1e3)
    if len(model.classes_) == 2:
        coef[model.classes_[1]], intercept[model.classes_[1]] = model.coef_[0], model.intercept_[0]
        intercept[model.classes_[0]] = 0.0
        coef[model.classes_[0]] = 0.0
    else:
        coef[model.classes_], intercept[model.classes_] = model.coef_, model.intercept_
    return coef, intercept


def embedding_space(directory: Path | None, name: str, train: list, test: list) -> Any:
    """Precomputed sentence embeddings of the collection's articles, looked up by id
    (`--embeddings DIR`: DIR/NAME.npz with arrays ids and vecs)."""
    if directory is None:
        return None
    data = np.load(directory / f"{name}.npz")
    row = {i: k for k, i in enumerate(data["ids"].tolist())}
    vecs = data["vecs"].astype(np.float64)
    return vecs[[row[a.id] for a in train]], vecs[[row[a.id] for a in test]]


def fit_nb(kind: str, x: sp.csr_matrix, y: np.ndarray, n_labels: int, alpha: float) -> Any:
    """Complement or multinomial Naive Bayes as a linear model: (log-probabilities of the
    features per class, the class prior, or 0 for CNB, which leaves it out)."""
    from sklearn.naive_bayes import ComplementNB, MultinomialNB

    model = (ComplementNB if kind == "cnb" else MultinomialNB)(alpha=alpha).fit(x, y)
    coef = np.zeros((n_labels, x.shape[1]))
    intercept = np.zeros(n_labels)
    coef[model.classes_] = model.feature_log_prob_
    if kind == "mnb":
        intercept[:] = -1e3
        intercept[model.classes_] = model.class_log_prior_
    return coef, intercept


def fit_lr(x: sp.csr_matrix, y: np.ndarray, n_labels: int, c: float, seed: int) -> Any:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=c, max_iter=1000, random_state=seed).fit(x, y)
    coef = np.zeros((n_labels, x.shape[1]))
    intercept = np.full(n_labels, -1e3)
    coef[model.classes_], intercept[model.classes_] = model.coef_, model.intercept_
    return coef, intercept


def title_char_space(train: list, test: list) -> tuple[Any, Any]:
    """Character 2-5-grams of the titles across word boundaries (tf-idf as the title block)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer(
        analyzer="char", ngram_range=(2, 5), min_df=2, sublinear_tf=True, strip_accents="unicode"
    )
    x = vectorizer.fit_transform([a.title or "" for a in train])
    return x, vectorizer.transform([a.title or "" for a in test])


def fold_members(
    train: list,
    test: list,
    y: np.ndarray,
    n_labels: int,
    config: TrainConfig,
    cache: Path,
    nbsvm: bool,
    wanted: set[str] | None = None,
    emb: Any = None,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per member: (inner out-of-fold decisions, held-out decisions), cached."""
    cfg = config.sections
    specs = member_specs(cfg, config.seed, nbsvm)
    if wanted is not None:
        specs = {k: v for k, v in specs.items() if k in wanted}
    if emb is None:
        specs = {k: v for k, v in specs.items() if v[0] != "emb"}
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    missing = []
    for name in specs:
        path = cache / f"{name}.npz"
        if path.exists():
            data = np.load(path)
            out[name] = (data["oof"], data["held"])
        else:
            missing.append(name)
    if not missing:
        return out
    featurizer = Featurizer(config.features)
    x = featurizer.fit_transform(train).astype(np.float64)
    xt = featurizer.transform(test).astype(np.float64)
    block, x_title = _title_features([a.title for a in train], cfg)
    spaces = {
        "word": (x, xt),
        "binary": (binary(x), binary(xt)),
        "title": (x_title, block.transform([a.title for a in test]).astype(np.float64)),
        "tchar": title_char_space(train, test),
    }
    if emb is not None:
        spaces["emb"] = emb
    if any(specs[m][0] in ("wc", "char") for m in missing):
        from dataclasses import replace

        with_chars = Featurizer(replace(config.features, char_ngrams=(3, 5)))
        xw = with_chars.fit_transform(train).astype(np.float64)
        xwt = with_chars.transform(test).astype(np.float64)
        start, _ = with_chars.char_columns()
        words = (0, start)  # the word block; the char block follows it
        spaces["wc"] = (xw, xwt)
        spaces["char"] = (without_columns(xw, words), without_columns(xwt, words))
    n = len(train)
    folds = _folds(n, cfg.cv_folds, config.seed, None)
    for name in missing:
        space, fit = specs[name]
        xs, xh = spaces[space]
        oof = np.zeros((n, n_labels))
        for held in folds:
            rest = np.setdiff1d(np.arange(n), held, assume_unique=True)
            coef, intercept = fit(xs[rest], y[rest], n_labels)
            oof[held] = np.asarray(xs[held] @ coef.T) + intercept
        coef, intercept = fit(xs, y, n_labels)
        out[name] = (oof, np.asarray(xh @ coef.T) + intercept)
        np.savez_compressed(cache / f"{name}.npz", oof=oof, held=out[name][1])
    return out


TITLE_WEIGHTS = (0.0, 0.2, 0.35, 0.5)


def pool(members: dict, names: list[str], y: np.ndarray, how: str, share: float = 0.5) -> Any:
    """(oof, held-out) probabilities of the word members: `how` "mean" (the model's mean of
    temperature-scaled probabilities; two members weighted share / 1 - share), "geo" (mean
    of their log-probabilities, renormalised) or "margin" (mean of the temperature-scaled
    decision values, one more temperature on the sum)."""
    oofs, helds = [], []
    for name in names:
        oof, held = members[name]
        t = fit_temperature(oof, y)
        oofs.append(oof / t)
        helds.append(held / t)
    weights = [share, 1 - share] if len(names) == 2 else [1 / len(names)] * len(names)
    if how == "mean":
        return (
            sum(w * softmax(o) for w, o in zip(weights, oofs, strict=True)),
            sum(w * softmax(h) for w, h in zip(weights, helds, strict=True)),
        )
    if how == "geo":
        p_oof = sum(np.log(softmax(o)) for o in oofs) / len(oofs)
        p_held = sum(np.log(softmax(h)) for h in helds) / len(helds)
    else:
        p_oof, p_held = sum(oofs) / len(oofs), sum(helds) / len(helds)
    t = fit_temperature(p_oof, y)
    return softmax(p_oof / t), softmax(p_held / t)


def add_title(
    members: dict,
    pooled: tuple[Any, Any],
    y: np.ndarray,
    title: str = "title",
    weights: tuple[float, ...] = TITLE_WEIGHTS,
    by: str = "log-loss",
) -> tuple[Any, Any]:
    """The title member mixed in with the weight chosen on the inner out-of-fold results
    (by log-loss as the model does, or by accuracy with log-loss breaking ties)."""
    p_oof, p_held = pooled
    oof, held = members[title]
    t = fit_temperature(oof, y)
    t_oof, t_held = softmax(oof / t), softmax(held / t)
    if by == "log-loss":
        w = choose_title_weight(p_oof, t_oof, y, weights)
    else:
        w = min(
            weights,
            key=lambda w: (
                -inner_accuracy((1 - w) * p_oof + w * t_oof, y),
                log_loss((1 - w) * p_oof + w * t_oof, y),
                w,
            ),
        )
    return (1 - w) * p_oof + w * t_oof, (1 - w) * p_held + w * t_held


def mix(members: dict, names: list[str], y: np.ndarray, title: bool) -> tuple[Any, Any]:
    """Mean of the members' temperature-scaled probabilities, then the title member by
    out-of-fold log-loss (as the model does): (oof probabilities, held-out ones)."""
    pooled = pool(members, names, y, "mean")
    return add_title(members, pooled, y) if title else pooled


def inner_accuracy(oof: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(oof.argmax(1) == y))


def candidates(members: dict, y: np.ndarray) -> dict[str, np.ndarray]:
    """Held-out probabilities of each candidate model (those whose members were fitted)."""
    out: dict[str, np.ndarray] = {}
    have = set(members)
    out["current"] = mix(members, ["svm@1", "nb@1"], y, True)[1]
    out["svm@1 only"] = mix(members, ["svm@1"], y, False)[1]
    base = pool(members, ["svm@1", "nb@1"], y, "mean")
    # how the two word members are pooled
    for how in ("geo", "margin"):
        out[f"svm+nb {how}"] = add_title(members, pool(members, ["svm@1", "nb@1"], y, how), y)[1]
    shares = []
    for share in (0.25, 0.5, 0.75):
        p_oof, p_held = add_title(members, pool(members, ["svm@1", "nb@1"], y, "mean", share), y)
        shares.append((log_loss(p_oof, y), abs(share - 0.5), p_held))
    out["svm share by inner log-loss"] = min(shares, key=lambda s: s[:2])[2]
    # the title member: weight grid, chooser, C, analyzer
    wider = (*TITLE_WEIGHTS, 0.65, 0.8)
    out["title weights to 0.8"] = add_title(members, base, y, weights=wider)[1]
    out["title weight by inner accuracy"] = add_title(members, base, y, by="accuracy")[1]
    for name in ("title@0.3", "title@3", "tchar"):
        if name in have:
            out[f"{name} as title"] = add_title(members, base, y, title=name)[1]
    if {"title@0.3", "title@3"} <= have:
        best = min(
            ("title@0.3", "title", "title@3"),
            key=lambda t: log_loss(add_title(members, base, y, title=t)[0], y),
        )
        out["title C by inner log-loss"] = add_title(members, base, y, title=best)[1]
    if "tchar" in have:
        out["title then tchar"] = add_title(members, add_title(members, base, y), y, "tchar")[1]
    # C for the word members
    if all(f"{f}@{c:g}" in have for f in ("svm", "nb") for c in C_GRID):
        for c in C_GRID:
            out[f"svm+nb @C={c:g}"] = mix(members, [f"svm@{c:g}", f"nb@{c:g}"], y, True)[1]
        out["svm (+nb), C and members by inner CV"] = kept_mix(members, y, "svm", "nb", False)[1]
        if "tchar" in have:
            # the same, then the title member and the cross-word title member in turn
            kept = kept_mix(members, y, "svm", "nb")
            out["C and members by inner CV, title then tchar"] = out["kept"] = kept[1]
            if "bchar" in have:
                out["kept, then bchar by log-loss"] = add_title(members, kept, y, "bchar")[1]
            for other in sorted(have):
                if other.split("@")[0] in ("cnb", "mnb", "lr", "emb", "esvm"):
                    out[f"kept, then {other} by log-loss"] = add_title(members, kept, y, other)[1]
            for svm, nb, label in (("svm", "nba", "nb alpha 0.03"), ("wc", "nbwc", "words+chars")):
                if all(f"{f}@{c:g}" in have for f in (svm, nb) for c in C_GRID):
                    out[f"kept, {label}"] = kept_mix(members, y, svm, nb)[1]
    for beta in (0.25, 1.0) if "nbsvm@1" in members else ():
        b = f"nbsvm@{beta:g}"
        out[f"svm+{b}"] = mix(members, ["svm@1", b], y, True)[1]
        out[f"svm+nb+{b}"] = mix(members, ["svm@1", "nb@1", b], y, True)[1]
    return out


def kept_mix(
    members: dict, y: np.ndarray, svm: str, nb: str, cross: bool = True
) -> tuple[Any, Any]:
    """The shipped mix: C and word members (`svm` alone or with `nb`) by inner out-of-fold
    accuracy (ties: log-loss, smaller C, one member), the title then (`cross`) the tchar
    member."""
    options = []
    for c in C_GRID:
        for names in ([f"{svm}@{c:g}"], [f"{svm}@{c:g}", f"{nb}@{c:g}"]):
            p_oof, p_held = mix(members, names, y, True)
            if cross:
                p_oof, p_held = add_title(members, (p_oof, p_held), y, "tchar")
            options.append(
                (-inner_accuracy(p_oof, y), log_loss(p_oof, y), c, len(names), p_oof, p_held)
            )
    best = min(options, key=lambda o: o[:4])
    return best[4], best[5]


def confusions(truth: list[str], predicted: list[str]) -> list[tuple[str, int]]:
    pairs = Counter(f"{t} -> {p}" for t, p in zip(truth, predicted, strict=True) if t != p)
    return pairs.most_common(8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bbc")
    parser.add_argument("--sample")
    parser.add_argument("--reuters")
    parser.add_argument("--only")
    parser.add_argument("--max-folds", type=int, default=None)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/sections_dev"))
    parser.add_argument("--errors", action="store_true", help="print the current errors")
    parser.add_argument("--nbsvm", action="store_true", help="also the NBSVM members")
    parser.add_argument("--members", help="comma-separated members to fit (default: all)")
    parser.add_argument(
        "--embeddings", type=Path, help="DIR of NAME.npz sentence embeddings (the emb members)"
    )
    args = parser.parse_args()
    from sklearn.model_selection import StratifiedKFold

    config = TrainConfig()
    wanted = set(args.members.split(",")) if args.members else None
    results: dict[str, Any] = {"protocol": f"5-fold stratified CV, seed {DEV_SEED}"}
    results["load_average"] = os.getloadavg()
    for name, articles in collections(args).items():
        labels = sorted({a.section for a in articles})
        index = {s: i for i, s in enumerate(labels)}
        y_all = np.array([index[a.section] for a in articles])
        splitter = StratifiedKFold(n_splits=5, shuffle=True, random_state=DEV_SEED)
        accuracy: dict[str, list[float]] = {}
        for number, (tr, te) in enumerate(splitter.split(articles, y_all)):
            if args.max_folds is not None and number >= args.max_folds:
                break
            train, test = [articles[i] for i in tr], [articles[i] for i in te]
            cache = args.cache / name / str(number)
            cache.mkdir(parents=True, exist_ok=True)
            ref = reference_fold(train, test, labels)["accuracy"]
            emb = embedding_space(args.embeddings, name, train, test)
            members = fold_members(
                train, test, y_all[tr], len(labels), config, cache, args.nbsvm, wanted, emb
            )
            scores = {f"member {k}": softmax(v[1]) for k, v in members.items()}
            scores.update(candidates(members, y_all[tr]))
            accuracy.setdefault("reference", []).append(ref)
            for key, held in scores.items():
                accuracy.setdefault(key, []).append(float(np.mean(held.argmax(1) == y_all[te])))
            if args.errors:
                predicted = scores["current"].argmax(1)
                for i, p in zip(te, predicted, strict=True):
                    if p != y_all[i]:
                        a = articles[i]
                        print(f"  {a.id}: {a.section} -> {labels[p]}: {a.title[:70]!r}")
                truth = [labels[i] for i in y_all[te]]
                print("  ", confusions(truth, [labels[i] for i in predicted]))
            print(f"{name} fold {number + 1} (load {os.getloadavg()[0]:.1f})", flush=True)
        ref_values = accuracy["reference"]
        rows = [("candidate", "accuracy", "- reference", "- current", "folds below ref")]
        for key, values in accuracy.items():
            diffs = [v - r for v, r in zip(values, ref_values, strict=True)]
            vs_current = [v - c for v, c in zip(values, accuracy["current"], strict=True)]
            spread = statistics.stdev(values) if len(values) > 1 else 0.0
            rows.append(
                (
                    key,
                    f"{statistics.mean(values):.4f} ± {spread:.4f}",
                    f"{statistics.mean(diffs):+.4f}",
                    f"{statistics.mean(vs_current):+.4f}",
                    f"{sum(d < 0 for d in diffs)}/{len(diffs)}",
                )
            )
        print(name, flush=True)
        print_rows(rows)
        results[name] = accuracy
    results["load_average_end"] = os.getloadavg()
    print(f"load average {results['load_average']} -> {results['load_average_end']}")
    suffix = "_" + args.only.replace(",", "_") if args.only else ""
    print(f"wrote {save_results('sections_dev' + suffix, results)}")


if __name__ == "__main__":
    main()
