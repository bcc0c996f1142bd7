"""Entropy ordering with a probing set (Lu et al. 2021, "Fantastically Ordered Prompts").

For a fixed demonstration set: take all k! permutations, or ``max_permutations`` sampled ones (seeded) when k! is
larger; let the LM continue each permutation and parse one new input from each continuation (the probing set,
inputs only, empty or unparsable generations dropped); score every probe under every permutation and rank the
permutations by GlobalE (entropy of the predicted-label histogram) or LocalE (mean per-probe prediction entropy);
keep the best. Computed once per distinct demonstration set (meant for corpus-level sets: random, balanced, Vote-k
with a small budget, MI, active). The probes are sampled, as in the paper (``temperature`` 1.0, seeded by the
run's seed and the permutation; 0 is greedy, where only the permutations make the probes differ), from a context
that ends with the input template's opening literal (``Sentence:``): SmolLM2-Instruct, left at the blank line after
8 SST-2 demonstrations, wrote chat questions instead of sentences, and no probe could be parsed. GlobalE assumes
a roughly balanced label distribution.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Sequence

import numpy as np

from iclkit.errors import IclkitError
from iclkit.retrieve.base import LMProbe, require_probe
from iclkit.retrieve.entropy import entropy, histogram_entropy, label_probs
from iclkit.types import Demo, Example


def permutations(n: int, limit: int, seed: int) -> list[tuple[int, ...]]:
    """All permutations of range(n) when n! <= limit, else ``limit`` distinct ones sampled with ``seed``."""
    if math.factorial(n) <= limit:
        return list(itertools.permutations(range(n)))
    rng, seen = random.Random(seed), {}
    while len(seen) < limit:
        p = tuple(rng.sample(range(n), n))
        seen.setdefault(p, None)
    return list(seen)


class EntropyOrdering:
    criterion = "globale"

    def __init__(self, *, probe: LMProbe | None = None, seed: int = 0, max_permutations: int = 24,
                 min_probe: int = 4, max_new_tokens: int = 64, temperature: float = 1.0) -> None:
        self.probe = require_probe(probe, f"{self.criterion} ordering")
        self.seed, self.max_permutations, self.min_probe = seed, max_permutations, min_probe
        self.max_new_tokens, self.temperature = max_new_tokens, float(temperature)
        self._cache: dict[tuple[str, ...], tuple[tuple[int, ...], dict]] = {}
        self._last: dict[str, dict] = {}

    def rank(self, demos: Sequence[Demo]) -> tuple[tuple[int, ...], dict]:
        perms = permutations(len(demos), self.max_permutations, self.seed)
        arranged = [[demos[i].example for i in p] for p in perms]
        probes = dedupe([p for p in self.probe.generate_inputs(arranged, max_new_tokens=self.max_new_tokens,
                                                                  temperature=self.temperature, seed=self.seed) if p])
        if len(probes) < self.min_probe:
            raise IclkitError(f"{self.criterion} ordering: the probing set has {len(probes)} usable generated inputs, "
                              f"fewer than min_probe={self.min_probe} (raise max_permutations or check the template)")
        scores = self.probe.label_scores([(a, q) for a in arranged for q in probes])
        probs = label_probs(scores).reshape(len(perms), len(probes), -1)
        global_e = [histogram_entropy(p.argmax(axis=1), probs.shape[2]) for p in probs]
        local_e = entropy(probs).mean(axis=1)
        key = global_e if self.criterion == "globale" else local_e
        best = int(np.argmax(key))
        info = {"ordering": self.criterion, "globale": round(float(global_e[best]), 6),
                "locale": round(float(local_e[best]), 6), "permutations": len(perms), "probes": len(probes),
                "globale_max": round(float(max(global_e)), 6), "globale_min": round(float(min(global_e)), 6)}
        return perms[best], info

    def __call__(self, demos: Sequence[Demo], query: Example, seed: int) -> list[Demo]:
        if len(demos) < 2:
            return list(demos)
        key = tuple(d.example.id for d in demos)
        if key not in self._cache:
            self._cache[key] = self.rank(demos)
        perm, info = self._cache[key]
        self._last[query.id] = info
        return [demos[i] for i in perm]

    def details(self, query: Example) -> dict | None:
        return self._last.pop(query.id, None)


class LocalEOrdering(EntropyOrdering):
    criterion = "locale"


def dedupe(examples: Sequence[Example]) -> list[Example]:
    seen, out = set(), []
    for e in examples:
        key = tuple(sorted(e.fields.items()))
        if key not in seen and any(v.strip() for v in e.fields.values()):
            seen.add(key)
            out.append(e)
    return out
