"""Collect runs/results/<model>/<task>/... summaries into the Markdown tables of docs/results.md.

Usage: python scripts/results_table.py [runs/results] > table.md
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

VARIANTS = ("zero-shot", "random-8", "topk-8")
TASKS = ("sst2", "sst5", "mr", "subj", "agnews", "cb")


def summaries(variant_dir: Path) -> list[dict]:
    files = sorted(variant_dir.glob("seed*/summary.json")) or sorted(variant_dir.glob("summary.json"))
    return [json.loads(f.read_text()) for f in files]


def cell(runs: list[dict], key: str) -> str:
    values = [r[key]["accuracy"]["value"] for r in runs if key in r]
    if not values:
        return "–"
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"


def collapse(runs: list[dict], key: str) -> str:
    """The most predicted label's share, when a run is (nearly) always predicting one label."""
    worst = max((max(r[key]["predicted_distribution"].values()) for r in runs if key in r), default=0.0)
    return f" ⚠{worst:.0%}" if worst >= 0.9 else ""


def main(root: Path) -> None:
    head = ["zero-shot", "random-8 (3 seeds)", "topk-8"]
    print("| model | task | n | " + " | ".join(f"{h} | {h.split()[0]} CC | {h.split()[0]} BC" for h in head) + " |")
    print("|---|---|---|" + "---|" * 9)
    for model_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        for task in TASKS:
            task_dir = model_dir / task
            if not task_dir.exists():
                continue
            cells, n = [], "–"
            for variant in VARIANTS:
                runs = summaries(task_dir / variant)
                n = runs[0]["n"] if runs else n
                for key in ("metrics", "metrics_calibrated", "metrics_batch_calibrated"):
                    cells.append(cell(runs, key) + collapse(runs, key))
            print(f"| {model_dir.name} | {task} | {n} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "runs/results"))
