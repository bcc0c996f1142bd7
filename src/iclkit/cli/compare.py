"""``iclkit compare``: methods × tasks × k × seeds → one table, plots and costs (see :mod:`iclkit.compare`)."""

from __future__ import annotations

import argparse

from iclkit.config import OVERRIDE_HELP


def _names(text: str) -> tuple[str, ...]:
    return tuple(s.strip() for s in text.split(",") if s.strip())


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compare", help="compare selection methods over tasks and seeds (table, plots, cost)")
    p.add_argument("--tasks", type=_names, default=("sst2",))
    p.add_argument("--methods", type=_names, default=("random", "topk", "dpp"),
                   help="retriever[:ordering], e.g. zero,random,topk,dpp,votek,mdl,random:globale; "
                        "LABEL=retriever[:ordering] names a variant, "
                        "e.g. votek2=votek with --set votek2.two_stage=true")
    p.add_argument("--seeds", type=lambda t: tuple(int(x) for x in _names(t)), default=(0, 1, 2))
    p.add_argument("--shots", type=lambda t: tuple(int(x) for x in _names(t)), default=(8,))
    p.add_argument("--model", default="gemma3-270m")
    p.add_argument("--backend", default="hf")
    p.add_argument("--scorer", default="direct")
    p.add_argument("--limit", type=int, help="seeded evaluation slice per task")
    p.add_argument("--set", nargs="*", default=[], metavar="METHOD.KEY=VALUE",
                   help=f"method options, e.g. dpp.candidate_num=30 votek.budget=50; {OVERRIDE_HELP}")
    p.add_argument("--one-seed", type=_names, default=(),
                   help="methods whose selection does not depend on the seed (e.g. bm25,topk,dpp): first seed only")
    p.add_argument("--baseline", default="random",
                   help="effects.json/effects.md: every other method's accuracy difference against this one")
    p.add_argument("--out", default="runs/compare")
    p.set_defaults(handler=cmd_compare)


def cmd_compare(args: argparse.Namespace) -> int:
    from iclkit.compare import Grid, compare, method_config, method_label
    from iclkit.config import parse_override, run_config
    from iclkit.errors import IclkitError
    from iclkit.pipeline import check_config

    labels = [method_label(m) for m in args.methods]
    repeated = sorted({label for label in labels if labels.count(label) > 1})
    if repeated:
        raise IclkitError(f"--methods: {repeated[0]} appears twice; name a variant LABEL=retriever[:ordering]")
    options: dict[str, dict] = {}
    for item in args.set:
        key, value = parse_override(item)
        method, _, option = key.partition(".")
        if method not in labels or not option:
            raise IclkitError(f"--set {item}: expected METHOD.KEY=VALUE with METHOD one of {', '.join(labels)}")
        options.setdefault(method, {})[option] = value
    base = run_config({"model": args.model, "backend": args.backend, "scorer": args.scorer, "limit": args.limit},
                      where="command line")
    unknown = [m for m in args.one_seed if m not in labels]
    if unknown:
        raise IclkitError(f"--one-seed {unknown[0]}: not one of the --methods ({', '.join(labels)})")
    grid = Grid(tasks=args.tasks, methods=args.methods, seeds=args.seeds, shots=args.shots, method_options=options,
                one_seed=args.one_seed, baseline=args.baseline)
    for task in grid.tasks:
        for method in grid.methods:
            check_config(method_config(base, method, task, grid.shots[0], 0, grid.options_for(method)))
    compare(base, grid, out=args.out)
    print(f"table: {args.out}/results.md, plots: {args.out}/*.png")
    return 0
