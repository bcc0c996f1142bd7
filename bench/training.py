"""Training throughput: iclkit's trainer vs a bare PyTorch loop doing the same steps, in one process.

SmolLM2-135M, sequences of exactly ``--seq-len`` tokens (self-supervised ICL sequences from the shipped WikiText-2,
left-truncated), global batch 1 (micro-batch 1; ``ACCUM`` raises it), AdamW, LoRA (r=8 on q/k/v/o) and full
fine-tuning. The bare loop is what one writes by hand: the same model, peft wrapping, optimizer, loss function
(:func:`iclkit.train.loss.per_example_loss`) and batches, with no accelerate, scheduler, clipping, metrics or progress
bar. Runs alternate (trainer, bare, ...; ``--repeats``) so that load drift on a shared machine hits both; tokens/s of
each run covers ``--steps`` steps after ``--warmup`` untimed ones (the trainer's final checkpoint/save is not timed),
and the best run counts.
Peak memory is the process's resident set sampled during each run, above what it was before the run.

    nice -n 10 python bench/training.py --json bench/results/training.json     # ~3-4 min on 2 CPU cores
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scoring import PeakRSS, _rss, matmul_peak_flops

from iclkit.train.examples import encode_examples
from iclkit.train.loss import collate, per_example_loss
from iclkit.train.model import apply_lora, load_for_training
from iclkit.train.selfsup import build_selfsup, read_corpus
from iclkit.train.trainer import TrainConfig, Trainer

MICRO, ACCUM = 1, 1


def examples(n: int, seq_len: int, tokenizer):
    built = build_selfsup(read_corpus(), shots=8, n_examples=n, seed=0, objectives=("nsg",))
    encoded = encode_examples(tokenizer, built, seq_len)
    keep = [b for b, e in zip(built, encoded) if len(e.input_ids) == seq_len]
    if len(keep) < n // 2:
        raise SystemExit(f"too few sequences reach {seq_len} tokens")
    return keep


class StopBench(Exception):
    """Raised from ``on_step`` after the last timed step: the trainer's final checkpoint and save are not timed."""


def run_trainer(model_name: str, data, args, lora: bool, lr: float) -> dict:
    model, tokenizer = load_for_training(model_name)
    last = args.warmup + args.steps
    stamps: list[float] = []

    def on_step(step: int, loss: float) -> None:
        stamps.append(time.perf_counter())
        if step == last:
            raise StopBench

    with tempfile.TemporaryDirectory() as out:
        config = TrainConfig(out=out, steps=last + 1, batch_size=MICRO * ACCUM, micro_batch_size=MICRO, lr=lr,
                             max_length=args.seq_len, lora=lora, save_every=10_000, progress=False, resume=False)
        base = _rss()
        with PeakRSS() as peak:
            trainer = Trainer(model, tokenizer, data, config, on_step=on_step)
            stamps.append(time.perf_counter())  # train() start: resume check and progress set-up are timed
            try:
                trainer.train()
            except StopBench:
                pass
    seconds = stamps[-1] - stamps[args.warmup]
    return {"seconds": seconds, "tokens": args.steps * MICRO * ACCUM * args.seq_len,
            "peak_gib": (peak.peak - base) / 2**30}


def run_bare(model_name: str, data, args, lora: bool, lr: float) -> dict:
    model, tokenizer = load_for_training(model_name)
    encoded = encode_examples(tokenizer, data, args.seq_len)
    base = _rss()
    with PeakRSS() as peak:
        torch.manual_seed(0)
        if lora:
            model = apply_lora(model)
        model.train()
        optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
        stamps = [time.perf_counter()]
        for step in range(args.warmup + args.steps):
            for m in range(ACCUM):
                batch = collate([encoded[(step * ACCUM + m) % len(encoded)]], tokenizer.pad_token_id)
                (per_example_loss(model, batch).mean() / ACCUM).backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            stamps.append(time.perf_counter())
    return {"seconds": stamps[-1] - stamps[args.warmup], "tokens": args.steps * MICRO * ACCUM * args.seq_len,
            "peak_gib": (peak.peak - base) / 2**30}


def bench_mode(args, data, lora: bool, log) -> dict:
    lr = 1e-4 if lora else 1e-5
    runs: dict[str, list[dict]] = {"trainer": [], "bare": []}
    for rep in range(args.repeats):
        for name, fn in (("trainer", run_trainer), ("bare", run_bare)):
            r = fn(args.model, data, args, lora, lr)
            r["tokens_per_s"] = r["tokens"] / r["seconds"]
            runs[name].append(r)
            log(f"  {'lora' if lora else 'full'} {name} run {rep + 1}: {r['tokens_per_s']:.1f} tok/s, "
                f"peak +{r['peak_gib']:.2f} GiB")
    best = {k: max(v, key=lambda r: r["tokens_per_s"]) for k, v in runs.items()}
    return {"mode": "lora" if lora else "full", "runs": runs,
            "trainer_tokens_per_s": best["trainer"]["tokens_per_s"], "bare_tokens_per_s": best["bare"]["tokens_per_s"],
            "ratio": best["trainer"]["tokens_per_s"] / best["bare"]["tokens_per_s"],
            "trainer_peak_gib": max(r["peak_gib"] for r in runs["trainer"]),
            "bare_peak_gib": max(r["peak_gib"] for r in runs["bare"])}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--seq-len", type=int, default=512)
    parser.add_argument("--steps", type=int, default=3, help="timed optimizer steps per run")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps first (0: the first step is timed too, "
                        "one-off costs such as optimizer-state allocation included on both sides)")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--modes", default="lora,full")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    log = lambda msg: print(msg, flush=True)
    _, tokenizer = load_for_training(args.model)
    data = examples(64, args.seq_len, tokenizer)
    peak = matmul_peak_flops()
    log(f"{args.model}, seq len {args.seq_len}, global batch {MICRO * ACCUM} ({ACCUM} x {MICRO}), "
        f"{torch.get_num_threads()} threads, fp32 matmul peak {peak / 1e9:.0f} GFLOP/s")
    results = [bench_mode(args, data, mode == "lora", log) for mode in args.modes.split(",")]
    for r in results:
        verdict = "met" if r["ratio"] >= 0.7 else "MISSED"
        log(f"{r['mode']}: trainer {r['trainer_tokens_per_s']:.1f} tok/s vs bare {r['bare_tokens_per_s']:.1f} tok/s "
            f"= {r['ratio']:.0%} (target >= 70%: {verdict}); peak memory trainer +{r['trainer_peak_gib']:.2f} GiB, "
            f"bare +{r['bare_peak_gib']:.2f} GiB")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"model": args.model, "seq_len": args.seq_len, "steps": args.steps,
                                         "warmup": args.warmup, "micro_batch": MICRO, "accumulation": ACCUM,
                                         "threads": torch.get_num_threads(), "matmul_peak_gflops": peak / 1e9,
                                         "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
