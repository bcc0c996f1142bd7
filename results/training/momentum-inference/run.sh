#!/usr/bin/env bash
# Inference-time momentum control (issue 11): SmolLM2-135M with momentum attention added at inference in every
# layer (not trained with it), eta in {0 (plain), 0.1, 0.3, 0.6}, on the six paper tasks with their own
# templates, 4-shot (random demonstrations, the same 4 for every query, seed 0), 60 examples per task (seeded slice).
# With momentum the scorer gives every request its own row (HFLM._order_sensitive), which is exact but slower.
# One thread, one job at a time. Then: python results/training/momentum-inference/summarize.py
set -euo pipefail
cd "$(dirname "$0")/../../.."
export PYTHONPATH=$PWD/src OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
PY=${PYTHON:-python}
nice -n 10 "$PY" results/training/eval_icl.py --model smollm2-135m --label smollm2-135m \
  --tasks sst2,sst5,mr,subj,agnews,cb --shots 4 --seeds 0 --no-zero-shot --limit 60 --etas 0,0.1,0.3,0.6 \
  --runs runs/training/momentum-inference --csv results/training/momentum-inference/accuracy.csv
# Committed copies: one row per run folder (accuracy, calibrated accuracy, most-predicted label), then table and plot.
"$PY" results/training/collect_runs.py runs/training/momentum-inference results/training/momentum-inference/runs.csv
"$PY" results/training/momentum-inference/summarize.py
