# Shared by run_more.sh and run_gemma.sh (sourced): 10 questions per cell, 4 demonstrations, greedy, at most 64 new
# tokens per model call; each run's summary is copied into results/reasoning/<model>-<name>.json.
export OMP_NUM_THREADS=1
run() {  # model, name, then iclkit eval flags
  local model=$1 name=$2; shift 2
  nice -n 10 python -m iclkit.cli.main eval --model "$model" --shots 4 --max-new-tokens 64 --limit 10 \
      --out "runs/reasoning/$model-$name" "$@"
  cp "runs/reasoning/$model-$name/summary.json" "results/reasoning/$model-$name.json"
}
task_opts() {  # the task options of the cells (n_eval=500 is the default, a no-op kept for the same flags)
  case $1 in last_letters) echo "task_options.n_words=2";; arithmetic) echo "task_options.n_steps=2";;
              *) echo "task_options.n_eval=500";; esac
}
