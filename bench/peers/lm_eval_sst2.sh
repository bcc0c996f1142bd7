#!/usr/bin/env bash
# lm-evaluation-harness on iclkit's SST-2 prompts (Dai et al. template, fixed first-n demonstrations), timed.
# lm-eval pins its own library versions: install it in a separate venv with the same CPU torch wheel:
#   python3 -m venv /tmp/venv-lmeval && /tmp/venv-lmeval/bin/pip install torch==2.13.0 lm-eval
# Usage: LMEVAL=/tmp/venv-lmeval/bin/lm_eval bash bench/peers/lm_eval_sst2.sh smollm2-135m "0 16 32" 64
set -euo pipefail
model=${1:-smollm2-135m}; shots=${2:-"0 16"}; limit=${3:-64}
LMEVAL=${LMEVAL:-lm_eval}
here=$(cd "$(dirname "$0")/../.." && pwd)
folder=$(cd "$here" && python -c "from iclkit.score.models import resolve_model; print(resolve_model('$model').path)")
work=$(mktemp -d)
for split in train validation; do
  python - "$split" "$work" <<'PY'
import gzip, json, sys
from importlib.resources import files
split, work = sys.argv[1], sys.argv[2]
src = files("iclkit") / "data" / "builtin" / "sst2" / f"{split}.jsonl.gz"
with gzip.open(src, "rt") as f, open(f"{work}/{split}.jsonl", "w") as out:
    for line in f:
        row = json.loads(line)
        row["gold"] = ["negative", "positive"].index(row["label"])
        out.write(json.dumps(row) + "\n")
PY
done
cat > "$work/sst2_iclkit.yaml" <<YAML
task: sst2_iclkit
dataset_path: json
dataset_kwargs:
  data_files:
    train: $work/train.jsonl
    validation: $work/validation.jsonl
output_type: multiple_choice
training_split: train
validation_split: validation
doc_to_text: "Sentence: {{text}}\nLabel:"
doc_to_choice: ["Negative", "Positive"]
doc_to_target: gold
target_delimiter: " "
fewshot_delimiter: "\n\n"
fewshot_config:
  sampler: first_n
metric_list:
  - metric: acc
YAML
for k in $shots; do
  start=$(date +%s.%N)
  "$LMEVAL" --model hf --model_args "pretrained=$folder,dtype=float32" --device cpu --include_path "$work" \
      --tasks sst2_iclkit --num_fewshot "$k" --limit "$limit" --batch_size 16 2>&1 | grep -E "^\|" || true
  end=$(date +%s.%N)
  python -c "print(f'lm-eval {\"$model\"} {$k}-shot: {$limit} examples in {$end - $start:.1f} s (incl. start-up) = {$limit / ($end - $start):.2f} ex/s')"
done
