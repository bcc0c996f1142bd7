#!/usr/bin/env bash
# The compare-gemma3 grid (run.sh) one task at a time, each into its own folder, so that every finished task is a
# complete table even when the queue is cut short: runs/selection/compare-gemma3-<task> -> results/selection/
# compare-gemma3/tasks/<task>/. Usage: TASKS="mr subj sst5 agnews cb" bash results/selection/compare-gemma3/run_per_task.sh
# POOLED=1 afterwards links the six tasks' folders into one and resumes every cell in one compare (no LM call for a
# finished cell), which gives the pooled six-task effects: results/selection/compare-gemma3/pooled/.
set -euo pipefail
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false
GRID=(--methods zero,random,bm25,topk,dpp,votek,mi --one-seed zero,bm25,topk,dpp,votek
      --set mi.n_sets=6 mi.n_probe=16 --seeds 0,1,2 --shots 8 --model gemma3-270m --limit 30)
ALL="sst2 mr subj sst5 agnews cb"
if [ -n "${POOLED:-}" ]; then
    OUT=runs/selection/compare-gemma3-pooled
    mkdir -p $OUT
    for t in $ALL; do ln -sfn "$PWD/runs/selection/compare-gemma3-$t/$t" $OUT/$t; done
    iclkit compare --tasks $(echo $ALL | tr ' ' ,) "${GRID[@]}" --out $OUT
    python results/selection/collect.py $OUT results/selection/compare-gemma3/pooled
    exit 0
fi
for t in ${TASKS:-mr subj sst5 agnews cb}; do
    OUT=runs/selection/compare-gemma3-$t
    start=$(date +%s)
    nice -n 10 iclkit compare --tasks $t "${GRID[@]}" --out $OUT
    python results/selection/collect.py $OUT results/selection/compare-gemma3/tasks/$t
    printf '%s\t%s\n' $t $(( $(date +%s) - start )) >> results/selection/compare-gemma3/tasks/timings.tsv
done
