"""A/B of batched generation code in one process, on ``bench/generation.py``'s prompts: the current
``iclkit.lm.generate``, the same with the plain ``F.linear`` LM head, and an older ``generate.py`` loaded from a file
(e.g. main's before the exact sliding-window masks). Alternating rounds, so load drift on a shared machine hits every
variant alike; every variant must give the same greedy outputs.

    git show 110c111:src/iclkit/lm/generate.py > /tmp/generate_before.py
    OMP_NUM_THREADS=1 nice -n 10 python bench/generation_ab.py --model gemma3-270m --before /tmp/generate_before.py \\
        --json bench/results/generation-ab-gemma3-270m.json
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import sys
import time
from pathlib import Path

import torch
from generation import prompts

import iclkit.lm.generate as gen
from iclkit.lm.base import GenRequest
from iclkit.lm.hf import HFLM


def load_module(path: str):
    spec = importlib.util.spec_from_file_location("generate_before", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="gemma3-270m")
    ap.add_argument("--before", required=True, help="an older iclkit/lm/generate.py")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--json")
    args = ap.parse_args()
    lm = HFLM.load(args.model)
    requests = [GenRequest(t, stop=(), max_new_tokens=32) for t in prompts(8, 8, seed=0)]
    before = load_module(args.before)
    transposed = gen._transposed_head

    def linear_head():
        gen._transposed_head = lambda lm: contextlib.nullcontext()
        try:
            return lm.generate(requests)
        finally:
            gen._transposed_head = transposed

    variants = {"before": lambda: before.generate_batched(lm, requests), "current": lambda: lm.generate(requests),
                "current_linear_head": linear_head}
    seconds: dict[str, list[float]] = {name: [] for name in variants}
    outputs = {}
    for _ in range(args.rounds):
        for name, fn in variants.items():
            lm._run_prefix = None  # every variant encodes the shared prefix itself
            start = time.perf_counter()
            outputs[name] = fn()
            seconds[name].append(round(time.perf_counter() - start, 2))
            print(name, seconds[name][-1], "s", flush=True)
    result = {"model": args.model, "before": args.before, "torch_threads": torch.get_num_threads(),
              "prompts": len(requests), "new_tokens_per_prompt": 32, "seconds": seconds,
              "identical_outputs": len({json.dumps(o) for o in outputs.values()}) == 1}
    print(json.dumps(result, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
