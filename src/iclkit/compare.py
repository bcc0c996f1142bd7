"""``iclkit compare``: a grid of selection methods × tasks × k × seeds, one table, plots and per-method cost.

A method is ``retriever[:ordering]`` (``dpp``, ``random:globale``), optionally named ``label=retriever[:ordering]``
so that one retriever can enter the grid twice with different options (``votek2=votek`` with ``two_stage``);
options come from ``method_options[label]``, and the label names the method everywhere (folders, table, effects).
Every cell is an ordinary run directory (``out/<task>/<label>/k<k>/seed<s>``), so an interrupted comparison resumes;
a cell that is resumed in full keeps the cost and wall time of the run that computed it. The table gives accuracy
(raw and batch-calibrated, read off the same scores) mean ± std over seeds (sample std), the mean LM requests and
continuation tokens scored per run, and the mean wall time per run, all from the same runs.
Methods listed in ``one_seed`` (those whose selection does not depend on the seed, e.g. ``topk``) run with the first
seed only. With a ``baseline`` method in the grid, ``effects.json`` gives every other method's accuracy difference
against it: per task and pooled over tasks, per example averaged over seeds, with a paired bootstrap interval.
"""

from __future__ import annotations

import csv
import dataclasses
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from iclkit.config import RunConfig
from iclkit.evaluate.metrics import mean_std, paired_difference
from iclkit.evaluate.records import read_summary, write_summary
from iclkit.lm.base import LanguageModel
from iclkit.pipeline import run
from iclkit.score.calibration import batch_calibrate
from iclkit.types import PredictionRecord, best_label

Outcomes = dict[str, tuple[float, float]]  # example id -> (raw correct, batch-calibrated correct), mean over seeds


@dataclass(frozen=True)
class Grid:
    tasks: tuple[str, ...]
    methods: tuple[str, ...]
    seeds: tuple[int, ...] = (0, 1, 2)
    shots: tuple[int, ...] = (8,)
    method_options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    one_seed: tuple[str, ...] = ()      # methods whose selection ignores the seed: run with seeds[0] only
    baseline: str | None = "random"     # effects.json: every other method against this one (if it is in the grid)

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(method_label(m) for m in self.methods)

    def seeds_for(self, method: str) -> tuple[int, ...]:
        return self.seeds[:1] if method_label(method) in self.one_seed else self.seeds

    def options_for(self, method: str) -> Mapping[str, Any]:
        return self.method_options.get(method_label(method), {})


def split_method(method: str) -> tuple[str, str]:
    """(label, retriever[:ordering]): ``votek2=votek`` -> (``votek2``, ``votek``); ``random:globale`` names itself."""
    label, sep, spec = method.partition("=")
    return (label.strip(), spec.strip()) if sep else (method, method)


def method_label(method: str) -> str:
    return split_method(method)[0]


def method_config(base: RunConfig, method: str, task: str, shots: int, seed: int,
                  options: Mapping[str, Any]) -> RunConfig:
    label, spec = split_method(method)
    retriever, _, ordering = spec.partition(":")
    return dataclasses.replace(base, name=label, task=task, retriever=retriever,
                               ordering=ordering or None, shots=0 if retriever == "zero" else shots, seed=seed,
                               retriever_options={**base.retriever_options, **options})


def cell_row(task: str, method: str, shots: int, summaries: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    acc = [s["metrics"]["accuracy"]["value"] for s in summaries]
    mean, std = mean_std(acc)
    bc = [s["metrics_batch_calibrated"]["accuracy"]["value"] for s in summaries if "metrics_batch_calibrated" in s]
    bc_mean, bc_std = mean_std(bc) if bc else (None, None)
    costs = [s.get("cost") for s in summaries]
    known = [c for c in costs if c]

    def avg(key: str) -> float | None:
        return sum(c[key] for c in known) / len(known) if known else None

    return {"task": task, "method": method, "shots": shots, "n": summaries[0]["n"], "seeds": len(acc),
            "accuracy_mean": round(mean, 4), "accuracy_std": round(std, 4), "accuracy_values": acc,
            "bc_accuracy_mean": _round(bc_mean), "bc_accuracy_std": _round(bc_std), "bc_accuracy_values": bc,
            "lm_requests": avg("loglikelihood_requests"), "tokens_scored": avg("continuation_tokens"),
            "generate_requests": avg("generate_requests"),
            "seconds": round(sum(s["timing"]["seconds"] for s in summaries) / len(summaries), 2)}


def compare(base: RunConfig, grid: Grid, *, out: str | Path, lm: LanguageModel | None = None,
            log: Callable[[str], None] = print) -> list[dict[str, Any]]:
    out = Path(out)
    rows = []
    outcomes: dict[tuple[str, str, int], Outcomes] = {}
    for task in grid.tasks:
        for method in grid.methods:
            label = method_label(method)
            for shots in grid.shots:
                summaries, per_seed = [], []
                for seed in grid.seeds_for(method):
                    config = method_config(base, method, task, shots, seed, grid.options_for(method))
                    cell = out / Path(task).stem / label.replace(":", "+") / f"k{shots}" / f"seed{seed}"
                    previous = read_summary(cell) if (cell / "summary.json").exists() else None
                    result = run(dataclasses.replace(config, out=str(cell)), lm=lm, log=log)
                    lm = lm or result.lm
                    summaries.append(keep_cost(cell, result.summary, previous))
                    per_seed.append(correctness(result.records, "metrics_batch_calibrated" in result.summary))
                rows.append(cell_row(Path(task).stem, label, shots, summaries))
                outcomes[(Path(task).stem, label, shots)] = mean_outcomes(per_seed)
                log(f"{task} {label} k={shots}: {rows[-1]['accuracy_mean']:.3f} ± {rows[-1]['accuracy_std']:.3f}")
    write_results(rows, out)
    if grid.baseline in grid.labels:
        write_effects(effects(outcomes, grid.baseline), out)
    return rows


def keep_cost(cell: Path, summary: dict[str, Any], previous: Mapping[str, Any] | None) -> dict[str, Any]:
    """A cell resumed in full scored nothing now: keep the cost and wall time of the run that computed it."""
    if summary["timing"].get("examples_scored") or not previous or "cost" not in previous:
        return summary
    summary = {**summary, "cost": previous["cost"], "timing": previous["timing"]}
    write_summary(cell, summary)
    return summary


def correctness(records: Sequence[PredictionRecord], batch: bool) -> Outcomes:
    bc = batch_calibrate([r.scores for r in records]) if batch and records else [None] * len(records)
    return {r.example_id: (float(r.prediction == r.gold),
                           float(best_label(r.labels, s) == r.gold) if s is not None else float("nan"))
            for r, s in zip(records, bc)}


def mean_outcomes(per_seed: Sequence[Outcomes]) -> Outcomes:
    ids = set.intersection(*(set(o) for o in per_seed))
    return {i: (sum(o[i][0] for o in per_seed) / len(per_seed), sum(o[i][1] for o in per_seed) / len(per_seed))
            for i in sorted(ids)}


def effects(outcomes: Mapping[tuple[str, str, int], Outcomes], baseline: str) -> list[dict[str, Any]]:
    """Each method's accuracy minus ``baseline``'s (raw and batch-calibrated), per task and pooled over tasks."""
    rows = []
    methods = list(dict.fromkeys(m for _, m, _ in outcomes if m != baseline))
    for method in methods:
        for shots in sorted({k for _, m, k in outcomes if m == method}):
            tasks = [t for t, m, k in outcomes if m == method and k == shots and (t, baseline, shots) in outcomes]
            for scope in [*tasks, "pooled"] if len(tasks) > 1 else tasks:
                row: dict[str, Any] = {"method": method, "baseline": baseline, "shots": shots, "task": scope}
                for j, name in enumerate(("raw", "bc")):
                    groups = [_paired(outcomes[(t, method, shots)], outcomes[(t, baseline, shots)], j)
                              for t in (tasks if scope == "pooled" else [scope])]
                    if all(len(a) for a, _ in groups):
                        d = paired_difference(groups)
                        row[name] = {"difference": round(d.value, 4), "low": round(d.low, 4), "high": round(d.high, 4)}
                row["n"] = sum(len(outcomes[(t, method, shots)]) for t in (tasks if scope == "pooled" else [scope]))
                rows.append(row)
    return rows


def _paired(a: Outcomes, b: Outcomes, j: int) -> tuple[list[float], list[float]]:
    ids = [i for i in a if i in b and a[i][j] == a[i][j] and b[i][j] == b[i][j]]  # x == x: not NaN
    return [a[i][j] for i in ids], [b[i][j] for i in ids]


def write_effects(rows: Sequence[Mapping[str, Any]], out: Path) -> None:
    (out / "effects.json").write_text(json.dumps(list(rows), indent=2))
    lines = ["| method | k | task | n | raw: difference vs baseline [95% CI] | BC: difference [95% CI] |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        cells = [f"{r[c]['difference']:+.3f} [{r[c]['low']:+.3f}, {r[c]['high']:+.3f}]" if c in r else "–"
                 for c in ("raw", "bc")]
        lines.append(f"| {r['method']} | {r['shots']} | {r['task']} | {r['n']} | {cells[0]} | {cells[1]} |")
    (out / "effects.md").write_text("\n".join(lines) + "\n")


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


COLUMNS = ("task", "method", "shots", "n", "seeds", "accuracy_mean", "accuracy_std", "bc_accuracy_mean",
           "bc_accuracy_std", "lm_requests", "tokens_scored", "generate_requests", "seconds")


def write_results(rows: Sequence[Mapping[str, Any]], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(list(rows), indent=2))
    with open(out / "results.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    (out / "results.md").write_text(markdown_table(rows))
    plot_results(rows, out)


def markdown_table(rows: Sequence[Mapping[str, Any]]) -> str:
    head = ("| task | method | k | n | accuracy (mean ± std, seeds) | BC accuracy (mean ± std) | LM requests / run | "
            "tokens scored / run | s / run |")
    lines = [head, "|" + "---|" * 9]
    for r in rows:
        acc = _spread(r["accuracy_mean"], r["accuracy_std"], r["seeds"])
        bc = "–" if r.get("bc_accuracy_mean") is None else _spread(r["bc_accuracy_mean"], r["bc_accuracy_std"],
                                                                    r["seeds"])
        lines.append(f"| {r['task']} | {r['method']} | {r['shots']} | {r['n']} | {acc} ({r['seeds']}) | {bc} | "
                     f"{_num(r['lm_requests'])} | {_num(r['tokens_scored'])} | {r['seconds']:.1f} |")
    return "\n".join(lines) + "\n"


def _spread(mean: float, std: float, seeds: int) -> str:
    """``mean ± std`` over seeds; a single run has no seed spread to show."""
    return f"{mean:.3f} ± {std:.3f}" if seeds > 1 else f"{mean:.3f}"


def _num(value: float | None) -> str:
    return "–" if value is None else f"{value:,.0f}"


def plot_results(rows: Sequence[Mapping[str, Any]], out: Path) -> None:
    """``accuracy_by_method.png`` (per task, at the largest k) and, with several k, ``accuracy_vs_k.png``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = list(dict.fromkeys(r["task"] for r in rows))
    methods = list(dict.fromkeys(r["method"] for r in rows))
    top_k = max(r["shots"] for r in rows)
    fig, ax = plt.subplots(figsize=(max(6, 0.3 * len(tasks) * len(methods) + 2), 4.5))
    width = 0.8 / len(methods)
    for j, method in enumerate(methods):
        cells = [next((r for r in rows if r["task"] == t and r["method"] == method and r["shots"] == top_k), None)
                 for t in tasks]
        xs = [i + j * width for i, c in enumerate(cells) if c]
        ax.bar(xs, [c["accuracy_mean"] for c in cells if c], width, label=method, capsize=2,
               yerr=[c["accuracy_std"] if c["seeds"] > 1 else float("nan") for c in cells if c])  # 1 run: no bar
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(tasks))], tasks)
    ax.set_ylabel(f"accuracy (k={top_k}; mean ± std over seeds)")
    if any(r["seeds"] == 1 for r in rows):
        ax.set_title("bars without a whisker: one run (a method that does not read the seed)", fontsize=8)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(out / "accuracy_by_method.png", dpi=120)
    plt.close(fig)
    if len({r["shots"] for r in rows}) > 1:
        fig, axes = plt.subplots(1, len(tasks), figsize=(4 * len(tasks), 3.5), squeeze=False)
        for ax, task in zip(axes[0], tasks):
            for method in methods:
                cells = sorted((r for r in rows if r["task"] == task and r["method"] == method),
                               key=lambda r: r["shots"])
                ax.errorbar([c["shots"] for c in cells], [c["accuracy_mean"] for c in cells],
                            yerr=[c["accuracy_std"] if c["seeds"] > 1 else float("nan") for c in cells],
                            marker="o", label=method, capsize=2)
            ax.set_title(task)
            ax.set_xlabel("k")
        axes[0][0].set_ylabel("accuracy")
        axes[0][-1].legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(out / "accuracy_vs_k.png", dpi=120)
        plt.close(fig)
