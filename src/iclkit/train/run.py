"""Warmup runs: tasks or raw text → a warmup builder → the trainer → a model folder ``iclkit eval`` loads.

This is the one place that wires ``data`` (task loading), the builders and the trainer for ``iclkit warmup``.
Training and evaluation tasks must be disjoint (the point of warmup is *general* ICL ability): an overlap of task
names, or training inputs that occur verbatim in an evaluation task's evaluation split, is refused unless
``allow_overlap`` is set, and then reported as a warning.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from iclkit.errors import IclkitError
from iclkit.train.examples import TrainExample
from iclkit.train.trainer import TrainConfig, TrainResult

METHODS = ("metaicl", "icl-tuning", "instruct", "selfsup", "symbol")
# The held-out split of the issue: meta-train on these, evaluate on DEFAULT_EVAL_TASKS.
DEFAULT_TRAIN_TASKS = ("trec", "rte", "sst5", "cb")
DEFAULT_EVAL_TASKS = ("sst2", "mr", "subj", "agnews")


@dataclass(frozen=True)
class WarmupConfig:
    """What to build and how to train. ``shots=0`` is the no-demonstration control."""

    method: str
    model: str
    train: TrainConfig
    tasks: tuple[str, ...] = DEFAULT_TRAIN_TASKS
    eval_tasks: tuple[str, ...] = DEFAULT_EVAL_TASKS
    allow_overlap: bool = False
    shots: int = 4
    per_task: int = 500
    channel: bool = False
    corpus: str | None = None
    objectives: tuple[str, ...] = field(default=("nsg", "mwp", "lpp", "cls"))


def _load_tasks(names: Sequence[str]):
    from iclkit.data.loaders import load_split
    from iclkit.data.tasks import load_task
    from iclkit.train.warmup import TaskData

    out = []
    for name in names:
        spec = load_task(name)
        out.append(TaskData(spec, tuple(load_split(spec, "train"))))
    return out


def check_overlap(config: WarmupConfig, train_inputs: set[str]) -> list[str]:
    """Problems with the train/eval split (shared task names, training inputs found in evaluation sets)."""
    from iclkit.data.loaders import load_split
    from iclkit.data.tasks import load_task

    problems = []
    shared = sorted(set(config.tasks) & set(config.eval_tasks)) if config.method != "selfsup" else []
    if shared:
        problems.append(f"training tasks {shared} are also evaluation tasks")
    for name in config.eval_tasks:
        spec = load_task(name)
        inputs = {" ".join(ex.fields[f] for f in spec.input_fields) for ex in load_split(spec, "eval")}
        leaked = len(inputs & train_inputs)
        if leaked:
            problems.append(f"{leaked} training input(s) occur verbatim in {name}'s evaluation split")
    return problems


def build_examples(config: WarmupConfig) -> tuple[list[TrainExample], set[str]]:
    """The training examples of ``config.method`` and the raw inputs they were built from (for the overlap check)."""
    if config.method not in METHODS:
        from iclkit.errors import unknown_name

        raise unknown_name("warmup method", config.method, METHODS)
    if config.method == "selfsup":
        from iclkit.train.selfsup import build_selfsup, read_corpus

        n = config.train.steps * config.train.batch_size
        examples = build_selfsup(read_corpus(config.corpus), shots=config.shots, n_examples=n, seed=config.train.seed,
                                 objectives=config.objectives)
        return examples, set()
    from iclkit.train.warmup import TASK_BUILDERS, input_text

    tasks = _load_tasks(config.tasks)
    examples = TASK_BUILDERS[config.method](tasks, shots=config.shots, per_task=config.per_task,
                                            seed=config.train.seed, channel=config.channel)
    inputs = {input_text(t.spec, ex) for t in tasks for ex in t.pool}
    return examples, inputs


def run_warmup(config: WarmupConfig, *, model=None, tokenizer=None) -> TrainResult:
    """Build the data, check the split, train, and save ``<out>/model`` (plus ``data_sample.jsonl``)."""
    examples, inputs = build_examples(config)
    problems = check_overlap(config, inputs)
    if problems and not config.allow_overlap:
        raise IclkitError("train/eval overlap: " + "; ".join(problems) + " (pick disjoint --tasks/--eval-tasks, "
                          "or pass --allow-overlap to train anyway)")
    for problem in problems:
        warnings.warn(f"train/eval overlap allowed: {problem}", stacklevel=2)
    if model is None:
        from iclkit.train.model import load_for_training

        model, tokenizer = load_for_training(config.model)
    out = Path(config.train.out)
    out.mkdir(parents=True, exist_ok=True)
    if os.environ.get("RANK", "0") == "0":  # one writer under accelerate launch
        _write_sample(out / "data_sample.jsonl", examples)
    from iclkit.train.trainer import Trainer

    identity = {"model": config.model, "method": config.method, "channel": config.channel, "shots": config.shots}
    return Trainer(model, tokenizer, examples, config.train, identity=identity).train()


def _write_sample(path: Path, examples: Sequence[TrainExample]) -> None:
    with path.open("w") as fh:
        for ex in examples[:20]:
            fh.write(json.dumps({"task": ex.task, "context": ex.context, "target": ex.target}) + "\n")
