"""One forward pass per batch of rows that both scores the candidate labels and records the attention quantities.

A row is a full token sequence (context + option 0's continuation). The log-probability of its own continuation is
read off the logits; single-token alternatives (the other labels, when every verbalizer is one token) are read at
the last context position, as Dai et al.'s single-token shortcut does, so one forward serves every label. Rows
after a shared prefix (the ICL demonstrations) run against that prefix's KV cache, computed once: the "engine's
shared-prefix cache" reuse. Rows of a batch are right-padded, so every real token keeps its position and mask.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from iclkit.analyze.hooks import Recorder, RowSpec


@dataclass(frozen=True)
class Row:
    """``tokens[n_ctx:]`` is the scored continuation; ``position``/``key_start`` locate p* and the query segment
    (indices into ``tokens``); ``alternatives`` are single-token continuations scored at ``n_ctx - 1``."""

    tokens: tuple[int, ...]
    n_ctx: int
    position: int
    key_start: int
    alternatives: tuple[int, ...] = ()
    record: bool = True


@dataclass
class PassOutput:
    logprob: list[float] = field(default_factory=list)  # own continuation, summed over its tokens
    n_tokens: list[int] = field(default_factory=list)
    alternatives: list[list[float]] = field(default_factory=list)
    out: list[np.ndarray] = field(default_factory=list)  # per recorded row (L, d)
    q: list[np.ndarray] = field(default_factory=list)  # (L, H*hd)
    scores: list[np.ndarray] = field(default_factory=list)  # (L, H, n)
    ctx: list[np.ndarray] = field(default_factory=list)  # (L, n_prefix)


@dataclass
class Prefix:
    """A cached shared prefix: its length, a function giving a cache for ``rows`` rows, and its RoPE'd keys."""

    length: int
    fork: Callable[[int], object]
    keys: list[torch.Tensor]


def run_prefix(model: torch.nn.Module, tokens: Sequence[int], fork: Callable[[object, int], object]) -> Prefix:
    """Run ``tokens`` once, keeping the KV cache and every layer's RoPE'd keys (for scores to demonstrations)."""
    device = next(model.parameters()).device
    with Recorder(model, keep_keys=True) as rec, torch.inference_mode():
        decoder = getattr(model, model.base_model_prefix, model)
        out = decoder(input_ids=torch.tensor([list(tokens)], device=device), use_cache=True)
        keys = list(rec.keys)
    cache = out.past_key_values
    return Prefix(len(tokens), lambda rows: fork(cache, rows), keys)


def run_rows(model: torch.nn.Module, rows: Sequence[Row], *, prefix: Prefix | None = None, batch_size: int = 8,
             record: bool = True, pad_id: int = 0, progress: Callable[[int], None] | None = None) -> PassOutput:
    """Score (and record at) every row; rows must all start with the prefix's tokens when one is given.

    Rows are batched by length (less padding, and fewer logit positions: the LM head is a quarter of a small
    model's cost per position); the output keeps the order of ``rows``."""
    n_prefix = prefix.length if prefix else 0
    recorder = Recorder(model, context_keys=prefix.keys if prefix and record else None,
                        context_positions=torch.arange(n_prefix) if prefix else None)
    order = sorted(range(len(rows)), key=lambda i: len(rows[i].tokens))
    scored: dict[int, tuple] = {}
    recorded: dict[int, tuple] = {}
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            index = order[start : start + batch_size]
            batch = [rows[i] for i in index]
            if record:
                with recorder:
                    logits, at = _forward(model, batch, n_prefix, prefix, pad_id, recorder)
                recorded.update(zip(index, _records(recorder.take(), len(batch))))
            else:
                logits, at = _forward(model, batch, n_prefix, prefix, pad_id, None)
            scored.update(zip(index, _scores(logits, at, batch, n_prefix)))
            if progress:
                progress(len(batch))
    result = PassOutput()
    for i, row in enumerate(rows):
        logprob, n_tokens, alternatives = scored[i]
        result.logprob.append(logprob)
        result.n_tokens.append(n_tokens)
        result.alternatives.append(alternatives)
        if record and row.record:
            out, q, scores, ctx = recorded[i]
            result.out.append(out)
            result.q.append(q)
            result.scores.append(scores)
            if ctx is not None:
                result.ctx.append(ctx)
    return result


def _forward(model, batch: Sequence[Row], n_prefix: int, prefix: Prefix | None, pad_id: int,
             recorder: Recorder | None) -> tuple[torch.Tensor, dict[int, int]]:
    """Log-probabilities at the positions some row reads (the union over the batch) and where each position went."""
    device = next(model.parameters()).device
    width = max(len(r.tokens) for r in batch) - n_prefix
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(batch), n_prefix + width), dtype=torch.long)
    mask[:, :n_prefix] = 1
    for b, r in enumerate(batch):
        ids[b, : len(r.tokens) - n_prefix] = torch.tensor(r.tokens[n_prefix:])
        mask[b, n_prefix : len(r.tokens)] = 1
    positions = torch.arange(n_prefix, n_prefix + width).expand(len(batch), width)
    if recorder is not None:
        recorder.rows = [RowSpec(r.position - n_prefix, r.key_start - n_prefix) for r in batch]
        recorder.query_positions = positions
    read = sorted({p for r in batch for p in range(r.n_ctx - 1 - n_prefix, len(r.tokens) - 1 - n_prefix)})
    cache = prefix.fork(len(batch)) if prefix else None
    out = model(input_ids=ids.to(device), attention_mask=mask.to(device), position_ids=positions.to(device),
                past_key_values=cache, use_cache=prefix is not None,
                logits_to_keep=torch.tensor(read, device=device))
    return torch.log_softmax(out.logits.float(), dim=-1), {p: j for j, p in enumerate(read)}


def _scores(logprobs: torch.Tensor, at: dict[int, int], batch: Sequence[Row],
            n_prefix: int) -> list[tuple[float, int, list[float]]]:
    """(log-probability of the row's continuation, its length, single-token alternatives) per row."""
    result = []
    for b, r in enumerate(batch):
        first = r.n_ctx - 1 - n_prefix  # the last context position, in this forward's input
        targets = torch.tensor(r.tokens[r.n_ctx :])
        kept = torch.tensor([at[first + j] for j in range(len(targets))])
        result.append((float(logprobs[b, kept, targets].sum()), len(targets),
                       [float(logprobs[b, at[first], t]) for t in r.alternatives]))
    return result


def _records(rec: dict, n: int) -> list[tuple]:
    """(out, q, scores, ctx) of each of the batch's ``n`` rows."""
    ctx = rec.get("ctx")
    return [(rec["out"][b], rec["q"][b], rec["scores"][b], None if ctx is None else ctx[b]) for b in range(n)]
