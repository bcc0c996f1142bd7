"""Result tables for the terminal: every number with its interval, or mean ± std across demonstration seeds.

A row is a plain dict so it can come from a fresh run, from ``summary.json`` or from ``results.json``::

    {"name": "topk-8shot", "n": 872, "n_demos": 8.0,
     "accuracy": {"value": 0.81, "low": 0.78, "high": 0.84},        # one run: value with its 95% CI
     "macro_f1": {"mean": 0.80, "std": 0.01, "n_seeds": 3},          # or several seeds: mean ± std
     "calibrated_accuracy": {...}, "calibrated_macro_f1": {...},     # only with calibration
     "batch_calibrated_accuracy": {...},                              # batch calibration (log-space)
     "top_label_share": {"label": "positive", "value": 0.93}}         # largest predicted-label share
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich.table import Table

from iclkit.errors import IclkitError
from iclkit.evaluate.metrics import COLLAPSE_SHARE, largest_share, mean_std

METRICS = ("accuracy", "macro_f1")
CALIBRATED = (*(f"calibrated_{m}" for m in METRICS), "batch_calibrated_accuracy")
HEADERS = {"accuracy": "accuracy [95% CI]", "macro_f1": "macro-F1 [95% CI]",
           "calibrated_accuracy": "cal. accuracy", "calibrated_macro_f1": "cal. macro-F1",
           "batch_calibrated_accuracy": "batch-cal. acc. (log)", "top_label_share": "top predicted label"}


def format_ci(value: float, low: float, high: float, digits: int = 3) -> str:
    """``0.812 [0.770, 0.849]``: the point estimate first, then its interval."""
    return f"{value:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def format_mean_std(mean: float, std: float, digits: int = 3) -> str:
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def format_cell(cell: Any) -> str:
    """Render one metric cell: a CI dict, a mean/std dict, a bare number, or ``–`` when absent."""
    if cell is None:
        return "–"
    if isinstance(cell, Mapping):
        if "mean" in cell:
            return format_mean_std(cell["mean"], cell["std"])
        if "low" in cell:
            return format_ci(cell["value"], cell["low"], cell["high"])
        return f"{cell['value']:.3f}"
    return f"{float(cell):.3f}"


def format_share(cell: Mapping[str, Any] | None) -> str:
    """``positive 93% ⚠``: the most predicted label, its share, and a warning at label collapse."""
    if not cell:
        return "–"
    flag = " ⚠" if cell["value"] >= COLLAPSE_SHARE else ""
    return f"{cell['label']} {cell['value']:.0%}{flag}"


def _format_demos(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, (int, float)):
        return f"{value:g}" if float(value).is_integer() else f"{value:.1f}"
    return str(value)


def results_table(rows: Sequence[Mapping[str, Any]], title: str) -> Table:
    """A rich table with one row per configuration; calibrated, demo and label-share columns appear only when some
    row has them. A top predicted label at or above 90% of the predictions is flagged (label collapse)."""
    extra = [k for k in CALIBRATED if any(r.get(k) is not None for r in rows)]
    show_demos = any(r.get("n_demos") is not None for r in rows)
    show_share = any(r.get("top_label_share") for r in rows)
    table = Table(title=title)
    # identifying columns never wrap; a metric cell wraps its interval under the value when the terminal is narrow
    table.add_column("name", style="bold", no_wrap=True)
    table.add_column("n", justify="right", no_wrap=True)
    if show_demos:
        table.add_column("demos", justify="right", no_wrap=True)
    for key in (*METRICS, *extra):
        table.add_column(HEADERS[key], justify="right")
    if show_share:
        table.add_column(HEADERS["top_label_share"], justify="right", no_wrap=True)
    for row in rows:
        cells = [str(row.get("name", "")), str(row.get("n", "–"))]
        if show_demos:
            cells.append(_format_demos(row.get("n_demos")))
        cells += [format_cell(row.get(key)) for key in (*METRICS, *extra)]
        if show_share:
            cells.append(format_share(row.get("top_label_share")))
        table.add_row(*cells)
    return table


def row_from_summary(summary: Mapping[str, Any], name: str | None = None) -> dict[str, Any]:
    """A table row from a run's ``summary.json`` content (as written by the pipeline)."""
    metrics = summary["metrics"]
    row: dict[str, Any] = {"name": name or summary.get("name", ""), "n": summary.get("n", metrics.get("n"))}
    for key in METRICS:
        row[key] = _ci_cell(metrics[key])
    calibrated = summary.get("metrics_calibrated")
    if calibrated:
        for key in METRICS:
            row[f"calibrated_{key}"] = _ci_cell(calibrated[key])
    batch = summary.get("metrics_batch_calibrated")
    if batch:
        row["batch_calibrated_accuracy"] = _ci_cell(batch["accuracy"])
    if metrics.get("predicted_distribution"):
        label, share = largest_share(metrics["predicted_distribution"])
        row["top_label_share"] = {"label": label, "value": share}
    demos = summary.get("demos")
    if isinstance(demos, Mapping) and demos.get("used_mean") is not None:
        row["n_demos"] = demos["used_mean"]
    return row


def _ci_cell(cell: Mapping[str, Any]) -> dict[str, float]:
    return {"value": cell["value"], "low": cell["low"], "high": cell["high"]}


def _as_row(item: Mapping[str, Any]) -> Mapping[str, Any]:
    return row_from_summary(item) if "metrics" in item else item


def _point(cell: Any) -> float:
    return float(cell["value"] if isinstance(cell, Mapping) else cell)


def seed_aggregate(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Mean ± sample std of each metric across per-seed results (rows or pipeline summaries).

    The spread across demonstration seeds is usually larger than any single run's CI, which is why multi-seed
    experiments report it instead. Calibrated metrics are aggregated only when every seed has them.
    """
    if not rows:
        raise IclkitError("no per-seed results to aggregate")
    seeds = [_as_row(r) for r in rows]
    out: dict[str, Any] = {"n_seeds": len(seeds)}
    for key in (*METRICS, *CALIBRATED):
        if any(s.get(key) is None for s in seeds):
            continue
        values = [_point(s[key]) for s in seeds]
        mean, std = mean_std(values)
        out[key] = {"mean": mean, "std": std, "n_seeds": len(values), "values": values}
    shares = [s["top_label_share"] for s in seeds if s.get("top_label_share")]
    if shares:  # the most collapsed seed: one collapsed seed is worth a warning
        out["top_label_share"] = {**max(shares, key=lambda c: c["value"]), "n_seeds": len(shares)}
    ns = {s.get("n") for s in seeds}
    out["n"] = ns.pop() if len(ns) == 1 else sorted(ns, key=str)
    demos = [s["n_demos"] for s in seeds if isinstance(s.get("n_demos"), (int, float))]
    if demos:
        out["n_demos"] = sum(demos) / len(demos)
    return out
