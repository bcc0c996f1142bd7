#!/bin/sh
# The commands behind results/analysis/sst2-smollm2-135m-*/ (CPU, niced, on the shared 2-core machine). Each step
# resumes the records of the previous ones and copies its analysis.json and plots under results/analysis/.
set -e
OUT=runs/analysis/sst2-smollm2-135m
ARGS="--task sst2 --model smollm2-135m --shots 32 --limit 24 --lr 0.01 --out $OUT --no-progress"
export PYTHONPATH=$PWD/src
step() {  # step NAME FLAGS...
    name=$1; shift
    nice -n 10 python -m iclkit.cli.main analyze icl-vs-ft $ARGS "$@"
    mkdir -p results/analysis/$name
    cp $OUT/analysis.json $OUT/*.png results/analysis/$name/
}
step sst2-smollm2-135m-seed0 --seeds 0
step sst2-smollm2-135m-seed0-controls --seeds 0 --controls other-demos
step sst2-smollm2-135m-seed0-controls --seeds 0 --controls other-demos,random-init
step sst2-smollm2-135m-seed0-controls --seeds 0 --controls other-demos,random-init,shuffled-labels
step sst2-smollm2-135m-3seeds --seeds 0 1 2
