"""Nearest-neighbour search over L2-normalised embeddings (inner product = cosine): exact, or faiss for big pools.

``exact`` is a numpy matrix product with a partial sort: no approximation and no build time, and fast enough below
``EXACT_MAX`` pool rows (``bench/retrieval.py`` measures where it stops being so). Above it, ``auto`` builds a faiss
IVF-Flat index (k-means coarse quantiser, ``nprobe`` lists scanned per query) or, on request, IVF with 8-bit scalar
quantised vectors (``ivf-sq8``: a quarter of the memory, and faster scans, for a little recall), IVF with product
quantisation and exact re-ranking (``ivf-pq``: the fastest scans; the vectors are kept for re-ranking) or HNSW; approximate
indexes are saved in the cache under a fingerprint of the pool's embeddings and reused. Report recall@k against exact
search with :func:`recall_at_k` before trusting an approximate index.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Protocol

import numpy as np

from iclkit.errors import IclkitError
from iclkit.paths import cache_dir

EXACT_MAX = 200_000  # rows; see docs/selection.md ("Scale") for the measurement behind it
KINDS = ("auto", "exact", "ivf", "ivf-sq8", "ivf-pq", "hnsw")
# Index options: those that shape the saved index (part of its cache key) and those read at search time (applied
# to every index, built or loaded, so a cached index never keeps the settings it was saved with).
BUILD_OPTIONS = ("nlist", "hnsw_m")
SEARCH_OPTIONS = {"nprobe": 128, "ef_search": 128, "refine": 128}


class VectorIndex(Protocol):
    kind: str

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, row ids), each (n_queries, k), best first."""
        ...


class ExactIndex:
    kind = "exact"

    def __init__(self, matrix: np.ndarray) -> None:
        self.matrix = np.ascontiguousarray(matrix, dtype=np.float32)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        k = min(k, len(self.matrix))
        sims = np.atleast_2d(queries).astype(np.float32) @ self.matrix.T
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        part = np.take_along_axis(sims, top, axis=1)
        order = np.argsort(-part, axis=1, kind="stable")
        return np.take_along_axis(part, order, axis=1), np.take_along_axis(top, order, axis=1)


class FaissIndex:
    def __init__(self, index, kind: str) -> None:
        self.index, self.kind = index, kind

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        scores, ids = self.index.search(np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32), k)
        return scores, ids


def fingerprint(matrix: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(matrix, dtype=np.float32).tobytes()).hexdigest()[:24]


def build_faiss(matrix: np.ndarray, kind: str, *, nlist: int | None = None, hnsw_m: int = 32, **search):
    """A faiss index of ``kind`` over ``matrix``, with ``search`` settings (:func:`set_search_options`) applied."""
    import faiss

    x = np.ascontiguousarray(matrix, dtype=np.float32)
    d = x.shape[1]
    if kind == "hnsw":
        index = faiss.IndexHNSWFlat(d, hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = 80
        index.add(x)
        return set_search_options(index, **search)
    nlist = nlist or int(4 * np.sqrt(len(x)))  # faiss's rule of thumb: 4·sqrt(N) lists
    if kind == "ivf-sq8":
        index = faiss.IndexIVFScalarQuantizer(faiss.IndexFlatIP(d), d, nlist, faiss.ScalarQuantizer.QT_8bit,
                                              faiss.METRIC_INNER_PRODUCT)
    elif kind == "ivf-pq":
        # Lists scanned with 8-bit product-quantisation codes (one byte per 8 dimensions: 48 bytes for 384-d
        # against 1,536 in fp32), then the best ``refine`` x k candidates re-scored exactly on the stored vectors.
        # refine=128: on bench/retrieval.py's 1M pool, 64 capped recall@8 below 0.95 up to nprobe 128
        # (results/selection/retrieval-bench-1m-ivfpq-2026-12-03-run*.json).
        index = faiss.IndexRefineFlat(faiss.IndexIVFPQ(faiss.IndexFlatIP(d), d, nlist, _pq_parts(d), 8,
                                                       faiss.METRIC_INNER_PRODUCT))
    else:
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(d), d, nlist, faiss.METRIC_INNER_PRODUCT)
    sample = x[np.random.default_rng(0).choice(len(x), min(len(x), 64 * nlist), replace=False)]
    index.train(sample)
    index.add(x)
    return set_search_options(index, **search)


# nprobe=128 by default: in the pipeline one query is searched next to an LM call, so recall matters more than
# queries/s; on bench/retrieval.py's 1M pool, IVF-Flat gives recall@8 0.981 at 128 lists against 0.873 at 32, for
# 8 ms a query (results/selection/retrieval-bench-quiet-2026-12-03.json). refine=128 (ivf-pq): 64 capped recall@8
# below 0.95 up to nprobe 128 (results/selection/retrieval-bench-1m-ivfpq-2026-12-03-run*.json).
def set_search_options(index, *, nprobe: int = SEARCH_OPTIONS["nprobe"], ef_search: int = SEARCH_OPTIONS["ef_search"],
                       refine: int = SEARCH_OPTIONS["refine"]):
    """Apply the search-time settings the index has: lists scanned (IVF), efSearch (HNSW), re-ranked candidates
    as a multiple of k (``ivf-pq``). Returns ``index``."""
    import faiss

    if hasattr(index, "hnsw"):
        index.hnsw.efSearch = ef_search
        return index
    faiss.extract_index_ivf(index).nprobe = nprobe
    if hasattr(index, "k_factor"):
        index.k_factor = refine
    return index


def _pq_parts(d: int) -> int:
    """Sub-quantisers for PQ: the most that leave at least 8 dimensions each and divide ``d``."""
    return max(m for m in range(1, d // 8 + 1) if d % m == 0) if d >= 8 else 1


def build_index(matrix: np.ndarray, kind: str = "auto", *, exact_max: int = EXACT_MAX, cache: bool = True,
                **options) -> VectorIndex:
    """An index over ``matrix`` rows; approximate ones are loaded from / saved to the cache by fingerprint."""
    if kind not in KINDS:
        raise IclkitError(f"unknown index kind {kind!r}; known: {', '.join(KINDS)}")
    known = {*BUILD_OPTIONS, *SEARCH_OPTIONS}
    if set(options) - known:
        raise IclkitError(f"unknown index option(s) {', '.join(sorted(set(options) - known))}; "
                          f"known: {', '.join(sorted(known))}")
    if kind == "exact" or (kind == "auto" and len(matrix) <= exact_max):
        return ExactIndex(matrix)
    kind = "ivf" if kind == "auto" else kind
    import faiss

    built = {k: v for k, v in options.items() if k in BUILD_OPTIONS}
    path = cache_dir() / "faiss" / f"{fingerprint(matrix)}-{kind}-{_options_key(built)}.faiss"
    if cache and path.exists():
        index = set_search_options(_read(path), **{k: v for k, v in options.items() if k in SEARCH_OPTIONS})
    else:
        index = build_faiss(matrix, kind, **options)
        if cache:
            path.parent.mkdir(parents=True, exist_ok=True)
            faiss.write_index(index, str(path.with_suffix(".tmp")))
            path.with_suffix(".tmp").replace(path)
    return FaissIndex(index, kind)


def _options_key(options: dict) -> str:
    return hashlib.sha256(repr(sorted(options.items())).encode()).hexdigest()[:8]


def _read(path: Path):
    import faiss

    try:
        return faiss.read_index(str(path))
    except RuntimeError as exc:
        raise IclkitError(f"saved index {path} is unreadable ({str(exc)[:120]}); delete it to rebuild") from None


def recall_at_k(exact_ids: np.ndarray, approx_ids: np.ndarray) -> float:
    """Mean share of the exact top-k that the approximate search also returns."""
    k = exact_ids.shape[1]
    return float(np.mean([len(set(a) & set(b)) / k for a, b in zip(exact_ids, approx_ids)]))
