#!/bin/sh
# The commands behind results/analysis/sst2-smollm2-135m*/ (CPU, niced, on the shared 2-core machine).
set -e
OUT=runs/analysis/sst2-smollm2-135m
ARGS="--task sst2 --model smollm2-135m --shots 32 --limit 24 --lr 0.01 --out $OUT --no-progress"
export PYTHONPATH=$PWD/src
# 1. seed 0 with two controls
nice -n 10 python -m iclkit.cli.main analyze icl-vs-ft $ARGS --seeds 0 --controls random-init,other-demos
mkdir -p results/analysis/sst2-smollm2-135m-controls-seed0
cp $OUT/analysis.json $OUT/*.png results/analysis/sst2-smollm2-135m-controls-seed0/
# 2. three demonstration seeds (seed 0's records are reused)
nice -n 10 python -m iclkit.cli.main analyze icl-vs-ft $ARGS --seeds 0 1 2
mkdir -p results/analysis/sst2-smollm2-135m
cp $OUT/analysis.json $OUT/*.png results/analysis/sst2-smollm2-135m/
