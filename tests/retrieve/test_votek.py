import numpy as np
import pytest

from iclkit.errors import IclkitError
from iclkit.retrieve.base import build_retriever
from iclkit.testing import ScriptedProbe, TableEmbedder
from iclkit.types import Example

SIZES = (40, 10, 10, 10, 10)  # one dense cluster and four small ones


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ICLKIT_CACHE", str(tmp_path))


def clustered_pool():
    rng = np.random.default_rng(0)
    table, pool = {}, []
    for c, size in enumerate(SIZES):
        centre = np.zeros(8)
        centre[c] = 5.0
        for i in range(size):
            text = f"c{c} item {i}"
            table[text] = centre + rng.normal(scale=0.3, size=8)
            pool.append(Example(f"{c}-{i}", {"text": text}, "positive" if c % 2 else "negative"))
    table["query c3"] = np.eye(8)[3] * 5.0
    return TableEmbedder(table), pool


def cluster(example):
    return int(example.id.split("-")[0])


def test_votek_selection_covers_every_cluster_of_the_graph():
    emb, pool = clustered_pool()
    r = build_retriever("votek", embedder=emb, budget=6, graph_k=8)
    r.fit(pool)
    assert {cluster(pool[i]) for i in r.selected} == set(range(len(SIZES)))
    random_coverage = []
    for seed in range(20):
        pick = np.random.default_rng(seed).choice(len(pool), 6, replace=False)
        covered = np.asarray(r.state.graph[:, pick].sum(axis=1)).ravel() > 0
        covered[pick] = True
        random_coverage.append(covered.mean())
    assert r.coverage() >= 0.95 > np.mean(random_coverage) + 0.3
    # without the discount (rank by raw votes) the dense cluster would take every slot
    votes = np.asarray(r.state.graph.sum(axis=0)).ravel()
    assert {cluster(pool[i]) for i in np.argsort(-votes)[:6]} == {0}


def test_votek_retrieves_per_query_from_the_selected_set_only():
    emb, pool = clustered_pool()
    r = build_retriever("votek", embedder=emb, budget=10, graph_k=8)
    r.fit(pool)
    got = r.select(Example("q", {"text": "query c3"}), 2)
    assert all(pool.index(d.example) in r.selected for d in got)
    assert cluster(got[0].example) == 3 and got[0].score >= got[1].score


def test_two_stage_skips_the_most_confident_and_asks_the_lm_once_per_unselected_example():
    emb, pool = clustered_pool()
    # scripted confidence: the later an example's index within its cluster, the more confident the LM
    def scores(demos, query):
        return (float(query.id.split("-")[1]), 0.0)

    probe = ScriptedProbe(["negative", "positive"], score_fn=scores)
    r = build_retriever("votek", embedder=emb, budget=10, graph_k=8, two_stage=True, probe=probe)
    r.fit(pool)
    assert len(r.selected) == 10 and len(set(r.selected)) == 10
    assert len(probe.scored) == len(pool) - 1  # M/10 = 1 annotated first, every other example scored once
    margins = {pool[i].id: float(pool[i].id.split("-")[1]) for i in range(len(pool))}
    cutoff = np.quantile(list(margins.values()), 0.9)
    second_stage = [pool[i].id for i in r.selected[1:]]
    assert all(margins[i] <= cutoff for i in second_stage)


def test_votek_needs_the_lm_for_two_stage_and_budget_at_least_k():
    emb, pool = clustered_pool()
    with pytest.raises(IclkitError, match="needs the language model"):
        build_retriever("votek", embedder=emb, two_stage=True)
    r = build_retriever("votek", embedder=emb, budget=3, graph_k=8)
    r.fit(pool)
    with pytest.raises(IclkitError, match="fewer than k=4"):
        r.select(Example("q", {"text": "query c3"}), 4)
    with pytest.raises(IclkitError, match="fewer than k=100"):
        build_retriever("votek", embedder=emb).fit(pool)
