"""Train/test splits that keep near-duplicates on one side.

A wire story and its republished copy in train and test would let a model pass a test by
memory. Splits assign whole duplicate groups (tagger.corpus.dedup) to one side: at random
with a seed, or by date, holding out the newest articles as a newsroom would evaluate.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from tagger.corpus.article import Article
from tagger.errors import ConfigError, InputError


@dataclass
class Split:
    """Indices of the training and held-out articles, and the groups of the training part."""

    train: list[int]
    test: list[int]
    groups: list[int]  # group id per article of the whole corpus
    by_date: bool = False

    def train_groups(self) -> list[int]:
        return [self.groups[i] for i in self.train]


def split_indices(
    articles: Sequence[Article],
    holdout: float = 0.2,
    *,
    seed: int = 0,
    by_date: bool = False,
    groups: Sequence[int] | None = None,
) -> Split:
    """Hold out about `holdout` of the articles, never splitting a duplicate group.

    By date, the groups with the newest articles are held out; undated articles stay in
    training. Otherwise whole groups are drawn at random with `seed`.
    """
    if not 0 < holdout < 1:
        raise ConfigError(f"the held-out fraction must be between 0 and 1, got {holdout}")
    n = len(articles)
    if n < 2:
        raise InputError("a train/test split needs at least 2 articles")
    if groups is None:
        from tagger.corpus.dedup import near_duplicate_groups

        groups = near_duplicate_groups(articles)
    members: dict[int, list[int]] = {}
    for i, g in enumerate(groups):
        members.setdefault(g, []).append(i)
    if by_date:
        newest: dict[int, datetime] = {}
        for g, idx in members.items():
            dates = [articles[i].published for i in idx if articles[i].published is not None]
            if dates:
                newest[g] = max(dates)
        if not newest:
            raise InputError("--split-by-date: no article has a published date")
        order = sorted(newest, key=lambda g: (newest[g], g), reverse=True)
    else:
        order = sorted(members)
        random.Random(seed).shuffle(order)
    target = max(1, round(holdout * n))
    test: list[int] = []
    for g in order:
        if len(test) >= target:
            break
        if len(test) + len(members[g]) > target and test and not by_date:
            continue  # a big group would overshoot: try smaller ones
        test.extend(members[g])
    held = set(test)
    train = [i for i in range(n) if i not in held]
    if not train:
        raise InputError("the held-out part would take every article: lower the fraction")
    return Split(train=train, test=sorted(test), groups=list(groups), by_date=by_date)


def train_test_split(
    articles: Sequence[Article],
    holdout: float = 0.2,
    *,
    seed: int = 0,
    by_date: bool = False,
) -> tuple[list[Article], list[Article], list[int]]:
    """(train articles, held-out articles, duplicate group of each training article)."""
    split = split_indices(articles, holdout, seed=seed, by_date=by_date)
    train = [articles[i] for i in split.train]
    test = [articles[i] for i in split.test]
    return train, test, split.train_groups()


def split_for_training(
    articles: Sequence[Article],
    holdout: float | None,
    by_date: bool,
    seed: int,
    info: Callable[[str], None] = print,
) -> tuple[list[Article], list[Article], list[int]]:
    """What `tagger train` trains and evaluates on: (train, held out, train groups).

    Near-duplicate groups are always found (they keep cross-validation folds honest);
    a held-out part is made only when a fraction or --split-by-date is given.
    """
    from tagger.corpus.dedup import find_duplicates

    duplicates = find_duplicates(articles)
    if duplicates.duplicates:
        info(f"{duplicates.summary()}: each group stays in one fold and on one side of a split")
    if holdout is None and not by_date:
        return list(articles), [], duplicates.groups
    split = split_indices(
        articles,
        0.2 if holdout is None else holdout,  # 0 is refused by split_indices, not defaulted
        seed=seed,
        by_date=by_date,
        groups=duplicates.groups,
    )
    how = "the newest" if by_date else f"at random (seed {seed})"
    info(f"held out {len(split.test)} of {len(articles)} article(s), {how}")
    train = [articles[i] for i in split.train]
    test = [articles[i] for i in split.test]
    return train, test, split.train_groups()
