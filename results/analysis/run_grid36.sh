#!/bin/sh
# The paper's 36-value learning-rate grid on a real model (results/analysis/sst2-smollm2-135m-grid36-seed0/):
# SmolLM2-135M, SST-2, k = 32, n = 64 (the six-task table's slice), seed 0, the rate selected both on a held-out
# 32-example pool slice (the default) and on the evaluation set (the paper's way). ZSL and ICL passes are shared across
# rates; a rate stops scoring once it can no longer beat the best so far. The cost is the wall time printed at the end
# and `lr_selection.*.examples_scored` in analysis.json. CPU, one thread, niced.
set -e
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONPATH=${SRC:-$PWD/src}
PY=${PY:-python}
OUT=runs/analysis/sst2-smollm2-135m-grid36; R=results/analysis/sst2-smollm2-135m-grid36-seed0
start=$(date +%s)
nice -n 5 $PY -m iclkit.cli.main analyze icl-vs-ft --task sst2 --model smollm2-135m --shots 32 --limit 64 \
    --kendall-n 64 --seeds 0 --lr-selection heldout,eval --lr-grid paper --heldout-n 32 --out $OUT --no-progress
mkdir -p $R && cp $OUT/analysis.json $OUT/*.png $R/
echo "wall $(( $(date +%s) - start )) s" | tee $R/wall.txt
