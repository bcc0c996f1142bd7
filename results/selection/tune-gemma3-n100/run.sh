#!/usr/bin/env bash
# tune-gemma3 with a larger evaluation slice (--limit 100; CB has 56) on the six tasks: the 30-example run
# (results/selection/tune-gemma3/) met the target by point estimate on 5 of 6 tasks but by interval on 1 of 6.
# Same search space and 30-example dev slice of the pool (seed 0) as tune-gemma3, with the balanced-dev fix in place;
# the evaluation grows from 30 to 100 examples (the seeded slice of 100 starts with the 30).
# Wall time per task goes to results/selection/tune-gemma3-n100/timings.tsv.
exec bash results/selection/tune_six.sh gemma3-270m results/selection/tune-gemma3-n100 30 ${TASKS:-sst2 subj sst5 mr agnews cb}
