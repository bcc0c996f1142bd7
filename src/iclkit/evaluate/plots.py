"""Figures of the HTML report, drawn with matplotlib's Agg backend and saved as PNG files.

Every function takes plain data (label names, metric cells, counts) and the PNG path to write, and returns that path.
A metric cell is either one run's ``{"value", "low", "high"}`` (95% interval) or several seeds'
``{"mean", "std", "values"}`` (the bar is the mean, the error bar ± one std, the dots the seeds).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

Cell = Mapping[str, Any]
PALETTE = ("#3b6ea8", "#e08a2e", "#4f9a55", "#b8494b", "#7d62a8", "#8c6d4f", "#c464a4", "#6f7378")
COLLAPSE_COLOUR = "#b8494b"


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only: never open a window or need a display
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 9, "axes.spines.top": False, "axes.spines.right": False,
                         "axes.titleweight": "bold", "axes.titlesize": 10})
    return plt


def _save(fig, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=110)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path


def centre_and_error(cell: Cell | None) -> tuple[float, float, float]:
    """(centre, distance down, distance up) of a metric cell: its 95% interval, or ± one std across seeds."""
    if not cell:
        return float("nan"), 0.0, 0.0
    if "mean" in cell:
        return float(cell["mean"]), float(cell["std"]), float(cell["std"])
    value = float(cell["value"])
    return value, value - float(cell.get("low", value)), float(cell.get("high", value)) - value


def _bar_group(ax, names: Sequence[str], series: Mapping[str, Sequence[Cell | None]], ylabel: str) -> None:
    """Grouped bars (one group per name, one bar per series) with error bars and the seeds as dots."""
    width = 0.8 / max(1, len(series))
    x = np.arange(len(names))
    for i, (label, cells) in enumerate(series.items()):
        stats = np.array([centre_and_error(c) for c in cells])
        pos = x + (i - (len(series) - 1) / 2) * width
        errors = stats[:, 1:].T if stats[:, 1:].any() else None
        ax.bar(pos, stats[:, 0], width * 0.9, yerr=errors, capsize=3, label=label,
               color=PALETTE[i % len(PALETTE)], alpha=0.9, error_kw={"elinewidth": 1})
        for p, cell in zip(pos, cells):
            if cell and len(cell.get("values", ())) > 1:
                ax.scatter([p] * len(cell["values"]), cell["values"], s=10, color="black", zorder=3)
    ax.set_xticks(x, names, rotation=20 if len(names) > 3 else 0, ha="right" if len(names) > 3 else "center")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel(ylabel)
    ax.grid(axis="y", alpha=0.3)


def metric_bars(names: Sequence[str], accuracy: Sequence[Cell], macro_f1: Sequence[Cell], path: str | Path) -> Path:
    """Accuracy and macro-F1 per variant, side by side."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(max(6.4, 1.3 * len(names) + 3), 3.2))
    for ax, cells, title in zip(axes, (accuracy, macro_f1), ("accuracy", "macro-F1")):
        _bar_group(ax, names, {title: cells}, title)
        ax.set_title(title)
    return _save(fig, path)


def calibration_bars(names: Sequence[str], series: Mapping[str, Sequence[Cell | None]], path: str | Path,
                     metric: str = "accuracy") -> Path:
    """One group per variant, one bar per calibration (raw, contextual, batch)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(6.4, 1.6 * len(names) + 2), 3.4))
    _bar_group(ax, names, series, metric)
    ax.set_title(f"{metric}: raw vs calibrated")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    return _save(fig, path)


def accuracy_vs_shots(series: Mapping[str, Sequence[tuple[int, Cell]]], path: str | Path) -> Path:
    """Accuracy against the number of demonstrations k, one line per selection method."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 3.4))
    for i, (label, points) in enumerate(series.items()):
        points = sorted(points, key=lambda p: p[0])
        ks = [k for k, _ in points]
        stats = np.array([centre_and_error(c) for _, c in points])
        ax.errorbar(ks, stats[:, 0], yerr=stats[:, 1:].T, marker="o", capsize=3, label=label,
                    color=PALETTE[i % len(PALETTE)])
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("k (demonstrations)")
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1.05)
    ax.grid(alpha=0.3)
    ax.legend(frameon=False)
    ax.set_title("accuracy vs k")
    return _save(fig, path)


def label_distribution(labels: Sequence[str], series: Mapping[str, Mapping[str, float]], path: str | Path, *,
                       collapsed: bool = False) -> Path:
    """Share of each label among the gold labels and the predictions (raw and calibrated)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4.6, max(3.0, 0.22 * len(labels) * max(1, len(series)) + 1.6)))
    height = 0.8 / max(1, len(series))
    y = np.arange(len(labels))
    for i, (name, dist) in enumerate(series.items()):
        ax.barh(y + i * height, [dist.get(lab, 0.0) for lab in labels], height * 0.9, label=name,
                color=PALETTE[i % len(PALETTE)])
    ax.axvline(0.9, color=COLLAPSE_COLOUR, linestyle="--", linewidth=1, label="collapse (90%)")
    ax.set_yticks(y + height * (len(series) - 1) / 2, labels)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of examples")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, frameon=False, fontsize=8)
    title = "label distribution" + (" — LABEL COLLAPSE" if collapsed else "")
    ax.set_title(title, color=COLLAPSE_COLOUR if collapsed else "black")
    return _save(fig, path)


def confusion_matrix(labels: Sequence[str], counts: Sequence[Sequence[int]], path: str | Path) -> Path:
    """Counts with gold labels as rows and predictions as columns, shaded by each row's share."""
    plt = _pyplot()
    matrix = np.asarray(counts, dtype=float)
    rows = matrix.sum(axis=1, keepdims=True)
    share = np.divide(matrix, rows, out=np.zeros_like(matrix), where=rows > 0)
    size = max(3.0, 0.7 * len(labels) + 1.8)
    fig, ax = plt.subplots(figsize=(size + 0.8, size))
    image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for g in range(len(labels)):
        for p in range(len(labels)):
            ax.text(p, g, f"{int(matrix[g, p])}", ha="center", va="center",
                    color="white" if share[g, p] > 0.6 else "black")
    ax.set_xticks(range(len(labels)), labels, rotation=30 if len(labels) > 3 else 0)
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    ax.set_title("confusion matrix")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of gold row")
    return _save(fig, path)


def per_label_f1(labels: Sequence[str], series: Mapping[str, Mapping[str, float]], path: str | Path) -> Path:
    """F1 of each label (raw, and calibrated when present)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(4.6, 0.6 * len(labels) * max(1, len(series)) + 2), 3.4))
    cells = {name: [{"value": f1.get(lab, 0.0)} for lab in labels] for name, f1 in series.items()}
    _bar_group(ax, list(labels), cells, "F1")
    ax.set_title("per-label F1")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12 if len(labels) <= 3 else -0.25), ncol=2,
              frameon=False, fontsize=8)
    return _save(fig, path)
