#!/usr/bin/env bash
# APE on SST-2 with SmolLM2-135M-Instruct (zero-shot scoring): 3 subsets x 4 sampled proposals, scored on 50 held-out
# pool sentences against a hand-written instruction and no instruction; then the three instructions on the
# seeded SST-2 validation slice of 100 (not used for selection).
set -euo pipefail
export OMP_NUM_THREADS=1
hand="Classify the sentiment of the sentence as Positive or Negative."
nice -n 10 python -m iclkit.cli.main ape --task sst2 --model smollm2-135m --shots 0 --heldout 50 \
    --out results/ape/sst2-smollm2 --set "instruction=$hand"
common=(--model smollm2-135m --shots 0 --limit 100 --scorer direct)
nice -n 10 python -m iclkit.cli.main eval --task sst2 "${common[@]}" --out runs/ape-eval/none
nice -n 10 python -m iclkit.cli.main eval --task sst2 "${common[@]}" --instruction "$hand" --out runs/ape-eval/hand
nice -n 10 python -m iclkit.cli.main eval --task results/ape/sst2-smollm2/sst2-ape.yaml "${common[@]}" \
    --out runs/ape-eval/ape
for v in none hand ape; do cp runs/ape-eval/$v/summary.json results/ape/sst2-smollm2/eval-$v.json; done
