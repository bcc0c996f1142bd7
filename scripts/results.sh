#!/usr/bin/env bash
# Regenerate the paper-task rows of docs/results.md (hours on 2 CPU cores): each row is one `iclkit run` command;
# each finished row's summaries are copied into results/ (committed), from which scripts/results_table.py prints the table.
# LIMIT=100 TASKS="sst5 cb agnews" bash scripts/results.sh   runs a subset with a smaller evaluation slice.
set -euo pipefail
ICLKIT=${ICLKIT:-.venv/bin/iclkit}
MODELS=${MODELS:-"gemma3-270m smollm2-135m"}
TASKS=${TASKS:-"sst2 mr subj sst5 cb agnews"}
for task in $TASKS; do
  for model in $MODELS; do
    $ICLKIT run configs/paper-tasks.yaml task=$task model=$model out=runs/results/$model/$task ${LIMIT:+limit=$LIMIT}
    ${PYTHON:-.venv/bin/python} scripts/collect_results.py runs/results results/paper-tasks
  done
done
