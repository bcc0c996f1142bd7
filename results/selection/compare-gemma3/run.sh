#!/usr/bin/env bash
# The compare-smollm2 grid with Gemma-3-270M, on the tasks that fit the session's budget (TASKS, default sst2).
set -euo pipefail
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false
OUT=runs/selection/compare-gemma3
nice -n 10 iclkit compare --tasks ${TASKS:-sst2} \
    --methods zero,random,bm25,topk,dpp,votek,mi --one-seed zero,bm25,topk,dpp,votek \
    --set mi.n_sets=6 mi.n_probe=16 --seeds 0,1,2 --shots 8 --model gemma3-270m --limit 30 --out $OUT
python results/selection/collect.py $OUT results/selection/compare-gemma3
