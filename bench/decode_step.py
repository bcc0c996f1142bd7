"""One decoding step behind a long cached prefix: a cache that grows by ``torch.cat`` (transformers' DynamicLayer)
against :class:`iclkit.lm.kv_cache.ReservedLayer`, which writes each step's keys into spare room.

For 1 and ``--rows`` rows and each ``--lengths`` prefix length, it times ``--steps`` one-token steps both ways
(the same tokens, positions and masks; asserts the same logits), and lists the top operators of the DynamicLayer
steps at the longest prefix by self CPU time (``torch.profiler``), which shows where a batched step goes.

    OMP_NUM_THREADS=1 python bench/decode_step.py --model smollm2-135m --json bench/results/decode-step.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile
from transformers.cache_utils import DynamicCache

from iclkit.lm.hf import HFLM
from iclkit.lm.kv_cache import fork_cache


def prefix_cache(lm, length: int) -> DynamicCache:
    ids = torch.randint(0, lm.tokenizer.vocab_size, (1, length), generator=torch.Generator().manual_seed(length))
    return lm._decoder(input_ids=ids, use_cache=True).past_key_values


def steps(lm, prefix, rows: int, length: int, n: int, reserve: int):
    """(seconds per step, logits of every step): ``n`` one-token steps on a fork of ``prefix`` for ``rows`` rows."""
    cache = fork_cache(prefix, rows, reserve=reserve)
    tokens = torch.arange(rows)[:, None] + 100
    logits, start = [], time.perf_counter()
    for i in range(n):
        mask = torch.zeros(rows, 1, 1, length + i + 1)
        out = lm.model(input_ids=tokens, position_ids=torch.full((rows, 1), length + i), attention_mask=mask,
                       past_key_values=cache, use_cache=True, logits_to_keep=1)
        logits.append(out.logits)
    return (time.perf_counter() - start) / n, torch.cat(logits)


def top_operators(lm, prefix, rows: int, length: int, n: int, limit: int = 8) -> list[dict]:
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        steps(lm, prefix, rows, length, n, reserve=0)
    events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in events)
    return [{"op": e.key, "self_cpu_share": round(e.self_cpu_time_total / total, 3), "calls": e.count}
            for e in events[:limit]]


@torch.inference_mode()
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--rows", type=int, default=8)
    ap.add_argument("--lengths", default="16,400,800")
    ap.add_argument("--steps", type=int, default=16)
    ap.add_argument("--json")
    args = ap.parse_args()
    lm = HFLM.load(args.model)
    result = {"model": args.model, "torch_threads": torch.get_num_threads(), "steps": args.steps, "cells": []}
    lengths = [int(x) for x in args.lengths.split(",")]
    for length in lengths:
        prefix = prefix_cache(lm, length)
        for rows in (1, args.rows):
            steps(lm, prefix, rows, length, 2, reserve=0)  # warm-up
            cat_s, cat_logits = steps(lm, prefix, rows, length, args.steps, reserve=0)
            res_s, res_logits = steps(lm, prefix, rows, length, args.steps, reserve=args.steps)
            assert torch.allclose(cat_logits, res_logits, atol=1e-4), "ReservedLayer changed the logits"
            cell = {"prefix": length, "rows": rows, "cat_ms": round(cat_s * 1000, 1),
                    "reserved_ms": round(res_s * 1000, 1), "ratio": round(cat_s / res_s, 2)}
            result["cells"].append(cell)
            print(cell, flush=True)
    result["top_operators_cat"] = top_operators(lm, prefix_cache(lm, lengths[-1]), args.rows, lengths[-1], 4)
    print(json.dumps(result["top_operators_cat"], indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
