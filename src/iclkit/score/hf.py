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
from iclkit.score.base import GenRequest, cut_at_stop, split_trailing_space
from iclkit.types import LLRequest, LLResult

# Below this many shared tokens, re-running is as cheap as copying and cropping a cache.
MIN_SHARED_PREFIX = 16


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
        context, continuation = split_trailing_space(context, continuation)
        whole = self._encode(context + continuation)
        n_ctx = len(self._encode(context))
        if n_ctx == 0:  # nothing to condition on (tokenizer adds no BOS): condition on BOS/EOS, as lm-eval does
            whole, n_ctx = [self._prefix_token, *whole], 1
        if len(whole) <= n_ctx:
            raise IclkitError(f"empty continuation {continuation!r} after context ending {context[-40:]!r}")
        if len(whole) > self._max_length:
            raise IclkitError(
                f"sequence of {len(whole)} tokens exceeds the model's maximum of {self._max_length} "
                f"(context ending {context[-60:]!r}); the prompt builder should have dropped demonstrations"
            )
        return whole, n_ctx

    # ----------------------------------------------------------------------------------------------- scoring
    @torch.inference_mode()
    def loglikelihood(self, requests: Sequence[LLRequest]) -> list[LLResult]:
        encoded = [_Encoded(*self.encode_pair(r.context, r.continuation)) for r in requests]
        groups: dict[object, list[int]] = {}
        for i, r in enumerate(requests):
            groups.setdefault(r.group if r.group is not None else ("ctx", r.context), []).append(i)
        results: list[LLResult | None] = [None] * len(requests)
        for members in groups.values():
            for i, res in zip(members, self._score_group([encoded[i] for i in members])):
                results[i] = res
        return results  # type: ignore[return-value]

    def _score_group(self, seqs: list[_Encoded]) -> list[LLResult]:
        shared = seqs[0].tokens
        for s in seqs[1:]:
            shared = shared[: _common_prefix_len(shared, s.tokens)]
        # The prefix run produces no logits, so it must stop before the first position whose logits are scored.
        n_prefix = min(len(shared), min(s.n_ctx for s in seqs) - 1)
        cache = self._prefix_cache(shared[:n_prefix]) if n_prefix > 0 else None
        order = sorted(range(len(seqs)), key=lambda i: len(seqs[i].tokens))
        out: list[LLResult | None] = [None] * len(seqs)
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            for i, res in zip(chunk, self._score_rest([seqs[i] for i in chunk], n_prefix, cache)):
                out[i] = res
        return out  # type: ignore[return-value]

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
        out = self.model(input_ids=ids, position_ids=pos, past_key_values=cache, use_cache=True, logits_to_keep=1)
        self.tokens_run += ids.numel()
        return out.past_key_values

    def _score_rest(self, seqs: list[_Encoded], n_prefix: int, cache) -> list[LLResult]:
        rests = [s.tokens[n_prefix:] for s in seqs]
        width = max(len(r) for r in rests)
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        ids = torch.full((len(rests), width), pad, dtype=torch.long)
        mask = torch.zeros((len(rests), n_prefix + width), dtype=torch.long)
        mask[:, :n_prefix] = 1
        for row, rest in enumerate(rests):
            ids[row, : len(rest)] = torch.tensor(rest)
            mask[row, n_prefix : n_prefix + len(rest)] = 1
        # Logits are needed at the positions that predict continuation tokens: n_ctx-1 .. len-2 (absolute).
        needed = sorted({p - n_prefix for s in seqs for p in range(s.n_ctx - 1, len(s.tokens) - 1)})
        if cache is not None:
            cache = copy.deepcopy(cache)
            cache.batch_repeat_interleave(len(rests))
        out = self.model(
            input_ids=ids.to(self.device),
            attention_mask=mask.to(self.device),
            position_ids=(torch.arange(width) + n_prefix)[None].expand(len(rests), -1).to(self.device),
            past_key_values=cache,
            use_cache=cache is not None,
            logits_to_keep=torch.tensor(needed, device=self.device),
        )
        self.tokens_run += sum(len(r) for r in rests)
        logprobs = torch.log_softmax(out.logits.float(), dim=-1)
        column = {p: j for j, p in enumerate(needed)}
        results = []
        for row, s in enumerate(seqs):
            cols = [column[p - n_prefix] for p in range(s.n_ctx - 1, len(s.tokens) - 1)]
            targets = torch.tensor(s.tokens[s.n_ctx :], device=logprobs.device)
            lp = logprobs[row, cols]
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
