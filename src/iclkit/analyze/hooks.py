"""Forward hooks on a causal LM's own attention modules (no rewritten model, no switch to eager attention).

A pre-hook sees each attention module's input (the normed hidden states and the rotary ``position_embeddings``);
from them it recomputes queries and keys with the module's own ``q_proj``/``k_proj`` (and ``q_norm``/``k_norm`` where
the architecture has them, as Gemma-3 and Qwen-3 do) and the modelling file's own ``apply_rotary_pos_emb``. That is
what the attention kernel computes, so pre-softmax scores ``scaling * q . k`` of one query row can be read without
materialising any attention matrix; grouped-query heads are expanded as attention does. A post-hook keeps the
module's output (after ``o_proj``, before any post-attention norm or residual).

Recorded per row of a batch, at the row's record position ``p*``:

* ``out``: attention-module output, ``(L, d_model)``;
* ``q``: the scaled pre-RoPE query (all heads concatenated, ``(L, H*hd)``), for the FT side of Kendall (spec §8);
* ``scores``: pre-softmax scores to the keys ``key_start..p*`` (the query segment), ``(L, H, n)``;
* ``ctx``: head-summed pre-softmax scores to given context keys (the demonstrations of a cached prefix), ``(L, n)``.

Pre-softmax scores are taken before masking (as Dai et al.'s code does). In a sliding-window layer the keys further
than ``window`` positions back are masked out of the real attention; their ``ctx`` scores are set to NaN.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

import torch

from iclkit.errors import IclkitError

PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj")


@dataclass(frozen=True)
class AttentionLayer:
    index: int
    module: torch.nn.Module
    window: int | None  # sliding window of this layer, None for global attention
    rotary: object  # the modelling file's apply_rotary_pos_emb

    @property
    def n_heads(self) -> int:
        return self.module.q_proj.out_features // self.module.head_dim

    @property
    def n_kv(self) -> int:
        return self.module.k_proj.out_features // self.module.head_dim


def attention_layers(model: torch.nn.Module) -> list[AttentionLayer]:
    """The decoder's attention modules, in order; a clear error naming the model class when they cannot be hooked."""
    decoder = getattr(model, getattr(model, "base_model_prefix", ""), model)
    blocks = getattr(decoder, "layers", None)
    name = type(model).__name__
    expected = ("expected decoder layers with self_attn.q_proj/k_proj/v_proj/o_proj and rotary position embeddings "
                "(Llama, SmolLM2, Gemma-2/3, Qwen-2/3, Mistral style); fused QKV projections are not supported")
    if not blocks:
        raise IclkitError(f"cannot hook the attention of model class {name}: no decoder layers found; {expected}")
    config = getattr(model, "config", None)
    kinds = getattr(config, "layer_types", None) or []
    layers = []
    for i, block in enumerate(blocks):
        attn = getattr(block, "self_attn", None)
        if attn is None or not all(hasattr(attn, p) for p in PROJECTIONS) or not hasattr(attn, "head_dim"):
            raise IclkitError(f"cannot hook the attention of model class {name} (layer {i}); {expected}")
        rotary = getattr(sys.modules.get(type(attn).__module__), "apply_rotary_pos_emb", None)
        if rotary is None:
            raise IclkitError(f"cannot hook the attention of model class {name}: its modelling file has no "
                              f"apply_rotary_pos_emb; {expected}")
        window = getattr(attn, "sliding_window", None)
        if window is None and i < len(kinds) and kinds[i] == "sliding_attention":
            window = getattr(config, "sliding_window", None)
        layers.append(AttentionLayer(i, attn, window, rotary))
    return layers


def project(attn: torch.nn.Module, hidden: torch.Tensor, which: str) -> torch.Tensor:
    """Queries, keys or values of ``hidden`` (B, T, d) as the module computes them before RoPE: (B, heads, T, hd)."""
    proj = getattr(attn, f"{which}_proj")
    x = proj(hidden).view(*hidden.shape[:-1], -1, attn.head_dim).transpose(1, 2)
    norm = getattr(attn, f"{which}_norm", None)
    return norm(x) if norm is not None else x


def rotated_qk(layer: AttentionLayer, hidden: torch.Tensor, position_embeddings) -> tuple[torch.Tensor, ...]:
    """(pre-RoPE q, RoPE'd q, RoPE'd k), each (B, heads, T, hd), exactly as the attention forward builds them."""
    q = project(layer.module, hidden, "q")
    k = project(layer.module, hidden, "k")
    cos, sin = position_embeddings
    q_rot, k_rot = layer.rotary(q, k, cos, sin)
    return q, q_rot, k_rot


def rotate(layer: AttentionLayer, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """RoPE on one tensor of queries or keys (the modelling file's helper turns a (q, k) pair)."""
    return layer.rotary(x, x, cos, sin)[0]


def expand_kv(x: torch.Tensor, n_heads: int) -> torch.Tensor:
    """(..., n_kv, T, hd) → (..., n_heads, T, hd): each key/value head serves n_heads / n_kv query heads (GQA)."""
    return x.repeat_interleave(n_heads // x.shape[-3], dim=-3)


@dataclass
class RowSpec:
    """Where to record in one row of the next forward: ``position`` is p*, ``key_start`` the first query-segment key
    (indices into this forward's input, which may follow a cached prefix)."""

    position: int
    key_start: int


@dataclass
class Recorder:
    """Context manager that hooks every attention layer of ``model`` and records at the rows' positions.

    Set ``rows`` before each forward. ``context_keys`` (per layer, (n_kv, n, hd), RoPE applied) and
    ``context_positions`` enable ``ctx`` scores; ``keep_keys`` stores every position's RoPE'd keys of a batch-1
    forward (to build ``context_keys`` from a prefix pass); ``keep_queries`` every position's scaled pre-RoPE
    queries (FT training tokens, for Kendall).
    """

    model: torch.nn.Module
    rows: list[RowSpec] = field(default_factory=list)
    context_keys: list[torch.Tensor] | None = None
    context_positions: torch.Tensor | None = None
    keep_keys: bool = False
    keep_queries: bool = False
    # Absolute positions of this forward's tokens (B, T), needed only for sliding-window masking of ``ctx``.
    query_positions: torch.Tensor | None = None

    def __post_init__(self) -> None:
        self.layers = attention_layers(self.model)
        self._handles: list = []
        self._expanded_context: dict[int, torch.Tensor] = {}
        self.reset()

    def reset(self) -> None:
        n = len(self.layers)
        self.out: list = [None] * n
        self.q: list = [None] * n
        self.scores: list = [None] * n
        self.ctx: list = [None] * n
        self.keys: list = [None] * n
        self.queries: list = [None] * n

    def __enter__(self) -> Recorder:  # noqa: PYI034 - typing.Self needs 3.11
        for layer in self.layers:
            self._handles.append(layer.module.register_forward_pre_hook(self._pre_hook(layer), with_kwargs=True))
            self._handles.append(layer.module.register_forward_hook(self._post_hook(layer)))
        return self

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def _pre_hook(self, layer: AttentionLayer):
        def hook(module, args, kwargs):
            hidden = kwargs.get("hidden_states", args[0] if args else None)
            with torch.no_grad():
                self._record_inputs(layer, hidden.detach(), kwargs["position_embeddings"])

        return hook

    def _post_hook(self, layer: AttentionLayer):
        def hook(module, args, output):
            if not self.rows:
                return
            out = output[0] if isinstance(output, tuple) else output
            at = [r.position for r in self.rows]
            self.out[layer.index] = out.detach()[torch.arange(len(at)), at].float().cpu()

        return hook

    def _record_inputs(self, layer: AttentionLayer, hidden: torch.Tensor, position_embeddings) -> None:
        attn = layer.module
        cos, sin = position_embeddings
        if self.keep_queries:
            q = project(attn, hidden, "q")
            self.queries[layer.index] = (q[0] * attn.scaling).transpose(0, 1).reshape(q.shape[2], -1).float().cpu()
        if not (self.rows or self.keep_keys):
            return
        k = project(attn, hidden, "k")
        k_rot = rotate(layer, k, cos, sin)
        if self.keep_keys:
            self.keys[layer.index] = k_rot[0].float()
        if not self.rows:
            return
        # Queries only where records are taken: one position per row, not the whole sequence.
        rows = torch.arange(len(self.rows))
        at = torch.tensor([r.position for r in self.rows])
        q = project(attn, hidden[rows, at][:, None], "q")  # (B, H, 1, hd)
        angle = rows if cos.shape[0] > 1 else torch.zeros_like(rows)
        q_rot = rotate(layer, q, cos[angle, at][:, None], sin[angle, at][:, None])[:, :, 0]  # (B, H, hd)
        k_all = expand_kv(k_rot, layer.n_heads)
        self.q[layer.index] = (q[:, :, 0] * attn.scaling).reshape(len(self.rows), -1).float().cpu()
        self.scores[layer.index] = [
            (torch.einsum("hd,htd->ht", q_rot[b], k_all[b, :, row.key_start : row.position + 1])
             * attn.scaling).float().cpu() for b, row in enumerate(self.rows)]
        if self.context_keys is not None:
            self.ctx[layer.index] = self._context_scores(layer, q_rot, at).float().cpu()

    def _context_scores(self, layer: AttentionLayer, q_rot: torch.Tensor, at: torch.Tensor) -> torch.Tensor:
        """Head-summed scores of every row's p* query (``q_rot``: (B, H, hd)) to the context keys: (B, n)."""
        keys = self._expanded_context.get(layer.index)
        if keys is None:  # expanded once per layer for the whole pass, not once per batch
            keys = self._expanded_context[layer.index] = expand_kv(self.context_keys[layer.index], layer.n_heads)
        s = torch.einsum("bhd,htd->bt", q_rot, keys) * layer.module.scaling
        if layer.window is not None:
            query_pos = self.query_positions[torch.arange(len(at)), at]
            s = s.masked_fill(query_pos[:, None] - self.context_positions[None] >= layer.window, float("nan"))
        return s

    def take(self) -> dict[str, object]:
        """This forward's records, stacked per row: out (B, L, d), q (B, L, H*hd), scores [B][(L, H, n)], ctx."""
        rec: dict[str, object] = {
            "out": torch.stack(self.out, 1).numpy(),
            "q": torch.stack(self.q, 1).numpy(),
            "scores": [torch.stack([s[b] for s in self.scores]).numpy() for b in range(len(self.rows))],
        }
        if self.context_keys is not None:
            rec["ctx"] = torch.stack(self.ctx, 1).numpy()
        self.reset()
        return rec
