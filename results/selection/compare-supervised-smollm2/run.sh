#!/usr/bin/env bash
# The methods that train, label with the LM, generate or search orderings (EPR, active selection, SG-ICL, two-stage
# Vote-k, GlobalE / LocalE orderings of random's sets) against random, TopK and one-stage Vote-k, SmolLM2-135M-Instruct,
# 8 shots, Direct scoring, the same 30-example slices (eval_seed 0) as compare-smollm2. random and the two orderings
# run seeds 0,1,2 (the orderings permute random's set of the same seed, so their effect is the ordering's alone);
# everything else once (EPR's and active's training do read the seed: one seed is a budget shortcut).
# Usage: TASKS="sst2 subj" bash results/selection/compare-supervised-smollm2/run.sh   (one task per compare, so a
# cut-short queue keeps complete tasks; POOLED=1 afterwards resumes every cell in one compare for pooled effects)
# What ran: TASKS="sst2 mr" and TASKS="subj cb" side by side (CB stopped unfinished: out of time, and sgicl refuses
# its two input fields), then TASKS="sst2 subj mr" POOLED=1.
set -euo pipefail
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false
OUT=runs/selection/compare-supervised-smollm2
HERE=results/selection/compare-supervised-smollm2
METHODS=random,topk,votek,votek2=votek,epr,active,sgicl,random:globale,random:locale
ONE=topk,votek,votek2,epr,active,sgicl
ARGS=(--set votek2.two_stage=true votek2.confidence_sample=1000
      --seeds 0,1,2 --shots 8 --model smollm2-135m --limit 30)
if [ -n "${POOLED:-}" ]; then
    mkdir -p $OUT
    for t in ${TASKS:-sst2 subj mr cb}; do ln -sfn "$PWD/$OUT-$t/$t" $OUT/$t; done
    # zero-shot joins the pooled pass (seconds per task): SG-ICL's paper compares against it. Effects against
    # zero, TopK and one-stage Vote-k first, then against random (effects.json)
    POOL=(--tasks $(echo ${TASKS:-sst2 subj mr cb} | tr ' ' ,) --methods zero,$METHODS --one-seed zero,$ONE
          "${ARGS[@]}" --out $OUT)
    for base in zero topk votek random; do
        iclkit compare "${POOL[@]}" --baseline $base
        [ $base = random ] || { mv $OUT/effects.json $OUT/effects-vs-$base.json; mv $OUT/effects.md $OUT/effects-vs-$base.md; }
    done
    python results/selection/collect.py $OUT $HERE
    python results/selection/pivot.py $HERE
    exit 0
fi
for t in ${TASKS:-sst2 subj mr cb}; do
    start=$(date +%s)
    nice -n 10 iclkit compare --tasks $t --methods $METHODS --one-seed $ONE "${ARGS[@]}" --out $OUT-$t
    python results/selection/collect.py $OUT-$t $HERE/tasks/$t
    printf '%s\t%s\n' $t $(( $(date +%s) - start )) >> $HERE/tasks/timings.tsv
done
