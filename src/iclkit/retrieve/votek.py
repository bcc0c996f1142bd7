"""Vote-k selective annotation (Su et al. 2022), then per-query kNN retrieval from the selected set only.

Graph: embeddings mean-centred over the pool (as the authors' ``calculate_sentence_transformer_embedding``), a
directed kNN graph with an edge ``v → u`` when ``u`` is among the ``graph_k`` (150) nearest neighbours of ``v``
(the node itself excluded explicitly, not assumed to be its own top-1). Greedy vote-k: ``score(u) = Σ_{v→u, v
unselected} ρ^{-covered(v)}`` with ρ = 10, where ``covered(v)`` counts selected nodes ``v`` votes for; this discounts
voters already represented. ``budget`` (M, default 100) examples are selected once per run ("annotated"); each
query then gets its k nearest among them (the annotated subset, unlike the authors' released ``main.py``, which
retrieves from the full pool). OpenICL's ``VotekRetriever`` is a different algorithm (overlap rejection, one set
for every query).

``two_stage: true`` is the paper's full method: M/10 by vote-k; the LM labels every other pool example with k
demonstrations retrieved from those; the pool is sorted from least to most confident, cut into M buckets, and the
highest vote-k score is taken from each of the first 0.9·M buckets (the most confident 10% are skipped). Its cost is
one LM scoring per remaining pool example (``confidence_sample`` caps it with a seeded subsample).
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import numpy as np

from iclkit.errors import IclkitError
from iclkit.retrieve.base import LMProbe, input_text, require_pool_size, require_probe
from iclkit.retrieve.embed import DEFAULT_EMBEDDER, Embedder, cached_encode, get_embedder
from iclkit.types import Demo, Example

RHO = 10.0


def centred(matrix: np.ndarray, mean: np.ndarray) -> np.ndarray:
    x = matrix - mean
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def knn_graph(emb: np.ndarray, k: int, block: int = 1024):
    """Sparse adjacency ``A[v, u] = 1`` iff ``u`` is one of the ``k`` nearest neighbours of ``v`` (v excluded)."""
    from scipy.sparse import csr_matrix

    n = len(emb)
    k = min(k, n - 1)
    rows, cols = [], []
    for start in range(0, n, block):
        sims = emb[start : start + block] @ emb.T
        sims[np.arange(len(sims)), np.arange(start, start + len(sims))] = -np.inf
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        rows.append(np.repeat(np.arange(start, start + len(sims)), k))
        cols.append(top.ravel())
    r, c = np.concatenate(rows), np.concatenate(cols)
    return csr_matrix((np.ones(len(r), dtype=np.float64), (r, c)), shape=(n, n))


class VoteState:
    """Greedy vote-k with the paper's discount; ``pick`` works over any candidate subset (for the buckets)."""

    def __init__(self, graph) -> None:
        self.graph = graph
        self.graph_t = graph.T.tocsr()
        self.covered = np.zeros(graph.shape[0])
        self.selected: list[int] = []

    def scores(self) -> np.ndarray:
        weight = RHO ** (-self.covered)
        weight[self.selected] = 0.0  # selected voters no longer vote
        out = self.graph_t @ weight
        out[self.selected] = -np.inf
        return out

    def pick(self, candidates: np.ndarray | None = None) -> int:
        scores = self.scores()
        if candidates is not None:
            mask = np.full(len(scores), -np.inf)
            mask[candidates] = 0.0
            scores = scores + mask
        best = int(np.argmax(scores))
        self.selected.append(best)
        self.covered += self.graph[:, best].toarray().ravel()  # voters of `best` are now covered once more
        return best


class VoteKDemos:
    def __init__(self, *, budget: int = 100, graph_k: int = 150, two_stage: bool = False,
                 confidence_sample: int | None = None, embedder: str | Embedder = DEFAULT_EMBEDDER, seed: int = 0,
                 probe: LMProbe | None = None) -> None:
        self.budget, self.graph_k, self.two_stage = int(budget), int(graph_k), bool(two_stage)
        self.confidence_sample, self.seed, self.probe = confidence_sample, seed, probe
        self.embedder = get_embedder(embedder) if isinstance(embedder, str) else embedder
        if self.two_stage:
            require_probe(probe, "votek (two_stage)")

    def fit(self, pool: Sequence[Example]) -> None:
        require_pool_size(pool, max(self.budget, 2), "votek (budget)")
        self.pool = list(pool)
        raw = cached_encode(self.embedder, [input_text(e) for e in self.pool])
        self.mean = raw.mean(axis=0)
        self.emb = centred(raw, self.mean)
        self.state = VoteState(knn_graph(self.emb, self.graph_k))
        if self.two_stage:
            self._two_stage()
        else:
            for _ in range(self.budget):
                self.state.pick()
        self.selected = list(self.state.selected)
        unlabelled = [self.pool[i].id for i in self.selected if self.pool[i].label is None]
        if unlabelled:
            raise IclkitError(f"retriever 'votek': selected example {unlabelled[0]} has no label; annotate the "
                              f"{len(self.selected)} selected examples (votek selection needs no labels)")

    def coverage(self) -> float:
        """Share of pool nodes that vote for at least one selected node (or are selected)."""
        covered = self.state.covered > 0
        covered[self.selected] = True
        return float(covered.mean())

    def _two_stage(self) -> None:
        first = max(1, self.budget // 10)
        for _ in range(first):
            self.state.pick()
        rest = [i for i in range(len(self.pool)) if i not in set(self.state.selected)]
        if self.confidence_sample and len(rest) > self.confidence_sample:
            rest = sorted(random.Random(self.seed).sample(rest, self.confidence_sample))
        confidence = self._confidence(rest, k=min(4, first))
        order = np.array(rest)[np.argsort(confidence, kind="stable")]  # least confident first
        buckets = np.array_split(order, self.budget)
        for bucket in buckets[: self.budget - first]:
            if len(bucket):
                self.state.pick(bucket)
        spare = [i for i in rest if i not in set(self.state.selected)]
        for i in random.Random(self.seed).sample(spare, max(0, self.budget - len(self.state.selected))):
            self.state.selected.append(i)  # shortfall filled at random, as the authors do

    def _confidence(self, rest: Sequence[int], k: int) -> np.ndarray:
        """Log-probability of the LM's predicted label, prompted with kNN demos from the first selection."""
        annotated = np.array(self.state.selected)
        items = []
        for i in rest:
            sims = self.emb[annotated] @ self.emb[i]
            near = annotated[np.argsort(-sims, kind="stable")[:k]][::-1]  # most similar last
            items.append(([self.pool[j] for j in near], self.pool[i]))
        scores = np.array(self.probe.label_scores(items), dtype=np.float64)
        logp = scores - np.logaddexp.reduce(scores, axis=1, keepdims=True)
        return logp.max(axis=1)

    def select(self, query: Example, k: int) -> list[Demo]:
        if k > len(self.selected):
            raise IclkitError(f"retriever 'votek': budget={len(self.selected)} annotated examples, fewer than k={k}")
        q = centred(self.embedder.encode([input_text(query)]), self.mean)[0]
        sel = np.array(self.selected)
        sims = self.emb[sel] @ q
        out = []
        for j in np.argsort(-sims, kind="stable"):
            if sims[j] >= 0.9999:  # the query itself (Vote-k skips cosine 1)
                continue
            out.append(Demo(self.pool[sel[j]], float(sims[j])))
            if len(out) == k:
                break
        return out
