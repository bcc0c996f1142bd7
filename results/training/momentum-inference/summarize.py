"""Accuracy against η for the inference-time momentum control, from ``runs.csv`` (``collect_runs.py``).

Writes ``table.md`` (accuracy and batch-calibrated accuracy [Wilson 95%] per task and η, the most-predicted label's
share) and ``accuracy_vs_eta.png`` (both metrics against η).

    python results/training/momentum-inference/summarize.py
    STUDY_DIR=results/training/momentum-inference-gemma3 MODEL_NAME=Gemma-3-270M python results/training/momentum-inference/summarize.py
"""

from __future__ import annotations

import csv
import os
import statistics
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

# run.sh of another model's study sets these (results/training/momentum-inference-gemma3/); default: this folder.
HERE = Path(os.environ.get("STUDY_DIR", Path(__file__).resolve().parent))
MODEL_NAME = os.environ.get("MODEL_NAME", "SmolLM2-135M")
TASKS = ("sst2", "sst5", "mr", "subj", "agnews", "cb")
METRICS = {"accuracy": ("accuracy", "low", "high"),
           "accuracy after batch calibration": ("calibrated_accuracy", "calibrated_low", "calibrated_high")}


def pct(r: dict, value: str, low: str, high: str) -> str:
    return f"{100 * float(r[value]):.0f} [{100 * float(r[low]):.0f}, {100 * float(r[high]):.0f}]"


def main() -> None:
    with (HERE / "runs.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    cell = {(r["task"], float(r["eta"])): r for r in rows}
    etas = sorted({float(r["eta"]) for r in rows})
    setting = rows[0]["setting"]
    lines = []
    for title, (value, low, high) in METRICS.items():
        lines += [f"\n### {title.capitalize()} (%), {setting}\n", "| η | " + " | ".join(TASKS) + " | mean |",
                  "|---" * (len(TASKS) + 2) + "|"]
        for eta in etas:
            got = [cell.get((t, eta)) for t in TASKS]
            mean = f"{100 * statistics.mean(float(r[value]) for r in got):.1f}" if all(got) else "n/a"
            lines.append(f"| {eta:g}{' (off)' if eta == 0 else ''} | "
                         + " | ".join(pct(r, value, low, high) if r else "n/a" for r in got) + f" | {mean} |")
    lines += ["\n### Share of the most-predicted label (%)\n", "| η | " + " | ".join(TASKS) + " |",
              "|---" * (len(TASKS) + 1) + "|"]
    for eta in etas:
        got = [cell.get((t, eta)) for t in TASKS]
        lines.append(f"| {eta:g} | " + " | ".join(f"{100 * float(r['top_label_share']):.0f} ({r['top_label']})"
                                                  if r else "n/a" for r in got) + " |")
    (HERE / "table.md").write_text("\n".join(lines) + "\n")

    fig, axes = plt.subplots(1, len(METRICS), figsize=(12, 4.2), sharey=True)
    for ax, (title, (value, low, high)) in zip(axes, METRICS.items()):
        for i, task in enumerate(TASKS):
            pts = [(eta, cell[(task, eta)]) for eta in etas if (task, eta) in cell]
            xs = [e + (i - 2.5) * 0.006 for e, _ in pts]  # small offsets so the interval bars do not overlap
            ys = [100 * float(r[value]) for _, r in pts]
            err = [[100 * (float(r[value]) - float(r[low])) for _, r in pts],
                   [100 * (float(r[high]) - float(r[value])) for _, r in pts]]
            ax.errorbar(xs, ys, yerr=err, marker="o", capsize=2, label=task)
        ax.set_xlabel("momentum η added at inference (0 = off)")
        ax.set_title(title)
    axes[0].set_ylabel("accuracy (%), Wilson 95%")
    axes[-1].legend(fontsize=8)
    fig.suptitle(f"{MODEL_NAME} with momentum attention added at inference, {setting}, 60 examples per task "
                 "(CB 56)", fontsize=10)
    fig.tight_layout()
    fig.savefig(HERE / "accuracy_vs_eta.png", dpi=110)
    print((HERE / "table.md").read_text())


if __name__ == "__main__":
    main()
