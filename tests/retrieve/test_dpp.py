import itertools

import numpy as np
import pytest

from iclkit.errors import IclkitError
from iclkit.retrieve.base import build_retriever
from iclkit.retrieve.dpp import dpp_kernel, fast_map_dpp
from iclkit.testing import TableEmbedder
from iclkit.types import Example


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ICLKIT_CACHE", str(tmp_path))


def unit(i, dim=12):
    v = np.zeros(dim)
    v[i] = 1.0
    return v


def geometry():
    """Query along e0. Four near-duplicates along e0+e1 (slightly more relevant), four distinct directions
    e0+e_j (equally relevant up to 1%)."""
    table = {"query": unit(0)}
    pool = []
    for i in range(4):
        table[f"dup {i}"] = 1.02 * unit(0) + unit(1) + 0.01 * unit(8 + i)
        pool.append(Example(f"d{i}", {"text": f"dup {i}"}, "positive"))
    for j in range(4):
        table[f"other {j}"] = unit(0) + unit(2 + j)
        pool.append(Example(f"o{j}", {"text": f"other {j}"}, "negative"))
    return TableEmbedder(table), pool, Example("q", {"text": "query"}, "positive")


def mean_pairwise_cosine(emb, demos):
    x = emb.encode([d.example.fields["text"] for d in demos])
    sims = x @ x.T
    return float(sims[np.triu_indices(len(x), 1)].mean())


def test_dpp_is_more_diverse_than_topk_at_equal_relevance():
    emb, pool, query = geometry()
    topk, dpp = build_retriever("topk", embedder=emb), build_retriever("dpp", embedder=emb, candidate_num=8)
    topk.fit(pool)
    dpp.fit(pool)
    a, b = topk.select(query, 4), dpp.select(query, 4)
    assert {d.example.id for d in a} == {"d0", "d1", "d2", "d3"}
    assert mean_pairwise_cosine(emb, b) < mean_pairwise_cosine(emb, a) - 0.3
    assert np.mean([d.score for d in b]) >= np.mean([d.score for d in a]) - 0.02
    assert [d.score for d in b] == sorted((d.score for d in b), reverse=True)  # most relevant first
    assert dpp.details(query)["candidates"] == 8


def test_small_lambda_makes_dpp_follow_relevance():
    emb, pool, query = geometry()
    dpp = build_retriever("dpp", embedder=emb, candidate_num=8, scale_factor=1e-4)
    dpp.fit(pool)
    assert {d.example.id for d in dpp.select(query, 4)} == {"d0", "d1", "d2", "d3"}


def test_fast_map_dpp_matches_naive_greedy_log_det():
    rng = np.random.default_rng(0)
    feats = rng.normal(size=(9, 6))
    feats /= np.linalg.norm(feats, axis=1, keepdims=True)
    kernel = dpp_kernel(feats @ rng.normal(size=6) / 3, feats, 0.1)
    naive = []
    for _ in range(4):
        gains = {i: np.linalg.slogdet(kernel[np.ix_(naive + [i], naive + [i])])[1]
                 for i in range(9) if i not in naive}
        naive.append(max(gains, key=gains.get))
    assert fast_map_dpp(kernel, 4) == naive
    best = max(itertools.combinations(range(9), 1), key=lambda s: kernel[s[0], s[0]])
    assert naive[0] == best[0]


def test_candidate_num_below_k_is_an_error():
    emb, pool, query = geometry()
    dpp = build_retriever("dpp", embedder=emb, candidate_num=2)
    dpp.fit(pool)
    with pytest.raises(IclkitError, match="candidate_num=2 is smaller than k=4"):
        dpp.select(query, 4)
