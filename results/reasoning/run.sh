#!/usr/bin/env bash
# Small reasoning study on SmolLM2-135M-Instruct (the CPU budget of one session): 20 questions per cell,
# 4 demonstrations, greedy, at most 64 new tokens per call. Then the Least-to-Most length-generalisation curve
# on last-letter concatenation (demonstrations with 2 words, tests with 2/4/6 words, 10 questions each).
# Writes results/reasoning/*.json (copies of each run's summary) and results/reasoning/table.csv.
set -euo pipefail
export OMP_NUM_THREADS=1
model=${MODEL:-smollm2-135m}
run() {  # name, then iclkit eval flags
  local name=$1; shift
  nice -n 10 python -m iclkit.cli.main eval --model "$model" --shots 4 --max-new-tokens 64 --out "runs/reasoning/$name" "$@"
  cp "runs/reasoning/$name/summary.json" "results/reasoning/$name.json"
}
for task in last_letters coin_flip arithmetic two_hop; do
  opts=()
  [[ $task == last_letters ]] && opts=(--set task_options.n_words=2)
  [[ $task == arithmetic ]] && opts=(--set task_options.n_steps=2)
  for format in direct cot; do
    run "$model-$task-$format" --task "$task" --format "$format" --limit 20 "${opts[@]}"
  done
done
for n in 2 4 6; do
  run "$model-l2m-words$n" --task last_letters --format least-to-most --limit 10 \
      --set task_options.n_words=$n task_options.pool_n_words=2
done
python results/reasoning/table.py
