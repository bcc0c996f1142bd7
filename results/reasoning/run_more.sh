#!/usr/bin/env bash
# The remaining formats on SmolLM2-135M (10 questions per cell), then direct vs cot on Gemma-3-270M (10 questions
# per cell). Same settings as run.sh: 4 demonstrations, greedy, at most 64 new tokens per call.
set -euo pipefail
source "$(dirname "$0")/common.sh"
for task in last_letters coin_flip arithmetic two_hop; do
  run smollm2-135m "$task-zero-shot-cot" --task "$task" --format zero-shot-cot --set "$(task_opts $task)"
done
run smollm2-135m two_hop-self-ask-tool --task two_hop --format self-ask --set format_options.use_tool=true
run smollm2-135m two_hop-self-ask --task two_hop --format self-ask
run smollm2-135m arithmetic-auto-cot --task arithmetic --format auto-cot --set "$(task_opts arithmetic)" \
    format_options.candidates_per_cluster=2
cp runs/reasoning/smollm2-135m-arithmetic-auto-cot/autocot_demos.json results/reasoning/smollm2-135m-arithmetic-auto-cot-demos.json
for task in last_letters coin_flip arithmetic two_hop; do
  for format in direct cot; do
    run gemma3-270m "$task-$format" --task "$task" --format "$format" --set "$(task_opts $task)"
  done
done
python results/reasoning/table.py
