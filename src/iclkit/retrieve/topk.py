"""TopK / KATE (Liu et al. 2021): the k pool examples nearest to the query in sentence-embedding space."""

from __future__ import annotations

from collections.abc import Sequence

from iclkit.errors import IclkitError
from iclkit.retrieve.base import input_text
from iclkit.retrieve.embed import DEFAULT_EMBEDDER, Embedder, cached_encode, get_embedder
from iclkit.retrieve.index import build_index
from iclkit.types import Demo, Example

# Cosine above this is treated as the query itself leaking into the pool (Vote-k skips cos == 1 likewise).
DUPLICATE_COSINE = 0.9999


class TopKDemos:
    """Cosine kNN over L2-normalised embeddings (pool embeddings cached on disk; exact search, or faiss above
    :data:`~iclkit.retrieve.index.EXACT_MAX` rows with ``index: auto``).

    Args:
        embedder: a name for :func:`~iclkit.retrieve.embed.get_embedder` or an :class:`Embedder`.
        skip_duplicates: drop pool items that are (near-)identical to the query.
        index: ``auto`` | ``exact`` | ``ivf`` | ``ivf-sq8`` | ``ivf-pq`` | ``hnsw`` (:mod:`iclkit.retrieve.index`).
        index_options: settings of an approximate index, e.g. ``{"nprobe": 80, "refine": 128}``
            (:func:`~iclkit.retrieve.index.build_faiss`).
    """

    def __init__(self, *, embedder: str | Embedder = DEFAULT_EMBEDDER, skip_duplicates: bool = True,
                 index: str = "auto", index_options: dict | None = None) -> None:
        self.embedder = get_embedder(embedder) if isinstance(embedder, str) else embedder
        self.skip_duplicates = skip_duplicates
        self.index_kind = index
        self.index_options = dict(index_options or {})

    def fit(self, pool: Sequence[Example]) -> None:
        if not pool:
            raise IclkitError("the demonstration pool is empty")
        self.pool = list(pool)
        self._index = {e.id: i for i, e in enumerate(self.pool)}
        self.matrix = cached_encode(self.embedder, [input_text(e) for e in self.pool])
        self.index = build_index(self.matrix, self.index_kind, **self.index_options)

    def select(self, query: Example, k: int) -> list[Demo]:
        if k <= 0:
            return []
        take = min(len(self.pool), k + 8)  # a few spare in case duplicates are skipped
        scores, ids = self.index.search(self.embedder.encode([input_text(query)]), take)
        out = []
        for score, i in zip(scores[0], ids[0]):
            if i < 0 or (self.skip_duplicates and score >= DUPLICATE_COSINE):
                continue
            out.append(Demo(self.pool[i], float(score)))
            if len(out) == k:
                break
        return out
