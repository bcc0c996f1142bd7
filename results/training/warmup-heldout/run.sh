#!/usr/bin/env bash
# Held-out warmup study (issue 11), CPU-sized: SmolLM2-135M + LoRA (r=8, q/k/v/o), warmed up on TREC, RTE, SST-5,
# CB; evaluated on SST-2, MR, Subj, AG News before and after. One row of the tables per trained variant.
#   train:  40 steps x 4 examples (160 queries), lr 5e-4 (4 warm-up steps, then linear decay), sequences up to 256
#           tokens, seed 0. Every variant uses exactly this budget; only the method, its shots and flags change.
#   eval:   200 examples per task (seeded slice), MetaICL's raw format (tasks/*-metaicl.yaml), direct scoring,
#           zero-shot and 4-shot (random demonstrations, the same 4 for every query; 3 demonstration seeds).
#           Evaluation in the tasks' own templates was cut for time (set TEMPLATES=1 to add it: zero-shot + seed 0).
#
# VARIANTS: space-separated NAME:METHOD:SHOTS[:FLAG...] (flags separated by ","). The default is the first study
# (MetaICL and its no-demonstration control); the second study ran
#   VARIANTS="symbol:symbol:4 instruct:instruct:4 icl-tuning:icl-tuning:4 ..." results/training/warmup-heldout/run.sh
# (the exact list that ran is in docs/training.md). The base model is evaluated under the label "base".
# Evaluations already in accuracy.csv are skipped, so rows of earlier runs are kept and not recomputed;
# runs.csv is merged (collect_runs.py --merge): rows whose run folder is absent here are kept as committed.
# A variant whose flags include --channel (channel MetaICL: the loss is on the input given the label) is evaluated
# with channel scoring (P(input | label), the tasks' channel_template), and so is the base model, under the label
# "base-channel", so that it has its own base row:
#   VARIANTS="metaicl-channel:metaicl:4:--channel" results/training/warmup-heldout/run.sh
# Another model: MODEL (iclkit name), MODEL_NAME (for the plot titles), HERE (committed results), LIMIT (evaluation
# examples per task); results/training/warmup-heldout-gemma3/run.sh sets them for Gemma-3-270M.
# TRAIN_ONLY=1 trains (and copies the run's files) without evaluating.
# One thread, one job at a time.
set -euo pipefail
cd "$(dirname "$0")/../../.."
export PYTHONPATH=${PYTHONPATH:-$PWD/src} OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
PY=${PYTHON:-python}
MODEL=${MODEL:-smollm2-135m}
HERE=${HERE:-results/training/warmup-heldout}
RUNS=runs/training/$(basename "$HERE")
LIMIT=${LIMIT:-200}
export STUDY_DIR=$HERE MODEL_NAME=${MODEL_NAME:-SmolLM2-135M} LIMIT
VARIANTS=${VARIANTS:-"metaicl:metaicl:4 control:metaicl:0"}
mkdir -p "$RUNS"
TRAIN="--model $MODEL --tasks trec,rte,sst5,cb --steps 40 --batch-size 4 --lr 5e-4
       --warmup-steps 4 --max-length 256 --save-every 20 --no-progress"
META=$(ls results/training/warmup-heldout/tasks/{sst2,mr,subj,agnews}-metaicl.yaml | paste -sd,)
evaluate() {  # label model [scorer: direct (default) | channel]
  nice -n 10 "$PY" results/training/eval_icl.py --model "$2" --label "$1" --tasks "$META" --shots 4 \
    --seeds 0,1,2 --limit "$LIMIT" --scorer "${3:-direct}" --runs "$RUNS/eval" --csv "$HERE/accuracy.csv"
  if [ "${TEMPLATES:-0}" = 1 ]; then
    nice -n 10 "$PY" results/training/eval_icl.py --model "$2" --label "$1" --tasks sst2,mr,subj,agnews \
      --shots 4 --seeds 0 --limit "$LIMIT" --scorer "${3:-direct}" --runs "$RUNS/eval" --csv "$HERE/accuracy.csv"
  fi
}
evaluate base "$MODEL"
for variant in $VARIANTS; do
  IFS=: read -r name method shots flags <<< "$variant"
  scorer=direct
  case ",$flags," in *,--channel,*) scorer=channel ;; esac
  if [ ! -f "$RUNS/$name/model/config.json" ]; then
    start=$(date +%s)
    /usr/bin/time -v nice -n 10 "$PY" -m iclkit.cli.main warmup $TRAIN --method "$method" --shots "$shots" \
      ${flags//,/ } --out "$RUNS/$name" 2> "$RUNS-$name.time" || { cat "$RUNS-$name.time"; exit 1; }
    echo "$name: training $(( $(date +%s) - start )) s"
  fi
  mkdir -p "$HERE/$name"
  cp "$RUNS/$name/metrics.jsonl" "$RUNS/$name/data_sample.jsonl" "$RUNS/$name/model/iclkit_training.json" "$HERE/$name/"
  grep -E "removed training|Elapsed|Maximum resident" "$RUNS-$name.time" > "$HERE/$name/time.txt" || true
  [ "${TRAIN_ONLY:-0}" = 1 ] && continue  # evaluated by another script (run_channel.sh)
  start=$(date +%s)
  evaluate "$name" "$RUNS/$name/model" "$scorer"
  echo "$name: evaluation $(( $(date +%s) - start )) s"
  if [ "$scorer" = channel ]; then  # the base model under the same scoring (skipped once in accuracy.csv)
    start=$(date +%s)
    evaluate base-channel "$MODEL" channel
    echo "base-channel: evaluation $(( $(date +%s) - start )) s"
  fi
  # Committed copies after every variant, so a run cut short keeps what finished.
  "$PY" results/training/collect_runs.py --merge "$RUNS/eval" "$HERE/runs.csv"
done
"$PY" results/training/collect_runs.py --merge "$RUNS/eval" "$HERE/runs.csv"
"$PY" results/training/warmup-heldout/summarize.py
