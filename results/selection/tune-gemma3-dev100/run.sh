#!/usr/bin/env bash
# tune-gemma3-n100 with a 100-example dev slice of the pool instead of 30 (--dev-size 100), on the tasks where the
# 30-example dev slice chose worse than zero-shot or 8-shot random (SST-2, SST-5, Subj). Same space, seed 0 and
# 100-example evaluation slices as tune-gemma3-n100; only the dev slice is larger.
# Wall time per task goes to results/selection/tune-gemma3-dev100/timings.tsv.
exec bash results/selection/tune_six.sh gemma3-270m results/selection/tune-gemma3-dev100 ${DEV:-100} ${TASKS:-sst2 sst5 subj}
