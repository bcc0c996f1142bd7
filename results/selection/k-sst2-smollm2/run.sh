#!/usr/bin/env bash
# Accuracy against k for the main methods: SST-2, SmolLM2, k = 2, 4, 8, same 30-example slice as compare-smollm2.
# The k = 8 cells are copied from compare-smollm2 (same configuration), so they resume instead of re-running.
set -euo pipefail
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false
OUT=runs/selection/k-sst2-smollm2
for m in random topk votek; do
    mkdir -p $OUT/sst2/$m && cp -rn runs/selection/compare-smollm2/sst2/$m/k8 $OUT/sst2/$m/ 2>/dev/null || true
done
nice -n 10 iclkit compare --tasks sst2 --methods random,topk,votek --one-seed topk,votek \
    --seeds 0,1,2 --shots 2,4,8 --model smollm2-135m --limit 30 --out $OUT
python results/selection/collect.py $OUT results/selection/k-sst2-smollm2
