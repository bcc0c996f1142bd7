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
import tempfile
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


def transformers4_view(folder: str) -> str:
    """The model folder as transformers 4.x reads it the way transformers 5 wrote it.

    iclkit's folder is saved by transformers 5, which moved ``rope_theta`` into ``rope_parameters`` (4.x would
    silently fall back to its default 10,000 instead of SmolLM2's 100,000) and names its tokenizer class
    ``TokenizersBackend`` (4.x: ``PreTrainedTokenizerFast``, reading the same ``tokenizer.json``, whose default
    inputs include ``token_type_ids``, which Llama's forward refuses). The view links the weights and rewrites those
    two small files.
    """
    view = tempfile.mkdtemp(prefix="openicl-model-")
    for name in os.listdir(folder):
        if name not in ("config.json", "tokenizer_config.json"):
            os.symlink(os.path.join(folder, name), os.path.join(view, name))
    with open(os.path.join(folder, "config.json"), encoding="utf-8") as f:
        config = json.load(f)
    rope = config.get("rope_parameters") or {}
    config.setdefault("rope_theta", rope.get("rope_theta", 10000.0))
    if rope.get("rope_type", "default") != "default":
        config.setdefault("rope_scaling", rope)
    config.setdefault("torch_dtype", config.get("dtype", "float32"))
    with open(os.path.join(folder, "tokenizer_config.json"), encoding="utf-8") as f:
        tokenizer = json.load(f)
    if tokenizer.get("tokenizer_class") == "TokenizersBackend":
        tokenizer["tokenizer_class"] = "PreTrainedTokenizerFast"
        tokenizer.setdefault("model_input_names", ["input_ids", "attention_mask"])  # no token_type_ids for Llama
    for name, content in (("config.json", config), ("tokenizer_config.json", tokenizer)):
        with open(os.path.join(view, name), "w", encoding="utf-8") as f:
            json.dump(content, f, indent=2)
    return view


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
    inferencer = PPLInferencer(model_name=transformers4_view(args.model), batch_size=args.batch_size,
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
