"""The one trainer every warmup method uses: accelerate (1 CPU ... many GPUs, DDP, or FSDP on GPUs from the accelerate
config), peft LoRA by default or full fine-tuning, gradient accumulation, crash-safe checkpoints, JSONL metrics.

Data order is a pure function of (seed, step): step ``s`` trains on global positions ``s*B ... s*B+B-1`` of a
sequence of seeded per-epoch permutations, so a resumed run sees exactly the examples the crashed run would have.
The global batch ``B`` is split into micro-batches across processes and accumulation steps in a fixed way, and the
loss is the mean over the ``B`` examples of their per-example mean target-token loss, whatever the process count:
``accelerate launch --num_processes 2`` with the same ``batch_size`` follows the same loss curve as one process.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from iclkit.errors import IclkitError
from iclkit.train import checkpoint, full_state
from iclkit.train.examples import EncodedExample, TrainExample, encode_examples, fingerprint
from iclkit.train.model import DEFAULT_LORA_TARGETS, apply_lora, save_model


@dataclass(frozen=True)
class TrainConfig:
    """Training settings. ``batch_size`` is the global batch (examples per optimizer step, all processes together);
    each process runs ``micro_batch_size`` examples per forward and accumulates the rest."""

    out: str
    steps: int = 100
    batch_size: int = 8
    micro_batch_size: int = 1
    lr: float = 1e-4
    weight_decay: float = 0.0
    warmup_steps: int = 0
    max_grad_norm: float = 1.0
    max_length: int = 1024
    seed: int = 0
    lora: bool = True
    lora_rank: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.0
    lora_targets: tuple[str, ...] = DEFAULT_LORA_TARGETS
    save_every: int = 50
    keep_checkpoints: int = 2
    report_to: tuple[str, ...] = ()
    progress: bool = True
    resume: bool = True

    def identity(self) -> dict[str, Any]:
        """The settings a checkpoint must share with the run that resumes it (``steps`` may grow)."""
        keep = ("batch_size", "lr", "weight_decay", "warmup_steps", "max_length", "seed", "lora", "lora_rank",
                "lora_alpha", "lora_dropout", "lora_targets")
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items() if k in keep}


@dataclass(frozen=True)
class TrainResult:
    steps: int
    final_loss: float
    model_dir: Path | None
    metrics_path: Path


@lru_cache(maxsize=4)
def _epoch_order(seed: int, epoch: int, n: int) -> tuple[int, ...]:
    import numpy as np

    return tuple(int(i) for i in np.random.default_rng([seed, epoch]).permutation(n))


def global_batch(step: int, *, n: int, batch_size: int, seed: int) -> list[int]:
    """Example indices of optimizer step ``step`` (0-based): a pure function of its arguments."""
    start = step * batch_size
    return [_epoch_order(seed, (start + j) // n, n)[(start + j) % n] for j in range(batch_size)]


def accumulation_steps(config: TrainConfig, num_processes: int) -> int:
    per_step = config.micro_batch_size * num_processes
    if config.batch_size % per_step:
        raise IclkitError(f"--batch-size {config.batch_size} is not a multiple of --micro-batch-size "
                          f"{config.micro_batch_size} x {num_processes} process(es)")
    return config.batch_size // per_step


def check_launch(accelerator) -> None:
    """Refuse a launch that accelerate silently turned into another one.

    On a machine without GPUs, ``accelerate launch --multi_gpu`` or ``--use_fsdp`` without ``ACCELERATE_USE_CPU=1``
    starts processes that each set up a one-process run (each would train alone into the same ``--out``), and
    accelerate 1.15 selects FSDP only for GPUs and other accelerators: with ``ACCELERATE_USE_CPU=1`` it drops the
    FSDP plugin and runs DDP (``MULTI_CPU``), so nothing would be sharded.
    """
    import os

    from accelerate.utils import DistributedType

    launched = int(os.environ.get("WORLD_SIZE", "1"))
    if launched != accelerator.num_processes:
        raise IclkitError(f"launched as {launched} processes, but accelerate set up {accelerator.num_processes} "
                          f"({accelerator.distributed_type.value}); on a machine without GPUs set ACCELERATE_USE_CPU=1")
    fsdp_asked = os.environ.get("ACCELERATE_USE_FSDP", "false").lower() in ("1", "true")
    if fsdp_asked and accelerator.distributed_type != DistributedType.FSDP:
        raise IclkitError(f"FSDP was asked for (--use_fsdp or the accelerate config) but accelerate set up "
                          f"{accelerator.distributed_type.value}: accelerate selects FSDP on GPUs (and other "
                          "accelerators) only; on CPU processes launch with --multi_gpu instead (DDP)")


def _tracker_names(report_to: Sequence[str]) -> list[str]:
    import importlib.util

    for name in report_to:
        if name not in ("tensorboard", "wandb"):
            raise IclkitError(f"unknown --report-to '{name}'; known: tensorboard, wandb")
        if importlib.util.find_spec(name) is None:
            raise IclkitError(f"--report-to {name}: the '{name}' package is not installed (pip install {name})")
    return list(report_to)


class Trainer:
    """Runs :class:`TrainConfig` on a causal LM and a list of training examples.

    Args:
        model: a transformers causal LM (LoRA is added here when ``config.lora``).
        tokenizer: its tokenizer (needs a pad or EOS token).
        examples: the training data, from a warmup builder.
        config: the settings.
        identity: what else names this run in its checkpoints (model name, method); a mismatch refuses to resume.
        on_step: called as ``on_step(step, loss)`` after each optimizer step (tests use it to simulate a crash).
    """

    def __init__(self, model, tokenizer, examples: Sequence[TrainExample], config: TrainConfig, *,
                 identity: Mapping[str, Any] | None = None, on_step: Callable[[int, float], None] | None = None):
        from accelerate import Accelerator

        self.config = config
        self.out = Path(config.out)
        trackers = _tracker_names(config.report_to)
        self.accelerator = Accelerator(log_with=trackers or None, project_dir=str(self.out))
        check_launch(self.accelerator)
        self.accum = accumulation_steps(config, self.accelerator.num_processes)
        self.tokenizer = tokenizer
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self.data: list[EncodedExample] = encode_examples(tokenizer, examples, config.max_length)
        self.identity = {**config.identity(), **dict(identity or {}), "data": fingerprint(examples),
                         "n_examples": len(examples)}
        self.on_step = on_step
        self.model, self.optimizer, self.scheduler = self._prepare(model)
        if trackers:
            self.accelerator.init_trackers("iclkit", config=dataclasses.asdict(config))

    def _prepare(self, model):
        import torch
        from transformers import get_linear_schedule_with_warmup

        torch.manual_seed(self.config.seed)
        if self.config.lora:
            model = apply_lora(model, targets=self.config.lora_targets, rank=self.config.lora_rank,
                               alpha=self.config.lora_alpha, dropout=self.config.lora_dropout)
        model.train()
        params = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=self.config.lr, weight_decay=self.config.weight_decay)
        scheduler = get_linear_schedule_with_warmup(optimizer, self.config.warmup_steps, self.config.steps)
        model, optimizer = self.accelerator.prepare(model, optimizer)
        return model, optimizer, scheduler

    @property
    def is_main(self) -> bool:
        return self.accelerator.is_main_process

    @property
    def metrics_path(self) -> Path:
        return self.out / "metrics.jsonl"

    def train(self) -> TrainResult:
        """Train to ``config.steps`` (resuming from the newest checkpoint when there is one) and save the model."""
        start = self._resume()
        loss = self._last_logged_loss()
        with self._progress(start) as advance:
            for step in range(start, self.config.steps):
                began = time.perf_counter()
                loss, tokens, grad_norm = self._step(step)
                row = {"step": step + 1, "loss": loss, "lr": self.scheduler.get_last_lr()[0], "grad_norm": grad_norm,
                       "tokens": tokens, "tokens_per_s": tokens / max(time.perf_counter() - began, 1e-9),
                       "examples": global_batch(step, n=len(self.data), batch_size=self.config.batch_size,
                                                seed=self.config.seed)}
                self._log(row)
                advance(row)
                if (step + 1) % self.config.save_every == 0 or step + 1 == self.config.steps:
                    self._save_checkpoint(step + 1)
                if self.on_step is not None:
                    self.on_step(step + 1, loss)
        model_dir = self._save_final()
        self.accelerator.end_training()
        return TrainResult(self.config.steps, loss, model_dir, self.metrics_path)

    def _micro_batches(self, step: int) -> list[list[EncodedExample]]:
        """This process's micro-batches of ``step``: chunk ``m * P + rank`` of the global batch for micro step m."""
        indices = global_batch(step, n=len(self.data), batch_size=self.config.batch_size, seed=self.config.seed)
        size, procs, rank = self.config.micro_batch_size, self.accelerator.num_processes, self.accelerator.process_index
        chunks = [indices[c * size:(c + 1) * size] for c in range(len(indices) // size)]
        return [[self.data[i] for i in chunks[m * procs + rank]] for m in range(self.accum)]

    def _step(self, step: int) -> tuple[float, int, float]:
        import torch

        from iclkit.train.loss import collate, per_example_loss, to_device

        device = self.accelerator.device
        loss_sum = torch.zeros((), device=device)
        tokens = torch.zeros((), device=device)
        micro = self._micro_batches(step)
        for m, examples in enumerate(micro):
            batch = to_device(collate(examples, self.pad_id), device)
            sync = contextlib.nullcontext() if m == len(micro) - 1 else self.accelerator.no_sync(self.model)
            with sync:
                losses = per_example_loss(self.model, batch)
                self.accelerator.backward(losses.mean() / len(micro))
            loss_sum += losses.detach().sum()
            tokens += batch["attention_mask"].sum()
        grad_norm = self.accelerator.clip_grad_norm_(self.model.parameters(), self.config.max_grad_norm)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        totals = self.accelerator.reduce(torch.stack([loss_sum, tokens.float()]), reduction="sum")
        return float(totals[0]) / self.config.batch_size, int(totals[1]), float(grad_norm)

    def _log(self, row: dict[str, Any]) -> None:
        if self.is_main:
            self.metrics_path.parent.mkdir(parents=True, exist_ok=True)
            with self.metrics_path.open("a") as fh:
                fh.write(json.dumps(row) + "\n")
        if self.accelerator.trackers:
            self.accelerator.log({k: v for k, v in row.items() if k != "examples"}, step=row["step"])

    @contextlib.contextmanager
    def _progress(self, start: int):
        if not (self.is_main and self.config.progress):
            yield lambda row: None
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        columns = (TextColumn("train"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                   TextColumn("loss {task.fields[loss]:.4f}  {task.fields[tps]:.0f} tok/s"))
        with Progress(*columns) as progress:
            task = progress.add_task("train", total=self.config.steps, completed=start, loss=float("nan"), tps=0.0)
            yield lambda row: progress.update(task, advance=1, loss=row["loss"], tps=row["tokens_per_s"])

    @property
    def _torch_optimizer(self):
        """The torch optimizer inside accelerate's wrapper (what torch.distributed.checkpoint expects)."""
        return getattr(self.optimizer, "optimizer", self.optimizer)

    def _trainable_names(self) -> list[str]:
        return [n for n, p in self.accelerator.unwrap_model(self.model).named_parameters() if p.requires_grad]

    def _save_checkpoint(self, step: int) -> None:
        import torch

        # both gather FSDP shards (collectives: every process takes part); the plain state dicts otherwise
        full = self.accelerator.get_state_dict(self.model)
        optimizer_state = full_state.gather_optimizer_state(self.model, self._torch_optimizer)
        if self.is_main:
            trainable = {n: full[n].detach().cpu() for n in self._trainable_names()}
            state = {"optimizer": optimizer_state, "scheduler": self.scheduler.state_dict(),
                     "torch_rng": torch.get_rng_state()}
            checkpoint.save_checkpoint(self.out, step, trainable=trainable, training_state=state,
                                       identity=self.identity, keep=self.config.keep_checkpoints)
        self.accelerator.wait_for_everyone()

    def _resume(self) -> int:
        """Load the newest checkpoint (if any and ``config.resume``); returns the step to continue from."""
        import shutil

        import torch

        if not self.config.resume:
            if self.is_main:
                shutil.rmtree(checkpoint.checkpoints_dir(self.out), ignore_errors=True)
                self.metrics_path.unlink(missing_ok=True)
            self.accelerator.wait_for_everyone()
            return 0
        folder = checkpoint.latest_checkpoint(self.out)
        if folder is None:
            return 0
        step, trainable, state = checkpoint.load_checkpoint(folder, self.identity)
        missing = set(self._trainable_names()) - set(trainable)
        if missing:
            raise IclkitError(f"checkpoint {folder} lacks trainable parameters such as {min(missing)}")
        full_state.load_parameters(self.model, trainable)
        full_state.load_optimizer_state(self.model, self._torch_optimizer, state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["torch_rng"])
        if self.is_main:
            self._truncate_metrics(step)
        return step

    def _last_logged_loss(self) -> float:
        """The loss of the newest metrics row (what a resumed, already finished run reports), else NaN."""
        if not self.metrics_path.exists():
            return float("nan")
        rows = [ln for ln in self.metrics_path.read_text().splitlines() if ln.strip()]
        return float(json.loads(rows[-1])["loss"]) if rows else float("nan")

    def _truncate_metrics(self, step: int) -> None:
        """Drop metric rows logged after the checkpoint (the crashed run's steps that are about to be redone)."""
        if self.metrics_path.exists():
            rows = [ln for ln in self.metrics_path.read_text().splitlines() if ln and json.loads(ln)["step"] <= step]
            self.metrics_path.write_text("".join(r + "\n" for r in rows))

    def _save_final(self) -> Path | None:
        model_dir = self.out / "model"
        if self.is_main:
            info = {"identity": self.identity, "config": dataclasses.asdict(self.config)}
            save_model(self.accelerator.unwrap_model(self.model), self.tokenizer, model_dir, info)
        self.accelerator.wait_for_everyone()
        return model_dir if self.is_main else None
