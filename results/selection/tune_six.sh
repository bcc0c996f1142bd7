#!/usr/bin/env bash
# The tune-vs-zero-shot protocol behind results/selection/tune-*-n100/ and tune-gemma3-dev100/: per task, `iclkit tune`
# over random / balanced / TopK x k in {4, 8} x calibration none / batch, ranked on a DEV-example dev slice of the pool
# (seed 0), then the choice, zero-shot and 8-shot random on a LIMIT-example evaluation slice (default 100).
# Usage: tune_six.sh MODEL RESULTS_DIR DEV TASK...   Wall time per task goes to RESULTS_DIR/timings.tsv.
set -euo pipefail
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false
MODEL=$1; RES=$2; DEV=$3; shift 3
RUNS=runs/selection/$(basename "$RES")
for t in "$@"; do
    OUT=$RUNS/$t
    mkdir -p $OUT
    start=$(date +%s)
    nice -n 10 iclkit tune --task $t --model $MODEL --retrievers random,balanced,topk --shots 4,8 \
        --calibrations none,batch --dev-size $DEV --limit ${LIMIT:-100} --seed 0 --out $OUT
    printf '%s\t%s\n' $t $(( $(date +%s) - start )) >> $RES/timings.tsv
    python results/selection/collect.py $OUT $RES/$t
done
python results/selection/tune_effects.py $RES $RUNS
