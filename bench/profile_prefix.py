"""Where the steady-state time goes with a long fixed prefix: linear layers vs attention, 0 vs 32 shots.

Backs the profile quoted in docs/performance.md ("Why 32-shot costs more than 0-shot per example"). For each number
of fixed demonstrations, the first chunk of 16 queries is scored without the profiler (it encodes the
demonstrations once), then the next ``--n`` queries run under ``torch.profiler``; the script reports the total CPU
time inside ``aten::linear`` (every linear layer and the LM head) and ``aten::scaled_dot_product_attention``, and
the wall time of the profiled part. The profiler adds overhead, so compare the columns, not the absolute seconds.

    python bench/profile_prefix.py --json bench/results/profile-prefix.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

from iclkit.config import RunConfig
from iclkit.data.loaders import load_split, subsample
from iclkit.data.tasks import load_task
from iclkit.pipeline import CHUNK, Runner

OPS = {"linear": "aten::linear", "attention": "aten::scaled_dot_product_attention"}


def profile_setting(lm, model: str, task, pool, queries, shots: int) -> dict:
    """Profile the steady state of one setting (the run-time self-check falls in the unprofiled first chunk)."""
    config = RunConfig(task="sst2", model=model, scorer="direct", seed=0,
                       shots=shots, retriever="random" if shots else "zero")
    runner = Runner(config, task, lm, pool)
    lm._run_prefix = None  # start cold, as a run does
    runner.score(queries[:CHUNK])  # one-off: the fixed demonstrations' cache
    steady = queries[CHUNK:]
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        started = time.perf_counter()
        for start in range(0, len(steady), CHUNK):
            runner.score(steady[start : start + CHUNK])
        wall = time.perf_counter() - started
    totals = {e.key: e.cpu_time_total / 1e6 for e in prof.key_averages()}
    return {"shots": shots, "queries_profiled": len(steady), "wall_seconds": round(wall, 2),
            **{f"{name}_seconds": round(totals.get(op, 0.0), 2) for name, op in OPS.items()}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--shots", nargs="+", type=int, default=[0, 32])
    parser.add_argument("--n", type=int, default=48, help="queries profiled after the first chunk")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    from iclkit.lm.hf import HFLM

    lm = HFLM.load(args.model)
    task = load_task("sst2")
    pool = load_split(task, "train")
    queries = subsample(load_split(task, "eval"), CHUNK + args.n, 0)
    rows = [profile_setting(lm, args.model, task, pool, queries, k) for k in args.shots]
    print(f"{args.model}, Direct, torch {torch.__version__}, {torch.get_num_threads()} threads")
    print("| shots | queries | wall s (profiled) | aten::linear s | aten::scaled_dot_product_attention s |")
    print("|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['shots']} | {r['queries_profiled']} | {r['wall_seconds']} | {r['linear_seconds']} "
              f"| {r['attention_seconds']} |")
    if args.json:
        Path(args.json).write_text(json.dumps({"command": "python bench/profile_prefix.py " + " ".join(
            sys.argv[1:] if argv is None else argv), "model": args.model, "torch": torch.__version__,
            "threads": torch.get_num_threads(), "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
