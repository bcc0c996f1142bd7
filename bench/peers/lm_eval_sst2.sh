#!/usr/bin/env bash
# lm-evaluation-harness on iclkit's SST-2 prompts, timed. TEMPLATE=dai (default): Dai et al.'s "Sentence: {text}\nLabel:"
# + " Negative"/" Positive", iclkit's built-in sst2; TEMPLATE=review: "Review: {text}\nSentiment:" + " negative"/" positive"
# (configs/tasks/sst2-review.yaml). SAMPLER=first_n (default: the first k training sentences) or SAMPLER=default
# (lm-eval's seeded random draw). TRAIN=file.jsonl replaces the training split (e.g. a fixed set of demonstrations).
# lm-eval pins its own library versions: install it in a separate venv with the same CPU torch wheel:
#   python3 -m venv /tmp/venv-lmeval && /tmp/venv-lmeval/bin/pip install torch==2.13.0 lm-eval
# Usage: LMEVAL=/tmp/venv-lmeval/bin/lm_eval bash bench/peers/lm_eval_sst2.sh smollm2-135m "0 16 32" 64
# Prints, per number of shots: lm-eval's final progress line, its accuracy row, and the examples/s with and without
# start-up (scoring time = the elapsed time of lm-eval's "Running loglikelihood requests" bar).
set -euo pipefail
model=${1:-smollm2-135m}; shots=${2:-"0 16"}; limit=${3:-64}
LMEVAL=${LMEVAL:-lm_eval}; TEMPLATE=${TEMPLATE:-dai}; SAMPLER=${SAMPLER:-first_n}
case $TEMPLATE in
  dai) text='"Sentence: {{text}}\nLabel:"'; choices='["Negative", "Positive"]' ;;
  review) text='"Review: {{text}}\nSentiment:"'; choices='["negative", "positive"]' ;;
  *) echo "TEMPLATE must be dai or review" >&2; exit 2 ;;
esac
here=$(cd "$(dirname "$0")/../.." && pwd)
folder=$(cd "$here" && python -c "from iclkit.lm.models import resolve_model; print(resolve_model('$model').path)")
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
if [ -n "${TRAIN:-}" ]; then cp "$TRAIN" "$work/train.jsonl"; fi
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
doc_to_text: $text
doc_to_choice: $choices
doc_to_target: gold
target_delimiter: " "
fewshot_delimiter: "\n\n"
fewshot_config:
  sampler: $SAMPLER
metric_list:
  - metric: acc
YAML
"${LMEVAL%/*}/python" -c "import importlib.metadata as m, torch; print(f'(lm-eval {m.version(\"lm_eval\")}, transformers {m.version(\"transformers\")}, torch {torch.__version__}, {torch.get_num_threads()} threads)')" 2>/dev/null || true
for k in $shots; do
  log="$work/lm-eval-$k.log"
  start=$(date +%s.%N)
  "$LMEVAL" --model hf --model_args "pretrained=$folder,dtype=float32" --device cpu --include_path "$work" \
      --tasks sst2_iclkit --num_fewshot "$k" --limit "$limit" --batch_size 16 > "$log" 2>&1 || { tail -20 "$log"; exit 1; }
  end=$(date +%s.%N)
  # tqdm redraws its bar with carriage returns: keep the final state, whose [MM:SS<...] is the scoring time
  progress=$(tr '\r' '\n' < "$log" | grep "Running loglikelihood requests" | tail -1)
  echo "$progress"
  grep -E "^\|sst2_iclkit" "$log" || true
  python - "$model" "$k" "$limit" "$start" "$end" "$progress" <<'PY'
import re, sys
model, k, limit, start, end, progress = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]), sys.argv[6]
wall = end - start
line = f"lm-eval {model} {k}-shot: {limit} examples in {wall:.1f} s (incl. start-up) = {limit / wall:.2f} ex/s"
m = re.search(r"\[(\d+):(\d+)<", progress)
if m:
    scoring = 60 * int(m.group(1)) + int(m.group(2))
    line += f" ({limit / scoring:.2f} ex/s over the {scoring} s of scoring)"
print(line)
PY
done
