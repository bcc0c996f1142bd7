#!/usr/bin/env bash
# iclkit, lm-evaluation-harness and OpenICL side by side, in one run: the same model folder, the same k fixed
# demonstrations (iclkit's random draw, seed 0, in iclkit's prompt order), the same first N SST-2 validation sentences
# and the same prompt shape ("Sentence: {text}\nLabel:" + " Negative"/" Positive", blank line between examples).
# Prints accuracy and examples/s for each; writes the summary to $OUT (default bench/results/peers-sst2.json).
#
#   ICLKIT_PY=.venv/bin/python LMEVAL=/work/venvs/lmeval/bin/lm_eval OPENICL_PY=/work/venvs/openicl/bin/python \
#       bash bench/peers/compare_sst2.sh [model=smollm2-135m] [shots=16] [n=64]
#
# Each peer runs in its own venv (they pin library versions iclkit does not use); all three use 2 threads, fp32, CPU:
#   python3 -m venv /work/venvs/lmeval && /work/venvs/lmeval/bin/pip install torch==2.13.0 transformers==5.23.0 \
#       tokenizers==0.23.3 accelerate==1.15.0 lm-eval==0.4.13
#   python3 -m venv /work/venvs/openicl && /work/venvs/openicl/bin/pip install torch==2.13.0 transformers==4.45.2 \
#       "huggingface_hub<0.26" "numpy>=2,<2.5" accelerate "datasets<3.1" evaluate nltk openai rank-bm25 requests \
#       scikit-learn "sentence-transformers<3.3" tqdm faiss-cpu \
#     && /work/venvs/openicl/bin/pip install --no-deps openicl==0.1.8
#   (openicl 0.1.8 pins transformers==4.28.1, tokenizers==0.13.3 and faiss-gpu, hence --no-deps; no torchvision.)
# Scoring: iclkit and lm-eval score the label word given the prompt (Direct); OpenICL's PPLInferencer scores the
# mean NLL of the whole prompt for each label (its only rule without a normalising string).
set -euo pipefail
model=${1:-smollm2-135m}; shots=${2:-16}; n=${3:-64}
here=$(cd "$(dirname "$0")/../.." && pwd); cd "$here"
ICLKIT_PY=${ICLKIT_PY:-.venv/bin/python}; LMEVAL=${LMEVAL:-lm_eval}; OPENICL_PY=${OPENICL_PY:-}
OUT=${OUT:-bench/results/peers-sst2.json}
export OMP_NUM_THREADS=2 MKL_NUM_THREADS=2 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1
work=$(mktemp -d)
now() { date +%s.%N; }

echo "== iclkit ($model, $shots fixed demonstrations, first $n SST-2 validation sentences, Direct)"
folder=$("$ICLKIT_PY" -c "from iclkit.lm.models import resolve_model; print(resolve_model('$model').path)")
t0=$(now)
"$ICLKIT_PY" -m iclkit.cli.main eval --task sst2 --model "$model" --shots "$shots" --retriever random --seed 0 \
    --limit "$n" --eval-seed none --scorer direct --calibration none --out "$work/iclkit" > "$work/iclkit.log" 2>&1 \
    || { tail -20 "$work/iclkit.log"; exit 1; }
t1=$(now)
# the demonstrations iclkit used, in its prompt order, and the same test sentences, for the peers
"$ICLKIT_PY" - "$work" <<'PY'
import gzip, json, sys
from importlib.resources import files
work = sys.argv[1]
records = [json.loads(l) for l in open(f"{work}/iclkit/predictions.jsonl", encoding="utf-8") if l.strip()]
demo_ids = records[0]["demo_ids"]
assert all(r["demo_ids"] == demo_ids for r in records), "demonstrations are not fixed"
def rows(split):
    with gzip.open(files("iclkit") / "data" / "builtin" / "sst2" / f"{split}.jsonl.gz", "rt") as f:
        for i, line in enumerate(f):
            row = json.loads(line)
            row["gold"] = ["negative", "positive"].index(row["label"])
            yield str(i), row  # iclkit's ids for files without an id field: the row index
train = dict(rows("train"))
missing = [d for d in demo_ids if d not in train]
assert not missing, f"demonstration ids not found in the packaged train split: {missing[:3]}"
with open(f"{work}/demos.jsonl", "w") as out:
    for d in demo_ids:
        out.write(json.dumps(train[d]) + "\n")
wanted = {r["example_id"] for r in records}
with open(f"{work}/test.jsonl", "w") as out:
    for i, row in rows("validation"):
        if i in wanted:
            out.write(json.dumps(row) + "\n")
PY
cp "$work/iclkit/summary.json" "$work/iclkit-summary.json"

echo "== lm-evaluation-harness"
t2=$(now)
LMEVAL="$LMEVAL" TRAIN="$work/demos.jsonl" TEMPLATE=dai SAMPLER=first_n PATH="$(dirname "$ICLKIT_PY"):$PATH" \
    bash bench/peers/lm_eval_sst2.sh "$model" "$shots" "$n" | tee "$work/lmeval.txt"
t3=$(now)

openicl_status="not run (OPENICL_PY not set)"
if [ -n "$OPENICL_PY" ]; then
  echo "== OpenICL"
  t4=$(now)
  if "$OPENICL_PY" bench/peers/openicl_sst2.py --model "$folder" --train "$work/demos.jsonl" --test "$work/test.jsonl" \
      --json "$work/openicl.json" > "$work/openicl.log" 2>&1; then
    openicl_status=ok; t5=$(now); echo "{\"wall_seconds\": $(echo "$t5 - $t4" | bc)}" > "$work/openicl-wall.json"
  else
    openicl_status="failed: $(grep -E "Error|error" "$work/openicl.log" | tail -1)"; tail -20 "$work/openicl.log"
  fi
fi

"$ICLKIT_PY" - "$work" "$OUT" "$model" "$shots" "$n" "$(echo "$t1 - $t0" | bc)" "$(echo "$t3 - $t2" | bc)" \
    "$openicl_status" "$LMEVAL" "$OPENICL_PY" <<'PY'
import json, os, re, sys
from importlib import metadata
work, out, model, shots, n, icl_wall, lm_wall, oi_status, lmeval, openicl_py = sys.argv[1:]
n, shots = int(n), int(shots)
s = json.load(open(f"{work}/iclkit-summary.json"))
rows = [{"tool": f"iclkit {metadata.version('iclkit')}", "accuracy": s["metrics"]["accuracy"]["value"],
         "wall_seconds": round(float(icl_wall), 1), "scoring_seconds": s["timing"]["seconds"],
         "scoring_note": "summary.json timing: model load + prompts + scoring", "scoring_rule": "direct"}]
text = open(f"{work}/lmeval.txt").read()
acc = re.search(r"\|acc\s*\|[^|]*\|\s*([0-9.]+)", text)
scoring = re.search(r"over the (\d+) s of scoring", text)
rows.append({"tool": "lm-evaluation-harness " + (text.split("lm-eval ")[1].split(",")[0] if "(lm-eval " in text else "?"),
             "accuracy": float(acc.group(1)) if acc else None, "wall_seconds": round(float(lm_wall), 1),
             "scoring_seconds": int(scoring.group(1)) if scoring else None,
             "scoring_note": "elapsed time of its 'Running loglikelihood requests' bar", "scoring_rule": "direct (loglikelihood of the label word)"})
if oi_status == "ok":
    o = json.load(open(f"{work}/openicl.json"))
    wall = json.load(open(f"{work}/openicl-wall.json"))["wall_seconds"]
    rows.append({"tool": "OpenICL 0.1.8", "accuracy": o["accuracy"], "wall_seconds": round(wall, 1),
                 "scoring_seconds": o["scoring_seconds"], "scoring_note": "PPLInferencer.inference() call",
                 "scoring_rule": o["scoring_rule"]})
else:
    rows.append({"tool": "OpenICL 0.1.8", "status": oi_status})
for r in rows:
    if "wall_seconds" in r:
        r["examples_per_s_wall"] = round(n / r["wall_seconds"], 2)
        r["examples_per_s_scoring"] = round(n / r["scoring_seconds"], 2) if r.get("scoring_seconds") else None
result = {"model": model, "shots": shots, "n": n, "threads": 2, "load_average": os.getloadavg(), "rows": rows}
os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
json.dump(result, open(out, "w"), indent=2)
print(f"\n{model}, {shots} fixed demonstrations, first {n} SST-2 validation sentences, 2 threads, fp32 CPU")
print("| tool | accuracy | ex/s incl. start-up | ex/s scoring | scoring rule |")
print("|---|---:|---:|---:|---|")
for r in rows:
    if "status" in r:
        print(f"| {r['tool']} | {r['status']} | | | |")
    else:
        print(f"| {r['tool']} | {r['accuracy']:.4f} | {r['examples_per_s_wall']:.2f} | {r['examples_per_s_scoring']} | {r['scoring_rule']} |")
print(f"written to {out}")
PY
