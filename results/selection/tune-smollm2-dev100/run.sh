#!/usr/bin/env bash
# tune-smollm2-n100 with a 100-example dev slice of the pool instead of 30 (--dev-size 100), on all six tasks: the
# same protocol as tune-gemma3-dev100, so both models are judged with one dev size. The dev size was raised after
# Gemma's 30-example dev slice chose badly; this SmolLM2 run came after that decision, so it tests it.
# Wall time per task goes to results/selection/tune-smollm2-dev100/timings.tsv.
exec bash results/selection/tune_six.sh smollm2-135m results/selection/tune-smollm2-dev100 ${DEV:-100} ${TASKS:-sst2 sst5 subj mr agnews cb}
