"""``analysis.json``, the printed table and the plots of the ICL-vs-FT study: aggregates over demonstration seeds
(mean and Student-t 95% interval) of every measure, next to the per-seed, per-layer arrays."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

import numpy as np

from iclkit.analyze.measures import seed_interval

MEASURES = ("simaou", "simaou_random_uniform", "simaou_random_gaussian", "simam_after_ft", "simam_before_ft",
            "simam_ft_diff", "kendall", "kendall_random")


def aggregate(results: Sequence[dict]) -> dict:
    """Seed means and intervals of one comparison (main or a control) over its per-seed results."""
    agg: dict = {"accuracy": {}, "measures": {}, "per_layer_mean": {}}
    for setting in ("zsl", "icl", "ft"):
        agg["accuracy"][setting] = seed_interval([r["accuracy"][setting]["value"] for r in results])
    agg["rec2ftp"] = seed_interval([r["rec2ftp"]["value"] for r in results])
    for m in MEASURES:
        values = [r["mean"].get(m) for r in results]
        if any(v is not None for v in values):
            agg["measures"][m] = seed_interval(values)
            layers = np.array([[np.nan if x is None else x for x in r["per_layer"][m]] for r in results
                               if m in r["per_layer"]], dtype=float)
            agg["per_layer_mean"][m] = [None if np.isnan(x) else float(x) for x in np.nanmean(layers, 0)] \
                if not np.isnan(layers).all() else None
    return agg


def summarize(seeds: Sequence[dict]) -> dict:
    out = {"main": aggregate([s["main"] for s in seeds])}
    names = sorted({c for s in seeds for c in s["controls"]})
    out["controls"] = {c: aggregate([s["controls"][c] for s in seeds if c in s["controls"]]) for c in names}
    return out


def _fmt(cell: dict | None, scale: float = 1.0) -> str:
    if not cell or cell.get("mean") is None:
        return "-"
    text = f"{cell['mean'] * scale:.3f}" if scale == 1 else f"{cell['mean'] * scale:.1f}"
    if cell.get("low") is not None:
        half = (cell["high"] - cell["low"]) / 2 * scale
        text += f" ±{half:.3f}" if scale == 1 else f" ±{half:.1f}"
    return text


def _measure(name: str, agg: dict) -> str:
    return _fmt(agg["measures"].get(name))


def table(summary: dict) -> str:
    """Rows: accuracies, Rec2FTP and the measures; columns: the real model and each control."""
    cols = {"main": summary["main"], **summary["controls"]}
    rows = [("ZSL acc %", lambda a: _fmt(a["accuracy"]["zsl"], 100)),
            ("ICL acc %", lambda a: _fmt(a["accuracy"]["icl"], 100)),
            ("FT acc %", lambda a: _fmt(a["accuracy"]["ft"], 100)),
            ("Rec2FTP %", lambda a: _fmt(a["rec2ftp"]))]
    rows += [(m, partial(_measure, m)) for m in MEASURES]
    width = 26
    lines = ["".join(f"{h:<{width}}" for h in ["", *cols])]
    for name, get in rows:
        lines.append("".join(f"{c:<{width}}" for c in [name, *(get(a) for a in cols.values())]))
    return "\n".join(lines)


def write_outputs(out: Path, config, seeds: Sequence[dict], dual: list[dict], seconds: float,
                  log: Callable[[str], None]) -> dict:
    from iclkit.analyze.plots import plot_all
    from iclkit.evaluate.records import environment_info

    summary = summarize(seeds)
    analysis = {"config": config.to_dict(), "environment": environment_info(), "summary": summary,
                "seeds": list(seeds), "dual_form": dual, "seconds": round(seconds, 1)}
    (out / "analysis.json").write_text(json.dumps(analysis, indent=1, default=_plain) + "\n")
    analysis["plots"] = [str(p) for p in plot_all(out, summary, dual)]
    log(table(summary))
    log(f"wrote {out / 'analysis.json'} and {len(analysis['plots'])} plots")
    return analysis


def _plain(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, tuple):
        return list(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
