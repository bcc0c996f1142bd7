#!/usr/bin/env bash
# MDL (Wu et al. 2022) against random and TopK on two of the paper tasks only (the budget did not allow all six),
# SmolLM2, 8 shots, the same 30-example slices as compare-smollm2. window=4 organisations (the top-k plus 3 random
# 8-subsets of the 30 TopK candidates) instead of the paper's 10, and one seed: each query costs window + 1 = 5
# scorings. The random and topk runs are copied from compare-smollm2 (same configurations), so they resume.
set -euo pipefail
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false
OUT=runs/selection/mdl-smollm2
for t in sst2 subj; do
    for m in random topk; do
        mkdir -p $OUT/$t && cp -rn runs/selection/compare-smollm2/$t/$m $OUT/$t/ 2>/dev/null || true
    done
done
GRID=(--tasks sst2,subj --methods random,topk,mdl --one-seed topk,mdl --set mdl.window=4
      --seeds 0,1,2 --shots 8 --model smollm2-135m --limit 30 --out $OUT)
nice -n 10 iclkit compare "${GRID[@]}" --baseline topk
mv $OUT/effects.json $OUT/effects-vs-topk.json && mv $OUT/effects.md $OUT/effects-vs-topk.md
nice -n 10 iclkit compare "${GRID[@]}" --baseline random
python results/selection/collect.py $OUT results/selection/mdl-smollm2
