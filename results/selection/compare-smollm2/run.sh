#!/usr/bin/env bash
# Selection-method comparison, SmolLM2-135M-Instruct, the six paper tasks, 8 shots, Direct scoring, no calibration
# (batch calibration is read off the same scores). Seeded evaluation slice of 30 examples per task (eval_seed 0).
# random and mi: seeds 0,1,2; the methods whose selection does not read the seed run once (--one-seed).
# One thread, niced (the machine's 2 cores are shared). Run from the repository root.
set -euo pipefail
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false
OUT=runs/selection/compare-smollm2
GRID=(--tasks sst2,mr,subj,sst5,agnews,cb --methods zero,random,bm25,topk,dpp,votek,mi
      --one-seed zero,bm25,topk,dpp,votek --set mi.n_sets=6 mi.n_probe=16
      --seeds 0,1,2 --shots 8 --model smollm2-135m --limit 30 --out $OUT)
# effects against TopK too (DPP's paper compares with TopK); the second pass resumes every run
nice -n 10 iclkit compare "${GRID[@]}" --baseline topk
mv $OUT/effects.json $OUT/effects-vs-topk.json && mv $OUT/effects.md $OUT/effects-vs-topk.md
nice -n 10 iclkit compare "${GRID[@]}" --baseline random
python results/selection/collect.py $OUT results/selection/compare-smollm2
python results/selection/pivot.py results/selection/compare-smollm2
