"""Per task: the configuration ``iclkit tune`` chose, its evaluation accuracy against zero-shot (raw and batch-
calibrated) and 8-shot random, and the paired difference tuned − zero-shot with a paired bootstrap 95% interval.

    python results/selection/tune_effects.py results/selection/tune-smollm2 runs/selection/tune-smollm2

Reads each ``runs/.../<task>/{ranking,evaluation}.json`` and the ``predictions.jsonl`` of its ``tuned`` and
``zero-shot`` runs; writes ``summary.json`` and ``summary.md`` into the results folder.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from iclkit.compare import correctness
from iclkit.evaluate.metrics import paired_difference
from iclkit.evaluate.records import read_predictions


def outcome(run_dir: Path, calibration: str) -> dict[str, float]:
    records = read_predictions(run_dir)
    if calibration == "contextual":
        return {r.example_id: float(r.calibrated_prediction == r.gold) for r in records}
    return {i: v[1 if calibration == "batch" else 0] for i, v in correctness(records, batch=True).items()}


def task_row(task_dir: Path) -> dict:
    evaluation = {e["name"]: e for e in json.loads((task_dir / "evaluation.json").read_text())}
    best = json.loads((task_dir / "ranking.json").read_text())[0]
    tuned = outcome(task_dir / "tuned", evaluation["tuned"]["calibration"])
    row = {"task": task_dir.name, "chosen": best["settings"],
           "dev": {k: round(best[k], 4) for k in ("accuracy", "low", "high")}, "dev_n": best["n"],
           "evaluation": list(evaluation.values())}
    for name, calibration in (("zero_shot", "none"), ("zero_shot_bc", "batch")):
        zero = outcome(task_dir / "zero-shot", calibration)
        ids = sorted(set(tuned) & set(zero))
        d = paired_difference([([tuned[i] for i in ids], [zero[i] for i in ids])])
        row[f"tuned_minus_{name}"] = {"difference": round(d.value, 4), "low": round(d.low, 4),
                                      "high": round(d.high, 4), "n": len(ids), "zero_accuracy": round(
                                          sum(zero[i] for i in ids) / len(ids), 4)}
    return row


def markdown(rows: list[dict]) -> str:
    head = ("| task | chosen (dev acc.) | tuned | zero-shot | zero-shot BC | 8-shot random (seed 0) | "
            "tuned − zero-shot [95% CI] | tuned − zero-shot BC [95% CI] |")
    lines = [head, "|" + "---|" * 8]
    for r in rows:
        ev = {e["name"]: e for e in r["evaluation"]}
        c = r["chosen"]
        chosen = f"{c['retriever']} k={c['shots']} {c['calibration']} ({r['dev']['accuracy']:.3f})"
        acc = [f"{ev[n]['value']:.3f} [{ev[n]['low']:.3f}, {ev[n]['high']:.3f}]" for n in
               ("tuned", "zero-shot", "8-shot random")]
        diffs = [f"{d['difference']:+.3f} [{d['low']:+.3f}, {d['high']:+.3f}]" for d in
                 (r["tuned_minus_zero_shot"], r["tuned_minus_zero_shot_bc"])]
        lines.append(f"| {r['task']} | {chosen} | {acc[0]} | {acc[1]} | "
                     f"{r['tuned_minus_zero_shot_bc']['zero_accuracy']:.3f} | {acc[2]} | {diffs[0]} | {diffs[1]} |")
    return "\n".join(lines + [""] + target_lines(rows)) + "\n"


def target_lines(rows: list[dict]) -> list[str]:
    """The issue's target, counted: tasks where tuned beats zero-shot by point estimate and by interval."""
    out = []
    for key, name in (("tuned_minus_zero_shot", "zero-shot"), ("tuned_minus_zero_shot_bc", "zero-shot BC")):
        above = [r["task"] for r in rows if r[key]["difference"] > 0]
        resolved = [r["task"] for r in rows if r[key]["low"] > 0]
        out.append(f"Tuned above {name}: {len(above)} of {len(rows)} tasks by point estimate ({', '.join(above)}); "
                   f"{len(resolved)} of {len(rows)} with the 95% interval above 0 ({', '.join(resolved) or 'none'}).")
    return out


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    dest, runs = Path(sys.argv[1]), Path(sys.argv[2])
    rows = [task_row(d) for d in sorted(runs.iterdir()) if (d / "evaluation.json").exists()]
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "summary.json").write_text(json.dumps(rows, indent=2))
    (dest / "summary.md").write_text(markdown(rows))
    print(markdown(rows))
