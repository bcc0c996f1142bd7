#!/usr/bin/env bash
# Training speed of Gemma-3-270M under the held-out study's settings (MetaICL, 4 shots, LoRA r=8, batch 4, max length
# 256, one thread, niced): a short run of 6 steps, enough for a per-step rate. SmolLM2-135M's numbers come from the
# study itself (results/training/warmup-heldout/{metaicl,control}/).
set -euo pipefail
cd "$(dirname "$0")/../../.."
export PYTHONPATH=$PWD/src OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
PY=${PYTHON:-python}
HERE=results/training/cpu-defaults
RUNS=runs/training/cpu-defaults
mkdir -p "$RUNS" "$HERE/gemma3-270m"
/usr/bin/time -v nice -n 10 "$PY" -m iclkit.cli.main warmup --method metaicl --model gemma3-270m --tasks trec,rte,sst5,cb \
  --shots 4 --steps 6 --batch-size 4 --lr 5e-4 --warmup-steps 4 --max-length 256 --save-every 100 --no-progress \
  --no-resume --out "$RUNS/gemma3-270m" 2> "$RUNS/gemma3-270m.time" || { cat "$RUNS/gemma3-270m.time"; exit 1; }
cp "$RUNS/gemma3-270m/metrics.jsonl" "$HERE/gemma3-270m/"
grep -E "Elapsed|Maximum resident" "$RUNS/gemma3-270m.time" > "$HERE/gemma3-270m/time.txt"
