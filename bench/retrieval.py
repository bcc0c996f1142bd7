"""Retrieval index benchmark: build time, memory and queries/s against pool size, with recall@8 against exact.

Synthetic embeddings (a Gaussian mixture on the 384-d unit sphere, like MiniLM's) stand in for pools the encoder
cannot embed in minutes; ``--embed-sst2`` also times embedding the real 6,920-sentence SST-2 pool with MiniLM.
Everything is measured in one run on this machine, so the ratios between rows are what to compare.

    nice -n 10 python bench/retrieval.py --sizes 10000,100000 --out results/selection/retrieval-bench.json

``--nprobes 16,32,64,128`` gives one IVF row per number of lists scanned (the recall / speed trade-off); the exact
top-8 that recall is measured against comes from faiss's flat index.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import time

import numpy as np

from iclkit.retrieve.index import ExactIndex, build_faiss, recall_at_k, set_search_options

DIM, K = 384, 8


def synthetic(n: int, seed: int, clusters: int = 1000) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, DIM)).astype(np.float32)
    x = centres[rng.integers(clusters, size=n)]
    x += 0.8 * rng.normal(size=(n, DIM)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def per_query_rate(index, queries: np.ndarray, batch: int) -> float:
    started = time.perf_counter()
    for s in range(0, len(queries), batch):
        index.search(queries[s : s + batch], K)
    return len(queries) / (time.perf_counter() - started)


def exact_truth(x: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """The exact top-K ids, from faiss's flat inner-product index (BLAS in blocks: no 2000 x N score matrix)."""
    import faiss

    flat = faiss.IndexFlatIP(x.shape[1])
    flat.add(x)
    return flat.search(queries, K)[1]


def bench_size(n: int, queries: np.ndarray, kinds: list[str], nprobes: list[int], refines: list[int]) -> list[dict]:
    import faiss

    x = synthetic(n, seed=0)
    exact = ExactIndex(x)
    truth = exact_truth(x, queries)
    batch = 1000 if n <= 200_000 else 100  # numpy's exact search holds a batch x N score matrix (and a copy)
    rows = [{"n": n, "index": "exact", "build_s": 0.0, "bytes": x.nbytes,
             "recall_at_8": recall_at_k(truth[:batch], exact.search(queries[:batch], K)[1]),
             "qps_batch_1": per_query_rate(exact, queries[:50], 1),
             f"qps_batch_{batch}": per_query_rate(exact, queries[: 10 * batch if batch < 1000 else None], batch)}]
    for kind in kinds:
        started = time.perf_counter()
        index = build_faiss(x, kind)
        build = time.perf_counter() - started
        settings = [("nprobe", p) for p in nprobes] if kind.startswith("ivf") else [("efSearch", None)]
        if kind == "ivf-pq":  # also the number of candidates re-scored exactly (refine x k)
            settings = [(("nprobe", "refine"), (p, r)) for r in refines for p in nprobes]
        for knob, value in settings:
            if knob == ("nprobe", "refine"):
                set_search_options(index, nprobe=value[0], refine=value[1])
            elif knob == "nprobe":
                set_search_options(index, nprobe=value)
            wrapped = type("W", (), {"search": lambda self, q, k, i=index: i.search(q, k)})()
            _, got = index.search(queries, K)
            knobs = dict(zip(knob, value)) if isinstance(knob, tuple) else {
                knob: value if value is not None else index.hnsw.efSearch}
            rows.append({"n": n, "index": kind, "build_s": round(build, 2),
                         "bytes": int(faiss.serialize_index(index).nbytes), **knobs,
                         "recall_at_8": recall_at_k(truth, got),
                         "qps_batch_1": per_query_rate(wrapped, queries[:200], 1),
                         "qps_batch_1000": per_query_rate(wrapped, queries, 1000)})
    for r in rows:
        r["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
        print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in r.items()}), flush=True)
    return rows


def embed_sst2() -> dict:
    from iclkit.data.loaders import load_split
    from iclkit.data.tasks import load_task
    from iclkit.retrieve.embed import get_embedder

    texts = [e.fields["text"] for e in load_split(load_task("sst2"), "train")]
    embedder = get_embedder("minilm")
    embedder.encode(texts[:8])  # load the model outside the timing
    started = time.perf_counter()
    embedder.encode(texts)
    return {"sst2_pool_sentences": len(texts), "embed_s": round(time.perf_counter() - started, 2)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--hnsw-max", type=int, default=100_000, help="largest pool HNSW is built for")
    parser.add_argument("--nprobes", default="32", help="IVF lists scanned per query: one row each")
    parser.add_argument("--refines", default="32", help="ivf-pq: candidates re-scored exactly, as multiples of k")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--ivf", default="ivf", help="IVF kinds to build, comma-separated: ivf, ivf-sq8, ivf-pq")
    parser.add_argument("--embed-sst2", action="store_true")
    parser.add_argument("--out")
    args = parser.parse_args()
    import faiss

    faiss.omp_set_num_threads(args.threads)
    queries = synthetic(args.queries, seed=1)
    rows = []
    for n in (int(s) for s in args.sizes.split(",")):
        rows += bench_size(n, queries, args.ivf.split(",") + (["hnsw"] if n <= args.hnsw_max else []),
                           [int(p) for p in args.nprobes.split(",")], [int(r) for r in args.refines.split(",")])
    result = {"dim": DIM, "k": K, "n_queries": args.queries, "rows": rows, "machine": platform.processor() or
              platform.machine(), "threads": args.threads}
    if args.embed_sst2:
        result["embedding"] = embed_sst2()
        print(json.dumps(result["embedding"]))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
