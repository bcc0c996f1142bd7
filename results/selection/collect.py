"""Copy a comparison's or a tune run's small result files from its run folder (git-ignored) into results/selection.

    python results/selection/collect.py runs/selection/compare-smollm2 results/selection/compare-smollm2

Copies the tables, effects and plots written by ``iclkit compare`` (or ``ranking.json``, ``best.yaml`` and
``evaluation.json`` written by ``iclkit tune``) and every run's ``summary.json`` (accuracy with intervals, cost,
timing, config), keeping the folder layout; ``predictions.jsonl`` files stay in the run folder.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

TOP = ("results.json", "results.csv", "results.md", "effects.json", "effects.md", "effects-vs-topk.json",
       "effects-vs-topk.md", "effects-vs-zero.json", "effects-vs-zero.md", "effects-vs-votek.json", "effects-vs-votek.md", "accuracy_by_method.png",
       "accuracy_vs_k.png", "ranking.json", "best.yaml", "evaluation.json")


def collect(src: Path, dest: Path) -> int:
    dest.mkdir(parents=True, exist_ok=True)
    copied = 0
    for name in TOP:
        if (src / name).exists():
            shutil.copy2(src / name, dest / name)
            copied += 1
    for summary in sorted(src.rglob("summary.json")):
        target = dest / "runs" / summary.relative_to(src)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(summary, target)
        copied += 1
    return copied


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    print(f"{collect(Path(sys.argv[1]), Path(sys.argv[2]))} files copied to {sys.argv[2]}")
