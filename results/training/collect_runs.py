"""One CSV row per run folder written by ``eval_icl.py``, with what the study tables need beyond accuracy.

Reads ``<runs>/<model>/eta<η>/<task>/<setting>/seed<s>/summary.json`` and writes: accuracy and its Wilson 95%
interval, macro-F1, the most-predicted label and its share of the predictions (a model that always answers the same
label sits at the majority rate whatever it learned), and the accuracy after batch calibration (the run's own
mean label probabilities divided out; iclkit computes it for every run, ``metrics_batch_calibrated``) with its
interval. Run folders live under the git-ignored ``runs/``; this CSV is the committed copy.

``--merge`` keeps the rows of the existing CSV whose run folder is not under ``runs`` (a study extended on a machine
that no longer has the earlier run folders) and replaces those that are; without it the CSV is rewritten from the
folders alone, which would drop the earlier rows.

    python results/training/collect_runs.py --merge runs/training/warmup-heldout/eval \
        results/training/warmup-heldout/runs.csv
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

FIELDS = ("model", "eta", "task", "setting", "seed", "n", "accuracy", "low", "high", "macro_f1", "top_label",
          "top_label_share", "calibrated_accuracy", "calibrated_low", "calibrated_high")


def row(path: Path, runs: Path) -> dict:
    model, eta, task, setting, seed = path.parent.relative_to(runs).parts
    s = json.loads(path.read_text())
    m, cal = s["metrics"], s.get("metrics_batch_calibrated") or {}
    top = max(m["predicted_distribution"].items(), key=lambda kv: kv[1])
    out = {"model": model, "eta": eta.removeprefix("eta"), "task": task, "setting": setting,
           "seed": seed.removeprefix("seed"), "n": s["n"], "accuracy": round(m["accuracy"]["value"], 4),
           "low": round(m["accuracy"]["low"], 4), "high": round(m["accuracy"]["high"], 4),
           "macro_f1": round(m["macro_f1"]["value"], 4), "top_label": top[0], "top_label_share": round(top[1], 4)}
    if cal:
        out.update(calibrated_accuracy=round(cal["accuracy"]["value"], 4),
                   calibrated_low=round(cal["accuracy"]["low"], 4), calibrated_high=round(cal["accuracy"]["high"], 4))
    return out


KEY = ("model", "eta", "task", "setting", "seed")


def merged(old: list[dict], new: list[dict]) -> list[dict]:
    """The old rows not re-collected, then the new rows, sorted by run key (the folder order of a fresh collect)."""
    fresh = {tuple(str(r[k]) for k in KEY) for r in new}
    kept = [r for r in old if tuple(r[k] for k in KEY) not in fresh]
    return sorted(kept + new, key=lambda r: tuple(str(r[k]) for k in KEY))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--merge", action="store_true", help="keep existing rows whose run folder is absent")
    p.add_argument("runs")
    p.add_argument("csv")
    args = p.parse_args()
    runs = Path(args.runs)
    rows = [row(path, runs) for path in sorted(runs.glob("*/*/*/*/*/summary.json"))]
    if args.merge and Path(args.csv).exists():
        with open(args.csv, newline="") as fh:
            rows = merged(list(csv.DictReader(fh)), rows)
    with open(args.csv, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    print(f"{len(rows)} runs -> {args.csv}")


if __name__ == "__main__":
    main()
