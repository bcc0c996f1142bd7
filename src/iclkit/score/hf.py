"""HuggingFace transformers back-end. Knows token ids and KV caches, nothing about tasks or templates.

Speed comes from not recomputing what is shared:

* **Group prefix.** Requests with the same ``group`` (one query's candidate labels, and its content-free
  calibration prompts) share a token prefix. It is run once; every candidate then runs only its own remaining tokens
  against a copy of that KV cache.
* **Run prefix.** Consecutive groups often share a longer prefix still (a fixed set of demonstrations). The back-end
  keeps the KV cache of the longest prefix common to recent groups and starts each new group from it.
* **Scored positions only.** The LM head (Gemma-3-270M's is 168M of its 268M parameters) runs only at the positions
  whose next-token log-probabilities are summed (``logits_to_keep``).

Every fast path computes the same numbers as running ``context + continuation`` from scratch; the tests check this
to 1e-4 in fp32 on tiny random Llama and Gemma-3 (sliding-window) models.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from iclkit.errors import IclkitError
from iclkit.score.base import GenRequest, cut_at_stop, encode_pair
from iclkit.types import LLRequest, LLResult

# Below this many shared tokens, re-running is as cheap as copying and cropping a cache.
MIN_SHARED_PREFIX = 16
# Sequences this short are scored in one batched call from scratch: on CPU a forward call costs at least one read of
# all weights, so one call for many short rows beats two calls (prefix, then candidates) per query.
SHORT_SEQUENCE = 64
# Padded tokens per candidate batch: bounds activation memory (and keeps batches compute-efficient on CPU).
MAX_BATCH_TOKENS = 4096


@dataclass
class _Encoded:
    tokens: list[int]
    n_ctx: int  # continuation = tokens[n_ctx:]


@dataclass
class _PrefixState:
    tokens: list[int]
    cache: object  # transformers Cache


def _common_prefix_len(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def _shared_tokens(seqs: Sequence[_Encoded]) -> list[int]:
    """The token prefix common to every sequence."""
    shared = seqs[0].tokens
    for s in seqs[1:]:
        shared = shared[: _common_prefix_len(shared, s.tokens)]
    return shared


class HFLM:
    """``LanguageModel`` over a transformers causal LM.

    Args:
        model: a causal LM in eval mode.
        tokenizer: its tokenizer.
        name: label for records.
        max_length: longest sequence to accept (defaults to the model's context, capped at 2048 to bound memory).
        batch_size: most candidate continuations run together against one prefix.
        reuse_prefix: keep the KV cache of the prefix shared across consecutive groups.
    """

    def __init__(self, model, tokenizer, *, name: str = "hf", max_length: int | None = None, batch_size: int = 32,
                 reuse_prefix: bool = True) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.name = name
        self.device = next(model.parameters()).device
        context = getattr(model.config, "max_position_embeddings", None) or 2048
        self._max_length = int(max_length or min(context, 2048))
        self.batch_size = batch_size
        self.reuse_prefix = reuse_prefix
        self._run_prefix: _PrefixState | None = None
        self.source_file = None  # the weights file, for the run summary
        self._decoder = getattr(model, model.base_model_prefix, model)
        self.tokens_run = 0  # tokens actually passed through the model (for benchmarks and tests)
        bos = tokenizer.bos_token_id
        self._prefix_token = bos if bos is not None else tokenizer.eos_token_id

    @classmethod
    def load(cls, name: str, *, device: str | None = None, max_length: int | None = None, **kwargs) -> HFLM:
        """Load a model by short name, hub id or local path (fp32 on CPU, the checkpoint's dtype on GPU)."""
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from iclkit.score.models import resolve_model

        resolved = resolve_model(name)
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        dtype = torch.float32 if device == "cpu" else "auto"
        try:
            tokenizer = AutoTokenizer.from_pretrained(resolved.path)
            model = AutoModelForCausalLM.from_pretrained(resolved.path, dtype=dtype).to(device)
        except OSError as exc:
            raise IclkitError(f"cannot load model '{name}' from {resolved.path}: {exc}") from exc
        lm = cls(model, tokenizer, name=name, max_length=max_length, **kwargs)
        lm.source_file = resolved.source_file
        return lm

    @property
    def max_length(self) -> int:
        return self._max_length

    # ----------------------------------------------------------------------------------------------- tokenising
    def _encode(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=True)["input_ids"]

    def count_tokens(self, text: str) -> int:
        return len(self._encode(text))

    def encode_pair(self, context: str, continuation: str) -> tuple[list[int], int]:
        """Token ids of ``context + continuation`` and the index where the continuation starts."""
        return encode_pair(self._encode, context, continuation, prefix_token=self._prefix_token,
                           max_length=self._max_length)

    # ----------------------------------------------------------------------------------------------- scoring
    @torch.inference_mode()
    def loglikelihood(self, requests: Sequence[LLRequest]) -> list[LLResult]:
        encoded = [_Encoded(*self.encode_pair(r.context, r.continuation)) for r in requests]
        if self._score_as_one_group(encoded):
            return self._score_group(encoded)
        groups: dict[object, list[int]] = {}
        for i, r in enumerate(requests):
            groups.setdefault(r.group if r.group is not None else ("ctx", r.context), []).append(i)
        results: list[LLResult | None] = [None] * len(requests)
        members = sorted(groups.values(), key=lambda m: len(encoded[m[0]].tokens))  # similar lengths, less padding
        for batch in self._group_batches([[encoded[i] for i in m] for m in members], members):
            for m, group_results in zip(batch, self._score_groups([[encoded[i] for i in m] for m in batch])):
                for i, res in zip(m, group_results):
                    results[i] = res
        return results  # type: ignore[return-value]

    def _group_batches(self, groups: list[list[_Encoded]], members: list[list[int]]) -> list[list[list[int]]]:
        batches, current, widest = [], [], 0
        for seqs, m in zip(groups, members):
            widest = max(widest, max(len(s.tokens) for s in seqs))
            if current and (len(current) == self.batch_size or widest * (len(current) + 1) > MAX_BATCH_TOKENS):
                batches.append(current)
                current, widest = [], max(len(s.tokens) for s in seqs)
            current.append(m)
        return [*batches, current] if current else batches

    def _score_groups(self, groups: list[list[_Encoded]]) -> list[list[LLResult]]:
        """Several groups with different prefixes (per-query demonstrations): all prefixes run in one left-padded
        call, then all candidates in one call against the matching rows of that cache.

        Left padding keeps each row's real tokens contiguous at the end of the cache, so sliding-window layers see
        exactly the tokens they would without padding.
        """
        if len(groups) == 1:
            return [self._score_group(groups[0])]
        prefixes = [self._group_prefix(seqs) for seqs in groups]
        width = max(len(p) for p in prefixes)
        if width == 0:
            return [self._score_group(seqs) for seqs in groups]
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        ids = torch.full((len(groups), width), pad, dtype=torch.long)
        mask = torch.zeros((len(groups), width), dtype=torch.long)
        for g, p in enumerate(prefixes):
            if p:
                ids[g, width - len(p) :] = torch.tensor(p)
                mask[g, width - len(p) :] = 1
        pos = (mask.cumsum(1) - 1).clamp(min=0)
        out = self._decoder(input_ids=ids.to(self.device), attention_mask=mask.to(self.device),
                            position_ids=pos.to(self.device), use_cache=True)
        self.tokens_run += ids.numel()
        rows = [(g, s) for g, seqs in enumerate(groups) for s in seqs]
        flat = self._score_rows(rows, prefixes, mask, out.past_key_values)
        results, start = [], 0
        for seqs in groups:
            results.append(flat[start : start + len(seqs)])
            start += len(seqs)
        return results

    @staticmethod
    def _group_prefix(seqs: list[_Encoded]) -> list[int]:
        shared = _shared_tokens(seqs)
        return shared[: min(len(shared), min(s.n_ctx for s in seqs) - 1)]

    @staticmethod
    def _score_as_one_group(seqs: list[_Encoded]) -> bool:
        """Score every request together when they all share a long prefix (a fixed demonstration set: the
        queries' own tokens are then recomputed per label, but in one call) or are all short (zero-shot)."""
        if len(seqs) < 2:
            return False
        if max(len(s.tokens) for s in seqs) <= SHORT_SEQUENCE:
            return True
        shared = _shared_tokens(seqs)
        return len(shared) >= MIN_SHARED_PREFIX and len(shared) >= 0.5 * max(len(s.tokens) for s in seqs)

    def _score_group(self, seqs: list[_Encoded]) -> list[LLResult]:
        """One group: its shared prefix runs once (reusing the run prefix), then every candidate against it."""
        prefix = self._group_prefix(seqs)
        cache = self._prefix_cache(prefix) if prefix else None
        return self._score_rows([(0, s) for s in seqs], [prefix], torch.ones((1, len(prefix)), dtype=torch.long),
                                cache)

    def _prefix_cache(self, tokens: list[int]):
        """KV cache for ``tokens``, reusing (a cropped copy of) the cache kept from earlier groups when possible."""
        state = self._run_prefix if self.reuse_prefix else None
        start, cache = 0, None
        if state is not None:
            m = _common_prefix_len(tokens, state.tokens)
            if m == len(state.tokens):
                start, cache = m, copy.deepcopy(state.cache)
            elif m >= MIN_SHARED_PREFIX and self._croppable(state.cache, m):
                base = copy.deepcopy(state.cache)
                base.crop(m - len(state.tokens))  # negative: number of tokens to drop
                self._run_prefix = _PrefixState(tokens[:m], base)
                start, cache = m, copy.deepcopy(base)
        if start < len(tokens):
            cache = self._extend(cache, tokens, start)
        if self.reuse_prefix and (self._run_prefix is None or start == 0):
            self._run_prefix = _PrefixState(list(tokens), copy.deepcopy(cache))
        return cache

    @staticmethod
    def _croppable(cache, length: int) -> bool:
        # A sliding-window layer that has already dropped old keys cannot be cropped back.
        for layer in getattr(cache, "layers", []):
            window = getattr(layer, "sliding_window", None)
            if window is not None and layer.get_seq_length() >= window - 1:
                return False
        return True

    def _extend(self, cache, tokens: list[int], start: int):
        ids = torch.tensor([tokens[start:]], device=self.device)
        pos = torch.arange(start, len(tokens), device=self.device)[None]
        # The base model, not the LM head: a prefix needs no logits (Gemma-3's head is 60% of its weights).
        out = self._decoder(input_ids=ids, position_ids=pos, past_key_values=cache, use_cache=True)
        self.tokens_run += ids.numel()
        return out.past_key_values

    def _score_rows(self, rows: list[tuple[int, _Encoded]], prefixes: list[list[int]], prefix_mask: torch.Tensor,
                    cache) -> list[LLResult]:
        """Score each row's tokens after its prefix. Row ``(g, seq)`` continues prefix ``g``: row ``g`` of ``cache``
        (``None`` when every prefix is empty) and of ``prefix_mask``. Rows run in length-sorted batches."""
        order = sorted(range(len(rows)), key=lambda i: len(rows[i][1].tokens) - len(prefixes[rows[i][0]]))
        batches, current, widest = [], [], 0
        for i in order:
            n = len(rows[i][1].tokens) - len(prefixes[rows[i][0]])
            widest = max(widest, n)
            if current and (len(current) == self.batch_size or widest * (len(current) + 1) > MAX_BATCH_TOKENS):
                batches.append(current)
                current, widest = [], n
            current.append(i)
        batches.append(current)
        out: list[LLResult | None] = [None] * len(rows)
        for batch in batches:
            batch_cache = cache
            if cache is not None:
                batch_cache = copy.deepcopy(cache)  # selecting rows rewrites the cache in place
                batch_cache.batch_select_indices(torch.tensor([rows[i][0] for i in batch], device=self.device))
            for i, res in zip(batch, self._forward_rows([rows[i] for i in batch], prefixes, prefix_mask,
                                                        batch_cache)):
                out[i] = res
        return out  # type: ignore[return-value]

    def _forward_rows(self, rows: list[tuple[int, _Encoded]], prefixes: list[list[int]], prefix_mask: torch.Tensor,
                      cache) -> list[LLResult]:
        rests = [s.tokens[len(prefixes[g]) :] for g, s in rows]
        width = max(len(r) for r in rests)
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        ids = torch.full((len(rows), width), pad, dtype=torch.long)
        rest_mask = torch.zeros((len(rows), width), dtype=torch.long)
        pos = torch.zeros((len(rows), width), dtype=torch.long)
        # Logits only where they predict a continuation token (absolute n_ctx-1 .. len-2), chosen per row: a
        # position set shared by all rows would run the LM head on every row at every row's label position.
        keep = torch.zeros((len(rows), width), dtype=torch.bool)
        for row, ((g, s), rest) in enumerate(zip(rows, rests)):
            n_pre = len(prefixes[g])
            ids[row, : len(rest)] = torch.tensor(rest)
            rest_mask[row, : len(rest)] = 1
            pos[row] = torch.arange(n_pre, n_pre + width)
            keep[row, s.n_ctx - 1 - n_pre : len(s.tokens) - 1 - n_pre] = True
        mask = torch.cat([prefix_mask[[g for g, _ in rows]], rest_mask], dim=1) if cache is not None else rest_mask
        out = self.model(input_ids=ids.to(self.device), attention_mask=mask.to(self.device),
                         position_ids=pos.to(self.device), past_key_values=cache, use_cache=cache is not None,
                         logits_to_keep=keep.to(self.device))
        self.tokens_run += sum(len(r) for r in rests)
        logprobs = torch.log_softmax(out.logits.float(), dim=-1)  # (kept positions, vocab), row-major order
        results, start = [], 0
        for _, s in rows:
            targets = torch.tensor(s.tokens[s.n_ctx :], device=logprobs.device)
            lp = logprobs[start : start + len(targets)]
            start += len(targets)
            total = lp.gather(1, targets[:, None]).sum().item()
            greedy = bool((lp.argmax(-1) == targets).all().item())
            results.append(LLResult(total, len(targets), greedy))
        return results

    # ----------------------------------------------------------------------------------------------- generation
    @torch.inference_mode()
    def generate(self, requests: Sequence[GenRequest]) -> list[str]:
        texts = []
        for r in requests:
            ids = torch.tensor([self._encode(r.context)], device=self.device)
            out = self.model.generate(
                input_ids=ids,
                attention_mask=torch.ones_like(ids),
                max_new_tokens=r.max_new_tokens,
                do_sample=False,
                stop_strings=list(r.stop) or None,
                tokenizer=self.tokenizer,
                pad_token_id=self.tokenizer.pad_token_id or self._prefix_token,
            )
            texts.append(cut_at_stop(self.tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True), r.stop))
        return texts

    def naive_loglikelihood(self, requests: Sequence[LLRequest]) -> list[LLResult]:
        """Reference path: every ``context + continuation`` run from scratch, full logits. Used by tests/benchmarks."""
        results = []
        with torch.inference_mode():
            for r in requests:
                tokens, n_ctx = self.encode_pair(r.context, r.continuation)
                logits = self.model(input_ids=torch.tensor([tokens], device=self.device)).logits[0].float()
                lp = torch.log_softmax(logits[n_ctx - 1 : len(tokens) - 1], dim=-1)
                targets = torch.tensor(tokens[n_ctx:], device=lp.device)
                results.append(
                    LLResult(lp.gather(1, targets[:, None]).sum().item(), len(targets),
                             bool((lp.argmax(-1) == targets).all().item()))
                )
        return results
