"""Models for training: loading by iclkit name, LoRA through peft, and the final model folder ``iclkit eval`` loads."""

from __future__ import annotations

import json
import os
import shutil
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from iclkit.errors import IclkitError

DEFAULT_LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj")


def load_for_training(name: str):
    """(model, tokenizer) for an embedded name, hub id or local folder: fp32 on CPU, the checkpoint's dtype on GPU."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from iclkit.lm.models import resolve_model

    resolved = resolve_model(name)
    dtype = "auto" if torch.cuda.is_available() else torch.float32
    try:
        tokenizer = AutoTokenizer.from_pretrained(resolved.path)
        model = AutoModelForCausalLM.from_pretrained(resolved.path, dtype=dtype)
    except OSError as exc:
        raise IclkitError(f"cannot load model '{name}' from {resolved.path}: {exc}") from None
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


def linear_module_names(model) -> list[str]:
    """The distinct last-component names of the model's linear layers (what LoRA ``target_modules`` match)."""
    import torch

    return sorted({name.rsplit(".", 1)[-1] for name, mod in model.named_modules() if isinstance(mod, torch.nn.Linear)})


def apply_lora(model, *, targets: Sequence[str] = DEFAULT_LORA_TARGETS, rank: int = 8, alpha: int = 16,
               dropout: float = 0.0):
    """Wrap ``model`` with peft LoRA adapters on the linear layers named ``targets``.

    A target that matches no module is an error naming the model's linear layer names (peft's own message names
    neither the typo nor the alternatives).
    """
    from peft import LoraConfig, get_peft_model

    available = linear_module_names(model)
    missing = [t for t in targets if t not in available]
    if missing:
        raise IclkitError(f"LoRA target(s) {missing} match no linear module of {type(model).__name__}; "
                          f"its linear modules are: {', '.join(available)}")
    config = LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=dropout, target_modules=list(targets),
                        task_type="CAUSAL_LM")
    with warnings.catch_warnings():
        # peft 0.21 reads transformers' deprecated `is_gradient_checkpointing`; the warning is theirs, not the user's
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        return get_peft_model(model, config)


def trainable_state(model) -> dict[str, Any]:
    """The trainable parameters by name (the LoRA adapters, or every parameter in full fine-tuning)."""
    return {n: p.detach().cpu().clone() for n, p in model.named_parameters() if p.requires_grad}


def save_model(model, tokenizer, folder: Path, info: Mapping[str, Any]) -> Path:
    """Write a plain HF folder (LoRA merged into the weights) that ``from_pretrained`` and ``iclkit eval`` load.

    Written to a temporary sibling and renamed, so a crash never leaves a half-written model folder.
    """
    if hasattr(model, "merge_and_unload"):
        model = model.merge_and_unload()
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    (tmp / "iclkit_training.json").write_text(json.dumps(info, indent=2, default=str))
    if folder.exists():
        shutil.rmtree(folder)
    os.replace(tmp, folder)
    return folder
