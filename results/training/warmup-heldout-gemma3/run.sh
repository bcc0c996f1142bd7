#!/usr/bin/env bash
# The held-out warmup study of results/training/warmup-heldout/ (same split, training budget, formats and seeds) on
# Gemma-3-270M: MetaICL and its no-demonstration control, evaluated on 100 examples per task instead of 200 (Gemma's
# evaluation costs about twice SmolLM2's on this CPU). Tables: table.md and summary.json here.
exec env MODEL=gemma3-270m MODEL_NAME=Gemma-3-270M HERE=results/training/warmup-heldout-gemma3 LIMIT=${LIMIT:-100} \
    VARIANTS="${VARIANTS:-metaicl:metaicl:4 control:metaicl:0}" bash results/training/warmup-heldout/run.sh
