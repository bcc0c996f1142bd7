#!/usr/bin/env bash
# The inference-time momentum control of results/training/momentum-inference/ on Gemma-3-270M: momentum attention
# added at inference in every layer (not trained with it), eta in {0 (plain), 0.1, 0.3, 0.6}, the six paper tasks in
# their own templates, 4-shot (random demonstrations, the same 4 for every query, seed 0), 60 examples per task.
# One thread, one job at a time.
set -euo pipefail
cd "$(dirname "$0")/../../.."
export PYTHONPATH=${PYTHONPATH:-$PWD/src} OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
PY=${PYTHON:-python}
HERE=results/training/momentum-inference-gemma3
nice -n 10 "$PY" results/training/eval_icl.py --model gemma3-270m --label gemma3-270m \
  --tasks sst2,sst5,mr,subj,agnews,cb --shots 4 --seeds 0 --no-zero-shot --limit 60 --etas 0,0.1,0.3,0.6 \
  --runs runs/training/momentum-inference-gemma3 --csv $HERE/accuracy.csv
"$PY" results/training/collect_runs.py runs/training/momentum-inference-gemma3 $HERE/runs.csv
STUDY_DIR=$HERE MODEL_NAME=Gemma-3-270M "$PY" results/training/momentum-inference/summarize.py
