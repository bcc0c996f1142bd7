#!/usr/bin/env bash
# tune-smollm2 with a larger evaluation slice (--limit 100; CB has 56) on the six tasks (SST-2, SST-5 and Subj first,
# the three the 30-example run left unresolved; then MR, AGNews, CB, run as TASKS="mr agnews cb" in the same session).
# The search is tune-smollm2's (same space, same 30-example dev slice of the pool, seed 0) except for the balanced
# rows, which the fix of c36499a corrected (on MR this changes the choice); the evaluation grows from 30 to 100
# examples (the seeded slice of 100 starts with the 30).
# Wall time per task goes to results/selection/tune-smollm2-n100/timings.tsv.
exec bash results/selection/tune_six.sh smollm2-135m results/selection/tune-smollm2-n100 30 ${TASKS:-sst2 subj sst5 mr agnews cb}
