"""``iclkit tune``: pick a configuration on a dev slice of the pool, then evaluate it (see :mod:`iclkit.tune`)."""

from __future__ import annotations

import argparse


def _names(text: str) -> tuple[str, ...]:
    return tuple(s.strip() for s in text.split(",") if s.strip())


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("tune", help="choose retriever/ordering/k/calibration/scorer on the pool, never the eval set")
    p.add_argument("--task", default="sst2")
    p.add_argument("--data-file", help="your own JSONL/CSV pool (with --eval-file)")
    p.add_argument("--eval-file")
    p.add_argument("--model", default="gemma3-270m")
    p.add_argument("--backend", default="hf")
    p.add_argument("--budget", type=int, help="at most this many configurations (a seeded sample of the grid)")
    p.add_argument("--dev-size", type=int, default=100, help="pool examples used to rank configurations")
    p.add_argument("--retrievers", type=_names, default=("random", "balanced", "bm25", "topk", "dpp"))
    p.add_argument("--orderings", type=_names, default=("default",), help="'default' = each retriever's own")
    p.add_argument("--shots", type=lambda t: tuple(int(x) for x in _names(t)), default=(4, 8))
    p.add_argument("--scorers", type=_names, default=("direct",))
    p.add_argument("--calibrations", type=_names, default=("none", "contextual", "batch"))
    p.add_argument("--instructions", nargs="*", default=[], help="alternative instructions (the task's is kept)")
    p.add_argument("--limit", type=int, help="evaluate the final configurations on a seeded slice of this size")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="default: runs/tune-<task>-<model>")
    p.set_defaults(handler=cmd_tune)


def cmd_tune(args: argparse.Namespace) -> int:
    from pathlib import Path

    from rich.console import Console
    from rich.table import Table

    from iclkit.config import run_config
    from iclkit.pipeline import check_config
    from iclkit.tune import TuneSpace, tune

    base = run_config({"task": args.task, "data_file": args.data_file, "eval_file": args.eval_file,
                       "model": args.model, "backend": args.backend, "limit": args.limit, "seed": args.seed},
                      where="command line")
    space = TuneSpace(retrievers=args.retrievers, shots=args.shots, scorers=args.scorers,
                      orderings=tuple(None if o == "default" else o for o in args.orderings),
                      instructions=(None, *args.instructions), calibrations=args.calibrations)
    for cand in space.candidates(None, 0):
        check_config(run_config({**base.to_dict(), **cand}, where="tune space"))
    out = Path(args.out or f"runs/tune-{Path(args.data_file or args.task).stem}-{Path(args.model).name}")
    console = Console()
    result = tune(base, space, out=out, budget=args.budget, dev_size=args.dev_size, seed=args.seed, log=console.print)
    table = Table(title=f"tune: top of {len(result.ranking)} on the pool's dev slice")
    for col in ("settings", "dev accuracy [95% CI]"):
        table.add_column(col)
    for r in result.ranking[:10]:
        table.add_row(", ".join(f"{k}={v}" for k, v in r.settings.items() if v is not None),
                      f"{r.accuracy:.3f} [{r.low:.3f}, {r.high:.3f}]")
    console.print(table)
    final = Table(title="evaluation set")
    for col in ("configuration", "accuracy [95% CI]", "n"):
        final.add_column(col)
    for e in result.evaluation:
        final.add_row(f"{e['name']} (calibration {e['calibration']})", f"{e['value']:.3f} [{e['low']:.3f}, "
                      f"{e['high']:.3f}]", str(e["n"]))
    console.print(final)
    console.print(f"chosen configuration: {out / 'best.yaml'} (iclkit run {out / 'best.yaml'})")
    return 0
