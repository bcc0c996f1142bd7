#!/usr/bin/env bash
# From-scratch momentum comparison: byte-level Llama-architecture models (4 layers, d=128, 4 heads, 1.08M parameters)
# trained from scratch on WikiText-2 validation.txt for 150 steps x 16 x 256 bytes, perplexity per byte on the first
# 64 KiB of test.txt at 64/128/256 bytes. 3 seeds x (plain, momentum eta=0.9, momentum eta=0.5); eta=0.5 was added
# after eta=0.9 came out far worse. Then the normalised term ((1 - eta) times the sum; files eta*n-seed*.json) at
# eta=0.9 and 0.5, to see whether the term's size, not momentum itself, did the harm. Then plain and eta=0.5 trained
# three times as long (450 steps; files eta*-steps450-seed*.json), to see whether the gap closes with training.
# One thread, one run at a time (~3 min each on the shared 2-core CPU).
# Then: python results/training/momentum-scratch/summarize.py
set -euo pipefail
cd "$(dirname "$0")/../../.."
export PYTHONPATH=$PWD/src OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
PY=${PYTHON:-python}
for seed in 0 1 2; do
  for eta in 0 0.9 0.5; do
    out=results/training/momentum-scratch/per-run/eta${eta}-seed${seed}.json
    [ -f "$out" ] && continue
    nice -n 10 "$PY" results/training/momentum-scratch/scratch_lm.py --eta "$eta" --seed "$seed" --steps 150 --eval-bytes 65536 --json "$out"
  done
done
for seed in 0 1 2; do
  for eta in 0.9 0.5; do
    out=results/training/momentum-scratch/per-run/eta${eta}n-seed${seed}.json
    [ -f "$out" ] && continue
    nice -n 10 "$PY" results/training/momentum-scratch/scratch_lm.py --eta "$eta" --normalise --seed "$seed" --steps 150 --eval-bytes 65536 --json "$out"
  done
done
for seed in 0 1 2; do
  for eta in 0 0.5; do
    out=results/training/momentum-scratch/per-run/eta${eta}-steps450-seed${seed}.json
    [ -f "$out" ] && continue
    nice -n 10 "$PY" results/training/momentum-scratch/scratch_lm.py --eta "$eta" --seed "$seed" --steps 450 --eval-bytes 65536 --json "$out"
  done
done
