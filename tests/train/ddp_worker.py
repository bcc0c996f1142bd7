"""Run by test_distributed.py, once plainly and once under ``accelerate launch --cpu --num_processes 2``:
trains the tiny model on the copy task with a fixed global batch and writes metrics to the given folder
(arguments: folder, micro-batch size, and optionally a step after which to checkpoint and crash; a second run
into the same folder resumes from that checkpoint)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from iclkit.data.tasks import load_task
from iclkit.testing import tiny_llama, tiny_tokenizer
from iclkit.train.trainer import TrainConfig, Trainer
from iclkit.train.warmup import TaskData, build_metaicl
from iclkit.types import Example


def main(out: str, micro_batch_size: int, crash_after: int = 0) -> None:
    pool = tuple(Example(str(i), {"text": f"item {i} is {'good' if i % 2 else 'bad'}"},
                         "positive" if i % 2 else "negative") for i in range(24))
    examples = build_metaicl([TaskData(load_task("sst2"), pool)], shots=2, per_task=24, seed=0)
    config = TrainConfig(out=out, steps=4, batch_size=4, micro_batch_size=micro_batch_size, lr=1e-2,
                         save_every=crash_after or 100, progress=False, lora=False)

    def crash(step: int, loss: float) -> None:
        if step == crash_after:
            raise RuntimeError("simulated crash")

    trainer = Trainer(tiny_llama(), tiny_tokenizer(), examples, config, on_step=crash)
    trainer.train()
    if trainer.accelerator.is_main_process:
        info = {"num_processes": trainer.accelerator.num_processes, "accumulation": trainer.accum,
                "distributed_type": trainer.accelerator.distributed_type.value}
        Path(out, "launch.json").write_text(json.dumps(info))


if __name__ == "__main__":
    main(sys.argv[1], *(int(a) for a in sys.argv[2:]))
