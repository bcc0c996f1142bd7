"""HuggingFace transformers back-end. Knows token ids and KV caches, nothing about tasks or templates.

Scoring runs every token that a call's sequences share once, and the LM head only where a log-probability is read:

* **Run prefix.** The longest token prefix common to all of a call's sequences (a fixed demonstration set, an
  instruction) is run once through the base model (no LM head) and its KV cache kept; the next call reuses it, or
  a cropped copy, when it starts with the same tokens. Fixed demonstrations are thus encoded once per run.
* **Token tries with tree attention.** The rest of each group (a query's candidate labels, its content-free
  calibration prompts) becomes a trie (:mod:`iclkit.lm.tree`): the query's tokens once, then one branch per
  label. Trie nodes run in one forward call with a 4-D mask (each node sees the cached prefix and its ancestors;
  sliding-window layers only the last ``window`` positions) and the position ids they have in the plain sequence.
  Single-token labels cost nothing: every label is read off the logits of the query's last token.
* **Packed rows, automatic batch size.** Small tries share a row (one fork of the prefix cache per row, expanded,
  not copied); rows of similar width are batched up to what a quarter of the free memory holds (and at most 4,096
  tokens per call on CPU, where larger batches stop paying).
* **Scored positions only.** ``logits_to_keep`` marks, per row, the nodes whose logits are read (Gemma-3-270M's
  head is 168M of its 268M parameters).

Boundary rule: sequences are always tokenised whole (``context + continuation``, see :mod:`iclkit.lm.base`) and
prefixes are shared as *token* prefixes, so a BPE merge across the demonstrations/query boundary only shortens what
is shared; it never changes a token. The first call on a model compares this path with plain recomputation
(``_verify``) and falls back to the slow exact path if an architecture ignores custom masks or position ids. Tests
check fast = naive to 1e-4 in fp32 on tiny random Llama and sliding-window Gemma-3 models and on the real models.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from iclkit.lm.base import GenRequest, LocalTokenizer
from iclkit.lm.kv_cache import fork_cache
from iclkit.lm.tree import (
    Row,
    Seq,
    build_tree,
    common_prefix_len,
    pack_rows,
    shared_prefix,
    split_by_prefix,
    verify_probe,
)
from iclkit.types import LLRequest, LLResult

# Below this many shared tokens, running them in every row is as cheap as copying a cached prefix into every row.
MIN_SHARED_PREFIX = 16
# With a cached shared prefix, small tries are packed into rows of this many nodes: fewer rows, fewer prefix copies.
ROW_TOKENS = 256
# Padded tokens per forward call on CPU: beyond this, larger batches stop being faster and only cost memory.
CPU_BATCH_TOKENS = 4096
# Share of the free memory one forward call may use (activations, attention scores, kept logits).
MEMORY_SHARE = 0.25
# Largest |fast - naive| log-probability accepted by the once-per-model self-check, for fp32 (its noise is ~1e-5)
# and wider types. Half-precision types get VERIFY_EPS_MULTIPLE x their machine epsilon (see verify_tolerance).
VERIFY_TOLERANCE = 1e-3
VERIFY_EPS_MULTIPLE = 16


@dataclass
class _PrefixState:
    tokens: list[int]
    cache: object  # transformers Cache


class HFLM(LocalTokenizer):
    """``LanguageModel`` over a transformers causal LM.

    Args:
        model: a causal LM in eval mode.
        tokenizer: its tokenizer.
        name: label for records.
        max_length: longest sequence to accept (defaults to the model's context, capped at 2048 to bound memory).
        batch_size: most candidate continuations run together against one prefix.
        reuse_prefix: keep the KV cache of the prefix shared across consecutive calls.
        verify: compare the fast path with plain recomputation on the first call (see ``_verify``).
    """

    def __init__(self, model, tokenizer, *, name: str = "hf", max_length: int | None = None, batch_size: int = 32,
                 reuse_prefix: bool = True, verify: bool = True) -> None:
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
        self.logits_run = 0  # positions that went through the LM head
        self.all_logits = False  # benchmark ablation: run the LM head at every node, not only the scored ones
        self.split_prefix = True  # benchmark ablation: False lets a few odd requests (PMI's) empty the shared prefix
        self._layer_kinds = sorted(set(getattr(model.config, "layer_types", None) or ["full_attention"]))
        self._window = getattr(model.config, "sliding_window", None)
        self._verified = not verify
        self._fallback_naive = False
        bos = tokenizer.bos_token_id
        self._prefix_token = bos if bos is not None else tokenizer.eos_token_id

    @classmethod
    def load(cls, name: str, *, device: str | None = None, max_length: int | None = None, batch_size: int = 32,
             reuse_prefix: bool = True, verify: bool = True) -> HFLM:
        """Load a model by short name, hub id or local path (fp32 on CPU, the checkpoint's dtype on GPU)."""
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from iclkit.lm.models import load_error, resolve_model

        resolved = resolve_model(name)
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        dtype = torch.float32 if device == "cpu" else "auto"
        try:
            tokenizer = AutoTokenizer.from_pretrained(resolved.path)
            model = AutoModelForCausalLM.from_pretrained(resolved.path, dtype=dtype).to(device)
        except Exception as exc:
            error = load_error(name, resolved.path, device, exc)
            if error is None:
                raise
            raise error from exc
        lm = cls(model, tokenizer, name=name, max_length=max_length, batch_size=batch_size,
                 reuse_prefix=reuse_prefix, verify=verify)
        lm.source_file = resolved.source_file
        return lm

    # ----------------------------------------------------------------------------------------------- scoring
    @torch.inference_mode()
    def loglikelihood(self, requests: Sequence[LLRequest]) -> list[LLResult]:
        if not requests:
            return []
        seqs = self._seqs(requests)
        if not self._verified:
            self._verify(seqs[0])
        if self._fallback_naive:
            return self._naive(seqs)
        keys = [r.group if r.group is not None else ("ctx", r.context) for r in requests]
        main, rest = split_by_prefix(seqs, keys, MIN_SHARED_PREFIX) if self.split_prefix else (seqs, [])
        results: list[LLResult | None] = [None] * len(requests)
        for part, cached in ((main, True), (rest, False)):
            for index, result in self._score_seqs(part, keys, cached=cached):
                results[index] = result
        return results  # type: ignore[return-value]

    def _score_seqs(self, seqs: Sequence[Seq], keys: Sequence[object], *,
                    cached: bool) -> list[tuple[int, LLResult]]:
        """(index, result) for ``seqs``: their common prefix from the cache (if ``cached``), the rest as tries."""
        if not seqs:
            return []
        shared = shared_prefix(seqs) if cached and len(seqs) > 1 else ()
        if len(shared) < MIN_SHARED_PREFIX:
            shared = ()
        cache = self._prefix_cache(list(shared)) if shared else None
        groups: dict[object, list[Seq]] = {}
        for s in seqs:
            groups.setdefault(keys[s.index], []).append(s)
        if self._order_sensitive():  # one chain per request, one row per chain (pack_rows with 0 tokens)
            trees, row_tokens = [build_tree([s], len(shared)) for s in seqs], 0
        else:
            trees = [build_tree(members, len(shared)) for members in groups.values()]
            row_tokens = max(max(len(t) for t in trees), ROW_TOKENS if shared else 0)
        return [scored for batch in self._batches(pack_rows(trees, row_tokens), len(shared))
                for scored in self._forward_tree_rows(batch, cache, len(shared))]

    def _order_sensitive(self) -> bool:
        """True when the attention reads key *positions*, not only the mask: momentum attention
        (``iclkit.train.momentum`` switches the model to a ``momentum_*`` implementation) adds a sum over every
        earlier position of the row. Tries and packed rows would put sibling continuations into that sum, so each
        request then gets a row of its own (the cached prefix is still shared: it is a real sequence prefix)."""
        return str(getattr(self.model.config, "_attn_implementation", "")).startswith("momentum_")

    def _batches(self, rows: list[Row], n_shared: int) -> list[list[Row]]:
        """Rows of similar width together, as many per call as memory (and CPU efficiency) allow."""
        rows = sorted(rows, key=len)
        batches: list[list[Row]] = []
        current: list[Row] = []
        for row in rows:
            width = len(row)  # rows are sorted: the newest row is the widest
            if current and (len(current) + 1 > min(self.batch_size, self._rows_that_fit(width, n_shared))):
                batches.append(current)
                current = []
            current.append(row)
        return [*batches, current] if current else batches

    def _rows_that_fit(self, width: int, n_shared: int) -> int:
        """Rows of ``width`` nodes (after ``n_shared`` cached tokens) one forward call can take."""
        cfg = self.model.config
        d = cfg.hidden_size
        heads = cfg.num_attention_heads
        kv_dim = getattr(cfg, "num_key_value_heads", heads) * getattr(cfg, "head_dim", d // heads)
        keys = n_shared + width
        per_row = 4 * (
            width * (3 * getattr(cfg, "intermediate_size", 4 * d) + 8 * d)  # one layer's activations
            + heads * width * keys * 2  # attention scores and probabilities
            + width * keys  # the tree mask
            + cfg.num_hidden_layers * 2 * kv_dim * keys  # this row's keys and values, prefix included
            + width * cfg.vocab_size  # worst case: logits kept at every node
        )
        by_memory = int(MEMORY_SHARE * _free_memory(self.device) // per_row)
        by_cpu = CPU_BATCH_TOKENS // width if self.device.type == "cpu" else by_memory
        return max(1, min(by_memory, by_cpu))

    def _forward_tree_rows(self, rows: list[Row], cache, n_shared: int) -> list[tuple[int, LLResult]]:
        """One forward call over packed tries; returns (request index, result) for every member."""
        flats = [row.flat() for row in rows]
        width = max(len(tokens) for tokens, _, _ in flats)
        n_rows = len(rows)
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        ids = torch.full((n_rows, width), pad, dtype=torch.long)
        pos = torch.zeros((n_rows, width), dtype=torch.long)
        ancestry = torch.zeros((n_rows, width, width), dtype=torch.bool)  # [r, i, j]: j is i or an ancestor of i
        real = torch.zeros((n_rows, width), dtype=torch.bool)
        keep = torch.zeros((n_rows, width), dtype=torch.bool)
        for r, ((tokens, positions, parents), row) in enumerate(zip(flats, rows)):
            n = len(tokens)
            ids[r, :n] = torch.tensor(tokens)
            pos[r, :n] = torch.tensor(positions)
            real[r, :n] = True
            for i, parent in enumerate(parents):
                if parent >= 0:
                    ancestry[r, i] = ancestry[r, parent]
                ancestry[r, i, i] = True
            for tree, off in zip(row.trees, row.offsets):
                for node in tree.logit_nodes:
                    keep[r, off + node] = True
        if self.all_logits:
            keep = real.clone()
        # Padding nodes see themselves, so no query row is fully masked (NaN or slow paths in some attention kernels).
        ancestry |= torch.eye(width, dtype=torch.bool)
        mask = self._attention_masks(ancestry, real, pos, pos, n_shared, cached=cache is not None)
        if cache is not None:
            cache = fork_cache(cache, n_rows)
        out = self.model(input_ids=ids.to(self.device), attention_mask=mask, position_ids=pos.to(self.device),
                         past_key_values=cache, use_cache=cache is not None, logits_to_keep=keep.to(self.device))
        self.tokens_run += int(real.sum())
        self.logits_run += int(keep.sum())
        flat_index = (keep.flatten().cumsum(0) - 1).view(n_rows, width)  # kept logits come row-major
        logprobs = torch.log_softmax(out.logits.float(), dim=-1)
        results = []
        for r, row in enumerate(rows):
            for tree, off in zip(row.trees, row.offsets):
                for index, scored in tree.members:
                    at = flat_index[r, [off + node for node, _ in scored]].to(logprobs.device)
                    targets = torch.tensor([t for _, t in scored], device=logprobs.device)
                    lp = logprobs[at]
                    total = lp.gather(1, targets[:, None]).sum().item()
                    greedy = bool((lp.argmax(-1) == targets).all().item())
                    results.append((index, LLResult(total, len(scored), greedy)))
        return results

    def _attention_masks(self, allowed: torch.Tensor, q_real: torch.Tensor, q_pos: torch.Tensor,
                         k_pos: torch.Tensor, n_shared: int, cached: bool):
        """Additive 4-D masks, one per layer kind, built from real token positions rather than cache slots.

        The keys of a call are the cached prefix (``n_shared`` tokens; a sliding layer's cache holds only its last
        ``window - 1``) followed by the call's own slots, whose positions are ``k_pos`` [rows, keys]. Query ``i`` of
        row ``r`` (position ``q_pos[r, i]``) sees the prefix if ``q_real[r, i]`` and the slots ``allowed[r, i]``
        marks; in sliding-window layers, only keys fewer than ``window`` positions back, as that layer would see
        in the plain sequence. Padding therefore never takes a place in a window. Used by the tree scoring (slots
        are trie nodes, ``allowed`` their ancestry) and by batched generation (slots are each row's prompt and
        generated tokens, ``allowed`` every real earlier one). Returns one tensor when every layer is full
        attention, else a dict by layer kind (what Gemma-3's forward accepts as ``attention_mask``)."""
        masks = {}
        for kind in self._layer_kinds:
            window = self._window if kind == "sliding_attention" else None
            kept = n_shared
            if window is not None and cached:
                kept = min(n_shared, window - 1)  # a sliding layer's cache holds only the last window - 1 keys
            key_pos = torch.cat([torch.arange(n_shared - kept, n_shared).expand(k_pos.shape[0], kept), k_pos], dim=1)
            ok = torch.cat([q_real[:, :, None].expand(-1, -1, kept), allowed], dim=2)
            if window is not None:
                ok &= (q_pos[:, :, None] - key_pos[:, None, :]) < window
            dtype = self.model.dtype
            mask = torch.zeros(ok.shape, dtype=dtype).masked_fill_(~ok, torch.finfo(dtype).min)
            masks[kind] = mask[:, None].to(self.device)
        if set(masks) == {"full_attention"}:
            return masks["full_attention"]
        return masks

    def _verify(self, seq: Seq) -> None:
        """Check the fast path against plain recomputation once per model: an architecture that ignores custom
        4-D masks or position ids would otherwise give silently wrong scores. The probe (:func:`verify_probe`, built
        from the call's first request and cut to ``max_length``) has two continuations that branch after the
        context, so it exercises the cached prefix, the tree mask and the position ids. On a mismatch beyond
        :func:`verify_tolerance`, fall back to the (slow, always exact) naive path."""
        self._verified = True
        probe = verify_probe(seq, self._max_length, self.model.config.vocab_size)
        counters = self.tokens_run, self.logits_run
        fast = [res for _, res in sorted(self._score_seqs(probe, ["verify"] * len(probe), cached=True))]
        slow = self._naive(probe)
        self.tokens_run, self.logits_run = counters  # one-off check, not part of the caller's work
        worst = max(abs(a.logprob - b.logprob) for a, b in zip(fast, slow))
        if worst > verify_tolerance(self.model.dtype):
            warnings.warn(f"{self.name}: tree-attention scoring differs from plain recomputation by {worst:.2e}; "
                          "falling back to the slow exact path for this model", stacklevel=3)
            self._fallback_naive = True
        self._run_prefix = None

    def _prefix_cache(self, tokens: list[int]):
        """KV cache for ``tokens``, reusing (a cropped copy of) the cache kept from earlier calls when possible."""
        state = self._run_prefix if self.reuse_prefix else None
        start, cache = 0, None
        if state is not None:
            m = common_prefix_len(tokens, state.tokens)
            if m == len(state.tokens):
                if m == len(tokens):
                    return state.cache
                start, cache = m, fork_cache(state.cache, 1)
            elif m >= MIN_SHARED_PREFIX and self._croppable(state.cache, m):
                cache = copy.deepcopy(state.cache)
                cache.crop(m - len(state.tokens))  # negative: number of tokens to drop
                start = m
        if start < len(tokens):
            cache = self._extend(cache, tokens, start)
        if self.reuse_prefix:
            self._run_prefix = _PrefixState(list(tokens), cache)
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

    # ----------------------------------------------------------------------------------------------- generation
    def generate(self, requests: Sequence[GenRequest]) -> list[str]:
        """Batched, over the shared-prefix cache (:mod:`iclkit.lm.generate`)."""
        from iclkit.lm.generate import generate_batched

        return generate_batched(self, requests)

    def naive_loglikelihood(self, requests: Sequence[LLRequest]) -> list[LLResult]:
        """Reference path: every ``context + continuation`` run from scratch, full logits. Used by tests/benchmarks."""
        return self._naive(self._seqs(requests))

    def _seqs(self, requests: Sequence[LLRequest]) -> list[Seq]:
        return [Seq(i, tuple(t), n) for i, (t, n) in
                enumerate(self.encode_pair(r.context, r.continuation, r.keep_space) for r in requests)]

    @torch.inference_mode()
    def _naive(self, seqs: Sequence[Seq]) -> list[LLResult]:
        results = []
        for seq in seqs:
            tokens, n_ctx = list(seq.tokens), seq.n_ctx
            logits = self.model(input_ids=torch.tensor([tokens], device=self.device)).logits[0].float()
            self.tokens_run += len(tokens)
            self.logits_run += len(tokens)
            lp = torch.log_softmax(logits[n_ctx - 1 : len(tokens) - 1], dim=-1)
            targets = torch.tensor(tokens[n_ctx:], device=lp.device)
            results.append(LLResult(lp.gather(1, targets[:, None]).sum().item(), len(targets),
                                    bool((lp.argmax(-1) == targets).all().item())))
        return results


def verify_tolerance(dtype: torch.dtype) -> float:
    """The self-check's bound on |fast - naive| for one probe log-probability: VERIFY_TOLERANCE (1e-3) in fp32,
    VERIFY_EPS_MULTIPLE x the type's machine epsilon in a coarser one (fp16: 0.0156, bf16: 0.125). The two paths
    add the same numbers in different orders, so their difference scales with the type's rounding; a model that
    ignores the tree mask or the position ids is off by far more (tenths of a nat to several nats)."""
    if not dtype.is_floating_point:
        return VERIFY_TOLERANCE
    return max(VERIFY_TOLERANCE, VERIFY_EPS_MULTIPLE * torch.finfo(dtype).eps)


def _free_memory(device: torch.device) -> int:
    """Bytes free for activations: the GPU's free memory, or the host's available memory."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 4 << 30  # not Linux: assume 4 GiB
