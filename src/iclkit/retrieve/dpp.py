"""TopK → DPP (Ye et al. 2023's unsupervised two-stage baseline, OpenICL ``DPPRetriever``): relevant *and* diverse.

1. The ``candidate_num`` nearest pool examples by cosine (TopK).
2. Kernel ``L = diag(q) S diag(q)`` with relevance ``q_i = exp(r_i / (2λ))``, ``r_i = (cos(x, z_i) + 1) / 2`` (minus
   its maximum, an overflow guard) and similarity ``S_ij = (cos(z_i, z_j) + 1) / 2``; ``log det L_S = Σ r_i / λ +
   log det S_S``: smaller λ (``scale_factor``) weighs relevance more.
3. Greedy MAP (Chen et al. 2018, fast incremental Cholesky) picks k items; they are returned most relevant first,
   and the default ``similarity`` ordering puts the most relevant next to the query (OpenICL keeps it farthest).

OpenICL's default ``candidate_num=1`` makes the method a no-op for k > 1; here the default is 50 and a candidate
number below k is an error.
"""

from __future__ import annotations

import math

import numpy as np

from iclkit.errors import IclkitError
from iclkit.retrieve.base import require_pool_size
from iclkit.retrieve.embed import DEFAULT_EMBEDDER, Embedder
from iclkit.retrieve.topk import TopKDemos
from iclkit.types import Demo, Example


def fast_map_dpp(kernel: np.ndarray, k: int, epsilon: float = 1e-10) -> list[int]:
    """Greedy MAP inference for a DPP (Chen, Zhang & Zhou 2018, Algorithm 1); may return fewer than ``k`` items
    when the kernel has rank < k (then every further item adds ~zero volume)."""
    n = kernel.shape[0]
    cis = np.zeros((k, n))
    di2s = np.diag(kernel).astype(np.float64).copy()
    selected = [int(np.argmax(di2s))]
    while len(selected) < k:
        j = len(selected) - 1
        last = selected[-1]
        eis = (kernel[last, :] - cis[:j, last] @ cis[:j, :]) / math.sqrt(di2s[last])
        cis[j, :] = eis
        di2s -= np.square(eis)
        di2s[selected] = -np.inf
        best = int(np.argmax(di2s))
        if di2s[best] < epsilon:
            break
        selected.append(best)
    return selected


def dpp_kernel(query_sims: np.ndarray, cand_matrix: np.ndarray, scale_factor: float) -> np.ndarray:
    """The CEIL/OpenICL kernel over candidates (rows of ``cand_matrix`` L2-normalised)."""
    rel = (query_sims + 1.0) / 2.0
    rel = rel - rel.max()
    q = np.exp(rel / (2.0 * scale_factor))
    sim = (cand_matrix @ cand_matrix.T + 1.0) / 2.0
    return q[:, None] * sim * q[None, :]


class DPPDemos(TopKDemos):
    """Args: ``candidate_num`` TopK candidates (default 50), ``scale_factor`` λ (default 0.1, OpenICL/CEIL)."""

    def __init__(self, *, candidate_num: int = 50, scale_factor: float = 0.1, embedder: str | Embedder = DEFAULT_EMBEDDER,
                 skip_duplicates: bool = True, index: str = "auto", index_options: dict | None = None) -> None:
        super().__init__(embedder=embedder, skip_duplicates=skip_duplicates, index=index, index_options=index_options)
        if scale_factor <= 0:
            raise IclkitError(f"retriever 'dpp': scale_factor must be > 0, not {scale_factor}")
        self.candidate_num, self.scale_factor = int(candidate_num), float(scale_factor)
        self._details: dict[str, dict] = {}

    def select(self, query: Example, k: int) -> list[Demo]:
        if k == 0:
            return []
        if self.candidate_num < k:
            raise IclkitError(f"retriever 'dpp': candidate_num={self.candidate_num} is smaller than k={k}")
        require_pool_size(self.pool, k, "dpp")
        cands = super().select(query, self.candidate_num)
        idx = np.array([self._index[d.example.id] for d in cands])
        sims = np.array([d.score for d in cands], dtype=np.float64)
        kernel = dpp_kernel(sims, self.matrix[idx].astype(np.float64), self.scale_factor)
        chosen = fast_map_dpp(kernel, k)
        filled = [i for i in range(len(cands)) if i not in chosen][: k - len(chosen)]  # rank-deficient kernel
        picked = sorted(chosen + filled, key=lambda i: -sims[i])  # most relevant first
        sign, logdet = np.linalg.slogdet(kernel[np.ix_(chosen, chosen)])
        self._details[query.id] = {"dpp_logdet": float(logdet) if sign > 0 else None,
                                   "dpp_filled_by_relevance": len(filled), "candidates": len(cands)}
        return [cands[i] for i in picked]

    def details(self, query: Example) -> dict | None:
        return self._details.pop(query.id, None)
