#!/usr/bin/env bash
# iclkit tune per paper task, Gemma-3-270M: the tune-smollm2 protocol (random / balanced / TopK x k in {4, 8} x
# calibration none / batch, 6 scorings per task, ranked on a 30-example dev slice of the pool; then the choice,
# zero-shot and 8-shot random (seed 0) on the same 30-example evaluation slices). Unlike tune-smollm2/run.sh nothing
# is copied from a comparison: `iclkit tune` runs zero-shot and 8-shot random itself (same configurations).
# Wall time per task goes to results/selection/tune-gemma3/timings.tsv. TASKS: the tasks that fit the budget.
set -euo pipefail
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false
RES=results/selection/tune-gemma3
for t in ${TASKS:-sst2 mr subj sst5 cb agnews}; do
    OUT=runs/selection/tune-gemma3/$t
    mkdir -p $OUT
    start=$(date +%s)
    nice -n 10 iclkit tune --task $t --model gemma3-270m --retrievers random,balanced,topk --shots 4,8 \
        --calibrations none,batch --dev-size 30 --limit 30 --seed 0 --out $OUT
    printf '%s\t%s\n' $t $(( $(date +%s) - start )) >> $RES/timings.tsv
    python results/selection/collect.py $OUT $RES/$t
done
python results/selection/tune_effects.py $RES runs/selection/tune-gemma3
