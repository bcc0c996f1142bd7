"""Entropies of label distributions, shared by MDL, mutual-information selection and entropy ordering (nats)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def label_probs(scores: Sequence[Sequence[float]]) -> np.ndarray:
    """Softmax over each row of per-label scores (log-probability-like)."""
    x = np.asarray(scores, dtype=np.float64)
    x = np.exp(x - x.max(axis=-1, keepdims=True))
    return x / x.sum(axis=-1, keepdims=True)


def entropy(p: np.ndarray) -> np.ndarray:
    """Entropy along the last axis."""
    return -(p * np.log(np.maximum(p, 1e-300))).sum(axis=-1)


def mutual_information(probs: np.ndarray) -> float:
    """``H(mean_i p_i) - mean_i H(p_i)`` (Sorensen et al. 2022), for rows ``p_i`` of one prompt."""
    return float(entropy(probs.mean(axis=0)) - entropy(probs).mean())


def histogram_entropy(predictions: Sequence[int], n_labels: int) -> float:
    """Entropy of the predicted-label histogram (Lu et al.'s GlobalE)."""
    counts = np.bincount(np.asarray(predictions, dtype=int), minlength=n_labels).astype(np.float64)
    return float(entropy(counts / max(1.0, counts.sum())))
