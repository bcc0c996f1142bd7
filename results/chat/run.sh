#!/usr/bin/env bash
# SmolLM2-135M-Instruct on SST-2 validation (seeded slice of 100), 4 random demonstrations, Direct scoring:
# plain prompt vs its own chat template (demonstrations in one user turn, and as alternating turns).
set -euo pipefail
export OMP_NUM_THREADS=1
common=(--task sst2 --model smollm2-135m --shots 4 --limit 100 --scorer direct --seed 0)
for v in plain chat chat-multiturn; do
  flags=()
  [[ $v == chat* ]] && flags+=(--chat-template)
  [[ $v == chat-multiturn ]] && flags+=(--multiturn)
  nice -n 10 python -m iclkit.cli.main eval "${common[@]}" "${flags[@]}" --out runs/chat-sst2/$v
  cp runs/chat-sst2/$v/summary.json results/chat/sst2-smollm2-$v.json
done
