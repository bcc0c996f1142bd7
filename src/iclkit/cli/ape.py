"""``iclkit ape``: APE instruction search for a classification task (see :mod:`iclkit.ape`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from iclkit.config import OVERRIDE_HELP


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ape", help="propose and select an instruction (APE); saves the best of the candidates, "
                       "the hand-written instruction and none as a task YAML")
    p.add_argument("--task", default="sst2")
    p.add_argument("--model", default="gemma3-270m")
    p.add_argument("--backend", default="hf")
    p.add_argument("--shots", type=int, default=0, help="demonstrations when scoring candidates")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--subsamples", type=int, default=3, help="demonstration subsets to propose from")
    p.add_argument("--per-subsample", type=int, default=4, help="sampled proposals per subset")
    p.add_argument("--heldout", type=int, default=50, help="pool examples the candidates are scored on")
    p.add_argument("--out", required=True, help="directory for ape.json and <task>-ape.yaml")
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                   help=f"other run config keys; {OVERRIDE_HELP}")
    p.set_defaults(handler=cmd_ape)


def cmd_ape(args: argparse.Namespace) -> int:
    from iclkit.ape import ApeSettings, search
    from iclkit.config import apply_overrides, run_config

    values = apply_overrides({"task": args.task, "model": args.model, "backend": args.backend, "shots": args.shots,
                              "seed": args.seed, "name": "ape"}, args.set)
    config = run_config(values, where="command line")
    settings = ApeSettings(n_subsamples=args.subsamples, n_per_subsample=args.per_subsample, n_heldout=args.heldout)
    result = search(config, settings, Path(args.out))
    scores = result["heldout_accuracy"]["baselines"]
    print(f"best candidate: {result['best']['instruction']!r} held-out accuracy {result['best']['accuracy']:.3f} "
          f"(no instruction {scores['none']:.3f}"
          + (f", hand-written {scores['hand-written']:.3f}" if "hand-written" in scores else "") + ")")
    chosen, source = result["chosen"], result["chosen_from"]
    if source == "candidate":
        print(f"chosen: the best candidate (held-out accuracy {chosen['accuracy']:.3f})")
    else:  # a baseline scored at least as well as every candidate: the simpler prompt is saved
        what = "no instruction" if source == "none" else f"the hand-written instruction {chosen['instruction']!r}"
        print(f"chosen: {what} (held-out accuracy {chosen['accuracy']:.3f}); no candidate scored higher")
    print(f"saved {result['task_yaml']} (use it as --task)")
    return 0
