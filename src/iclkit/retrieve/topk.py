"""TopK / KATE (Liu et al. 2021): the k pool examples nearest to the query in sentence-embedding space."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from iclkit.errors import IclkitError
from iclkit.retrieve.base import input_text
from iclkit.retrieve.embed import DEFAULT_EMBEDDER, Embedder, cached_encode, get_embedder
from iclkit.types import Demo, Example

# Cosine above this is treated as the query itself leaking into the pool (Vote-k skips cos == 1 likewise).
DUPLICATE_COSINE = 0.9999


class TopKDemos:
    """Cosine kNN over L2-normalised embeddings (exact search with numpy; pool embeddings cached on disk).

    Args:
        embedder: a name for :func:`~iclkit.retrieve.embed.get_embedder` or an :class:`Embedder`.
        skip_duplicates: drop pool items that are (near-)identical to the query.
    """

    def __init__(self, *, embedder: str | Embedder = DEFAULT_EMBEDDER, skip_duplicates: bool = True,
                 **_: object) -> None:
        self.embedder = get_embedder(embedder) if isinstance(embedder, str) else embedder
        self.skip_duplicates = skip_duplicates

    def fit(self, pool: Sequence[Example]) -> None:
        if not pool:
            raise IclkitError("the demonstration pool is empty")
        self.pool = list(pool)
        self._index = {e.id: i for i, e in enumerate(self.pool)}
        self.matrix = cached_encode(self.embedder, [input_text(e) for e in self.pool])

    def similarities(self, query: Example) -> np.ndarray:
        return self.matrix @ self.embedder.encode([input_text(query)])[0]

    def select(self, query: Example, k: int) -> list[Demo]:
        sims = self.similarities(query)
        take = min(len(sims), k + 8)  # a few spare in case duplicates are skipped
        top = np.argpartition(-sims, take - 1)[:take]
        ranked = top[np.argsort(-sims[top], kind="stable")]
        out = []
        for i in ranked:
            if self.skip_duplicates and sims[i] >= DUPLICATE_COSINE:
                continue
            out.append(Demo(self.pool[i], float(sims[i])))
            if len(out) == k:
                break
        return out
