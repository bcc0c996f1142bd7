"""Metrics over label names, with 95% confidence intervals.

ICL results on a few hundred examples differ by a point or two between configurations, which is often inside the
sampling noise; every number we report therefore carries an interval. Accuracy uses the Wilson score interval
(closed form, well behaved near 0 and 1); macro-F1 has no closed form, so it uses a percentile bootstrap computed
from per-resample confusion matrices in numpy (1000 resamples of 2000 examples take milliseconds, not the minutes
that 1000 scikit-learn calls would).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from iclkit.errors import IclkitError

Labels = Sequence[str | None]
MetricFn = Callable[[Labels, Labels], float]

_BOOTSTRAP_CELLS = 4_000_000  # resamples x examples per chunk: bounds the bootstrap's memory to tens of MB


@dataclass(frozen=True)
class MetricResult:
    """A point estimate with its confidence interval (``low``/``high`` bound the 95% interval by default)."""

    name: str
    value: float
    low: float
    high: float

    def to_dict(self) -> dict[str, float]:
        return {k: v for k, v in asdict(self).items() if k != "name"}


def _check_pairs(gold: Labels, pred: Labels) -> int:
    """Mismatched lengths are a programming error; an empty set is a user-facing one (e.g. an empty eval file)."""
    if len(gold) != len(pred):
        raise ValueError(f"gold and pred differ in length ({len(gold)} vs {len(pred)})")
    if len(gold) == 0:
        raise IclkitError("no labelled examples to evaluate: metrics need at least one example with a gold label")
    return len(gold)


def accuracy(gold: Labels, pred: Labels) -> float:
    """Fraction of exact matches between gold and predicted label names."""
    n = _check_pairs(gold, pred)
    return sum(g == p for g, p in zip(gold, pred)) / n


def macro_f1(gold: Labels, pred: Labels, labels: Sequence[str]) -> float:
    """Unweighted mean of per-label F1 over *all* task labels, so a label the model never predicts scores 0.

    Passing every label (not just those seen) is what exposes a model that collapses onto one class; plain
    accuracy hides that on imbalanced sets.
    """
    _check_pairs(gold, pred)
    from sklearn.metrics import f1_score  # lazy: sklearn.metrics costs ~1 s to import

    return float(f1_score(_as_strings(gold), _as_strings(pred), average="macro", labels=list(labels),
                          zero_division=0))


def wilson_interval(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion ``k/n`` (does not collapse to a point at 0 or n)."""
    if n <= 0:
        raise IclkitError("cannot compute a confidence interval over zero examples")
    if not 0 <= k <= n:
        raise ValueError(f"k={k} must lie in [0, n={n}]")
    p = k / n
    z2 = z * z
    denom = 1.0 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


# --- confusion-matrix metrics: the bootstrap's fast path -------------------------------------------------------


@dataclass(frozen=True)
class ConfusionMetric:
    """A metric computable from confusion matrices, so the bootstrap can evaluate all resamples in one pass.

    ``conf[r, g, p]`` counts examples of resample ``r`` with gold code ``g`` and predicted code ``p``; codes
    ``0..len(labels)-1`` are the task labels in order, higher codes are other strings seen (e.g. ``None``).
    """

    name: str
    labels: tuple[str, ...] = ()

    def __call__(self, gold: Labels, pred: Labels) -> float:
        if self.name == "macro_f1":
            return macro_f1(gold, pred, self.labels)
        return accuracy(gold, pred)

    def from_confusion(self, conf: np.ndarray) -> np.ndarray:
        if self.name == "accuracy":
            return np.trace(conf, axis1=1, axis2=2) / conf.sum(axis=(1, 2))
        if self.name == "macro_f1":
            return _macro_f1_from_confusion(conf, len(self.labels))
        raise ValueError(f"unknown confusion metric {self.name!r}")


def accuracy_metric() -> ConfusionMetric:
    return ConfusionMetric("accuracy")


def macro_f1_metric(labels: Sequence[str]) -> ConfusionMetric:
    """``macro_f1`` with its labels bound, in the form ``bootstrap_interval`` can vectorise."""
    return ConfusionMetric("macro_f1", tuple(labels))


def _macro_f1_from_confusion(conf: np.ndarray, n_labels: int) -> np.ndarray:
    """Per-label F1 = 2tp / (2tp + fp + fn), 0 where undefined (sklearn's ``zero_division=0``), averaged."""
    if n_labels == 0:
        raise ValueError("macro-F1 needs at least one label")
    diag = np.diagonal(conf, axis1=1, axis2=2)[:, :n_labels].astype(np.float64)
    fp = conf.sum(axis=1)[:, :n_labels] - diag  # predicted as the label, gold something else
    fn = conf.sum(axis=2)[:, :n_labels] - diag  # gold the label, predicted something else
    denom = 2 * diag + fp + fn
    f1 = np.divide(2 * diag, denom, out=np.zeros_like(diag), where=denom > 0)
    return f1.mean(axis=1)


def _encode(gold: Labels, pred: Labels, labels: Sequence[str]) -> tuple[np.ndarray, np.ndarray, int]:
    """Integer codes with the task labels first, so matching strings (even unknown ones) share a code."""
    vocab = {lab: i for i, lab in enumerate(labels)}
    for x in sorted({str(v) for v in (*gold, *pred)} - set(vocab)):
        vocab[x] = len(vocab)
    g = np.fromiter((vocab[str(x)] for x in gold), dtype=np.int64, count=len(gold))
    p = np.fromiter((vocab[str(x)] for x in pred), dtype=np.int64, count=len(pred))
    return g, p, len(vocab)


def _bootstrap_confusion(metric: ConfusionMetric, gold: Labels, pred: Labels, idx: np.ndarray) -> np.ndarray:
    """Metric of each resample (rows of ``idx``) via one ``bincount`` over (resample, gold, pred) cells."""
    g, p, k = _encode(gold, pred, metric.labels)
    pair = g * k + p
    rows = idx.shape[0]
    flat = pair[idx] + (np.arange(rows, dtype=np.int64) * k * k)[:, None]
    conf = np.bincount(flat.ravel(), minlength=rows * k * k).reshape(rows, k, k)
    return metric.from_confusion(conf)


def bootstrap_interval(metric_fn: MetricFn, gold: Labels, pred: Labels, *, n_resamples: int = 1000,
                       seed: int = 0, alpha: float = 0.05) -> tuple[float, float]:
    """Percentile bootstrap interval of ``metric_fn`` over examples (resampled with replacement).

    A :class:`ConfusionMetric` (``accuracy_metric()``, ``macro_f1_metric(labels)``) is computed for all resamples
    at once; ``accuracy`` itself is recognised too. Any other ``(gold, pred) -> float`` is called per resample.
    """
    n = _check_pairs(gold, pred)
    if n_resamples < 1 or not 0 < alpha < 1:
        raise ValueError("need n_resamples >= 1 and 0 < alpha < 1")
    if metric_fn is accuracy:
        metric_fn = accuracy_metric()
    rng = np.random.default_rng(seed)
    chunk = max(1, _BOOTSTRAP_CELLS // n)
    values: list[np.ndarray] = []
    for start in range(0, n_resamples, chunk):
        idx = rng.integers(0, n, size=(min(chunk, n_resamples - start), n))
        if isinstance(metric_fn, ConfusionMetric):
            values.append(_bootstrap_confusion(metric_fn, gold, pred, idx))
        else:
            values.append(np.array([metric_fn([gold[i] for i in row], [pred[i] for i in row]) for row in idx]))
    low, high = np.quantile(np.concatenate(values), [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)


def paired_difference(groups: Sequence[tuple[Sequence[float], Sequence[float]]], *, n_resamples: int = 2000,
                      seed: int = 0, alpha: float = 0.05) -> MetricResult:
    """Mean per-example difference ``a - b`` with a paired percentile bootstrap interval.

    Each group is one evaluation set (a task) scored by both systems, example by example (a score may be an average
    over demonstration seeds). With several groups the estimate is the unweighted mean of the per-group mean
    differences, and the bootstrap resamples examples within each group (stratified), so every task keeps its weight.
    """
    if not groups or n_resamples < 1 or not 0 < alpha < 1:
        raise ValueError("need at least one group, n_resamples >= 1 and 0 < alpha < 1")
    rng = np.random.default_rng(seed)
    diffs = []
    for a, b in groups:
        if len(a) != len(b) or len(a) == 0:
            raise ValueError(f"paired scores must be non-empty and of equal length ({len(a)} vs {len(b)})")
        diffs.append(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64))
    point = float(np.mean([d.mean() for d in diffs]))
    resampled = np.mean([d[rng.integers(0, len(d), size=(n_resamples, len(d)))].mean(axis=1) for d in diffs], axis=0)
    low, high = np.quantile(resampled, [alpha / 2, 1 - alpha / 2])
    return MetricResult("difference", point, float(low), float(high))


# --- diagnostics and aggregation -------------------------------------------------------------------------------


def label_distribution(pred: Labels, labels: Sequence[str]) -> dict[str, float]:
    """Fraction of predictions per label: a model stuck on one label shows up here before it shows in accuracy.

    Predictions outside ``labels`` (should not happen with scored labels) are counted under ``"<other>"`` so the
    fractions still sum to 1.
    """
    if not pred:
        return {lab: 0.0 for lab in labels}
    known = set(labels)
    out = {lab: 0.0 for lab in labels}
    for p in pred:
        key = p if p in known else "<other>"
        out[key] = out.get(key, 0.0) + 1.0
    return {k: v / len(pred) for k, v in out.items()}


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1) across demonstration seeds; std is 0.0 for a single seed."""
    if len(values) == 0:
        raise IclkitError("cannot aggregate zero runs")
    arr = np.asarray(values, dtype=np.float64)
    std = float(arr.std(ddof=1)) if len(arr) > 1 else 0.0
    return float(arr.mean()), std


def summarize(gold: Labels, pred: Labels, labels: Sequence[str], *, seed: int = 0,
              n_resamples: int = 1000) -> dict[str, Any]:
    """Accuracy (Wilson CI) and macro-F1 (bootstrap CI) plus the predicted-label distribution, as plain JSON.

    Examples without a gold label (``None``) are left out of the metrics and counted in ``n_unlabelled``, so an
    eval file with a few unlabelled rows still gets a summary; one with no labels at all is an error.
    """
    if len(gold) != len(pred):
        raise ValueError(f"gold and pred differ in length ({len(gold)} vs {len(pred)})")
    pairs = [(g, p) for g, p in zip(gold, pred) if g is not None]
    if not pairs:
        raise IclkitError(f"no labelled examples to evaluate ({len(gold)} predictions, none with a gold label)")
    g = [x for x, _ in pairs]
    p = [y for _, y in pairs]
    n = len(pairs)
    acc = accuracy(g, p)
    acc_ci = wilson_interval(sum(a == b for a, b in pairs), n)
    f1 = macro_f1(g, p, labels)
    f1_ci = bootstrap_interval(macro_f1_metric(labels), g, p, n_resamples=n_resamples, seed=seed)
    return {
        "n": n,
        "n_unlabelled": len(gold) - n,
        "accuracy": {**MetricResult("accuracy", acc, *acc_ci).to_dict(), "ci": "wilson95"},
        "macro_f1": {**MetricResult("macro_f1", f1, *f1_ci).to_dict(), "ci": f"bootstrap95 ({n_resamples})"},
        "predicted_distribution": label_distribution(p, labels),
        "gold_distribution": label_distribution(g, labels),
    }



# --- per-label views (reports) ---------------------------------------------------------------------------------

COLLAPSE_SHARE = 0.9  # one label taking this share of the predictions is flagged as label collapse


def largest_share(distribution: Mapping[str, float]) -> tuple[str, float]:
    """The most predicted label and its share of a ``label_distribution``; ``("", 0.0)`` when empty."""
    if not distribution:
        return "", 0.0
    label = max(distribution, key=lambda k: (distribution[k], k))
    return label, float(distribution[label])


def is_collapsed(distribution: Mapping[str, float], threshold: float = COLLAPSE_SHARE) -> bool:
    """Whether one label takes at least ``threshold`` of the predictions (label collapse)."""
    return largest_share(distribution)[1] >= threshold


def per_label_f1(gold: Labels, pred: Labels, labels: Sequence[str]) -> dict[str, float]:
    """F1 of each task label (0 where undefined), the terms that :func:`macro_f1` averages."""
    _check_pairs(gold, pred)
    from sklearn.metrics import f1_score

    scores = f1_score(_as_strings(gold), _as_strings(pred), average=None, labels=list(labels), zero_division=0)
    return {lab: float(s) for lab, s in zip(labels, scores)}


def confusion_counts(gold: Labels, pred: Labels, labels: Sequence[str]) -> list[list[int]]:
    """Counts with gold labels as rows and predicted labels as columns, both in ``labels`` order."""
    _check_pairs(gold, pred)
    from sklearn.metrics import confusion_matrix

    return confusion_matrix(_as_strings(gold), _as_strings(pred), labels=list(labels)).tolist()


def _as_strings(values: Labels) -> list[str]:
    return ["" if x is None else str(x) for x in values]


# ------------------------------------------------------------------------------------------ generation answers
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = re.compile(r"[^\w\s]")


def normalize_answer(text: str | None) -> str:
    """SQuAD normalisation: lower case, no punctuation, no articles, single spaces; numbers in canonical form
    (``"1,000.0"`` and ``"1000"`` compare equal)."""
    if text is None:
        return ""
    number = text.strip().replace(",", "").rstrip(".")
    try:
        value = float(number)
        if math.isfinite(value):
            return str(int(value)) if value == int(value) else repr(value)
    except ValueError:
        pass
    text = _PUNCT.sub(" ", text.lower())
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(gold: str | None, pred: str | None) -> float:
    """1.0 when the normalised answers are equal (an unparseable prediction, ``None``, never matches)."""
    return float(pred is not None and gold is not None and normalize_answer(gold) == normalize_answer(pred))


def token_f1(gold: str | None, pred: str | None) -> float:
    """SQuAD token F1 between normalised answers (bag of tokens, multiplicities counted)."""
    g, p = normalize_answer(gold).split(), normalize_answer(pred).split()
    if pred is None or not g or not p:
        return float(g == p and pred is not None)
    common = Counter(g) & Counter(p)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision, recall = same / len(p), same / len(g)
    return 2 * precision * recall / (precision + recall)


def summarize_generation(gold: Sequence[str | None], pred: Sequence[str | None], *, seed: int = 0) -> dict[str, Any]:
    """Exact match (Wilson 95% CI), mean token F1 (bootstrap 95% CI) and the count of unparseable answers."""
    n = len(gold)
    if n == 0:
        raise IclkitError("no examples to evaluate")
    em = [exact_match(g, p) for g, p in zip(gold, pred)]
    f1 = np.array([token_f1(g, p) for g, p in zip(gold, pred)])
    k = int(sum(em))
    low, high = wilson_interval(k, n)
    rng = np.random.default_rng(seed)
    boot = f1[rng.integers(0, n, size=(1000, n))].mean(axis=1)
    return {
        "exact_match": {"value": k / n, "low": low, "high": high, "ci": 0.95},
        "token_f1": {"value": float(f1.mean()), "low": float(np.quantile(boot, 0.025)),
                     "high": float(np.quantile(boot, 0.975)), "ci": 0.95},
        "unparseable": sum(p is None for p in pred),
        "n": n,
    }
