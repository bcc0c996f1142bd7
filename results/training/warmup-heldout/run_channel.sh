#!/usr/bin/env bash
# Channel MetaICL, evaluated with channel scoring (issue 11's "direct and channel variants"), cut to fit one session.
# The training is run.sh's (its budget, plus --max-length 512: channel puts the whole input in the target, and a CB
# premise alone is 268 SmolLM2 tokens, which 256 refuses). run.sh then evaluates all four tasks x (zero-shot + 3
# seeds) with channel scoring; that proved ~4x slower than direct scoring on this shared CPU (AG News zero-shot: 418 s
# against 60-104 s direct), so that run was stopped after its first evaluation and this script evaluates
#   - SST-2, MR, Subj: zero-shot + 4-shot for demonstration seeds 0, 1, 2 (the study's protocol), and
#   - AG News: zero-shot only (its 4-shot channel runs did not fit),
# for the channel-trained model ("metaicl-channel") and the released model ("base-channel"), both scored channel.
#   VARIANTS="metaicl-channel:metaicl:4:--channel,--max-length,512" results/training/warmup-heldout/run.sh  # train
#   results/training/warmup-heldout/run_channel.sh                                                          # evaluate
# Its no-demonstration control, trained later and evaluated the same way (LABELS picks the models to evaluate; rows
# already in accuracy.csv are skipped):
#   TRAIN_ONLY=1 VARIANTS="metaicl-channel-control:metaicl:0:--channel,--max-length,512" results/training/warmup-heldout/run.sh
#   LABELS=metaicl-channel-control results/training/warmup-heldout/run_channel.sh
set -euo pipefail
cd "$(dirname "$0")/../../.."
export PYTHONPATH=${PYTHONPATH:-$PWD/src} OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
PY=${PYTHON:-python}
HERE=results/training/warmup-heldout
RUNS=runs/training/warmup-heldout
BINARY=$(ls $HERE/tasks/{sst2,mr,subj}-metaicl.yaml | paste -sd,)
evaluate() {  # label model tasks seeds
  nice -n 10 "$PY" results/training/eval_icl.py --model "$2" --label "$1" --tasks "$3" --shots 4 --seeds "$4" \
    --limit 200 --scorer channel --runs "$RUNS/eval" --csv "$HERE/accuracy.csv"
  "$PY" results/training/collect_runs.py --merge "$RUNS/eval" "$HERE/runs.csv"
}
for label in ${LABELS:-metaicl-channel base-channel}; do
  model=$RUNS/$label/model
  [ "$label" = base-channel ] && model=smollm2-135m
  evaluate "$label" "$model" "$BINARY" 0,1,2
  evaluate "$label" "$model" "$HERE/tasks/agnews-metaicl.yaml" ""
done
"$PY" "$HERE/summarize.py"
