"""The whole (unsharded) optimizer and parameter state of a model that may be replicated (one process, DDP) or
sharded across processes (FSDP), through ``torch.distributed.checkpoint.state_dict``.

Under FSDP each process holds a shard of every parameter and of its optimizer state, so ``optimizer.state_dict()``
on the main process is a fraction of the state (and made of DTensors a single process cannot load). The functions
here gather the full state keyed by parameter name, which one process, DDP and FSDP runs can all load back: a
checkpoint does not tie a run to the process count or parallelism it was written with. They also work without a
process group (one plain process), where they reduce to the optimizer's and model's own state dicts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def _full_options(**extra: bool):
    from torch.distributed.checkpoint.state_dict import StateDictOptions

    return StateDictOptions(full_state_dict=True, **extra)


def gather_optimizer_state(model, optimizer) -> dict[str, Any]:
    """The whole optimizer state, keyed by parameter name, in CPU memory on the main process (``{}`` elsewhere).

    A collective under FSDP: every process must call it. ``model`` is the prepared (possibly wrapped) model and
    ``optimizer`` the plain torch optimizer over its parameters.
    """
    from torch.distributed.checkpoint.state_dict import get_optimizer_state_dict

    # cpu_offload keeps the gathered copy off the accelerator and only on rank 0, the one that writes it
    return get_optimizer_state_dict(model, optimizer, options=_full_options(cpu_offload=True))


def is_by_name(saved: Mapping[str, Any]) -> bool:
    """Whether an optimizer state is keyed by parameter name (``gather_optimizer_state``), not by position."""
    params = [p for group in saved.get("param_groups", ()) for p in group.get("params", ())]
    return bool(params) and all(isinstance(p, str) for p in params)


def load_optimizer_state(model, optimizer, saved: Mapping[str, Any]) -> None:
    """Load a full optimizer state into this process's optimizer, sharding it as the model is sharded.

    Every process passes the whole state (each reads the checkpoint itself), so nothing is broadcast. A state keyed
    by position (``optimizer.state_dict()``, what checkpoints held before) is loaded as it is: such checkpoints
    were written by one process or DDP, whose optimizers are not sharded.
    """
    if not is_by_name(saved):
        optimizer.load_state_dict(dict(saved))
        return
    from torch.distributed.checkpoint.state_dict import set_optimizer_state_dict

    set_optimizer_state_dict(model, optimizer, dict(saved), options=_full_options())


def load_parameters(model, tensors: Mapping[str, Any]) -> None:
    """Copy full tensors (a subset of the parameters, by name) into the model, into each process's shard under FSDP,
    where ``module.load_state_dict`` cannot copy a full tensor into a sharded parameter."""
    from torch.distributed.checkpoint.state_dict import set_model_state_dict

    set_model_state_dict(model, dict(tensors), options=_full_options(strict=False))
