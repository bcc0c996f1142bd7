"""Warmup runs: tasks or raw text → a warmup builder → the trainer → a model folder ``iclkit eval`` loads.

This is the one place that wires ``data`` (task loading), the builders and the trainer for ``iclkit warmup``.
Training and evaluation tasks must be disjoint (the point of warmup is *general* ICL ability): shared task names
are refused unless ``allow_overlap`` is set (then a warning), and training inputs that occur verbatim in an
evaluation task's evaluation split are removed from the training pools (with a warning saying how many).
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
    label_loss: str = "lm"  # icl-tuning: "restricted" = softmax over the verbalizer tokens (Chen et al.)
    templates: int = 1  # icl-tuning: templates drawn from per query (the task's own + generic ones)
    instruct_share: float = 0.0  # symbol: share of prompts replaced by instruction-tuning prompts (Wei et al.)

    def method_options(self) -> dict:
        """The options set away from their defaults, each refused unless this method takes it."""
        options = {k: getattr(self, k) for k in METHOD_OPTIONS
                   if getattr(self, k) != WarmupConfig.__dataclass_fields__[k].default}
        for key in options:
            if METHOD_OPTIONS[key] != self.method:
                raise IclkitError(f"--{key.replace('_', '-')} applies to --method {METHOD_OPTIONS[key]} only, "
                                  f"not to {self.method}")
        return options


# The builder options that belong to one method (keyword arguments of its builder).
METHOD_OPTIONS = {"label_loss": "icl-tuning", "templates": "icl-tuning", "instruct_share": "symbol"}


def _eval_inputs(names: Sequence[str]) -> set[str]:
    """The raw inputs of the evaluation tasks' evaluation splits."""
    from iclkit.data.loaders import load_split
    from iclkit.data.tasks import load_task
    from iclkit.train.warmup import input_text

    inputs: set[str] = set()
    for name in names:
        spec = load_task(name)
        inputs |= {input_text(spec, ex) for ex in load_split(spec, "eval")}
    return inputs


def load_train_tasks(names: Sequence[str], exclude: set[str]) -> tuple[list, dict[str, int]]:
    """Training pools of ``names`` without the examples whose input is in ``exclude``; also how many were dropped.

    SST-5 is built from the same Rotten Tomatoes sentences as MR and Subj: without this filter hundreds of MR/Subj
    test sentences would be training inputs of the issue's example split.
    """
    from iclkit.data.loaders import load_split
    from iclkit.data.tasks import load_task
    from iclkit.train.warmup import TaskData, input_text

    tasks, dropped = [], {}
    for name in names:
        spec = load_task(name)
        pool = load_split(spec, "train")
        kept = tuple(ex for ex in pool if input_text(spec, ex) not in exclude)
        if len(kept) < len(pool):
            dropped[name] = len(pool) - len(kept)
        tasks.append(TaskData(spec, kept))
    return tasks, dropped


def check_task_overlap(config: WarmupConfig) -> None:
    """Refuse training tasks that are also evaluation tasks (a warning with ``allow_overlap``)."""
    shared = sorted(set(config.tasks) & set(config.eval_tasks)) if config.method != "selfsup" else []
    if not shared:
        return
    message = f"training tasks {shared} are also evaluation tasks"
    if not config.allow_overlap:
        raise IclkitError(f"train/eval overlap: {message} (pick disjoint --tasks/--eval-tasks, "
                          "or pass --allow-overlap to train anyway)")
    warnings.warn(f"train/eval overlap allowed: {message}", stacklevel=3)


def build_examples(config: WarmupConfig) -> list[TrainExample]:
    """The training examples of ``config.method``. Training inputs that occur verbatim in an evaluation task's
    evaluation split are removed first (reported as a warning), unless ``allow_overlap``."""
    if config.method not in METHODS:
        from iclkit.errors import unknown_name

        raise unknown_name("warmup method", config.method, METHODS)
    options = config.method_options()  # before any loading: a flag of another method fails fast, selfsup included
    if config.method == "selfsup":
        from iclkit.train.selfsup import build_selfsup, read_corpus

        n = config.train.steps * config.train.batch_size
        return build_selfsup(read_corpus(config.corpus), shots=config.shots, n_examples=n, seed=config.train.seed,
                             objectives=config.objectives)
    from iclkit.train.warmup import TASK_BUILDERS

    exclude = set() if config.allow_overlap else _eval_inputs(config.eval_tasks)
    tasks, dropped = load_train_tasks(config.tasks, exclude)
    if dropped:
        detail = ", ".join(f"{n} from {name}" for name, n in dropped.items())
        warnings.warn(f"removed training examples whose text occurs in the evaluation sets of "
                      f"{', '.join(config.eval_tasks)}: {detail}", stacklevel=2)
    return TASK_BUILDERS[config.method](tasks, shots=config.shots, per_task=config.per_task,
                                        seed=config.train.seed, channel=config.channel, **options)


def run_warmup(config: WarmupConfig, *, model=None, tokenizer=None) -> TrainResult:
    """Build the data, check the split, train, and save ``<out>/model`` (plus ``data_sample.jsonl``)."""
    check_task_overlap(config)
    examples = build_examples(config)
    if model is None:
        from iclkit.train.model import load_for_training

        model, tokenizer = load_for_training(config.model)
    out = Path(config.train.out)
    out.mkdir(parents=True, exist_ok=True)
    if os.environ.get("RANK", "0") == "0":  # one writer under accelerate launch
        _write_sample(out / "data_sample.jsonl", examples)
    from iclkit.train.trainer import Trainer

    identity = {"model": config.model, "method": config.method, "channel": config.channel, "shots": config.shots,
                **config.method_options()}
    return Trainer(model, tokenizer, examples, config.train, identity=identity).train()


def _write_sample(path: Path, examples: Sequence[TrainExample]) -> None:
    with path.open("w") as fh:
        for ex in examples[:20]:
            record = {"task": ex.task, "context": ex.context, "target": ex.target}
            if ex.choices:  # the restricted loss's candidates
                record["choices"] = list(ex.choices)
            fh.write(json.dumps(record) + "\n")
