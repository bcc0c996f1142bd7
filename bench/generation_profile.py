"""Where batched generation's time goes, next to ``model.generate`` one prompt at a time (``bench/generation.py``'s
prompts: 8-shot chain-of-thought prefix, ``--n`` questions, ``--new-tokens`` greedy tokens each).

For each path it splits the wall time into model calls that take many tokens per row (a prompt's prefill; the
batched path's first step), one-token decoding calls, and the rest (the batched path's shared-prefix encoding runs
through the decoder directly). The batched path runs twice, with the CPU head trick of ``iclkit.lm.generate``
(``W @ h.T``) and with the plain ``F.linear`` head, and the head alone is timed on 1 and on ``--n`` rows both ways.

    OMP_NUM_THREADS=1 nice -n 10 python bench/generation_profile.py --json bench/results/generation-profile.json
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import time
from collections import defaultdict
from pathlib import Path

import torch
from generation import prompts

import iclkit.lm.generate as gen
from iclkit.lm.base import GenRequest
from iclkit.lm.hf import HFLM


def instrument(lm) -> dict[str, float]:
    """Accumulate the time of model calls by kind (many tokens per row vs one); returns the live counters."""
    totals: dict[str, float] = defaultdict(float)
    forward = lm.model.forward

    @functools.wraps(forward)  # keeps the signature: generate() looks for logits_to_keep in it
    def timed(*args, **kwargs):
        start = time.perf_counter()
        out = forward(*args, **kwargs)
        kind = "decode_calls" if kwargs["input_ids"].shape[1] == 1 else "prefill_calls"
        totals[kind + "_s"] += time.perf_counter() - start
        totals[kind] += 1
        return out

    lm.model.forward = timed
    return totals


def run(lm, totals, fn) -> dict[str, float]:
    totals.clear()
    lm._run_prefix = None
    start = time.perf_counter()
    fn()
    total = time.perf_counter() - start
    calls = totals["prefill_calls_s"] + totals["decode_calls_s"]
    return {"total_s": round(total, 2), **{k: round(v, 2) for k, v in totals.items()},
            "other_s": round(total - calls, 2)}


def head_timing(lm, rows: int, repeats: int = 5) -> dict[str, float]:
    head = lm.model.get_output_embeddings()
    fast = gen._TransposedHead(head)
    out = {}
    for name, module, n in (("linear_1_row", head, 1), (f"linear_{rows}_rows", head, rows),
                            (f"transposed_{rows}_rows", fast, rows)):
        hidden = torch.randn(n, 1, head.in_features)
        module(hidden)
        start = time.perf_counter()
        for _ in range(repeats):
            module(hidden)
        out[name + "_ms"] = round((time.perf_counter() - start) / repeats * 1000, 1)
    return out


@torch.inference_mode()
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="gemma3-270m")
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--shots", type=int, default=8)
    ap.add_argument("--new-tokens", type=int, default=32)
    ap.add_argument("--json")
    args = ap.parse_args()
    lm = HFLM.load(args.model)
    requests = [GenRequest(t, stop=(), max_new_tokens=args.new_tokens) for t in prompts(args.n, args.shots, seed=0)]
    totals = instrument(lm)
    result = {"model": args.model, "torch_threads": torch.get_num_threads(), "prompts": args.n}
    result["one_by_one"] = run(lm, totals, lambda: gen.generate_one_by_one(lm, requests))
    result["batched"] = run(lm, totals, lambda: lm.generate(requests))
    plain = gen._transposed_head
    gen._transposed_head = lambda lm: contextlib.nullcontext()
    result["batched_linear_head"] = run(lm, totals, lambda: lm.generate(requests))
    gen._transposed_head = plain
    result["head"] = head_timing(lm, args.n)
    print(json.dumps(result, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
