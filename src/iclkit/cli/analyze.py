"""``iclkit analyze icl-vs-ft``: Dai et al. (2023) "ICL as implicit fine-tuning" with controls, on any HF causal LM.
``iclkit analyze dual-form``: the linear-attention identity and the softmax gap per layer of a real model."""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("analyze", help="look inside a model (Dai et al. 2023: ICL vs fine-tuning)")
    verbs = p.add_subparsers(dest="analysis", required=True)
    a = verbs.add_parser("icl-vs-ft", help="ZSL/ICL/FT on the same examples + Rec2FTP, SimAOU, SimAM, Kendall")
    a.add_argument("--task", default="sst2", help="built-in task (sst2, sst5, mr, subj, agnews, cb) or task YAML")
    a.add_argument("--model", default="smollm2-135m", help="embedded model name, HF model id or local path")
    a.add_argument("--shots", type=int, default=32, help="demonstrations (at most; spec §1.4 truncation)")
    a.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="demonstration seeds")
    a.add_argument("--limit", type=int, help="evaluation examples (seed-1 shuffle; default all, at most 2000)")
    a.add_argument("--record-pos", default="label0", help="label0 (released code) | prompt_last (the paper's text)")
    a.add_argument("--lr-selection", default="heldout,eval",
                   help="comma list of heldout | eval; the first picks the LR used, the others are reported")
    a.add_argument("--lr-grid", default="paper", help="paper (36 values) | coarse (8) | comma-separated numbers")
    a.add_argument("--lr", type=float, help="a fixed FT learning rate (no grid search)")
    a.add_argument("--heldout-n", type=int, default=100, help="size of the held-out LR-selection slice")
    a.add_argument("--kendall-n", type=int, default=100, help="evaluation examples used for Kendall")
    a.add_argument("--controls", default="", help="comma list: random-init, shuffled-labels, other-demos")
    a.add_argument("--max-length", type=int, help="token budget of the ICL context (default: model's, max 2048)")
    a.add_argument("--batch-size", type=int, default=8)
    a.add_argument("--device", help="cpu | cuda")
    a.add_argument("--out", help="output folder (default runs/analysis-<task>-<model>); re-running resumes")
    a.add_argument("--no-progress", action="store_true")
    a.set_defaults(handler=cmd_icl_vs_ft)

    d = verbs.add_parser("dual-form", help="check the dual form (spec §6) on a real model, per layer")
    d.add_argument("--model", default="smollm2-135m")
    d.add_argument("--task", default="sst2")
    d.add_argument("--shots", type=int, default=4)
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--out", help="write the per-layer report as JSON here")
    d.set_defaults(handler=cmd_dual_form)


def _list(text: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in text.split(",") if x.strip())


def cmd_icl_vs_ft(args: argparse.Namespace) -> int:
    from iclkit.analysis_materials import AnalysisConfig
    from iclkit.analysis_pipeline import run_analysis, tqdm_progress

    config = AnalysisConfig(task=args.task, model=args.model, shots=args.shots, seeds=tuple(args.seeds),
                            limit=args.limit, record_pos=args.record_pos, lr_selection=_list(args.lr_selection),
                            lr_grid=args.lr_grid, lr=args.lr, heldout_n=args.heldout_n, kendall_n=args.kendall_n,
                            controls=_list(args.controls), max_length=args.max_length, batch_size=args.batch_size,
                            device=args.device, out=args.out)
    run_analysis(config, progress=tqdm_progress(not args.no_progress))
    return 0


def cmd_dual_form(args: argparse.Namespace) -> int:
    from iclkit.analysis_materials import AnalysisConfig, Workbench
    from iclkit.analyze.dual_form import check_layers
    from iclkit.lm.hf import HFLM

    config = AnalysisConfig(task=args.task, model=args.model, shots=args.shots, seeds=(args.seed,), limit=2)
    bench = Workbench(config, HFLM.load(args.model))
    mats = bench.materials(bench.fitting(bench.demos(args.seed)))
    row = mats.icl_rows[0]
    report = check_layers(bench.lm.model, row.tokens[: row.position + 1], row.key_start)
    for i, layer in enumerate(report):
        print(f"layer {i:>2}: identity rel. error {layer['identity_rel_error']:.2e}   "
              f"softmax vs linear: cos {layer['softmax_cosine']:+.3f}, rel. error {layer['softmax_rel_error']:.3f}")
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(report, fh, indent=1)
    return 0
