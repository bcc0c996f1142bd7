"""Momentum attention (Dai et al. 2023, §5, Eq. 15) as a plug-in for HF causal LMs.

Each attention head's output at position t gets the exponential moving average of the *earlier* value vectors added
before the output projection::

    out_t = Attn(q_t, K, V) + scale * sum_{i<t} eta^(t-i) v_i    (independent of the query)

``scale`` is 1 in the paper's Eq. 15 (not normalised: the weights sum to up to eta / (1 - eta), 9 at eta = 0.9);
``scale = 1 - eta`` makes the term a normalised moving average whose weights sum to at most eta.

Mechanism: transformers' attention modules (Llama, Gemma-3, Qwen2, Mistral, ... every model on the
``AttentionInterface``) call ``ALL_ATTENTION_FUNCTIONS[config._attn_implementation]`` with the post-cache value
tensor and put the result through ``o_proj``. :func:`add_momentum` registers ``momentum_<base>`` (base = the model's
current ``sdpa`` or ``eager``) with the same mask function as the base, stores ``eta`` on each chosen attention
module, and switches the model to it; the new function runs the base attention and adds the momentum term. Modules
without ``momentum_eta`` (layers left out) get plain attention. :func:`remove_momentum` switches back.

The term is one matrix product per key/value head, ``M @ V`` with ``M[t, i] = eta^(t-i)`` for ``i < t`` (built
from a masked exponent, so ``eta^(t-i)`` is never evaluated for ``i > t``), then expanded to the query heads of the
group (GQA) the way attention repeats K/V: no loop over positions. Query spans longer than ``BLOCKED_FROM``
(training, prefill) use a blocked scan instead (:func:`chunked_momentum`, O(T * CHUNK * d), still matrix form). Training and inference both work; with a KV cache
the query rows are the last ``q_len`` of the cached length. Limits: padding must be on the right (left padding would
put pad values into later positions' sums); a sliding-window cache that has dropped old values sums only the values
it keeps (an error of order ``eta^window``).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable
from functools import lru_cache

import torch

PREFIX = "momentum_"
# Block size of the blocked scan used for long query spans: cost O(T * CHUNK * d) instead of O(T^2 * d).
CHUNK = 64
# Query spans up to this long use the dense matrix form (fewest ops; its O(T^2 d) is small next to attention's).
BLOCKED_FROM = 256


def _decay_matrix(rows: int, cols: int, log_decay: float, *, offset: int, strict: bool, device, dtype) -> torch.Tensor:
    """``D[r, i] = exp((t - i) * log_decay)`` where ``t = offset + r``, for ``i < t`` (``i <= t`` unless ``strict``),
    else 0. The exponent is masked before ``exp``, so no entry ever overflows."""
    t = torch.arange(offset, offset + rows, device=device).unsqueeze(1)
    i = torch.arange(cols, device=device).unsqueeze(0)
    gap = (t - i).to(torch.float64 if dtype == torch.float64 else torch.float32)
    keep = gap > 0 if strict else gap >= 0
    weights = torch.exp(torch.where(keep, gap, torch.zeros_like(gap)) * log_decay)
    return torch.where(keep, weights, torch.zeros_like(weights)).to(dtype)


@lru_cache(maxsize=8)  # every layer of a forward pass needs the same matrix
def momentum_matrix(q_len: int, kv_len: int, eta: float, *, device=None, dtype=torch.float32) -> torch.Tensor:
    """``M[r, i] = eta^(t-i)`` for ``i < t``, else 0, where ``t = kv_len - q_len + r`` is query row r's position.

    Cached (do not modify the result in place)."""
    return _decay_matrix(q_len, kv_len, math.log(eta), offset=kv_len - q_len, strict=True, device=device,
                         dtype=dtype)


@lru_cache(maxsize=8)
def _chunk_operators(chunk: int, blocks: int, eta: float, device, dtype) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    log_eta = math.log(eta)
    # rows 0..chunk-1: the exact form inside one block; last row: the block's contribution to the state at the start
    # of the next block (eta^(chunk - i) v_i). One matmul gives both.
    within_and_out = torch.cat([momentum_matrix(chunk, chunk, eta, device=device, dtype=dtype),
                                _decay_matrix(1, chunk, log_eta, offset=chunk, strict=True, device=device,
                                              dtype=dtype)])
    # state entering block j: sum over blocks k <= j-1 of (eta^chunk)^(j-1-k) times block k's contribution
    across = _decay_matrix(blocks, blocks, chunk * log_eta, offset=-1, strict=False, device=device, dtype=dtype)
    entering = torch.exp(torch.arange(chunk, device=device, dtype=torch.float64) * log_eta).to(dtype).unsqueeze(1)
    return within_and_out, across, entering


def chunked_momentum(value: torch.Tensor, eta: float, chunk: int) -> torch.Tensor:
    """The momentum at every position of ``value [..., T, d]`` in O(T * chunk * d), in matrix form (a blocked scan).

    Inside a block of ``chunk`` positions the exact matrix form is used; across blocks the state is carried by a
    small ``[blocks, blocks]`` matrix: ``m_t = within_t + eta^r * H_j`` for position ``r`` of block ``j``, where
    ``H_j = sum_{k<j} eta^(chunk*(j-1-k)) * sum_{i in block k} eta^(chunk-i) v_i``. Four tensor ops in all: on a
    loaded CPU each multi-threaded op can stall at a thread barrier, so their number matters as much as FLOPs.
    """
    *lead, length, d = value.shape
    blocks = -(-length // chunk)
    if blocks * chunk != length:
        value = torch.nn.functional.pad(value, (0, 0, 0, blocks * chunk - length))  # zeros flow nowhere earlier
    v = value.reshape(*lead, blocks, chunk, d)
    within_and_out, across, entering = _chunk_operators(chunk, blocks, float(eta), value.device, value.dtype)
    both = torch.matmul(within_and_out, v)  # [..., blocks, chunk + 1, d]
    state = torch.matmul(across, both[..., chunk, :])  # [..., blocks, d]: the state entering each block
    out = torch.addcmul(both[..., :chunk, :], entering, state.unsqueeze(-2))
    return out.reshape(*lead, blocks * chunk, d)[..., :length, :]


def momentum_term(value: torch.Tensor, q_len: int, eta: float, n_query_heads: int) -> torch.Tensor:
    """The momentum added to each query head's output.

    Args:
        value: ``[batch, kv_heads, kv_len, head_dim]`` (post-cache values, as the attention function receives them).
        q_len: number of query positions (the last ``q_len`` of ``kv_len``).
        eta: the decay, ``0 < eta < 1``.
        n_query_heads: query heads; each key/value head's term is shared by its group (GQA).

    Returns:
        ``[batch, q_len, n_query_heads, head_dim]``, the layout attention functions return.
    """
    b, kv, _, d = value.shape
    per_kv_head = _per_kv_head(value, q_len, eta)  # [b, q_len, kv, d]
    groups = n_query_heads // kv
    return per_kv_head.unsqueeze(3).expand(b, q_len, kv, groups, d).reshape(b, q_len, n_query_heads, d)


def _per_kv_head(value: torch.Tensor, q_len: int, eta: float) -> torch.Tensor:
    """``[b, q_len, kv_heads, d]``: dense rows for short query spans (decoding), the blocked scan for long ones."""
    kv_len = value.shape[-2]
    if q_len > BLOCKED_FROM:
        return chunked_momentum(value, eta, CHUNK)[..., kv_len - q_len:, :].transpose(1, 2)
    m = momentum_matrix(q_len, kv_len, float(eta), device=value.device, dtype=value.dtype)
    return torch.matmul(m, value).transpose(1, 2)


def add_momentum_term(out: torch.Tensor, value: torch.Tensor, eta: float, scale: float = 1.0) -> torch.Tensor:
    """``out [b, q, heads, d]`` plus ``scale`` times the momentum, broadcast over each key/value head's query group (no copy of
    the term per query head: query head ``h`` belongs to key/value head ``h // groups``, as in ``repeat_kv``)."""
    b, q, h, d = out.shape
    kv = value.shape[1]
    term = _per_kv_head(value, q, eta).to(out.dtype)
    if scale != 1.0:
        term = term * scale
    return (out.reshape(b, q, kv, h // kv, d) + term.unsqueeze(3)).reshape(b, q, h, d)


def _momentum_attention(base_name: str):
    from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

    def attention(module, query, key, value, attention_mask, **kwargs):
        base = ALL_ATTENTION_FUNCTIONS[base_name] if base_name != "eager" else _eager(module)
        out, weights = base(module, query, key, value, attention_mask, **kwargs)
        eta = getattr(module, "momentum_eta", None)
        if eta:
            out = add_momentum_term(out, value, eta, getattr(module, "momentum_scale", 1.0))
        return out, weights

    return attention


def _eager(module):
    # Each model file defines its own eager attention (Gemma's adds logit soft-capping): use the module's own.
    return sys.modules[type(module).__module__].eager_attention_forward


def register(base_name: str) -> str:
    """Register ``momentum_<base_name>`` as an attention function and mask type; returns the new name."""
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS
    from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

    name = PREFIX + base_name
    ALL_ATTENTION_FUNCTIONS.register(name, _momentum_attention(base_name))
    ALL_MASK_ATTENTION_FUNCTIONS.register(name, ALL_MASK_ATTENTION_FUNCTIONS[base_name])
    return name


def attention_modules(model) -> list[torch.nn.Module]:
    """The model's self-attention modules (those with ``o_proj`` and a ``layer_idx``), in layer order."""
    found = [m for m in model.modules() if hasattr(m, "o_proj") and hasattr(m, "layer_idx")]
    return sorted(found, key=lambda m: m.layer_idx)


def _set_implementation(model, name: str) -> None:
    for module in model.modules():
        config = getattr(module, "config", None)
        if config is not None and hasattr(config, "_attn_implementation"):
            config._attn_implementation = name


def add_momentum(model, eta: float, *, layers: Iterable[int] | None = None, scale: float = 1.0):
    """Add momentum attention with decay ``eta`` to ``model`` in place (all layers, or the given layer indices).

    ``scale`` multiplies the term: 1 is the paper's Eq. 15, ``1 - eta`` the normalised moving average.
    Returns the model. Calling it again changes ``eta``, ``scale`` or the layers.
    """
    from iclkit.errors import IclkitError

    if not 0.0 < eta < 1.0:
        raise IclkitError(f"momentum eta must be in (0, 1), got {eta}")
    if not scale > 0.0:
        raise IclkitError(f"momentum scale must be positive, got {scale}")
    modules = attention_modules(model)
    if not modules:
        raise IclkitError(f"{type(model).__name__} has no attention modules with o_proj/layer_idx; momentum "
                          "attention supports models on transformers' AttentionInterface (Llama, Gemma-3, ...)")
    current = model.config._attn_implementation or "eager"
    base = current.removeprefix(PREFIX)
    if base not in ("eager", "sdpa"):
        raise IclkitError(f"momentum attention wraps 'eager' or 'sdpa' attention, not '{base}'")
    chosen = set(range(len(modules))) if layers is None else set(layers)
    for module in modules:
        module.momentum_eta = eta if module.layer_idx in chosen else None
        module.momentum_scale = scale
    _set_implementation(model, register(base))
    return model


def remove_momentum(model):
    """Undo :func:`add_momentum`: plain attention again."""
    for module in attention_modules(model):
        module.momentum_eta = None
    current = model.config._attn_implementation or "eager"
    _set_implementation(model, current.removeprefix(PREFIX))
    return model


def reference_recurrence(value: torch.Tensor, eta: float) -> torch.Tensor:
    """Reference for tests: ``m_0 = 0, m_{t+1} = eta * (m_t + v_t)`` over ``value [..., T, d]`` (a loop over t)."""
    out = torch.zeros_like(value)
    state = torch.zeros_like(value[..., 0, :])
    for t in range(value.shape[-2]):
        out[..., t, :] = state
        state = eta * (state + value[..., t, :])
    return out
