#!/usr/bin/env bash
# The retrieval benchmarks of docs/selection.md ("Scale"), 2026-12-03. Run on a quiet machine: the session's other
# jobs were paused (kill -STOP) for each command and resumed after it. Two threads (the machine's two cores).
set -euo pipefail
cd "$(dirname "$0")/../.."
export OMP_NUM_THREADS=2 MKL_NUM_THREADS=2 PYTHONPATH=${PYTHONPATH:-$PWD/src}
R=results/selection
python bench/retrieval.py --sizes 10000,100000,1000000 --queries 2000 --nprobes 16,32,64,128 --ivf ivf,ivf-sq8 \
    --hnsw-max 100000 --threads 2 --embed-sst2 --out $R/retrieval-bench-quiet-2026-12-03.json
python bench/retrieval.py --sizes 1000000 --queries 2000 --nprobes 96,128,192 --refines 64,128 --ivf ivf-pq \
    --hnsw-max 0 --threads 2 --out $R/retrieval-bench-1m-ivfpq-2026-12-03-run1.json
python bench/retrieval.py --sizes 1000000 --queries 2000 --nprobes 64,80 --refines 128,192 --ivf ivf-pq \
    --hnsw-max 0 --threads 2 --out $R/retrieval-bench-1m-ivfpq-2026-12-03-run2.json
