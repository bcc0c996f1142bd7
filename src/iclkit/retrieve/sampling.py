"""Retrievers that ignore the query's content: zero-shot, random and label-balanced random."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence

from iclkit.errors import IclkitError
from iclkit.retrieve.base import query_rng
from iclkit.types import Demo, Example


class ZeroShot:
    """No demonstrations."""

    def __init__(self, *, seed: int = 0) -> None:  # the seed is accepted like every retriever's, and unused
        pass

    def fit(self, pool: Sequence[Example]) -> None:
        pass

    def select(self, query: Example, k: int) -> list[Demo]:
        return []


class RandomDemos:
    """k pool examples drawn without replacement.

    ``per_query=False`` (default) is the k-shot protocol of Zhao et al. / Min et al. / Dai et al.: one set per run
    and seed, the same for every query. ``per_query=True`` redraws for each query (OpenICL's RandomRetriever),
    seeded by (seed, query id) so results do not depend on evaluation order.
    """

    def __init__(self, *, seed: int = 0, per_query: bool = False) -> None:
        self.seed = seed
        self.per_query = per_query
        self.pool: list[Example] = []
        self._fixed: dict[int, list[Demo]] = {}

    @property
    def same_for_every_query(self) -> bool:
        """One set per k for the whole run (the pipeline then keeps that set when the pool is the eval set)."""
        return not self.per_query

    def fit(self, pool: Sequence[Example]) -> None:
        if not pool:
            raise IclkitError("the demonstration pool is empty")
        self.pool = list(pool)
        self._fixed = {}

    def select(self, query: Example, k: int) -> list[Demo]:
        if k <= 0:
            return []
        if self.per_query:
            return self._draw(query_rng(self.seed, query), k)
        if k not in self._fixed:
            self._fixed[k] = self._draw(random.Random(self.seed), k)
        return self._fixed[k]

    def _draw(self, rng: random.Random, k: int) -> list[Demo]:
        return [Demo(self.pool[i]) for i in rng.sample(range(len(self.pool)), min(k, len(self.pool)))]


class BalancedDemos(RandomDemos):
    """Random demonstrations with the labels as even as k allows (k // |Y| each, the remainder to random labels),
    shuffled so that no label is systematically last (recency bias, Zhao et al. 2021)."""

    def fit(self, pool: Sequence[Example]) -> None:
        super().fit(pool)
        self.by_label: dict[str | None, list[int]] = defaultdict(list)
        for i, ex in enumerate(self.pool):
            self.by_label[ex.label].append(i)

    def _draw(self, rng: random.Random, k: int) -> list[Demo]:
        labels = sorted(self.by_label, key=str)
        quota = {lab: k // len(labels) for lab in labels}
        for lab in rng.sample(labels, k % len(labels)):
            quota[lab] += 1
        chosen: list[int] = []
        for lab in labels:
            chosen += rng.sample(self.by_label[lab], min(quota[lab], len(self.by_label[lab])))
        rng.shuffle(chosen)
        return [Demo(self.pool[i]) for i in chosen]
