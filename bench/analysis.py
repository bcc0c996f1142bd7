"""Benchmark of ``iclkit analyze icl-vs-ft``: the whole study (three settings + four measures, no LR grid, no
controls) against plain scoring of the same three settings, side by side in one process.

    python bench/analysis.py                                   # SmolLM2, SST-2, n=200, k=32 (the issue's target)
    python bench/analysis.py --model gemma3-270m --n 50        # peak memory with Gemma-3
    python bench/analysis.py --json bench/results/analysis.json

Plain = the score stage's engine (``HFLM.loglikelihood``: tree attention, shared-prefix KV cache, packed rows) on
the ZSL and ICL prompts, the K/V fine-tuning, and the engine again on the FT model's ZSL prompts: what the three
accuracies alone cost. Capture = the study's three setting passes with the hooks on (ZSL, ICL over the cached
prefix, FT with the training queries recorded) and their float16 ``.npz`` records: the issue's "capturing the
records costs <= 1.5x the plain scoring". Study = capture + ``run_analysis`` resuming from those records (measures,
dual-form check, ``analysis.json``, plots): the whole command. Peak memory is the process's maximum resident set
size.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path


def plain_scoring(lm, config) -> float:
    """Seconds for ZSL + ICL + FT accuracies through the engine, without hooks or records."""
    from iclkit.analysis_materials import Workbench
    from iclkit.analyze.finetune import finetune_kv, kv_state, restore_kv
    from iclkit.prompt.render import render_demo, render_prefix
    from iclkit.types import LLRequest

    bench = Workbench(config, lm, log=lambda s: None)
    demos = bench.fitting(bench.demos(config.seeds[0]))
    mats = bench.materials(demos)
    prefix = render_prefix(bench.task.template, [render_demo(bench.task.template, d, bench.task.verbalizer)
                                                 for d in demos])

    def requests(pre: str) -> list[LLRequest]:
        reqs = []
        for ex in bench.eval_set:
            inputs, conts = bench.builder.query_parts(ex)
            reqs += [LLRequest(pre + i, c, ex.id) for i, c in zip(inputs, conts)]
        return reqs

    started = time.perf_counter()
    for pre in ("", prefix):
        lm.loglikelihood(requests(pre))
    state = kv_state(lm.model)
    finetune_kv(lm.model, mats.ft_sequences, config.lr)
    lm._run_prefix = None  # the FT model must not reuse the pretrained model's cache
    lm.loglikelihood(requests(""))
    restore_kv(lm.model, state)
    lm._run_prefix = None
    return time.perf_counter() - started


def capture_records(lm, config) -> float:
    """Seconds for the study's ZSL, ICL and FT passes with hooks, records written where ``run_analysis`` resumes."""
    from iclkit.analysis_materials import Workbench
    from iclkit.analysis_pipeline import SeedStudy, tqdm_progress

    seed = config.seeds[0]
    bench = Workbench(config, lm, log=lambda s: None)
    started = time.perf_counter()
    study = SeedStudy(bench, seed, Path(config.out) / f"seed{seed}", tqdm_progress(False))
    mats = bench.materials(bench.fitting(bench.demos(seed)))
    study.setting("zsl", mats.zsl_rows)
    study.setting("icl", mats.icl_rows, prefix=mats.icl_prefix)
    study.ft_setting("ft", mats, config.lr)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--task", default="sst2")
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--shots", type=int, default=32)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--json", help="write the numbers here")
    args = parser.parse_args(argv)

    import torch

    from iclkit.analysis_materials import AnalysisConfig
    from iclkit.analysis_pipeline import run_analysis, tqdm_progress
    from iclkit.lm.hf import HFLM

    torch.manual_seed(0)
    lm = HFLM.load(args.model)
    with tempfile.TemporaryDirectory() as tmp:
        config = AnalysisConfig(task=args.task, model=args.model, shots=args.shots, seeds=(0,), limit=args.n,
                                lr=args.lr, out=str(Path(tmp) / "study"))
        plain = plain_scoring(lm, config)
        capture = capture_records(lm, config)
        started = time.perf_counter()
        analysis = run_analysis(config, lm=lm, log=lambda s: None, progress=tqdm_progress(False))
        study = capture + time.perf_counter() - started
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    result = {
        "model": args.model, "task": args.task, "n": args.n, "shots": args.shots, "lr": args.lr,
        "demos_used": analysis["seeds"][0]["demos"]["used"],
        "plain_scoring_s": round(plain, 1), "capture_s": round(capture, 1), "study_s": round(study, 1),
        "capture_ratio": round(capture / plain, 2), "study_ratio": round(study / plain, 2),
        "peak_rss_gb": round(peak_gb, 2), "torch_threads": torch.get_num_threads(),
        "load_average_1min_at_end": round(os.getloadavg()[0], 2),  # other jobs sharing the CPU
        "targets": {"study_s": 300, "capture_ratio": 1.5, "gemma_peak_gb": 6},
    }
    print(json.dumps(result, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
