"""MDL selection, "self-adaptive ICL" (Wu et al. 2022): per query, pick the demonstration organisation whose label
distribution has the minimum description length (approximated by its entropy, as the authors' code).

1. TopK ``num_candidates`` (30) candidates by sentence-embedding cosine.
2. ``window`` (10) organisations of k: the first is the top-k (``force_topk``), the others random k-subsets of the
   candidates (seeded by (seed, query id)); each is placed most similar next to the query, as in the final prompt.
3. For each organisation, the LM scores every label *span* given the demonstrations and the query (the run's
   scorer; OpenICL's ``MDLRetriever`` instead averages over query + label tokens, which flattens the posteriors).
4. Keep ``argmin_c H(p(·|c, x))``.

Cost: ``window × |Y|`` scorings per query, on top of the final one. Minimum entropy rewards confident prompts,
including confidently wrong ones (the paper's own caveat); pair it with calibration.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from iclkit.errors import IclkitError
from iclkit.retrieve.base import LMProbe, query_rng, require_labels, require_probe
from iclkit.retrieve.entropy import entropy, label_probs
from iclkit.retrieve.topk import TopKDemos
from iclkit.types import Demo, Example


class MDLDemos(TopKDemos):
    def __init__(self, *, num_candidates: int = 30, window: int = 10, force_topk: bool = True, seed: int = 0,
                 probe: LMProbe | None = None, **options: object) -> None:
        super().__init__(**options)
        self.probe = require_probe(probe, "mdl")
        if window < 1:
            raise IclkitError(f"retriever 'mdl': window must be >= 1, not {window}")
        self.num_candidates, self.window, self.force_topk, self.seed = int(num_candidates), int(window), force_topk, seed
        self._details: dict[str, dict] = {}

    def fit(self, pool: Sequence[Example]) -> None:
        require_labels(pool, "mdl")
        super().fit(pool)

    def organisations(self, query: Example, cands: Sequence[Demo], k: int) -> list[list[Demo]]:
        rng = query_rng(self.seed, query)
        orgs = [list(cands[:k])] if self.force_topk else []
        while len(orgs) < self.window:
            picked = sorted(rng.sample(range(len(cands)), k))  # candidate rank order = most similar first
            orgs.append([cands[i] for i in picked])
        return orgs

    def select(self, query: Example, k: int) -> list[Demo]:
        if k == 0:
            return []
        if self.num_candidates < k:
            raise IclkitError(f"retriever 'mdl': num_candidates={self.num_candidates} is smaller than k={k}")
        cands = super().select(query, self.num_candidates)
        if len(cands) < k:
            raise IclkitError(f"retriever 'mdl': the pool has {len(cands)} candidates, fewer than k={k}")
        orgs = self.organisations(query, cands, k)
        scores = self.probe.label_scores([([d.example for d in reversed(org)], query) for org in orgs])
        entropies = entropy(label_probs(scores))
        best = int(np.argmin(entropies))
        self._details[query.id] = {"mdl_entropy": [round(float(h), 6) for h in entropies], "mdl_chosen": best}
        return orgs[best]

    def details(self, query: Example) -> dict | None:
        return self._details.pop(query.id, None)
