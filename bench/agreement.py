"""Agreement of the llama.cpp back-end with the HF back-end on SST-2 validation (Direct scoring).

Both back-ends read the same GGUF weights (HF dequantises them to fp32), so they differ only by llama.cpp's quantised
arithmetic. For each model and setting (zero-shot; 8 fixed random demonstrations) this prints: n, prediction
agreement, each back-end's accuracy, mean and max |Δ log-prob| over every (example, label) score, the largest HF
margin (best minus runner-up label score) among the examples whose prediction flips, and each back-end's
examples/s (prompt building and scoring; model loading excluded; other work on the machine slows them).

    python bench/agreement.py                              # both models, all 872 examples, 0 and 8 shots
    python bench/agreement.py --models smollm2-135m --limit 100
    python bench/agreement.py --models gemma3-270m --shots 0 --json bench/results/agreement-gemma-0shot.json

``--json`` also records, per setting, the flips: how many, how many examples have an HF margin under
``--near-tie`` nats, and on how many flips each back-end is right.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from iclkit.config import RunConfig
from iclkit.pipeline import RunResult, run

BACKENDS = ("hf", "llamacpp")


@dataclass(frozen=True)
class Comparison:
    model: str
    shots: int
    n: int
    agreement: float
    accuracy: dict[str, float]
    mean_delta: float
    max_delta: float
    max_flip_margin: float | None  # largest HF top-2 score margin among examples whose prediction flips
    examples_per_s: dict[str, float]
    n_flips: int = 0
    n_near_ties: int = 0  # examples whose HF top-2 margin is under the --near-tie threshold
    near_tie: float = 0.25
    right_on_flips: dict[str, int] | None = None  # per back-end: flips on which its prediction is the gold label


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["smollm2-135m", "gemma3-270m"])
    parser.add_argument("--shots", nargs="+", type=int, default=[0, 8])
    parser.add_argument("--limit", type=int, default=None, help="a seeded slice of the 872 examples (default: all)")
    parser.add_argument("--seed", type=int, default=0, help="demonstration seed")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for each back-end")
    parser.add_argument("--out", default=None, help="where runs are written (default: a temporary folder)")
    parser.add_argument("--near-tie", type=float, default=0.25, help="HF margin (nats) counted as a near tie")
    parser.add_argument("--json", default=None, help="also write every setting's comparison here")
    return parser.parse_args(argv)


def load_backend(backend: str, model: str, threads: int):
    """Load once per model, so every setting reuses it (and timings exclude loading)."""
    if backend == "hf":
        import torch

        from iclkit.lm.hf import HFLM

        torch.set_num_threads(threads)
        return HFLM.load(model)
    from iclkit.lm.llamacpp import LlamaCppLM

    return LlamaCppLM.load(model, n_threads=threads)


def run_setting(backend: str, lm, model: str, shots: int, args: argparse.Namespace, out: Path) -> RunResult:
    config = RunConfig(
        name=f"{model}-{backend}-{shots}shot", task="sst2", model=model, backend=backend,
        backend_options={"n_threads": args.threads} if backend == "llamacpp" else {},
        shots=shots, retriever="random" if shots else "zero", scorer="direct", seed=args.seed, limit=args.limit,
        out=str(out / f"{model}-{backend}-{shots}shot"),
    )
    return run(config, lm=lm, log=lambda _: None)


def compare(model: str, shots: int, results: dict[str, RunResult], near_tie: float = 0.25) -> Comparison:
    hf = {r.example_id: r for r in results["hf"].records}
    cpp = {r.example_id: r for r in results["llamacpp"].records}
    ids = sorted(hf.keys() & cpp.keys())
    deltas = [abs(a - b) for i in ids for a, b in zip(hf[i].scores, cpp[i].scores)]
    flips = [i for i in ids if hf[i].prediction != cpp[i].prediction]
    return Comparison(
        model=model, shots=shots, n=len(ids), agreement=1 - len(flips) / len(ids),
        accuracy={b: sum(r.prediction == r.gold for r in results[b].records) / len(results[b].records)
                  for b in BACKENDS},
        mean_delta=sum(deltas) / len(deltas), max_delta=max(deltas),
        max_flip_margin=max((top2_margin(hf[i].scores) for i in flips), default=None),
        examples_per_s={b: results[b].summary["timing"]["examples_per_s"] for b in BACKENDS},
        n_flips=len(flips), near_tie=near_tie,
        n_near_ties=sum(top2_margin(hf[i].scores) < near_tie for i in ids),
        right_on_flips={"hf": sum(hf[i].prediction == hf[i].gold for i in flips),
                        "llamacpp": sum(cpp[i].prediction == cpp[i].gold for i in flips)},
    )


def top2_margin(scores: tuple[float, ...]) -> float:
    """How far the best label is ahead of the runner-up: a prediction can flip only when noise exceeds this."""
    best, second = sorted(scores, reverse=True)[:2]
    return best - second


def format_table(rows: list[Comparison]) -> str:
    header = ("| model | shots | n | agreement | acc hf | acc llama.cpp | mean abs Δlogprob | max abs Δlogprob "
              "| max HF margin of flips | ex/s hf | ex/s llama.cpp |")
    lines = [header, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for c in rows:
        flip = "-" if c.max_flip_margin is None else f"{c.max_flip_margin:.4f}"
        lines.append(f"| {c.model} | {c.shots} | {c.n} | {100 * c.agreement:.1f}% | {c.accuracy['hf']:.3f} "
                     f"| {c.accuracy['llamacpp']:.3f} | {c.mean_delta:.4f} | {c.max_delta:.4f} | {flip} "
                     f"| {c.examples_per_s['hf']:.1f} | {c.examples_per_s['llamacpp']:.1f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="iclkit-agreement-") as tmp:
        out = Path(args.out) if args.out else Path(tmp)
        rows = []
        for model in args.models:
            results: dict[int, dict[str, RunResult]] = {s: {} for s in args.shots}
            for backend in BACKENDS:  # one model in memory at a time
                lm = load_backend(backend, model, args.threads)
                for shots in args.shots:
                    results[shots][backend] = run_setting(backend, lm, model, shots, args, out)
                del lm
            for shots in args.shots:
                rows.append(compare(model, shots, results[shots], args.near_tie))
                print(format_table(rows[-1:]).splitlines()[-1], flush=True)
    print()
    print(format_table(rows))
    if args.json:
        Path(args.json).write_text(json.dumps({"command": "python bench/agreement.py " + " ".join(sys.argv[1:] if argv is None else argv),
                                               "rows": [asdict(r) for r in rows]}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
