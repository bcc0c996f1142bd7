"""Figures that docs/results.md derives from the per-example predictions of a run (not from its summary).

Each figure reads ``predictions.jsonl`` of a run named in the docs (under the git-ignored ``runs/``) and writes a
small JSON file under ``results/derived/``, which the sentence in the docs cites.

    python scripts/derived_figures.py prior        # content-free prior vs the mean over real inputs
    python scripts/derived_figures.py neighbours   # TopK: do retrieved demonstrations share the query's gold label?
    python scripts/derived_figures.py              # both
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from iclkit.data.loaders import load_split
from iclkit.data.tasks import load_task
from iclkit.score.calibration import label_distribution

OUT = Path("results/derived")


def read_records(path: Path) -> list[dict]:
    if not path.exists():
        raise SystemExit(f"{path}: missing; run the command named in docs/results.md first")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line.strip()]


def prior(run_dir: Path = Path("runs/results/smollm2-135m/sst2/zero-shot")) -> dict:
    """Contextual calibration's prior p_cf against the mean label distribution over the evaluated inputs.

    The run records raw scores and ``calibrated = log p̂ − log p_cf``, so p_cf = p̂ / exp(calibrated) per example
    (the same for every example of a zero-shot run: one context). The mean of p̂ is batch calibration's prior.
    """
    records = read_records(run_dir / "predictions.jsonl")
    labels = list(records[0]["scores"])
    p_hat = np.array([label_distribution([r["scores"][y] for y in labels]) for r in records])
    p_cf = np.array([p / np.exp([r["calibrated_scores"][y] for y in labels]) for p, r in zip(p_hat, records)])
    share = {kind: {y: float(np.mean([r[kind] == y for r in records])) for y in labels}
             for kind in ("prediction", "calibrated_prediction")}
    return {
        "source": str(run_dir / "predictions.jsonl"),
        "labels": labels,
        "n": len(records),
        "content_free_prior": [round(float(x), 4) for x in p_cf.mean(axis=0)],
        "content_free_prior_spread_over_examples": round(float(np.ptp(p_cf, axis=0).max()), 6),
        "mean_over_inputs": [round(float(x), 4) for x in p_hat.mean(axis=0)],
        "predicted_share_raw": share["prediction"],
        "predicted_share_contextual": share["calibrated_prediction"],
    }


def neighbours(run_dir: Path = Path("runs/sst2-main/topk-8"), task_name: str = "sst2") -> dict:
    """How often TopK's demonstrations carry the query's gold label, and how often the prediction copies the label
    of the demonstration next to the query (the most similar one, placed last by the ``similarity`` ordering)."""
    records = read_records(run_dir / "predictions.jsonl")
    pool = {e.id: e.label for e in load_split(load_task(task_name), "train")}
    demo_labels = [[pool[d] for d in r["demo_ids"]] for r in records]
    same_gold = [np.mean([y == r["gold"] for y in ys]) for r, ys in zip(records, demo_labels)]
    return {
        "source": str(run_dir / "predictions.jsonl"),
        "n": len(records),
        "demos_per_query": float(np.mean([len(ys) for ys in demo_labels])),
        "share_of_demos_with_query_gold_label": round(float(np.mean(same_gold)), 4),
        "share_nearest_demo_with_query_gold_label": round(
            float(np.mean([ys[-1] == r["gold"] for r, ys in zip(records, demo_labels)])), 4),
        "share_prediction_equals_nearest_demo_label": round(
            float(np.mean([ys[-1] == r["prediction"] for r, ys in zip(records, demo_labels)])), 4),
    }


FIGURES = {"prior": (prior, "sst2-smollm2-zero-shot-prior.json"),
           "neighbours": (neighbours, "sst2-main-topk-neighbours.json")}


def main(argv: list[str]) -> int:
    for name in argv or list(FIGURES):
        compute, filename = FIGURES[name]
        result = compute()
        OUT.mkdir(parents=True, exist_ok=True)
        (OUT / filename).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        print(f"{OUT / filename}: {json.dumps(result)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
