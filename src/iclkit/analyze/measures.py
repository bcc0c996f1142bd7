"""Dai et al. (2023) measures as pure numpy functions (spec §3). Averaging order as in the released code:
heads → examples → layers; every function returns the per-layer array, the caller reports its mean.

Random baselines take an explicit ``numpy.random.Generator`` (the released code draws unseeded
``np.random.random``; seeding keeps a resumed run's numbers identical).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

EPS = 1e-20  # compute_sim.py's cosine guard


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine over the last axis, ``a.b / (|a||b| + 1e-20)`` (so a zero vector gives 0, not NaN)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1) + EPS)


def normalize(h: np.ndarray) -> np.ndarray:
    h = np.asarray(h, dtype=np.float64)
    return h / (np.linalg.norm(h, axis=-1, keepdims=True) + EPS)


def rec2ftp(gold: Sequence, zsl: Sequence, icl: Sequence, ft: Sequence) -> dict[str, float | int | None]:
    """Recall to FT predictions: of the examples FT gets right and ZSL wrong, the share ICL also gets right (%).

    ``value`` is None when FT fixes no ZSL error (the released code divides by zero there)."""
    g, z, i, f = (np.asarray(x, dtype=object) for x in (gold, zsl, icl, ft))
    ft_fixes = (f == g) & (z != g)
    both = ft_fixes & (i == g)
    n = int(ft_fixes.sum())
    return {"value": 100.0 * int(both.sum()) / n if n else None, "n_ft_over_zsl": n, "n_both": int(both.sum())}


def simaou(h_zsl: np.ndarray, h_icl: np.ndarray, h_ft: np.ndarray) -> np.ndarray:
    """Per-layer mean over examples of cos(ĥ_ICL − ĥ_ZSL, ĥ_FT − ĥ_ZSL); inputs (N, L, d)."""
    z = normalize(h_zsl)
    return cosine(normalize(h_icl) - z, normalize(h_ft) - z).mean(0)


def simaou_random(h_zsl: np.ndarray, h_icl: np.ndarray, rng: np.random.Generator,
                  kind: str = "uniform") -> np.ndarray:
    """SimAOU against a random update: ``uniform`` U[0,1) as the released code (not zero-mean), or ``gaussian``."""
    delta = normalize(h_icl) - normalize(h_zsl)
    shape = np.shape(delta)
    r = rng.random(shape) if kind == "uniform" else rng.standard_normal(shape)
    return cosine(delta, r).mean(0)


def simam(maps_a: Sequence[np.ndarray], maps_b: Sequence[np.ndarray]) -> np.ndarray:
    """Per-layer similarity of pre-softmax attention maps: cos over keys, mean over heads, then examples.

    Each map is one example's (L, H, n) scores from p* to its query-segment keys; examples may differ in n.
    """
    per_example = [cosine(a, b).mean(-1) for a, b in zip(maps_a, maps_b)]
    return np.mean(per_example, axis=0)


def simam_diff(maps_icl: Sequence[np.ndarray], maps_ft: Sequence[np.ndarray],
               maps_zsl: Sequence[np.ndarray]) -> np.ndarray:
    """Deutch et al.'s FT-diff variant: cos(m_ICL − m_ZSL, m_FT − m_ZSL), averaged as :func:`simam`."""
    return simam([i - z for i, z in zip(maps_icl, maps_zsl)], [f - z for f, z in zip(maps_ft, maps_zsl)])


def softmax(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _kendall_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Kendall tau-b per layer between two (L, N) arrays; NaN for a layer with NaN entries (masked keys)."""
    from scipy.stats import kendalltau

    # softmax as the released code does (it changes no rank, unless float64 underflow creates ties, as theirs would);
    # one vectorised call over the layers, and the asymptotic p-value since only the statistic is used
    return np.asarray(kendalltau(softmax(a), softmax(b), axis=-1, method="asymptotic").statistic, dtype=np.float64)


def kendall(att_icl: Sequence[np.ndarray], att_ft: Sequence[np.ndarray]) -> np.ndarray:
    """Per-layer mean over examples of Kendall's tau between ICL attention to the demonstration tokens and FT's
    query-query products with the training tokens; each item (L, N). Layers with masked keys are NaN."""
    return np.mean([_kendall_rows(np.asarray(a, float), np.asarray(f, float)) for a, f in zip(att_icl, att_ft)],
                   axis=0)


def kendall_random(att_icl: Sequence[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """Kendall of the ICL attention against U[0,1) scores (the paper's random baseline)."""
    return kendall(att_icl, [rng.random(np.shape(a)) for a in att_icl])


def layer_mean(per_layer: np.ndarray) -> float | None:
    """The reported number: mean over layers, ignoring NaN layers (None if all are NaN)."""
    arr = np.asarray(per_layer, dtype=np.float64)
    return None if np.isnan(arr).all() else float(np.nanmean(arr))


def seed_interval(values: Sequence[float], confidence: float = 0.95) -> dict[str, float | int | None]:
    """Mean over seeds with a Student-t interval (None bounds for fewer than two seeds)."""
    from scipy.stats import t

    vals = np.asarray([v for v in values if v is not None], dtype=np.float64)
    if len(vals) == 0:
        return {"mean": None, "low": None, "high": None, "n": 0}
    mean = float(vals.mean())
    if len(vals) < 2:
        return {"mean": mean, "low": None, "high": None, "n": 1}
    half = float(t.ppf(0.5 + confidence / 2, len(vals) - 1) * vals.std(ddof=1) / np.sqrt(len(vals)))
    return {"mean": mean, "low": mean - half, "high": mean + half, "n": len(vals)}
