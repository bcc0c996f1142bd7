#!/usr/bin/env bash
# The remaining formats on SmolLM2-135M (10 questions per cell), then direct vs cot on Gemma-3-270M (10 questions
# per cell). Same settings as run.sh: 4 demonstrations, greedy, at most 64 new tokens per call.
set -euo pipefail
export OMP_NUM_THREADS=1
run() {  # model, name, then iclkit eval flags
  local model=$1 name=$2; shift 2
  nice -n 10 python -m iclkit.cli.main eval --model "$model" --shots 4 --max-new-tokens 64 --limit 10 \
      --out "runs/reasoning/$model-$name" "$@"
  cp "runs/reasoning/$model-$name/summary.json" "results/reasoning/$model-$name.json"
}
task_opts() {
  case $1 in last_letters) echo "task_options.n_words=2";; arithmetic) echo "task_options.n_steps=2";;
              *) echo "task_options.n_eval=500";; esac
}
for task in last_letters coin_flip arithmetic two_hop; do
  run smollm2-135m "$task-zero-shot-cot" --task "$task" --format zero-shot-cot --set "$(task_opts $task)"
done
run smollm2-135m two_hop-self-ask-tool --task two_hop --format self-ask --set format_options.use_tool=true
run smollm2-135m two_hop-self-ask --task two_hop --format self-ask
run smollm2-135m arithmetic-auto-cot --task arithmetic --format auto-cot --set "$(task_opts arithmetic)" \
    format_options.candidates_per_cluster=2
for task in last_letters coin_flip arithmetic two_hop; do
  for format in direct cot; do
    run gemma3-270m "$task-$format" --task "$task" --format "$format" --set "$(task_opts $task)"
  done
done
python results/reasoning/table.py
