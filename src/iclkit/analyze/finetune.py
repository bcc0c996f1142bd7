"""The FT baseline of Dai et al. (spec §2): SGD on the attention key/value projections only.

Batch size 1, one step per demonstration in ICL order, no shuffling, constant learning rate, no momentum, weight
decay or clipping. The loss is the mean causal-LM NLL over every target token of the formatted demonstration
(all tokens after the first: template, input and label). The model runs in ``eval()`` mode (dropout off; the
released code trains in ``train()`` mode with dropout 0, which is the same computation). fp32 throughout, so there
is no loss scaling and no skipped step.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from iclkit.analyze.hooks import attention_layers
from iclkit.errors import IclkitError

KV_NAMES = ("k_proj", "v_proj")


def kv_parameters(model: torch.nn.Module) -> dict[str, torch.nn.Parameter]:
    """Weights and biases (where present) of every attention layer's key and value projections, by name."""
    attention_layers(model)  # a clear error for an unhookable architecture
    params = {name: p for name, p in model.named_parameters()
              if any(f".{k}." in f".{name}" for k in KV_NAMES) and "self_attn" in name}
    if not params:
        raise IclkitError(f"model class {type(model).__name__} has no self_attn k_proj/v_proj parameters to fine-tune")
    return params


def kv_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A copy of the key/value parameters, to restore the pretrained model after fine-tuning."""
    return {name: p.detach().clone() for name, p in kv_parameters(model).items()}


def restore_kv(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> None:
    with torch.no_grad():
        for name, p in kv_parameters(model).items():
            p.copy_(state[name])


def sequence_loss(model: torch.nn.Module, ids: Sequence[int]) -> torch.Tensor:
    """Mean token NLL of ``ids[1:]`` given the preceding tokens (the first token is never a target)."""
    x = torch.tensor([list(ids)], device=next(model.parameters()).device)
    logits = model(input_ids=x).logits[0, :-1].float()
    return torch.nn.functional.cross_entropy(logits, x[0, 1:])


def finetune_kv(model: torch.nn.Module, sequences: Sequence[Sequence[int]], lr: float, *,
                before_step: Callable[[int], None] | None = None) -> list[float]:
    """One SGD step per sequence, in order, on the key/value projections; returns the losses.

    ``before_step(i)`` runs after step i's forward (the hooks have seen the pre-update model) and before its update.
    Only the key/value parameters require gradients during the call; the flags are restored afterwards.
    """
    params = kv_parameters(model)
    flags = {name: p.requires_grad for name, p in model.named_parameters()}
    for name, p in model.named_parameters():
        p.requires_grad_(name in params)
    optimizer = torch.optim.SGD(list(params.values()), lr=lr, momentum=0.0, weight_decay=0.0)
    model.eval()
    losses = []
    try:
        for i, ids in enumerate(sequences):
            optimizer.zero_grad(set_to_none=True)
            loss = sequence_loss(model, ids)
            loss.backward()
            if before_step is not None:
                before_step(i)
            optimizer.step()
            losses.append(float(loss.detach()))
    finally:
        optimizer.zero_grad(set_to_none=True)
        for name, p in model.named_parameters():
            p.requires_grad_(flags[name])
    return losses


def is_finite(model: torch.nn.Module) -> bool:
    """False once fine-tuning has diverged (a NaN/inf key or value weight)."""
    return all(bool(torch.isfinite(p).all()) for p in kv_parameters(model).values())
