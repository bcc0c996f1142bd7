#!/usr/bin/env bash
# iclkit tune per paper task, SmolLM2: random / balanced / TopK x k in {4, 8} x calibration none / batch (6 scorings
# per task), ranked on a 30-example dev slice of the pool; then the choice, zero-shot and 8-shot random (seed 0) on
# the same 30-example evaluation slices as compare-smollm2. The zero-shot and random seed-0 runs are copied from
# compare-smollm2 (same configurations), so they resume instead of re-running. TASKS: the tasks that fit the budget.
set -euo pipefail
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false
for t in ${TASKS:-sst2 mr subj sst5 agnews cb}; do
    OUT=runs/selection/tune-smollm2/$t
    mkdir -p $OUT
    [ -d $OUT/zero-shot ] || cp -r runs/selection/compare-smollm2/$t/zero/k8/seed0 $OUT/zero-shot
    [ -d $OUT/8-shot-random ] || cp -r runs/selection/compare-smollm2/$t/random/k8/seed0 $OUT/8-shot-random
    nice -n 10 iclkit tune --task $t --model smollm2-135m --retrievers random,balanced,topk --shots 4,8 \
        --calibrations none,batch --dev-size 30 --limit 30 --seed 0 --out $OUT
    python results/selection/collect.py $OUT results/selection/tune-smollm2/$t
done
python results/selection/tune_effects.py results/selection/tune-smollm2 runs/selection/tune-smollm2
