"""``iclkit tasks`` and ``iclkit models``: what is built in."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("tasks", help="list the built-in tasks")
    p.set_defaults(handler=list_tasks)
    p = sub.add_parser("models", help="list the embedded models (any HF id or local path also works)")
    p.set_defaults(handler=list_models)


def list_tasks(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from iclkit.data.tasks import load_task, task_names

    table = Table(title="built-in tasks")
    for col in ("task", "inputs", "labels → words", "template"):
        table.add_column(col)
    for name in task_names():
        t = load_task(name)
        words = ", ".join(f"{lab}→{t.verbalizer[lab]}" for lab in t.labels)
        table.add_row(name, ", ".join(t.input_fields), words, repr(t.template.input + t.template.answer))
    Console().print(table)
    from iclkit.data.reasoning import GENERATOR_OPTIONS

    gen = Table(title="generated reasoning tasks (question → answer; use with --format)")
    gen.add_column("task")
    gen.add_column("options (--set task_options.KEY=VALUE; also n_pool, n_eval, seed, pool_<option>)")
    for name, options in GENERATOR_OPTIONS.items():
        gen.add_row(name, ", ".join(f"{k}={v}" for k, v in options.items()) or "n_distractors=2")
    Console().print(gen)
    return 0


def list_models(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from iclkit.lm.models import DEFAULT_MODEL, EMBEDDED

    table = Table(title="embedded models (converted from GGUF on first use, then cached)")
    table.add_column("name")
    table.add_column("description")
    for name, model in EMBEDDED.items():
        table.add_row(name + (" (default)" if name == DEFAULT_MODEL else ""), model.description)
    Console().print(table)
    print("Any HuggingFace causal LM id or local folder also works as --model.")
    return 0
