"""Run by test_distributed.py, plainly (one process) and under ``torch.distributed.run --nproc_per_node 2`` (torch
FSDP2 ``fully_shard`` on CPU with gloo): trains the tiny model two steps, gathers the optimizer state and the
parameters with :mod:`iclkit.train.full_state` into ``<out>/state.pt``, restores them into a fresh, differently
initialised model (sharded the same way), trains both two more steps and records their losses in
``<out>/result.json`` (the fourth step's loss depends on the optimizer state restored). With a third argument, it restores from that ``state.pt`` instead (a run written by
another process count).

accelerate 1.15 does not select FSDP on CPU processes, so this drives torch's FSDP2 directly: it checks the
gathering and loading under real sharding, not the trainer's launch path.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import torch

from iclkit.testing import tiny_llama
from iclkit.train import full_state


def distributed() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def build(seed: int):
    model = tiny_llama(seed).train()
    if distributed():
        from torch.distributed.fsdp import fully_shard

        for layer in model.model.layers:
            fully_shard(layer)
        fully_shard(model)
    return model, torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.1)


def step(model, optimizer, batch: torch.Tensor) -> float:
    # every process takes the same whole batch, so FSDP's averaged gradient equals the one-process gradient
    loss = model(input_ids=batch, labels=batch).loss
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return float(loss.detach())


def main(out: str, load_from: str | None = None) -> None:
    import torch.distributed as dist
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    if distributed():
        dist.init_process_group("gloo")
    main_process = not distributed() or dist.get_rank() == 0
    batches = torch.randint(0, 100, (4, 4, 12), generator=torch.Generator().manual_seed(0))
    model, optimizer = build(seed=0)
    losses = [step(model, optimizer, batches[i]) for i in range(2)]
    gathered = full_state.gather_optimizer_state(model, optimizer)
    params = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    path = Path(out, "state.pt")
    if main_process:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"optimizer": gathered, "params": params}, path)
    if distributed():
        dist.barrier()
    saved = torch.load(load_from or path, weights_only=True)  # every process reads the whole state, as _resume does
    restored, restored_optimizer = build(seed=1)
    full_state.load_parameters(restored, saved["params"])
    full_state.load_optimizer_state(restored, restored_optimizer, saved["optimizer"])
    losses += [step(model, optimizer, batches[i]) for i in (2, 3)]
    restored_losses = [step(restored, restored_optimizer, batches[i]) for i in (2, 3)]
    weight = next(model.parameters())
    local = weight.to_local() if hasattr(weight, "to_local") else weight
    if main_process:
        info = {"world_size": dist.get_world_size() if distributed() else 1, "losses": losses,
                "restored_losses": restored_losses, "param_shape": list(weight.shape), "local_shape": list(local.shape)}
        Path(out, "result.json").write_text(json.dumps(info))
    if distributed():
        dist.destroy_process_group()


if __name__ == "__main__":
    main(*sys.argv[1:])
