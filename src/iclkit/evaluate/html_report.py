"""``iclkit report``: one self-contained HTML page over one run, an experiment folder, or several runs.

Runs are found by their ``summary.json``; metrics are recomputed from ``predictions.jsonl`` with
:mod:`iclkit.evaluate.metrics` (batch calibration is not stored per example, so its numbers come from the summary).
A folder named ``seedN`` is one seed of the variant folder above it. The page has no external resource: CSS and
JavaScript are inline, figures are PNG data URIs (also written beside the page), and the per-example browser reads
its data from an inline JSON block.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from iclkit.errors import IclkitError
from iclkit.evaluate import plots
from iclkit.evaluate.metrics import (
    COLLAPSE_SHARE,
    confusion_counts,
    is_collapsed,
    largest_share,
    mean_std,
    per_label_f1,
    summarize,
)
from iclkit.evaluate.records import SUMMARY, read_summary, scan_predictions
from iclkit.evaluate.report import format_cell, format_share
from iclkit.types import PredictionRecord

KINDS = {"metrics": "raw", "metrics_calibrated": "contextual calibration",
         "metrics_batch_calibrated": "batch calibration (log-space)"}
MAX_EXAMPLES = 20_000  # per run in the example browser; beyond this the page gets slow to open
PAGE_SIZE = 50  # example rows rendered at once
DEFAULT_SEPARATOR = "\n\n"  # summaries written before "prompt_format" existed


@dataclass
class RunData:
    """One run directory, with metrics recomputed from its predictions."""

    run_dir: Path
    summary: dict[str, Any]
    records: list[PredictionRecord]
    labels: list[str]
    metrics: dict[str, dict[str, Any] | None]  # KINDS key -> summarize() output (None when absent)
    f1: dict[str, dict[str, float]]  # "raw" / "contextual calibration" -> per-label F1
    confusion: list[list[int]]

    @property
    def config(self) -> dict[str, Any]:
        return self.summary.get("config", {})

    @property
    def collapsed(self) -> bool:
        return is_collapsed(self.metrics["metrics"]["predicted_distribution"])


@dataclass
class Variant:
    """Runs that differ only in their demonstration seed (``<variant>/seedN``), or one run."""

    name: str
    runs: list[RunData] = field(default_factory=list)

    @property
    def shots(self) -> int | None:
        return self.runs[0].config.get("shots")

    def cell(self, kind: str, metric: str) -> dict[str, Any] | None:
        """One run's value with its 95% interval, or mean ± std over seeds (None when a run lacks it)."""
        cells = [r.metrics[kind][metric] for r in self.runs if r.metrics.get(kind)]
        if len(cells) < len(self.runs) or not cells:
            return None
        if len(cells) == 1:
            return {k: cells[0][k] for k in ("value", "low", "high")}
        values = [c["value"] for c in cells]
        mean, std = mean_std(values)
        return {"mean": mean, "std": std, "n_seeds": len(values), "values": values}

    def top_share(self) -> dict[str, Any]:
        """The most collapsed seed's top predicted label and its share."""
        shares = [largest_share(r.metrics["metrics"]["predicted_distribution"]) for r in self.runs]
        label, value = max(shares, key=lambda s: s[1])
        return {"label": label, "value": value}


# --- finding and reading runs ----------------------------------------------------------------------------------


def find_run_dirs(paths: Iterable[str | Path]) -> list[Path]:
    """Every directory holding a ``summary.json`` at or below each path, in path order, without duplicates."""
    found: dict[Path, None] = {}
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise IclkitError(f"{path}: no such file or directory")
        if path.is_file():
            if path.name != SUMMARY:
                raise IclkitError(f"{path}: not a run directory (give the folder that holds {SUMMARY})")
            path = path.parent
        dirs = sorted({s.parent for s in path.rglob(SUMMARY)}, key=_natural_key)
        if not dirs:
            raise IclkitError(f"{path}: no runs found (no {SUMMARY} in it or below it)")
        found.update(dict.fromkeys(d.resolve() for d in dirs))
    return list(found)


def _natural_key(path: Path) -> list[Any]:
    """seed2 before seed10."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", str(path))]


def load_run(run_dir: Path) -> RunData:
    summary = read_summary(run_dir)
    records = scan_predictions(run_dir)
    if not records:
        raise IclkitError(f"{run_dir / 'predictions.jsonl'}: no predictions to report")
    try:
        return _run_data(run_dir, summary, records)
    except IclkitError as e:  # e.g. no example has a gold label: say which run
        raise IclkitError(f"{run_dir}: {e}") from e


def _run_data(run_dir: Path, summary: dict[str, Any], records: list[PredictionRecord]) -> RunData:
    labels = list(records[0].labels)
    seed = (summary.get("config") or {}).get("eval_seed") or 0
    gold = [r.gold for r in records]
    raw = [r.prediction for r in records]
    calibrated = [r.calibrated_prediction for r in records]
    has_cal = all(c is not None for c in calibrated)
    metrics = {"metrics": summarize(gold, raw, labels, seed=seed),
               "metrics_calibrated": summarize(gold, calibrated, labels, seed=seed) if has_cal else None,
               "metrics_batch_calibrated": summary.get("metrics_batch_calibrated")}
    pairs = [(g, p, c) for g, p, c in zip(gold, raw, calibrated) if g is not None]
    gold_l = [g for g, _, _ in pairs]
    f1 = {"raw": per_label_f1(gold_l, [p for _, p, _ in pairs], labels)}
    if has_cal:
        f1["contextual calibration"] = per_label_f1(gold_l, [c for _, _, c in pairs], labels)
    confusion = confusion_counts(gold_l, [p for _, p, _ in pairs], labels)
    return RunData(run_dir, summary, records, labels, metrics, f1, confusion)


def group_variants(runs: Sequence[RunData]) -> list[Variant]:
    """Group ``<variant>/seedN`` runs; name each variant by its configured name, or by its folder when names clash."""
    groups: dict[Path, Variant] = {}
    for run in runs:
        is_seed = re.fullmatch(r"seed\d+", run.run_dir.name) is not None
        key = run.run_dir.parent if is_seed else run.run_dir
        groups.setdefault(key, Variant(str(run.summary.get("name") or key.name))).runs.append(run)
    variants = list(groups.values())
    names = [v.name for v in variants]
    if len(set(names)) < len(names):
        for key, variant in groups.items():
            variant.name = _short_path(key, groups)
    return variants


def _short_path(key: Path, groups: Mapping[Path, Variant]) -> str:
    """The path below the folders all variants share, e.g. ``sst2/topk-8`` for two experiments side by side."""
    common = Path(*_common_parts(list(groups)))
    return str(key.relative_to(common)) if key != common else key.name


def _common_parts(paths: Sequence[Path]) -> list[str]:
    parts = [p.parts for p in paths]
    out: list[str] = []
    for column in zip(*parts):
        if len(set(column)) != 1:
            break
        out.append(column[0])
    return out


# --- the example browser's data --------------------------------------------------------------------------------


def split_prompt(prompt: str, n_demos: int, separator: str, instruction: str | None) -> tuple[list[str], str] | None:
    """(demonstration texts, query text) of a stored prompt, or None when it cannot be split unambiguously."""
    rest = prompt
    if instruction:
        head = instruction + separator
        if not rest.startswith(head):
            return None
        rest = rest[len(head):]
    if n_demos == 0:
        return [], rest
    parts = rest.split(separator) if separator else []
    if len(parts) != n_demos + 1:  # a separator inside a demonstration or the query: keep the prompt whole
        return None
    return parts[:-1], parts[-1]


def browser_data(run: RunData, index: int, name: str) -> dict[str, Any]:
    """Compact JSON for one run: each demonstration's text once, each example as ids, query, scores."""
    fmt = run.summary.get("prompt_format") or {}
    separator, instruction = fmt.get("separator", DEFAULT_SEPARATOR), fmt.get("instruction")
    demos: dict[str, str] = {}
    examples = []
    for r in run.records[:MAX_EXAMPLES]:
        row: dict[str, Any] = {"id": r.example_id, "gold": r.gold, "pred": r.prediction,
                               "cal": r.calibrated_prediction, "scores": list(r.scores),
                               "cal_scores": list(r.calibrated_scores) if r.calibrated_scores else None,
                               "demo_ids": list(r.demo_ids), "n_req": r.n_demos_requested}
        parts = split_prompt(r.prompt, len(r.demo_ids), separator, instruction)
        if parts and all(demos.setdefault(d, t) == t for d, t in zip(r.demo_ids, parts[0])):
            row["query"] = parts[1]
        else:
            row["prompt"] = r.prompt
        examples.append(row)
    return {"index": index, "name": name, "labels": run.labels, "separator": separator, "instruction": instruction,
            "demos": demos, "examples": examples, "total": len(run.records),
            "calibrated": run.metrics["metrics_calibrated"] is not None}


def _json_for_script(data: Any) -> str:
    """JSON that cannot end the ``<script>`` element it sits in."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


# --- figures, context, page ------------------------------------------------------------------------------------


class Figures:
    """Draws each figure into ``folder`` and hands the template its data URI and file name."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.files: list[Path] = []

    def draw(self, name: str, plot, *args: Any, **kwargs: Any) -> dict[str, str]:
        path = plot(*args, path=self.folder / f"{name}.png", **kwargs)
        self.files.append(path)
        uri = "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")
        return {"uri": uri, "file": f"{self.folder.name}/{path.name}", "alt": name.replace("_", " ")}


def _overview(variants: Sequence[Variant], figures: Figures) -> dict[str, Any]:
    names = [v.name for v in variants]
    rows = []
    for v in variants:
        first = v.runs[0]
        share = v.top_share()
        rows.append({"name": v.name, "task": first.summary.get("task", ""), "model": first.summary.get("model", ""),
                     "shots": v.shots, "retriever": first.config.get("retriever", ""),
                     "scorer": first.config.get("scorer", ""), "seeds": len(v.runs),
                     "n": first.metrics["metrics"]["n"],
                     "cells": {f"{kind}.{m}": format_cell(v.cell(kind, m)) for kind in KINDS
                               for m in ("accuracy", "macro_f1")},
                     "share": format_share(share), "collapsed": share["value"] >= COLLAPSE_SHARE})
    out: dict[str, Any] = {"rows": rows, "kinds": KINDS, "figure": figures.draw(
        "overview", plots.metric_bars, names, [v.cell("metrics", "accuracy") for v in variants],
        [v.cell("metrics", "macro_f1") for v in variants])}
    present = {kind: label for kind, label in KINDS.items() if any(v.cell(kind, "accuracy") for v in variants)}
    out["calibration_kinds"] = present
    if len(present) > 1:
        out["calibration_figure"] = figures.draw(
            "calibration", plots.calibration_bars, names,
            {label: [v.cell(kind, "accuracy") for v in variants] for kind, label in present.items()})
    if len({v.shots for v in variants}) > 1:
        out["shots_figure"] = figures.draw("accuracy_vs_k", plots.accuracy_vs_shots, _shot_series(variants))
    return out


def _shot_series(variants: Sequence[Variant]) -> dict[str, list[tuple[int, dict[str, Any]]]]:
    """One line per selection method; zero-shot (which has no selection) starts every line at k = 0."""
    series: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    zero = [(0, v.cell("metrics", "accuracy")) for v in variants if not v.shots]
    for v in variants:
        if v.shots:
            key = f"{v.runs[0].config.get('retriever', '?')} / {v.runs[0].config.get('scorer', '?')}"
            series.setdefault(key, list(zero)).append((v.shots, v.cell("metrics", "accuracy")))
    return series or {"zero-shot": zero}


def _run_section(run: RunData, name: str, index: int, figures: Figures) -> dict[str, Any]:
    dists = {"gold": run.metrics["metrics"]["gold_distribution"],
             **{label: run.metrics[kind]["predicted_distribution"]
                for kind, label in KINDS.items() if run.metrics.get(kind)}}
    timing = run.summary.get("timing") or {}
    return {
        "index": index, "name": name, "dir": str(run.run_dir), "labels": run.labels, "config": run.config,
        "n": run.metrics["metrics"]["n"], "n_summary": run.summary.get("n"), "collapsed": run.collapsed,
        "share": format_share(dict(zip(("label", "value"), largest_share(dists["raw"])))),
        "distributions": dists, "confusion": run.confusion, "f1": run.f1, "timing": timing,
        "demos": run.summary.get("demos") or {},
        "figures": [figures.draw(f"run{index}_labels", plots.label_distribution, run.labels, dists,
                                 collapsed=run.collapsed),
                    figures.draw(f"run{index}_confusion", plots.confusion_matrix, run.labels, run.confusion),
                    figures.draw(f"run{index}_f1", plots.per_label_f1, run.labels, run.f1)],
    }


def build_context(variants: Sequence[Variant], sources: Sequence[str], figures: Figures) -> dict[str, Any]:
    """Everything the template shows."""
    from iclkit import __version__

    sections, browser = [], []
    for v in variants:
        for run in v.runs:
            seed = run.config.get("seed")
            name = f"{v.name} (seed {seed})" if len(v.runs) > 1 else v.name
            sections.append(_run_section(run, name, len(sections), figures))
            browser.append(browser_data(run, len(browser), name))
    return {"title": "iclkit report: " + ", ".join(Path(s).name or s for s in sources), "sources": sources,
            "generated": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "version": __version__,
            "overview": _overview(variants, figures), "runs": sections, "browser_json": _json_for_script(browser),
            "collapse_share": COLLAPSE_SHARE, "max_examples": MAX_EXAMPLES, "page_size": PAGE_SIZE}


def render_html(context: Mapping[str, Any]) -> str:
    import jinja2

    env = jinja2.Environment(loader=jinja2.PackageLoader("iclkit.evaluate", "templates"), autoescape=True,
                             trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined)
    env.filters["pct"] = lambda x: f"{x:.1%}"
    env.filters["num"] = lambda x: f"{x:.3f}"
    return env.get_template("report.html.j2").render(**context)


def write_report(paths: Sequence[str | Path], out: str | Path) -> Path:
    """Write the HTML page to ``out`` and its figures to ``<out stem>_files/``; returns the page's path."""
    out = Path(out)
    if out.is_dir():
        raise IclkitError(f"{out}: is a directory; give the report's file name, e.g. {out / 'report.html'}")
    variants = group_variants([load_run(d) for d in find_run_dirs(paths)])
    if len(paths) == 1:  # one experiment folder: fewest demonstrations first; several paths keep the given order
        variants.sort(key=lambda v: v.shots or 0)
    try:
        figures = Figures(out.parent / f"{out.stem}_files")
        html = render_html(build_context(variants, [str(p) for p in paths], figures))
        out.write_text(html, encoding="utf-8")
    except OSError as e:
        raise IclkitError(f"{out}: cannot write the report ({e.strerror or e})") from e
    return out
