"""Method × task views of a comparison's ``results.json``: raw accuracy, batch-calibrated accuracy (mean ± std over
seeds; one run shows no ±), LM requests per run and seconds per run. Writes ``pivot.md`` into the study folder.
Further folders add their ``results.json`` rows (a grid run one task at a time):

    python results/selection/pivot.py results/selection/compare-smollm2
    python results/selection/pivot.py results/selection/compare-gemma3 results/selection/compare-gemma3/tasks/*/
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def cell(r: dict, key: str) -> str:
    mean, std = r[f"{key}_mean"], r[f"{key}_std"]
    return "–" if mean is None else (f"{mean:.3f} ± {std:.3f}" if r["seeds"] > 1 else f"{mean:.3f}")


def table(rows: list[dict], title: str, show) -> list[str]:
    tasks = list(dict.fromkeys(r["task"] for r in rows))
    methods = list(dict.fromkeys(r["method"] for r in rows))
    by = {(r["task"], r["method"]): r for r in rows}
    lines = [f"**{title}**", "", "| method | runs | " + " | ".join(tasks) + " |", "|---|---|" + "---|" * len(tasks)]
    for m in methods:
        runs = by[next(t for t in tasks if (t, m) in by), m]["seeds"]
        lines.append(f"| {m} | {runs} | " + " | ".join(show(by[t, m]) if (t, m) in by else "" for t in tasks) + " |")
    return [*lines, ""]


if __name__ == "__main__":
    study = Path(sys.argv[1])
    rows = [r for folder in sys.argv[1:] for r in json.loads((Path(folder) / "results.json").read_text())
            if r["shots"] == 8]
    n = sorted({r["n"] for r in rows})
    out = [*table(rows, f"Accuracy, raw (8 shots, n = {', '.join(map(str, n))} per task)", lambda r: cell(r, "accuracy")),
           *table(rows, "Accuracy, batch-calibrated (same runs)", lambda r: cell(r, "bc_accuracy")),
           *table(rows, "LM log-likelihood requests per run (selection included)",
                  lambda r: f"{r['lm_requests']:,.0f}"),
           *table(rows, "Wall seconds per run (1 thread, shared machine; includes pool embedding where first built)",
                  lambda r: f"{r['seconds']:.0f}")]
    (study / "pivot.md").write_text("\n".join(out))
    print("\n".join(out))
