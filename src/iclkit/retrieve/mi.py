"""Mutual-information selection (Sorensen et al. 2022) of one demonstration set for the whole task, without
labels on the probe inputs.

``n_sets`` candidate k-sets are drawn at random from the pool (seeded); ``n_probe`` other pool inputs are used
*unlabelled*. For each set, the LM gives a label distribution ``p(y | set, x_i)`` per probe input and
``MI = H(mean_i p_i) - mean_i H(p_i)``; the set with the largest MI is used for every query. The paper ranks
templates; ranking demonstration sets is the same criterion over another prompt component (templates are
searched by ``iclkit tune``). Cost: ``n_sets × n_probe × |Y|`` scorings once per run. MI favours prompts that make
predictions confident *and* varied, which can still be confidently wrong.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import numpy as np

from iclkit.errors import IclkitError
from iclkit.retrieve.base import CorpusChoice, LMProbe, require_pool_size, require_probe
from iclkit.retrieve.entropy import label_probs, mutual_information
from iclkit.types import Demo, Example

MIN_PROBE = 8


class MutualInfoDemos(CorpusChoice):
    def __init__(self, *, n_sets: int = 8, n_probe: int = 32, k: int | None = None, seed: int = 0,
                 probe: LMProbe | None = None) -> None:
        self.probe = require_probe(probe, "mi")
        if n_probe < MIN_PROBE:
            raise IclkitError(f"retriever 'mi': n_probe={n_probe} is too small for a mutual-information estimate "
                              f"(at least {MIN_PROBE})")
        self.n_sets, self.n_probe, self.seed = int(n_sets), int(n_probe), seed
        self.pool: list[Example] = []
        self._chosen: dict[int, tuple[list[Demo], dict]] = {}

    def fit(self, pool: Sequence[Example]) -> None:
        self.pool = list(pool)
        self._chosen = {}

    def choose(self, k: int) -> tuple[list[Demo], dict]:
        require_pool_size(self.pool, k + self.n_probe, "mi (k + n_probe)")
        rng = random.Random(self.seed)
        order = rng.sample(range(len(self.pool)), len(self.pool))
        probes = [self.pool[i] for i in order[: self.n_probe]]
        rest = order[self.n_probe :]
        sets = [[self.pool[i] for i in rng.sample(rest, k)] for _ in range(self.n_sets)]
        for s in sets:
            if any(e.label is None for e in s):
                raise IclkitError(f"retriever 'mi': demonstration {next(e.id for e in s if e.label is None)} "
                                  "has no label (the probe inputs may be unlabelled, the demonstrations not)")
        mis = []
        for s in sets:
            probs = label_probs(self.probe.label_scores([(s, p) for p in probes]))
            mis.append(mutual_information(probs))
        best = int(np.argmax(mis))
        info = {"mi": [round(m, 6) for m in mis], "mi_chosen": best}
        return [Demo(e, mis[best]) for e in sets[best]], info
