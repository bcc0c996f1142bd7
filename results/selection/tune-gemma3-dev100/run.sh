#!/usr/bin/env bash
# tune-gemma3-n100 with a 100-example dev slice of the pool instead of 30 (--dev-size 100), on the tasks where the
# 30-example dev slice chose worse than zero-shot or 8-shot random (SST-2, SST-5, Subj). Same space, seed 0 and
# 100-example evaluation slices as tune-gemma3-n100; only the dev slice is larger.
# Wall time per task goes to results/selection/tune-gemma3-dev100/timings.tsv.
set -euo pipefail
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false
RES=results/selection/tune-gemma3-dev100
for t in ${TASKS:-sst2 sst5 subj}; do
    OUT=runs/selection/tune-gemma3-dev100/$t
    mkdir -p $OUT
    start=$(date +%s)
    nice -n 10 iclkit tune --task $t --model gemma3-270m --retrievers random,balanced,topk --shots 4,8 \
        --calibrations none,batch --dev-size ${DEV:-100} --limit ${LIMIT:-100} --seed 0 --out $OUT
    printf '%s\t%s\n' $t $(( $(date +%s) - start )) >> $RES/timings.tsv
    python results/selection/collect.py $OUT $RES/$t
done
python results/selection/tune_effects.py $RES runs/selection/tune-gemma3-dev100
