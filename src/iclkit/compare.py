"""``iclkit compare``: a grid of selection methods × tasks × k × seeds, one table, plots and per-method cost.

A method is ``retriever[:ordering]`` (``dpp``, ``random:globale``), optionally with options from
``method_options[name]``. Every cell is an ordinary run directory (``out/<task>/<method>/k<k>/seed<s>``), so an
interrupted comparison resumes. The table gives accuracy mean ± std over seeds (sample std), the mean LM requests and
continuation tokens scored per run, and the mean wall time per run, all from the same runs.
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
from iclkit.evaluate.metrics import mean_std
from iclkit.lm.base import LanguageModel
from iclkit.pipeline import run


@dataclass(frozen=True)
class Grid:
    tasks: tuple[str, ...]
    methods: tuple[str, ...]
    seeds: tuple[int, ...] = (0, 1, 2)
    shots: tuple[int, ...] = (8,)
    method_options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


def method_config(base: RunConfig, method: str, task: str, shots: int, seed: int,
                  options: Mapping[str, Any]) -> RunConfig:
    retriever, _, ordering = method.partition(":")
    return dataclasses.replace(base, name=method, task=task, retriever=retriever, ordering=ordering or None,
                               shots=0 if retriever == "zero" else shots, seed=seed,
                               retriever_options={**base.retriever_options, **options})


def cell_row(task: str, method: str, shots: int, summaries: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    acc = [s["metrics"]["accuracy"]["value"] for s in summaries]
    mean, std = mean_std(acc)
    costs = [s.get("cost") for s in summaries]
    known = [c for c in costs if c]

    def avg(key: str) -> float | None:
        return sum(c[key] for c in known) / len(known) if known else None

    return {"task": task, "method": method, "shots": shots, "n": summaries[0]["n"], "seeds": len(acc),
            "accuracy_mean": round(mean, 4), "accuracy_std": round(std, 4), "accuracy_values": acc,
            "lm_requests": avg("loglikelihood_requests"), "tokens_scored": avg("continuation_tokens"),
            "generate_requests": avg("generate_requests"),
            "seconds": round(sum(s["timing"]["seconds"] for s in summaries) / len(summaries), 2)}


def compare(base: RunConfig, grid: Grid, *, out: str | Path, lm: LanguageModel | None = None,
            log: Callable[[str], None] = print) -> list[dict[str, Any]]:
    out = Path(out)
    rows = []
    for task in grid.tasks:
        for method in grid.methods:
            for shots in grid.shots:
                summaries = []
                for seed in grid.seeds:
                    config = method_config(base, method, task, shots, seed, grid.method_options.get(method, {}))
                    cell = out / Path(task).stem / method.replace(":", "+") / f"k{shots}" / f"seed{seed}"
                    result = run(dataclasses.replace(config, out=str(cell)), lm=lm, log=log)
                    lm = lm or result.lm
                    summaries.append(result.summary)
                rows.append(cell_row(Path(task).stem, method, shots, summaries))
                log(f"{task} {method} k={shots}: {rows[-1]['accuracy_mean']:.3f} ± {rows[-1]['accuracy_std']:.3f}")
    write_results(rows, out)
    return rows


COLUMNS = ("task", "method", "shots", "n", "seeds", "accuracy_mean", "accuracy_std", "lm_requests", "tokens_scored",
           "generate_requests", "seconds")


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
    head = "| task | method | k | n | accuracy (mean ± std, seeds) | LM requests / run | tokens scored / run | s / run |"
    lines = [head, "|" + "---|" * 8]
    for r in rows:
        lines.append(f"| {r['task']} | {r['method']} | {r['shots']} | {r['n']} | {r['accuracy_mean']:.3f} ± "
                     f"{r['accuracy_std']:.3f} ({r['seeds']}) | {_num(r['lm_requests'])} | "
                     f"{_num(r['tokens_scored'])} | {r['seconds']:.1f} |")
    return "\n".join(lines) + "\n"


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
    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(tasks) * len(methods) / 2), 4))
    width = 0.8 / len(methods)
    for j, method in enumerate(methods):
        cells = [next((r for r in rows if r["task"] == t and r["method"] == method and r["shots"] == top_k), None)
                 for t in tasks]
        xs = [i + j * width for i, c in enumerate(cells) if c]
        ax.bar(xs, [c["accuracy_mean"] for c in cells if c], width, yerr=[c["accuracy_std"] for c in cells if c],
               label=method, capsize=2)
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(tasks))], tasks)
    ax.set_ylabel(f"accuracy (k={top_k}, mean ± std over seeds)")
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
                            yerr=[c["accuracy_std"] for c in cells], marker="o", label=method, capsize=2)
            ax.set_title(task)
            ax.set_xlabel("k")
        axes[0][0].set_ylabel("accuracy")
        axes[0][-1].legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(out / "accuracy_vs_k.png", dpi=120)
        plt.close(fig)
