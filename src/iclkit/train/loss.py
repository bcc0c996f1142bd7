"""Batches and the masked causal-LM loss of the warmup objectives (SPEC-icl-methods §E, MetaICL's ``run_model``).

Loss = mean over examples of (sum of target-token cross-entropy / number of target tokens); for examples with
``choice_ids`` (in-context tuning's restricted loss) the cross-entropy of the one target position is taken over the
choices' tokens only, not the vocabulary. Only the positions
that predict a target token go through the LM head (``logits_to_keep`` as a boolean mask), which saves most of the
head's cost on large vocabularies (Gemma-3-270M: 168M of its 268M parameters are the tied embedding/head).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from iclkit.train.examples import EncodedExample


def collate(batch: Sequence[EncodedExample], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-padded ``input_ids``/``attention_mask`` plus the loss mask.

    ``predicts_target[b, p]`` is True where position ``p`` predicts a target token (``p + 1`` is in the target span);
    ``targets`` holds those next tokens in row-major order and ``rows`` the example each belongs to.
    """
    width = max(len(ex.input_ids) for ex in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    attention = torch.zeros((len(batch), width), dtype=torch.long)
    predicts = torch.zeros((len(batch), width), dtype=torch.bool)
    for b, ex in enumerate(batch):
        n = len(ex.input_ids)
        ids[b, :n] = torch.tensor(ex.input_ids)
        attention[b, :n] = 1
        predicts[b, n - ex.n_target - 1:n - 1] = True
    next_ids = torch.roll(ids, shifts=-1, dims=1)
    rows = torch.arange(len(batch)).unsqueeze(1).expand_as(ids)
    out = {"input_ids": ids, "attention_mask": attention, "predicts_target": predicts,
           "targets": next_ids[predicts], "rows": rows[predicts]}
    restricted = [bool(ex.choice_ids) for ex in batch]
    if any(restricted):
        if not all(restricted):
            raise ValueError("a batch mixes restricted-loss and LM-loss examples")
        n_choices = max(len(ex.choice_ids) for ex in batch)
        out["choices"] = torch.zeros((len(batch), n_choices), dtype=torch.long)
        out["choice_mask"] = torch.zeros((len(batch), n_choices), dtype=torch.bool)
        for b, ex in enumerate(batch):
            out["choices"][b, :len(ex.choice_ids)] = torch.tensor(ex.choice_ids)
            out["choice_mask"][b, :len(ex.choice_ids)] = True
        out["gold"] = torch.tensor([ex.gold for ex in batch])
    return out


def per_example_loss(model, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Mean target-token cross-entropy of each example, shape ``[batch]`` (fp32)."""
    out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                logits_to_keep=batch["predicts_target"], use_cache=False)
    if "choices" in batch:  # one kept position per example (n_target is 1)
        logits = out.logits.float().gather(1, batch["choices"])
        logits = logits.masked_fill(~batch["choice_mask"], float("-inf"))
        return torch.nn.functional.cross_entropy(logits, batch["gold"], reduction="none")
    token_loss = torch.nn.functional.cross_entropy(out.logits.float(), batch["targets"], reduction="none")
    n_rows = batch["input_ids"].shape[0]
    sums = torch.zeros(n_rows, device=token_loss.device).index_add(0, batch["rows"], token_loss)
    counts = torch.zeros(n_rows, device=token_loss.device).index_add(0, batch["rows"], torch.ones_like(token_loss))
    return sums / counts


def to_device(batch: dict[str, torch.Tensor], device) -> dict[str, torch.Tensor]:
    return {k: v.to(device) for k, v in batch.items()}
