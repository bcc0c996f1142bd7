"""Batched generation for the HF back-end, over the scoring engine's prefix KV cache.

* **Shared prefix once.** The longest token prefix common to a call's prompts (a fixed few-shot CoT prefix, an
  instruction) goes through :meth:`HFLM._prefix_cache`, the cache the scoring engine keeps between calls: it is run
  once per run, not once per prompt or per call.
* **Batched decoding.** The prompts' remaining tokens are left-padded into one batch that forks the prefix cache
  (copied once into a buffer with room for the whole generation, :class:`~iclkit.lm.kv_cache.ReservedLayer`, so a
  step writes its keys in place instead of concatenating the cache); each step feeds one token per row with
  explicit position ids, so every row sees exactly its own tokens at the positions they would have alone. Finished
  rows leave the batch (``Cache.batch_select_indices``), so long generations do not drag short ones along.
* **LM head as ``W @ h.T`` on CPU** (:class:`_TransposedHead`): for the few rows of a decoding batch MKL runs it
  faster than ``F.linear``, and a large-vocabulary head is most of a decoding step.
* **Seeded sampling per request.** A request with ``temperature > 0`` samples from its own ``torch.Generator``
  seeded with ``request.seed``: a sample does not depend on the batch it ran in.

Rows of any lengths batch together exactly, sliding-window layers included: masks are built per layer kind from
each row's real token positions (the scoring engine's :meth:`HFLM._attention_masks`), and sliding layers keep every
key of the batch, so padding never takes a place in a window.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch

from iclkit.errors import IclkitError
from iclkit.lm.base import GenRequest, cut_at_stop
from iclkit.lm.tree import common_prefix_len

MIN_SHARED_PREFIX = 16  # as the scoring engine: below this, recomputing is as cheap as forking a cache


@dataclass
class _Row:
    index: int
    request: GenRequest
    tokens: list[int]  # the prompt's tokens after the shared prefix
    budget: int  # new tokens allowed (max_new_tokens, capped by the context)
    new: list[int] = field(default_factory=list)
    generator: torch.Generator | None = None


@torch.inference_mode()
def generate_batched(lm, requests: Sequence[GenRequest]) -> list[str]:
    """Continuations of ``requests`` on an :class:`~iclkit.lm.hf.HFLM`, in order, cut before a stop string."""
    if not requests:
        return []
    if lm._fallback_naive:  # the scoring self-check found custom positions/masks unreliable for this architecture
        return generate_one_by_one(lm, requests)
    encoded = [lm._encode(r.context) or [lm._prefix_token] for r in requests]
    n_shared = _shared_length(encoded)
    cache = lm._prefix_cache(encoded[0][:n_shared]) if n_shared else None
    rows = [_row(lm, i, r, t, n_shared) for i, (r, t) in enumerate(zip(requests, encoded))]
    texts: list[str] = [""] * len(requests)
    with _transposed_head(lm):
        for batch in _batches(lm, rows):
            for row in _decode(lm, batch, cache, n_shared):
                texts[row.index] = cut_at_stop(_text(lm, row), row.request.stop)
    return texts


def _shared_length(encoded: list[list[int]]) -> int:
    n = len(encoded[0]) - 1  # keep at least one token per prompt to run, whose logits start the generation
    for tokens in encoded[1:]:
        n = min(n, common_prefix_len(encoded[0], tokens), len(tokens) - 1)
    return n if n >= MIN_SHARED_PREFIX else 0


def _row(lm, index: int, request: GenRequest, tokens: list[int], n_shared: int) -> _Row:
    room = lm.max_length - len(tokens)
    if room <= 0:
        raise IclkitError(f"prompt of {len(tokens)} tokens leaves no room to generate within the model's "
                          f"{lm.max_length} (prompt ending {request.context[-60:]!r})")
    generator = None
    if request.temperature > 0:
        generator = torch.Generator()  # on the CPU: the same samples on any device
        generator.manual_seed(request.seed if request.seed is not None else 0)
    return _Row(index, request, tokens[n_shared:], min(request.max_new_tokens, room), generator=generator)


def _batches(lm, rows: list[_Row]) -> list[list[_Row]]:
    """Rows of similar length together (less padding), ``lm.batch_size`` at most. Any lengths may share a batch:
    the masks are built from each row's real positions, sliding-window layers included (see :func:`_decode`)."""
    rows = sorted(rows, key=lambda r: len(r.tokens))
    return [rows[i : i + lm.batch_size] for i in range(0, len(rows), lm.batch_size)]


def _decode(lm, rows: list[_Row], prefix_cache, n_shared: int) -> list[_Row]:
    """Run one batch to completion; returns its rows with ``new`` filled.

    Rows are left-padded to the longest; every step passes explicit position ids and 4-D masks built from real
    positions (:meth:`HFLM._attention_masks`), so a row sees exactly the keys it would see alone, in every layer
    kind. Sliding-window layers keep all keys of the batch (``fork_cache(grow_sliding=True)``, or growing layers
    when there is no shared prefix) because the model's own sliding cache drops the oldest *slots*, which in a
    padded row are not the oldest tokens."""
    from transformers.cache_utils import DynamicCache

    from iclkit.lm.kv_cache import ReservedLayer, fork_cache

    width = max(len(r.tokens) for r in rows)
    pad = lm.tokenizer.pad_token_id if lm.tokenizer.pad_token_id is not None else lm._prefix_token
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    real = torch.zeros((len(rows), width), dtype=torch.bool)
    pos = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        n = len(row.tokens)
        ids[i, width - n:] = torch.tensor(row.tokens)
        real[i, width - n:] = True
        pos[i, width - n:] = torch.arange(n_shared, n_shared + n)
    room = width + max(r.budget for r in rows)  # every slot this batch can fill: decoding writes in place
    if prefix_cache is not None:
        cache = fork_cache(prefix_cache, len(rows), grow_sliding=True, reserve=room)
    else:
        cache = DynamicCache()  # no config: every layer grows, none drops keys
        cache.layer_class_to_replicate = lambda: ReservedLayer(room)
    k_pos, k_real = pos, real  # the batch's own key slots (after the prefix): positions, and not padding
    next_pos = pos[:, -1] + 1
    active = list(rows)
    eos = _eos_ids(lm)
    step_ids, q_pos, q_real = ids, pos, real
    while active:
        mask = lm._attention_masks(_causal(k_pos, k_real, q_pos, q_real), q_real, q_pos, k_pos, n_shared,
                                   cached=prefix_cache is not None)
        out = lm.model(input_ids=step_ids.to(lm.device), attention_mask=mask, position_ids=q_pos.to(lm.device),
                       past_key_values=cache, use_cache=True, logits_to_keep=1)
        lm.tokens_run += int(step_ids.numel())
        cache = out.past_key_values
        chosen = [_choose(out.logits[i, -1].float(), row) for i, row in enumerate(active)]
        keep = []
        for i, (row, token) in enumerate(zip(active, chosen)):
            if token in eos:
                continue
            row.new.append(token)
            if len(row.new) < row.budget and not _stopped(lm, row):
                keep.append(i)
        if len(keep) < len(active):
            if not keep:
                break
            cache.batch_select_indices(torch.tensor(keep, device=lm.device))
            k_pos, k_real, next_pos = k_pos[keep], k_real[keep], next_pos[keep]
            chosen = [chosen[i] for i in keep]
            active = [active[i] for i in keep]
        step_ids = torch.tensor(chosen, dtype=torch.long)[:, None]
        q_pos, q_real = next_pos[:, None].clone(), torch.ones((len(active), 1), dtype=torch.bool)
        k_pos, k_real = torch.cat([k_pos, q_pos], dim=1), torch.cat([k_real, q_real], dim=1)
        next_pos = next_pos + 1
    return rows


class _TransposedHead(torch.nn.Module):
    """The LM head computed as ``W @ h.T`` instead of ``h @ W.T`` (``F.linear``), same weights, no copy.

    Why: a decoding step has a few rows, and a large-vocabulary head is then a memory-bound product with a very
    wide weight (Gemma-3-270M: 262,144 x 640, 671 MB in fp32). On CPU, MKL runs ``W @ h.T`` for 8 rows in about
    half the time of ``F.linear`` (measured 290-400 ms against 620-660 ms, one thread; see docs/reasoning.md), and
    the head is most of a batched decoding step. The sums are the same up to float rounding order."""

    def __init__(self, head: torch.nn.Linear) -> None:
        super().__init__()
        self.head = head

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        flat = hidden.reshape(-1, hidden.shape[-1])
        out = torch.mm(self.head.weight, flat.T).T
        if self.head.bias is not None:
            out = out + self.head.bias
        return out.reshape(*hidden.shape[:-1], out.shape[-1])


@contextmanager
def _transposed_head(lm):
    """Swap in :class:`_TransposedHead` while a call decodes on CPU (the model's own forward still applies
    whatever follows the head, e.g. logit soft-capping); anything else runs unchanged."""
    head = lm.model.get_output_embeddings()
    if lm.device.type != "cpu" or type(head) is not torch.nn.Linear:
        yield
        return
    lm.model.set_output_embeddings(_TransposedHead(head))
    try:
        yield
    finally:
        lm.model.set_output_embeddings(head)


def _causal(k_pos: torch.Tensor, k_real: torch.Tensor, q_pos: torch.Tensor, q_real: torch.Tensor) -> torch.Tensor:
    """[rows, queries, keys]: a real query sees every real key at or before its position. The queries are the
    last ``queries`` key slots; a padding query sees only itself (a query that sees nothing gives NaN)."""
    allowed = k_real[:, None, :] & (k_pos[:, None, :] <= q_pos[:, :, None]) & q_real[:, :, None]
    n_q, n_k = q_pos.shape[1], k_pos.shape[1]
    allowed[:, torch.arange(n_q), torch.arange(n_k - n_q, n_k)] = True
    return allowed


def _choose(logits: torch.Tensor, row: _Row) -> int:
    request = row.request
    if request.temperature <= 0:
        return int(logits.argmax())
    probs = torch.softmax(logits / request.temperature, dim=-1)
    if request.top_p < 1.0:
        sorted_probs, order = probs.sort(descending=True)
        outside = sorted_probs.cumsum(0) - sorted_probs > request.top_p  # keep the smallest set reaching top_p
        sorted_probs[outside] = 0
        probs = torch.zeros_like(probs).scatter_(0, order, sorted_probs)
    return int(torch.multinomial(probs.cpu(), 1, generator=row.generator))


def _eos_ids(lm) -> set[int]:
    ids = set()
    for source in (lm.tokenizer.eos_token_id, getattr(lm.model.generation_config, "eos_token_id", None)):
        if isinstance(source, int):
            ids.add(source)
        elif source:
            ids.update(source)
    return ids


def _text(lm, row: _Row) -> str:
    return lm.tokenizer.decode(row.new, skip_special_tokens=True)


def _stopped(lm, row: _Row) -> bool:
    text = _text(lm, row)
    return any(s and s in text for s in row.request.stop)


@torch.inference_mode()
def generate_one_by_one(lm, requests: Sequence[GenRequest]) -> list[str]:
    """Reference path: ``model.generate`` on each prompt alone (greedy). Used by tests and ``bench/generation.py``."""
    texts = []
    for r in requests:
        ids = torch.tensor([lm._encode(r.context) or [lm._prefix_token]], device=lm.device)
        out = lm.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=False,
                                max_new_tokens=min(r.max_new_tokens, lm.max_length - ids.shape[1]),
                                stop_strings=[s for s in r.stop if s] or None, tokenizer=lm.tokenizer,
                                pad_token_id=lm.tokenizer.pad_token_id or lm._prefix_token)
        texts.append(cut_at_stop(lm.tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True), r.stop))
    return texts
