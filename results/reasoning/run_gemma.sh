#!/usr/bin/env bash
# The formats Gemma-3-270M had not run, with the flags of SmolLM2's cells (run.sh, run_more.sh): zero-shot-cot on
# the four tasks, Self-Ask with and without the lookup tool on two_hop, Least-to-Most on last_letters with the
# length-generalisation curve (demonstrations with 2 words, tests with 2/4/6), Auto-CoT on arithmetic. 10 questions
# per cell, 4 demonstrations, greedy, at most 64 new tokens per model call.
set -euo pipefail
source "$(dirname "$0")/common.sh"
model=gemma3-270m
for task in last_letters coin_flip arithmetic two_hop; do
  run $model "$task-zero-shot-cot" --task "$task" --format zero-shot-cot --set "$(task_opts $task)"
done
run $model two_hop-self-ask-tool --task two_hop --format self-ask --set format_options.use_tool=true
run $model two_hop-self-ask --task two_hop --format self-ask
for n in 2 4 6; do
  run $model "l2m-words$n" --task last_letters --format least-to-most --set task_options.n_words=$n task_options.pool_n_words=2
done
run $model arithmetic-auto-cot --task arithmetic --format auto-cot --set "$(task_opts arithmetic)" \
    format_options.candidates_per_cluster=2
cp "runs/reasoning/$model-arithmetic-auto-cot/autocot_demos.json" "results/reasoning/$model-arithmetic-auto-cot-demos.json"
python results/reasoning/table.py
