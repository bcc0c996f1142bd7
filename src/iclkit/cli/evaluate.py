"""``iclkit eval`` (one run from flags), ``iclkit run`` (a run or experiment YAML) and ``iclkit validate``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from iclkit.config import OVERRIDE_HELP


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="evaluate one configuration given by flags")
    p.add_argument("--task", default="sst2", help="built-in task name or task YAML (see `iclkit tasks`)")
    p.add_argument("--data-file", help="your own JSONL/CSV file: demonstration pool (and evaluation set)")
    p.add_argument("--eval-file", help="JSONL/CSV evaluation set for --data-file (default: the same file)")
    p.add_argument("--text-fields", default="text", help="comma-separated input fields of --data-file")
    p.add_argument("--label-field", default="label", help="label field of --data-file")
    p.add_argument("--model", default="gemma3-270m", help="embedded model name, HF model id or local path")
    p.add_argument("--backend", default="hf",
                   help="hf | llamacpp | openai | vllm; options via --set backend_options.KEY=VALUE")
    p.add_argument("--shots", type=int, default=8, help="number of demonstrations (0 = zero-shot)")
    p.add_argument("--retriever", default="random", help="zero | random | balanced | bm25 | topk")
    p.add_argument("--per-query", action="store_true", help="random/balanced: redraw demonstrations per query")
    p.add_argument("--ordering", help="retrieved | similarity | random (default: similarity for topk/bm25)")
    p.add_argument("--scorer", default="direct", help="direct | ppl | channel")
    p.add_argument("--normalization", help="ppl: sum | mean | per_char | per_byte | pmi")
    p.add_argument("--calibration", default="none", help="none | contextual (Zhao et al. 2021)")
    p.add_argument("--instruction", help="instruction placed before the demonstrations")
    p.add_argument("--seed", type=int, default=0, help="demonstration seed")
    p.add_argument("--limit", type=int, help="evaluate a seeded slice of this many examples")
    p.add_argument("--eval-seed", type=_seed_or_none, default=0,
                   help="seed of the --limit slice ('none': the first --limit examples in file order)")
    p.add_argument("--max-length", type=int, help="token budget per prompt (default: model's, max 2048)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--device", help="cpu | cuda (default: cuda if available)")
    p.add_argument("--out", help="run directory (default: runs/<derived name>); re-running resumes")
    p.add_argument("--format", help="generation tasks: direct | cot | zero-shot-cot | auto-cot | self-ask | "
                   "least-to-most (options via --set format_options.KEY=VALUE)")
    p.add_argument("--chat-template", action="store_true", help="apply the model's own chat template")
    p.add_argument("--multiturn", action="store_true", help="with --chat-template: demonstrations as turns")
    p.add_argument("--momentum-eta", type=float, help="hf: add momentum attention with this decay in (0, 1) at "
                   "inference (Dai et al. 2023 §5; a control: the model was not trained with it)")
    p.add_argument("--max-new-tokens", type=int, help="generation: tokens per model call")
    p.add_argument("--temperature", type=float, help="generation: 0 = greedy (default); > 0 samples")
    p.add_argument("--n-samples", type=int, help="generation: self-consistency, majority vote over n chains")
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help=f"any other config key; {OVERRIDE_HELP}")
    p.set_defaults(handler=cmd_eval)

    p = sub.add_parser("run", help="run a run/experiment YAML (see configs/)")
    p.add_argument("config", help="YAML file")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                   help=f"override config keys, e.g. limit=100; {OVERRIDE_HELP}")
    p.set_defaults(handler=cmd_run)

    p = sub.add_parser("validate", help="check a YAML config (keys, task, names) without running it")
    p.add_argument("config")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help=OVERRIDE_HELP)
    p.set_defaults(handler=cmd_validate)


def _config_from_flags(args: argparse.Namespace):
    from iclkit.config import apply_overrides, run_config

    values: dict[str, Any] = {
        "task": args.task, "data_file": args.data_file, "eval_file": args.eval_file,
        "text_fields": args.text_fields, "label_field": args.label_field, "model": args.model,
        "backend": args.backend,
        "shots": args.shots, "retriever": args.retriever, "ordering": args.ordering, "scorer": args.scorer,
        "calibration": args.calibration, "instruction": args.instruction, "seed": args.seed, "limit": args.limit,
        "eval_seed": args.eval_seed, "max_length": args.max_length, "batch_size": args.batch_size,
        "device": args.device, "out": args.out,
    }
    if args.per_query:
        values["retriever_options"] = {"per_query": True}
    if args.normalization:
        values["scorer_options"] = {"normalization": args.normalization}
    values.update({k: v for k, v in (("format", args.format), ("chat_template", args.chat_template or None),
                                     ("multiturn", args.multiturn or None),
                                     ("momentum_eta", args.momentum_eta)) if v is not None})
    generation = {k: v for k, v in (("max_new_tokens", args.max_new_tokens), ("temperature", args.temperature),
                                    ("n_samples", args.n_samples)) if v is not None}
    if generation:
        values["generation"] = generation
    values = apply_overrides(values, args.set)
    values["name"] = values.get("name") or f"{values['retriever']}-{values['shots']}shot"
    return run_config(values, where="command line")


def cmd_eval(args: argparse.Namespace) -> int:
    from iclkit.config import Variant
    from iclkit.pipeline import check_config

    config = _config_from_flags(args)
    check_config(config)
    _run_variants(config.name, [Variant(config, (config.seed,))], out=None)
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from iclkit.config import load_experiment

    name, variants = load_experiment(args.config, args.overrides)
    _check_variants(args.config, variants)
    base_out = variants[0].config.out
    out = Path(base_out).parent if (base_out and len(variants) > 1) else None
    _run_variants(name, variants, out=out)
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from iclkit.config import load_experiment

    name, variants = load_experiment(args.config, args.overrides)
    _check_variants(args.config, variants)
    print(f"{args.config}: OK ({len(variants)} run(s) in experiment '{name}')")
    return 0


def _check_variants(path: str, variants) -> None:
    """Check every variant's names, options and task before the first one runs: a typo in the last variant must
    not surface an hour into the experiment. Errors name the config file (and the variant)."""
    from iclkit.errors import IclkitError
    from iclkit.generation import Sampling, build_format, is_generation, resolve_gen_task
    from iclkit.pipeline import check_config, resolve_task

    for i, v in enumerate(variants):
        try:
            check_config(v.config)
            if is_generation(v.config):
                build_format(v.config, resolve_gen_task(v.config), None, Sampling.from_config(v.config.generation))
            else:
                resolve_task(v.config)
        except IclkitError as exc:
            where = f"{path} variants[{i}]" if len(variants) > 1 else path
            raise IclkitError(f"{where}: {exc}") from None


def _run_variants(name: str, variants, *, out: Path | None) -> None:
    import dataclasses

    from rich.console import Console

    from iclkit.evaluate.report import results_table, row_from_summary, seed_aggregate
    from iclkit.pipeline import run

    console = Console(width=max(140, Console().width))
    lms: dict[str, Any] = {}  # one model load per experiment
    rows = []
    for variant in variants:
        summaries = []
        for seed in variant.seeds:
            config = variant.config
            if len(variant.seeds) > 1:
                out_dir = Path(config.out) / f"seed{seed}" if config.out else None
                config = dataclasses.replace(config, seed=seed, out=str(out_dir) if out_dir else None)
            console.rule(f"{config.name} (seed {config.seed})")
            with _progress_bar(console) as progress:
                bar = progress.add_task("scoring", total=None)
                result = run(config, lm=lms.get(_lm_key(config)), log=console.print,
                             on_progress=lambda done, total, bar=bar: progress.update(bar, completed=done, total=total))
            if result.lm is not None:
                lms[_lm_key(config)] = result.lm
            summaries.append(result.summary)
            if result.summary.get("kind") == "generation":
                m = result.summary["metrics"]
                console.print(f"exact match {m['exact_match']['value']:.4f}, token F1 {m['token_f1']['value']:.4f}, "
                              f"unparseable {m['unparseable']} (n={result.summary['n']}) → {result.run_dir}")
                rows.append({"name": config.name, "n": result.summary["n"], "accuracy": m["exact_match"]})
                continue
            console.print(f"accuracy {result.summary['metrics']['accuracy']['value']:.4f} "
                          f"(n={result.summary['n']}) → {result.run_dir}")
        if not summaries or summaries[-1].get("kind") == "generation":
            continue
        if len(summaries) == 1:
            rows.append(row_from_summary(summaries[0], variant.config.name))
        else:
            rows.append({"name": variant.config.name, **seed_aggregate(summaries)})
    console.print(results_table(rows, title=name))
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "results.json").write_text(json.dumps(rows, indent=2))
        console.print(f"table written to {out / 'results.json'}")


def _progress_bar(console):
    """Done/total, examples per second and the ETA (rich estimates both from the last two minutes of chunks)."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    class ExamplesPerSecond(ProgressColumn):
        def render(self, task) -> Text:
            speed = task.finished_speed or task.speed
            return Text("– ex/s" if speed is None else f"{speed:.2f} ex/s", style="progress.data.speed")

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), ExamplesPerSecond(),
                    TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), console=console, transient=True,
                    speed_estimate_period=120.0)


def _lm_key(config) -> tuple:
    return (config.backend, tuple(sorted(config.backend_options.items())), config.model, config.device,
            config.max_length, config.batch_size)



def _seed_or_none(text: str) -> int | None:
    return None if text.lower() in ("none", "null") else int(text)
