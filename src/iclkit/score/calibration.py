"""Contextual calibration (Zhao et al. 2021, "Calibrate Before Use"), as a post-processor over label scores.

The same context (instruction + the same demonstrations in the same order) is scored with content-free inputs
("N/A", "", "[MASK]"); their label distributions, averaged and renormalised, estimate the prompt's prior p_cf.
Calibrated score = log p̂(y) − log p_cf(y), where p̂ is the query's label distribution renormalised over the labels
(``W = diag(p_cf)^-1, b = 0``). It applies to any scorer: its scores are turned into a distribution by softmax.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def label_distribution(scores: Sequence[float]) -> np.ndarray:
    """Softmax over the labels (scores are log-probabilities or log-probability-like)."""
    x = np.asarray(scores, dtype=np.float64)
    x = np.exp(x - x.max())
    return x / x.sum()


def contextual_prior(content_free_scores: Sequence[Sequence[float]]) -> np.ndarray:
    """Mean of the content-free inputs' label distributions, renormalised."""
    p = np.mean([label_distribution(s) for s in content_free_scores], axis=0)
    return p / p.sum()


def calibrate(scores: Sequence[float], prior: np.ndarray) -> tuple[float, ...]:
    """``log p̂(y) - log p_cf(y)``: the argmax of p̂/p_cf, kept in log space."""
    p = label_distribution(scores)
    return tuple(float(v) for v in np.log(np.maximum(p, 1e-300)) - np.log(np.maximum(prior, 1e-300)))


def batch_calibrate(score_rows: Sequence[Sequence[float]]) -> list[tuple[float, ...]]:
    """Batch calibration (Zhou et al. 2023, log-space variant): the prior is the mean label distribution over the
    evaluated inputs themselves, so no content-free prompts are needed. Transductive: it uses every test input."""
    probs = np.array([label_distribution(s) for s in score_rows])
    prior = probs.mean(axis=0)
    return [calibrate(s, prior) for s in score_rows]
