#!/usr/bin/env bash
# Held-out MetaICL warmup study (issue 11), CPU-sized: SmolLM2-135M + LoRA (r=8, q/k/v/o), meta-trained on
# TREC, RTE, SST-5, CB; evaluated on SST-2, MR, Subj, AG News before and after, with a no-demonstration control.
#   train:  40 steps x 4 examples (160 queries, the same for both runs), lr 5e-4 (4 warm-up steps, then linear decay),
#           sequences up to 256 tokens; metaicl = 4 demonstrations per query, control = --shots 0.
#   eval:   200 examples per task (seeded slice), MetaICL's raw format (tasks/*-metaicl.yaml: the format trained on),
#           zero-shot and 4-shot (random demonstrations, the same 4 for every query; 3 demonstration seeds).
#           Evaluation in the tasks' own templates was cut for time (set TEMPLATES=1 to add it: zero-shot + seed 0).
# One thread, one job at a time. Then: python results/training/warmup-heldout/summarize.py
set -euo pipefail
cd "$(dirname "$0")/../../.."
export PYTHONPATH=$PWD/src OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
PY=${PYTHON:-python}
HERE=results/training/warmup-heldout
RUNS=runs/training/warmup-heldout
mkdir -p "$RUNS"
TRAIN="--method metaicl --model smollm2-135m --tasks trec,rte,sst5,cb --steps 40 --batch-size 4 --lr 5e-4
       --warmup-steps 4 --max-length 256 --save-every 20 --no-progress"
for variant in metaicl:4 control:0; do
  name=${variant%%:*}; shots=${variant##*:}
  if [ ! -f "$RUNS/$name/model/config.json" ]; then
    /usr/bin/time -v nice -n 10 "$PY" -m iclkit.cli.main warmup $TRAIN --shots "$shots" --out "$RUNS/$name" \
      2> "$RUNS-$name.time" || { cat "$RUNS-$name.time"; exit 1; }
  fi
  mkdir -p "$HERE/$name"
  cp "$RUNS/$name/metrics.jsonl" "$RUNS/$name/data_sample.jsonl" "$RUNS/$name/model/iclkit_training.json" "$HERE/$name/"
  grep -E "removed training|Elapsed|Maximum resident" "$RUNS-$name.time" > "$HERE/$name/time.txt" || true
done
META=$(ls $HERE/tasks/{sst2,mr,subj,agnews}-metaicl.yaml | paste -sd,)
for m in base:smollm2-135m metaicl:$RUNS/metaicl/model control:$RUNS/control/model; do
  label=${m%%:*}; model=${m#*:}
  nice -n 10 "$PY" results/training/eval_icl.py --model "$model" --label "$label" --tasks "$META" --shots 4 \
    --seeds 0,1,2 --limit 200 --runs "$RUNS/eval" --csv "$HERE/accuracy.csv"
  if [ "${TEMPLATES:-0}" = 1 ]; then
    nice -n 10 "$PY" results/training/eval_icl.py --model "$model" --label "$label" --tasks sst2,mr,subj,agnews \
      --shots 4 --seeds 0 --limit 200 --runs "$RUNS/eval" --csv "$HERE/accuracy.csv"
  fi
done
# Committed copies: one row per run folder (accuracy, calibrated accuracy, most-predicted label), then the tables.
"$PY" results/training/collect_runs.py "$RUNS/eval" "$HERE/runs.csv"
"$PY" "$HERE/summarize.py"
