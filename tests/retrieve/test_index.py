import numpy as np
import pytest

from iclkit.errors import IclkitError
from iclkit.retrieve.base import build_retriever
from iclkit.retrieve.index import ExactIndex, build_index, recall_at_k
from iclkit.testing import TableEmbedder
from iclkit.types import Example


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ICLKIT_CACHE", str(tmp_path))


def clustered(n, d=32, clusters=50, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, d))
    x = centres[rng.integers(clusters, size=n)] + 0.3 * rng.normal(size=(n, d))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def test_exact_index_matches_brute_force():
    x, q = clustered(500), clustered(10, seed=1)
    scores, ids = ExactIndex(x).search(q, 8)
    brute = np.argsort(-(q @ x.T), axis=1)[:, :8]
    assert (ids == brute).all() and (np.diff(scores, axis=1) <= 1e-6).all()


@pytest.mark.parametrize("kind", ["ivf", "ivf-sq8", "ivf-pq", "hnsw"])
def test_approximate_indexes_have_high_recall_and_are_reused(kind, tmp_path):
    x, q = clustered(4000), clustered(50, seed=1)
    _, exact = ExactIndex(x).search(q, 8)
    index = build_index(x, kind)
    _, approx = index.search(q, 8)
    assert index.kind == kind and recall_at_k(exact, approx) >= 0.95
    assert len(list((tmp_path / "faiss").glob(f"*-{kind}-*.faiss"))) == 1
    assert (build_index(x, kind).search(q, 8)[1] == approx).all()  # loaded from the cache


def test_auto_is_exact_below_the_threshold_and_unknown_kind_is_an_error():
    x = clustered(300)
    assert build_index(x, "auto").kind == "exact"
    assert build_index(x, "auto", exact_max=100).kind == "ivf"
    with pytest.raises(IclkitError, match="unknown index kind"):
        build_index(x, "annoy")


def test_a_corrupt_saved_index_is_an_error(tmp_path):
    x = clustered(300)
    build_index(x, "ivf", nlist=8)
    for path in (tmp_path / "faiss").glob("*.faiss"):
        path.write_bytes(b"garbage")
    with pytest.raises(IclkitError, match="unreadable"):
        build_index(x, "ivf", nlist=8)


@pytest.mark.parametrize("index, options", [("hnsw", None), ("ivf-pq", {"nlist": 16, "nprobe": 16})])
def test_topk_retriever_with_an_approximate_index(index, options):
    x = clustered(2000)
    table = {f"t{i}": v for i, v in enumerate(x)}
    table["query"] = x[17] + 0.01
    pool = [Example(str(i), {"text": f"t{i}"}, "a") for i in range(len(x))]
    r = build_retriever("topk", embedder=TableEmbedder(table), index=index, index_options=options)
    r.fit(pool)
    assert r.select(Example("q", {"text": "query"}), 3)[0].example.id == "17"


def test_bm25_index_is_saved_and_reused(tmp_path):
    pool = [Example(str(i), {"text": t}, "a") for i, t in enumerate(["the cat sat", "a dog ran", "great plot"])]
    first = build_retriever("bm25")
    first.fit(pool)
    assert len(list((tmp_path / "bm25").iterdir())) == 1
    again = build_retriever("bm25")
    again.fit(pool)
    q = Example("q", {"text": "dog plot"})
    assert [d.example.id for d in again.select(q, 2)] == [d.example.id for d in first.select(q, 2)]


def test_index_options_reach_faiss_and_unknown_ones_are_an_error():
    import faiss

    x = clustered(2000)
    index = build_index(x, "ivf-pq", nprobe=3, refine=4, nlist=16)
    assert faiss.extract_index_ivf(index.index).nprobe == 3 and index.index.k_factor == 4
    with pytest.raises(IclkitError, match="unknown index option.*nprobes.*known: ef_search"):
        build_index(x, "ivf", nprobes=3)


def test_search_settings_apply_to_a_cached_index_without_rebuilding_it(tmp_path):
    import faiss

    x = clustered(2000)
    build_index(x, "ivf", nlist=16, nprobe=3)
    again = build_index(x, "ivf", nlist=16, nprobe=7)
    assert faiss.extract_index_ivf(again.index).nprobe == 7
    assert len(list((tmp_path / "faiss").glob("*-ivf-*.faiss"))) == 1  # one saved index: nprobe is not in its key
