"""Does each method's effect against random agree with the direction its paper reports? One row per study, method
and calibration, from the pooled rows of ``effects.json`` (paired bootstrap 95% interval of the accuracy difference,
tasks weighted equally), or the single task's row where a study has one task.

    python results/selection/verdicts.py results/selection/compare-smollm2 results/selection/mdl-smollm2:mdl ...

``STUDY:m1,m2`` keeps only those methods of a study (e.g. the MDL study's own method, not its copied TopK runs).

Every method here is reported by its paper to beat random demonstrations (zero-shot is listed for context: random
8-shot is expected to beat it, so its expected sign is negative). Verdict: ``agrees`` when the interval lies on the
paper's side of 0, ``opposite`` when it lies on the other side, ``not resolved`` when it contains 0.
Writes ``verdicts.json`` and ``verdicts.md`` next to this script.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

PAPER = {  # method -> (expected sign of method − random, what the paper compares)
    "zero": (-1, "Brown et al. 2020: k-shot beats zero-shot"),
    "bm25": (+1, "Rubin et al. 2021 / Ye et al. 2023: BM25 beats random demonstrations"),
    "topk": (+1, "Liu et al. 2021 (KATE): kNN beats random demonstrations"),
    "dpp": (+1, "Ye et al. 2023 (CEIL): TopK→DPP beats random (and TopK)"),
    "votek": (+1, "Su et al. 2022: vote-k annotation + kNN beats random annotation + kNN"),
    "mdl": (+1, "Wu et al. 2022: MDL organisation beats random and TopK"),
    "mi": (+1, "Sorensen et al. 2022: the max-MI prompt beats the average prompt"),
}


def verdict(sign: int, low: float, high: float) -> str:
    if low > 0 or high < 0:
        return "agrees" if (low > 0) == (sign > 0) else "opposite"
    return "not resolved"


def rows_for(arg: str) -> list[dict]:
    path, _, only = arg.partition(":")
    study = Path(path)
    effects = [e for e in json.loads((study / "effects.json").read_text())
               if not only or e["method"] in only.split(",")]
    tasks = {e["task"] for e in effects if e["task"] != "pooled"}
    out = []
    for e in effects:
        if (len(tasks) > 1 and e["task"] != "pooled") or e["method"] not in PAPER:
            continue
        sign, claim = PAPER[e["method"]]
        for cal in ("raw", "bc"):
            if cal in e:
                d = e[cal]
                out.append({"study": study.name, "method": e["method"], "calibration": cal, "shots": e["shots"],
                            "tasks": sorted(tasks) if e["task"] == "pooled" else [e["task"]], "n": e["n"], **d,
                            "paper": claim, "verdict": verdict(sign, d["low"], d["high"])})
    return out


if __name__ == "__main__":
    rows = [r for arg in sys.argv[1:] for r in rows_for(arg)]
    here = Path(__file__).parent
    (here / "verdicts.json").write_text(json.dumps(rows, indent=2))
    lines = ["| study | method | calibration | tasks (n) | method − random [95% CI] | paper's direction | verdict |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['study']} | {r['method']} | {r['calibration']} | {len(r['tasks'])} ({r['n']}) | "
                     f"{r['difference']:+.3f} [{r['low']:+.3f}, {r['high']:+.3f}] | {r['paper']} | {r['verdict']} |")
    (here / "verdicts.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
