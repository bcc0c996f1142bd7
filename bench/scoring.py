"""Scoring-engine benchmark: naive recomputation vs iclkit's fast HF path vs the llama.cpp back-end.

One process, side by side, on SST-2 validation with the embedded models, Direct and PPL scoring, for 0/4/16/32 fixed
random demonstrations and 8 TopK demonstrations. For each cell it prints examples/s, tokens run through the model
against the fewest possible (the trie of all the run's sequences), the speed-up over naive, the peak resident memory,
and the share of the machine's fp32 matmul peak, measured in this same run. It asserts that naive and fast give
identical predictions (and log-probabilities within 1e-4).

    python bench/scoring.py                      # both models, everything (~20-30 min on 2 CPU cores)
    python bench/scoring.py --quick              # SmolLM2 only, fewer examples (~3 min)
    python bench/scoring.py --json bench.json    # also write every number
    python bench/scoring.py --models smollm2-135m --shots 16 --topk 0 --scorers pmi \
        --engines naive fast unsplit --n-fast 32 --n-naive 4     # PMI: the prefix cache with and without the split

Scorers: ``direct``, ``ppl`` (mean), ``pmi`` (``ppl`` with PMI normalisation: each query adds log P(answer | "")
requests). Engines: ``naive``, ``fast``, ``all-logits`` (the fast path with the LM head at every position),
``unsplit`` (the fast path without :func:`iclkit.lm.tree.split_by_prefix`, as before it existed: PMI's
empty-context requests then empty the shared prefix), ``llamacpp``.

Naive = every (prompt, label) sequence run from scratch with full logits, as OpenICL's PPL inferencer and a plain
HF loop do. The fast path is amortised over ``--n-fast`` queries scored in chunks of 16 (as ``iclkit run`` does);
naive runs on the first ``--n-naive`` of them (it is the slow one). Examples/s are per query, so ratios compare
like with like. FLOPs count the linear layers (2 x non-embedding parameters per token run) plus the LM head
(2 x vocab x hidden per position whose logits are computed); attention scores are not counted, so the
matmul-peak share is a lower bound.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from iclkit.config import RunConfig
from iclkit.data.loaders import load_split, subsample
from iclkit.data.tasks import load_task
from iclkit.lm.tree import Seq, minimum_tokens
from iclkit.pipeline import CHUNK, Runner
from iclkit.types import Example, LLRequest, LLResult, best_label


@dataclass
class Cell:
    model: str
    setting: str
    scorer: str
    engine: str
    n: int
    seconds: float
    tokens_run: int
    tokens_min: int
    logits_run: int | None
    peak_rss_gib: float
    peak_share: float | None = None
    speedup: float | None = None
    steady_seconds: float | None = None  # after the first chunk: without one-off work (a fixed prefix's cache)
    steady_n: int = 0
    agreement: float | None = None  # share of predictions equal to the fast path's
    max_abs_diff: float | None = None  # largest |log-prob - naive log-prob| (fast path)

    @property
    def per_second(self) -> float:
        return self.n / self.seconds

    @property
    def steady_per_second(self) -> float | None:
        return self.steady_n / self.steady_seconds if self.steady_seconds else None


class PeakRSS:
    """Samples this process's resident memory while a block runs (torch allocations are invisible to tracemalloc)."""

    def __enter__(self):
        self.peak, self._stop = _rss(), threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, _rss())

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss())


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def matmul_peak_flops(size: int = 2048, repeats: int = 10) -> float:
    """Best fp32 GFLOP/s of a square matmul with the threads torch uses (the machine's attainable peak)."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best


def model_flops(lm, tokens: int, logits: int) -> float:
    cfg = lm.model.config
    head = cfg.vocab_size * cfg.hidden_size
    body = sum(p.numel() for p in lm.model.parameters()) - head  # tied embedding/head counted once, as the head
    return 2 * body * tokens + 2 * head * logits


# Bench scorer name -> (iclkit scorer, its options)
SCORERS: dict[str, tuple[str, dict]] = {"direct": ("direct", {}), "ppl": ("ppl", {}),
                                        "pmi": ("ppl", {"normalization": "pmi"})}
# Ablations of the fast path: engine name -> the HFLM attribute that turns the optimisation off (set to its opposite)
ABLATIONS: dict[str, tuple[str, bool]] = {"all-logits": ("all_logits", True), "unsplit": ("split_prefix", False)}


def settings(shots: Sequence[int], topk: int) -> list[tuple[str, dict]]:
    out = [(f"{k}-shot fixed" if k else "0-shot", {"shots": k, "retriever": "random" if k else "zero"}) for k in shots]
    if topk:
        out.append((f"{topk}-shot TopK", {"shots": topk, "retriever": "topk"}))
    return out


def build_requests(runner: Runner, queries: Sequence[Example]) -> list[tuple[Example, object, list[LLRequest]]]:
    out = []
    for q in queries:
        prompt = runner.prompt(q)
        out.append((q, prompt, runner.scorer.requests(prompt, q.id)))
    return out


def score(runner: Runner, items, loglikelihood: Callable[[list[LLRequest]], list[LLResult]]):
    """Predictions, per-request results and the seconds of each chunk, calling ``loglikelihood`` on chunks of CHUNK
    queries (as a run does)."""
    predictions, results, seconds = [], [], []
    for start in range(0, len(items), CHUNK):
        started = time.perf_counter()
        chunk = items[start : start + CHUNK]
        flat = [r for _, _, reqs in chunk for r in reqs]
        out = loglikelihood(flat)
        results += out
        i = 0
        for _, prompt, reqs in chunk:
            predictions.append(best_label(prompt.labels, runner.scorer.reduce(prompt, out[i : i + len(reqs)])))
            i += len(reqs)
        seconds.append(time.perf_counter() - started)
    return predictions, results, seconds


def trie_minimum(lm, items) -> int:
    seqs = [Seq(i, tuple(t), n) for i, (t, n) in
            enumerate(lm.encode_pair(r.context, r.continuation) for _, _, reqs in items for r in reqs)]
    return minimum_tokens(seqs)


def bench_model(name: str, args, peak: float, task, pool, queries, log) -> list[Cell]:
    from iclkit.lm.hf import HFLM

    hf = HFLM.load(name)
    hf.loglikelihood([LLRequest("Review: fine\nSentiment:", " positive")])  # the once-per-model self-check
    cpp = _load_llamacpp(name, log) if "llamacpp" in args.engines else None
    cells: list[Cell] = []
    for setting, options in settings(args.shots, args.topk):
        for scorer in args.scorers:
            scorer_name, scorer_options = SCORERS[scorer]
            config = RunConfig(task="sst2", model=name, scorer=scorer_name, scorer_options=scorer_options, seed=0,
                               **options)
            runner = Runner(config, task, hf, pool)
            items = build_requests(runner, queries[: args.n_fast])
            naive_items = items[: args.n_naive]
            row: dict[str, Cell] = {}
            label = (name, setting, scorer)
            row["naive"], naive_preds, naive_res = measure(label, "naive", hf, runner, naive_items, peak)
            row["fast"], fast_preds, fast_res = measure(label, "fast", hf, runner, items, peak)
            n = len(naive_items)
            assert fast_preds[:n] == naive_preds, f"{name} {setting} {scorer}: fast and naive predictions differ"
            per_token = max(abs(a.logprob - b.logprob) / b.n_tokens for a, b in zip(fast_res, naive_res))
            assert per_token <= 1e-4, f"{name} {setting} {scorer}: log-probs differ by {per_token:.1e} per token"
            row["fast"].max_abs_diff = max(abs(a.logprob - b.logprob) for a, b in zip(fast_res, naive_res))
            for engine, (attribute, value) in ABLATIONS.items():  # the same fast path, one optimisation off
                if engine in args.engines:
                    setattr(hf, attribute, value)
                    row[engine], ablation_preds, _ = measure(label, engine, hf, runner, items, peak)
                    setattr(hf, attribute, not value)
                    assert ablation_preds == fast_preds
            if cpp is not None:
                row["llama.cpp"], cpp_preds, _ = measure(label, "llama.cpp", cpp, runner, items, peak, reference=hf)
                row["llama.cpp"].agreement = sum(a == b for a, b in zip(cpp_preds, fast_preds)) / len(items)
            for cell in row.values():
                cell.speedup = cell.per_second / row["naive"].per_second
                cells.append(cell)
                log(format_cell(cell))
    return cells


def measure(label: tuple[str, str, str], engine: str, lm, runner: Runner, items, peak: float, *, reference=None):
    """Score ``items`` with one engine from a cold start; returns its Cell, predictions and results."""
    reference = reference or lm  # the HF model: tokenises for the trie minimum and sizes the FLOP count
    call = lm.naive_loglikelihood if engine == "naive" else lm.loglikelihood
    if hasattr(lm, "_run_prefix"):
        lm._run_prefix = None  # every engine starts cold
    before_tokens, before_logits = lm.tokens_run, getattr(lm, "logits_run", None)
    with PeakRSS() as mem:
        preds, res, chunk_seconds = score(runner, items, call)
    seconds = sum(chunk_seconds)
    logits = lm.logits_run - before_logits if before_logits is not None else None
    cell = Cell(*label, engine, len(items), seconds, lm.tokens_run - before_tokens, trie_minimum(reference, items),
                logits, mem.peak / 2**30)
    if len(chunk_seconds) > 1:
        cell.steady_seconds, cell.steady_n = sum(chunk_seconds[1:]), len(items) - CHUNK
    if logits is not None:
        cell.peak_share = model_flops(reference, cell.tokens_run, logits) / seconds / peak
    return cell, preds, res


def _load_llamacpp(name: str, log):
    try:
        from iclkit.lm.llamacpp import LlamaCppLM

        return LlamaCppLM.load(name, n_threads=torch.get_num_threads())
    except Exception as exc:  # noqa: BLE001 - the HF comparison stands on its own
        log(f"llama.cpp back-end skipped: {exc}")
        return None


HEADER = (f"{'model':<13} {'setting':<15} {'scorer':<6} {'engine':<9} {'n':>4} {'ex/s':>7} {'steady':>7} "
          f"{'vs naive':>8} "
          f"{'tokens run':>10} {'minimum':>8} {'run/min':>7} {'peak RSS':>8} {'matmul peak':>11}")


def format_cell(c: Cell) -> str:
    share = f"{100 * c.peak_share:.0f}%" if c.peak_share is not None else "-"
    extra = f"  agrees with fast {100 * c.agreement:.1f}%" if c.agreement is not None else ""
    if c.max_abs_diff is not None:
        extra += f"  max |fast - naive| {c.max_abs_diff:.1e}"
    steady = f"{c.steady_per_second:.2f}" if c.steady_per_second else "-"
    return (f"{c.model:<13} {c.setting:<15} {c.scorer:<6} {c.engine:<9} {c.n:>4} {c.per_second:>7.2f} {steady:>7} "
            f"{c.speedup or 0:>7.1f}x {c.tokens_run:>10} {c.tokens_min:>8} {c.tokens_run / c.tokens_min:>7.2f} "
            f"{c.peak_rss_gib:>6.2f}GB {share:>11}{extra}")


def targets(cells: list[Cell]) -> list[str]:
    """The issue's targets, checked on this run's numbers."""
    lines = []
    by = {(c.model, c.setting, c.scorer, c.engine): c for c in cells}
    for model in dict.fromkeys(c.model for c in cells):
        for scorer in dict.fromkeys(c.scorer for c in cells):
            fast16 = by.get((model, "16-shot fixed", scorer, "fast"))
            if fast16:
                lines.append(f"{model} {scorer}: 16-shot fixed fast/naive = {fast16.speedup:.1f}x (target >= 10x)")
            f0, f32 = by.get((model, "0-shot", scorer, "fast")), by.get((model, "32-shot fixed", scorer, "fast"))
            if f0 and f32 and f0.steady_per_second and f32.steady_per_second:
                lines.append(f"{model} {scorer}: 32-shot / 0-shot time per example = "
                             f"{f0.steady_per_second / f32.steady_per_second:.2f} after the first chunk, "
                             f"{f0.per_second / f32.per_second:.2f} over all {f32.n} (target <= 1.3)")
            ablation = by.get((model, "0-shot", scorer, "all-logits"))
            if ablation:
                lines.append(f"{model} {scorer}: 0-shot fast vs the same path with logits at every position = "
                             f"{by[(model, '0-shot', scorer, 'fast')].per_second / ablation.per_second:.2f}x "
                             "(target for Gemma-3-270M >= 2x)")
            for unsplit in (c for c in cells if (c.model, c.scorer, c.engine) == (model, scorer, "unsplit")):
                fast = by[(model, unsplit.setting, scorer, "fast")]
                lines.append(f"{model} {scorer}: {unsplit.setting} fast / unsplit = "
                             f"{fast.per_second / unsplit.per_second:.1f}x examples/s, tokens run "
                             f"{fast.tokens_run} vs {unsplit.tokens_run} (the prefix cache kept vs emptied)")
            topk = next((c for c in cells if c.model == model and c.scorer == scorer and "TopK" in c.setting
                         and c.engine == "fast"), None)
            if topk:
                lines.append(f"{model} {scorer}: {topk.setting} fast/naive = {topk.speedup:.1f}x (target >= 1.8x)")
        shares = [c.peak_share for c in cells if c.model == model and c.engine == "fast" and c.peak_share]
        if shares:
            lines.append(f"{model}: fast path at {100 * min(shares):.0f}-{100 * max(shares):.0f}% of the fp32 "
                         "matmul peak (target >= 60%)")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", nargs="+", default=["smollm2-135m", "gemma3-270m"])
    p.add_argument("--shots", nargs="+", type=int, default=[0, 4, 16, 32])
    p.add_argument("--topk", type=int, default=8, help="TopK demonstrations (0: skip)")
    p.add_argument("--scorers", nargs="+", default=["direct", "ppl"], choices=sorted(SCORERS))
    p.add_argument("--engines", nargs="+", default=["naive", "fast", "all-logits", "llamacpp"],
                   help="all-logits: the fast path with the LM head at every position; unsplit: without "
                        "split_by_prefix (ablations)")
    p.add_argument("--n-fast", type=int, default=64, help="queries for the fast path and llama.cpp")
    p.add_argument("--n-naive", type=int, default=16, help="queries for the naive path (the first of those)")
    p.add_argument("--quick", action="store_true", help="SmolLM2 only, 32 fast / 8 naive queries")
    p.add_argument("--json", help="write every cell here")
    args = p.parse_args(argv)
    if args.quick:
        args.models, args.n_fast, args.n_naive = ["smollm2-135m"], 32, 8
    args.n_naive = min(args.n_naive, args.n_fast)

    log = print
    task = load_task("sst2")
    pool = load_split(task, "train")
    queries = subsample(load_split(task, "eval"), args.n_fast, 0)
    log(f"torch {torch.__version__}, {torch.get_num_threads()} threads; SST-2 validation: {len(queries)} queries "
        f"(naive on the first {args.n_naive}), pool of {len(pool)}")
    peak = matmul_peak_flops()
    log(f"fp32 matmul peak (2048x2048): {peak / 1e9:.0f} GFLOP/s")
    log(HEADER)
    cells = []
    for name in args.models:
        cells += bench_model(name, args, peak, task, pool, queries, log)
    peak_end = matmul_peak_flops()
    log(f"fp32 matmul peak at the end: {peak_end / 1e9:.0f} GFLOP/s (shares above use the first measurement)")
    log("\nTargets:")
    for line in targets(cells):
        log("  " + line)
    if args.json:
        Path(args.json).write_text(json.dumps(
            {"matmul_gflops": [peak / 1e9, peak_end / 1e9], "max_rss_gib": resource.getrusage(
                resource.RUSAGE_SELF).ru_maxrss / 2**20, "cells": [dataclasses.asdict(c) for c in cells]}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
