"""Generation benchmark: iclkit's batched HF generation vs ``model.generate`` one prompt at a time.

One process, side by side, on the same prompts: a fixed 8-shot chain-of-thought prefix (last-letter concatenation,
the built-in rationales) followed by each test question. Greedy decoding, no stop strings, ``--new-tokens`` new
tokens per prompt (fewer only if the model ends with EOS), so both sides produce the same number of tokens and
tokens/s compare like with like. It asserts identical greedy outputs and reports how many tokens the batched path
ran through the model (the 8-shot prefix once per run, then each question's own tokens and the generated ones).

    OMP_NUM_THREADS=1 nice -n 10 python bench/generation.py --json bench/results/generation.json

``--llamacpp`` adds the llama.cpp back-end (greedy, one prompt at a time, prefix-state reuse) on the same prompts.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import torch

from iclkit.data.reasoning import make_task
from iclkit.lm.base import GenRequest
from iclkit.lm.generate import generate_one_by_one
from iclkit.prompt.chat import Layout
from iclkit.prompt.formats import ChainOfThought


def prompts(n: int, shots: int, seed: int) -> list[str]:
    task = make_task("last_letters", seed=seed, options={"n_pool": 50, "n_eval": n})
    demos = random.Random(seed).sample(list(task.pool), shots)
    fmt = ChainOfThought(layout=Layout(), answer_kind="text")
    return [fmt.prompt(q, demos) for q in task.eval]


def timed(fn, *args):
    start = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - start


def count_new(lm, texts: list[str]) -> int:
    return sum(len(lm.tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts)


def run_hf(model: str, requests: list[GenRequest], batch_size: int) -> dict:
    from iclkit.lm.hf import HFLM

    lm = HFLM.load(model, batch_size=batch_size)
    reference, ref_s = timed(generate_one_by_one, lm, requests)
    lm.tokens_run, lm._run_prefix = 0, None  # count the prefix encoding inside the batched run
    batched, batched_s = timed(lm.generate, requests)
    assert batched == reference, "batched greedy outputs differ from model.generate"
    prefix_tokens = len(lm._run_prefix.tokens) if lm._run_prefix else 0
    new = count_new(lm, batched)
    prompt_tokens = sum(len(lm._encode(r.context)) for r in requests)
    return {"model": model, "prompts": len(requests), "new_tokens": new, "identical_outputs": True,
            "one_by_one": {"seconds": round(ref_s, 2), "tokens_per_s": round(new / ref_s, 2),
                           "prompt_tokens_run": prompt_tokens},
            "batched": {"seconds": round(batched_s, 2), "tokens_per_s": round(new / batched_s, 2),
                        "tokens_run": lm.tokens_run, "shared_prefix_tokens": prefix_tokens},
            "speedup": round(ref_s / batched_s, 2)}


def run_llamacpp(model: str, requests: list[GenRequest]) -> dict:
    from iclkit.lm.llamacpp import LlamaCppLM

    lm = LlamaCppLM.load(model, n_threads=1)  # one thread: spinning ggml workers slow a busy 2-core machine
    out, seconds = timed(lm.generate, requests)
    new = sum(len(lm._encode(t)) for t in out)
    return {"model": model, "backend": "llamacpp", "prompts": len(requests), "new_tokens_approx": new,
            "seconds": round(seconds, 2), "tokens_per_s": round(new / seconds, 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default="smollm2-135m")
    ap.add_argument("--n", type=int, default=8, help="test questions")
    ap.add_argument("--shots", type=int, default=8)
    ap.add_argument("--new-tokens", type=int, default=32)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--llamacpp", action="store_true")
    ap.add_argument("--only-llamacpp", action="store_true", help="skip the HF comparison")
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args()
    texts = prompts(args.n, args.shots, seed=0)
    requests = [GenRequest(t, stop=(), max_new_tokens=args.new_tokens) for t in texts]
    results = {"setup": {"task": "last_letters", "shots": args.shots, "n": args.n, "new_tokens": args.new_tokens,
                         "torch_threads": torch.get_num_threads()}, "hf": [], "llamacpp": []}
    for model in args.models.split(","):
        if args.only_llamacpp:
            lrow = run_llamacpp(model, requests)
            results["llamacpp"].append(lrow)
            print(f"{model} llama.cpp: {lrow['tokens_per_s']} tok/s")
            continue
        row = run_hf(model, requests, args.batch_size)
        results["hf"].append(row)
        print(f"{model}: one-by-one {row['one_by_one']['tokens_per_s']} tok/s, batched "
              f"{row['batched']['tokens_per_s']} tok/s ({row['speedup']}x), identical greedy outputs; batched ran "
              f"{row['batched']['tokens_run']} tokens (shared prefix {row['batched']['shared_prefix_tokens']} once) "
              f"vs {row['one_by_one']['prompt_tokens_run']} prompt tokens one by one")
        if args.llamacpp:
            lrow = run_llamacpp(model, requests)
            results["llamacpp"].append(lrow)
            print(f"{model} llama.cpp: {lrow['tokens_per_s']} tok/s")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
