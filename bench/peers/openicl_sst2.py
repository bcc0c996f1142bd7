"""OpenICL 0.1.8 on SST-2 with fixed demonstrations, timed (runs in OpenICL's own venv; does not import iclkit).

OpenICL 0.1.8 has no fixed-set retriever, so ``FixedRetriever`` below returns the same demonstration ids, in file
order, for every test sentence: with ``--train`` holding exactly the demonstrations, every prompt is
``demo_1 \\n\\n ... demo_k \\n\\n query``, the shape of iclkit's and lm-eval's prompts. Scoring is OpenICL's
``PPLInferencer`` as shipped: for each label, the mean token NLL of the whole prompt (demonstrations + query +
label word), lowest wins; it re-runs the whole sequence for every label.

    python bench/peers/openicl_sst2.py --model FOLDER --train demos.jsonl --test test.jsonl --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # ANCHORS.md §4: anything that reaches for the hub fails offline
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
STARTED = time.perf_counter()

import torch
from datasets import Dataset, DatasetDict
from openicl import DatasetReader, PPLInferencer, PromptTemplate
from openicl.icl_retriever import BaseRetriever

LABEL_WORDS = {0: "Negative", 1: "Positive"}  # iclkit's sst2 verbalizer (Dai et al. 2023)


class FixedRetriever(BaseRetriever):
    """The first ``ice_num`` training rows, in order, for every test input."""

    def retrieve(self):
        return [list(range(self.ice_num)) for _ in range(len(self.test_ds))]


def read_jsonl(path: str) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="local HF model folder")
    parser.add_argument("--train", required=True, help="JSONL of the demonstrations (text, gold)")
    parser.add_argument("--test", required=True, help="JSONL of the test sentences (text, gold)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", required=True)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    train, test = read_jsonl(args.train), read_jsonl(args.test)
    data = DatasetDict({
        "train": Dataset.from_dict({"text": [r["text"] for r in train], "label": [r["gold"] for r in train]}),
        "test": Dataset.from_dict({"text": [r["text"] for r in test], "label": [r["gold"] for r in test]}),
    })
    reader = DatasetReader(data, input_columns=["text"], output_column="label")
    template = PromptTemplate({y: f"</E>Sentence: </text>\nLabel: {w}" for y, w in LABEL_WORDS.items()},
                              {"text": "</text>"}, ice_token="</E>")
    retriever = FixedRetriever(reader, ice_separator="\n\n", ice_eos_token="\n\n", prompt_eos_token="",
                               ice_num=len(train), index_split="train", test_split="test")
    inferencer = PPLInferencer(model_name=args.model, batch_size=args.batch_size,
                               output_json_filepath=os.path.dirname(os.path.abspath(args.json)),
                               output_json_filename="openicl-predictions")
    loaded = time.perf_counter()
    predictions = inferencer.inference(retriever, ice_template=template)
    scored = time.perf_counter()
    accuracy = sum(int(p) == r["gold"] for p, r in zip(predictions, test)) / len(test)
    result = {"tool": "openicl", "n": len(test), "shots": len(train), "accuracy": accuracy,
              "scoring_seconds": round(scored - loaded, 1), "wall_seconds_in_process": round(scored - STARTED, 1),
              "examples_per_s_scoring": round(len(test) / (scored - loaded), 3), "batch_size": args.batch_size,
              "threads": args.threads, "scoring_rule": "PPLInferencer: mean token NLL of the whole prompt per label"}
    with open(args.json, "w", encoding="utf-8") as f:
        json.dump(result, f, indent=2)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
