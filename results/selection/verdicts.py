"""Does each method's effect against random agree with the direction its paper reports? One row per study, method
and calibration, from the pooled rows of ``effects.json`` (paired bootstrap 95% interval of the accuracy difference,
tasks weighted equally), or the single task's row where a study has one task.

    python results/selection/verdicts.py results/selection/compare-smollm2 results/selection/mdl-smollm2:mdl ...

``STUDY:m1,m2`` keeps only those methods of a study (e.g. the MDL study's own method, not its copied TopK runs).

Each method is checked against the baseline(s) its paper compares with (``PAPER``): random demonstrations for most;
zero-shot for SG-ICL; TopK as well for EPR; one-stage Vote-k as well for the two-stage variant; for the GlobalE /
LocalE orderings, random's own set in its original order (the same seed), so the difference is the ordering's alone.
Zero-shot is listed for context: random 8-shot is expected to beat it, so its expected sign is negative. Verdict: ``agrees`` when the interval lies on the
paper's side of 0, ``opposite`` when it lies on the other side, ``not resolved`` when it contains 0.
Writes ``verdicts.json`` and ``verdicts.md`` next to this script.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

# method -> [(baseline, expected sign of method − baseline, what the paper compares)]. The baseline's effects are
# read from effects.json (random) or effects-vs-<baseline>.json, when the study has them.
PAPER = {
    "zero": [("random", -1, "Brown et al. 2020: k-shot beats zero-shot")],
    "bm25": [("random", +1, "Rubin et al. 2021 / Ye et al. 2023: BM25 beats random demonstrations")],
    "topk": [("random", +1, "Liu et al. 2021 (KATE): kNN beats random demonstrations")],
    "dpp": [("random", +1, "Ye et al. 2023 (CEIL): TopK→DPP beats random (and TopK)"),
            ("topk", +1, "Ye et al. 2023 (CEIL): TopK→DPP beats TopK")],
    "votek": [("random", +1, "Su et al. 2022: vote-k annotation + kNN beats random annotation + kNN")],
    "votek2": [("random", +1, "Su et al. 2022: two-stage vote-k (LM confidence) + kNN beats random annotation + kNN"),
               ("votek", +1, "Su et al. 2022: the two-stage (confidence) variant is their full method")],
    "mdl": [("random", +1, "Wu et al. 2022: MDL organisation beats random and TopK"),
            ("topk", +1, "Wu et al. 2022: MDL organisation beats TopK")],
    "mi": [("random", +1, "Sorensen et al. 2022: the max-MI prompt beats the average prompt")],
    "epr": [("random", +1, "Rubin et al. 2021: EPR beats random demonstrations"),
            ("topk", +1, "Rubin et al. 2021: EPR beats unsupervised kNN retrieval (SBERT, BM25)")],
    "active": [("random", +1, "Zhang et al. 2022: the learned policy's demonstrations beat random ones")],
    "sgicl": [("zero", +1, "Kim et al. 2022: self-generated demonstrations beat zero-shot")],
    "random:globale": [("random", +1, "Lu et al. 2021: the GlobalE-best order beats a random order of the same set")],
    "random:locale": [("random", +1, "Lu et al. 2021: the LocalE-best order beats a random order of the same set")],
}


def verdict(sign: int, low: float, high: float) -> str:
    if low > 0 or high < 0:
        return "agrees" if (low > 0) == (sign > 0) else "opposite"
    return "not resolved"


def effects_file(study: Path, baseline: str) -> Path:
    return study / ("effects.json" if baseline == "random" else f"effects-vs-{baseline}.json")


def study_name(study: Path) -> str:
    """The folder relative to results/selection (``compare-gemma3/pooled``), or its own name elsewhere."""
    try:
        return str(study.resolve().relative_to(Path(__file__).parent.resolve()))
    except ValueError:
        return study.name


def rows_for(arg: str) -> list[dict]:
    path, _, only = arg.partition(":")
    study = Path(path)
    out = []
    for baseline in ("random", "zero", "topk", "votek"):
        if not effects_file(study, baseline).exists():
            continue
        effects = [e for e in json.loads(effects_file(study, baseline).read_text())
                   if not only or e["method"] in only.split(",")]
        tasks = {e["task"] for e in effects if e["task"] != "pooled"}
        for e in effects:
            if len(tasks) > 1 and e["task"] != "pooled":
                continue
            for sign, claim in [(sg, c) for b, sg, c in PAPER.get(e["method"], []) if b == baseline]:
                for cal in ("raw", "bc"):
                    if cal in e:
                        d = e[cal]
                        out.append({"study": study_name(study), "method": e["method"], "baseline": baseline,
                                    "calibration": cal, "shots": e["shots"],
                                    "tasks": sorted(tasks) if e["task"] == "pooled" else [e["task"]], "n": e["n"],
                                    **d, "paper": claim, "verdict": verdict(sign, d["low"], d["high"])})
    return out


if __name__ == "__main__":
    rows = [r for arg in sys.argv[1:] for r in rows_for(arg)]
    here = Path(__file__).parent
    (here / "verdicts.json").write_text(json.dumps(rows, indent=2))
    header = "| study | method | calibration | tasks (n) | against | method − baseline [95% CI] | paper's direction | verdict |"
    lines = [header, "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['study']} | {r['method']} | {r['calibration']} | {len(r['tasks'])} ({r['n']}) | "
                     f"{r['baseline']} | "
                     f"{r['difference']:+.3f} [{r['low']:+.3f}, {r['high']:+.3f}] | {r['paper']} | {r['verdict']} |")
    (here / "verdicts.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
