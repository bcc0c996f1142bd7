"""The dual form of Dai et al. §3 (spec §6), checked on real tensors.

For one head, with RoPE'd keys ``K``, values ``V`` and the query ``q`` of the last token, split the key positions into
demonstrations ``D`` and the query segment ``Q`` (which includes the query token itself). Relaxed linear attention
(no softmax, no scaling) is exactly ``(W_ZSL + ΔW_ICL) q`` with ``W_ZSL = V_Q K_Qᵀ`` and ``ΔW_ICL = Σ_i v_i k_iᵀ``
over the demonstration positions. Softmax attention is not: :func:`softmax_gap` measures how far it is.
"""

from __future__ import annotations

import numpy as np


def linear_attention(q: np.ndarray, keys: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Σ_j v_j (k_j · q): keys/values (n, hd), q (hd,)."""
    return values.T @ (keys @ q)


def dual_form(q: np.ndarray, keys: np.ndarray, values: np.ndarray, demo: slice | np.ndarray,
              query: slice | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(linear attention over demonstrations and query segment, (W_ZSL + ΔW_ICL) q) in float64."""
    q, keys, values = (np.asarray(x, dtype=np.float64) for x in (q, keys, values))
    both = np.concatenate([np.arange(len(keys))[demo], np.arange(len(keys))[query]])
    direct = linear_attention(q, keys[both], values[both])
    w_zsl = values[query].T @ keys[query]
    delta_icl = np.einsum("ni,nj->ij", values[demo], keys[demo])  # Σ_i v_i ⊗ k_i
    return direct, (w_zsl + delta_icl) @ q


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(a), np.finfo(np.float64).tiny))


def softmax_attention(q: np.ndarray, keys: np.ndarray, values: np.ndarray, scaling: float) -> np.ndarray:
    s = (np.asarray(keys, np.float64) @ np.asarray(q, np.float64)) * scaling
    w = np.exp(s - s.max())
    return (w / w.sum()) @ np.asarray(values, np.float64)


def softmax_gap(q: np.ndarray, keys: np.ndarray, values: np.ndarray, scaling: float) -> dict[str, float]:
    """How far softmax attention is from the linear (dual-form) one for the same q, K, V:
    ``cosine`` of the two outputs and ``rel_error`` of the best scalar multiple of the linear output."""
    soft = softmax_attention(q, keys, values, scaling)
    lin = linear_attention(np.asarray(q, np.float64), np.asarray(keys, np.float64), np.asarray(values, np.float64))
    cos = float(soft @ lin / (np.linalg.norm(soft) * np.linalg.norm(lin) + 1e-20))
    alpha = float(soft @ lin / max(lin @ lin, 1e-300))
    return {"cosine": cos, "rel_error": relative_error(soft, alpha * lin)}


def layer_qkv(model, tokens) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, float, int | None]]:
    """Per layer of one forward over ``tokens``: (RoPE'd q (H, T, hd), RoPE'd k and v (n_kv, T, hd), scaling,
    sliding window), captured by hooks on the model's own attention modules."""
    import torch

    from iclkit.analyze.hooks import attention_layers, project, rotated_qk

    layers = attention_layers(model)
    got: list = [None] * len(layers)

    def pre_hook(layer):
        def hook(module, args, kwargs):
            hidden = kwargs.get("hidden_states", args[0] if args else None)
            _, q_rot, k_rot = rotated_qk(layer, hidden, kwargs["position_embeddings"])
            v = project(module, hidden, "v")
            got[layer.index] = tuple(x[0].double().numpy() for x in (q_rot, k_rot, v)) + (
                float(module.scaling), layer.window)

        return hook

    handles = [layer.module.register_forward_pre_hook(pre_hook(layer), with_kwargs=True) for layer in layers]
    try:
        with torch.inference_mode():
            model(input_ids=torch.tensor([list(tokens)], device=next(model.parameters()).device))
    finally:
        for h in handles:
            h.remove()
    return got


def check_layers(model, tokens, n_context: int) -> list[dict[str, float]]:
    """Per layer: the dual-form identity's worst relative error over heads (demonstrations = the first
    ``n_context`` positions, query segment = the rest up to the last token), and the softmax gap (mean over heads)
    on the keys that layer really attends to (a sliding window's last ``window`` positions)."""
    report = []
    for q_all, k_all, v_all, scaling, window in layer_qkv(model, tokens):
        n_heads, t = q_all.shape[0], q_all.shape[1] - 1
        group = n_heads // k_all.shape[0]
        errors, cosines, gaps = [], [], []
        for h in range(n_heads):
            q, keys, values = q_all[h, t], k_all[h // group, : t + 1], v_all[h // group, : t + 1]
            direct, dual = dual_form(q, keys, values, slice(0, n_context), slice(n_context, t + 1))
            errors.append(relative_error(direct, dual))
            visible = slice(max(0, t + 1 - window), t + 1) if window else slice(0, t + 1)
            gap = softmax_gap(q, keys[visible], values[visible], scaling)
            cosines.append(gap["cosine"])
            gaps.append(gap["rel_error"])
        report.append({"identity_rel_error": max(errors), "softmax_cosine": float(np.mean(cosines)),
                       "softmax_rel_error": float(np.mean(gaps)), "sliding_window": window})
    return report
