"""Zero-shot and k-shot ICL accuracy of one model on several tasks, in one process (the model loads once).

Used by the training studies (results/training/*/run.sh):

* the held-out warmup study evaluates the base model and the warmed-up folders on SST-2, MR, Subj and AG News;
* the inference-time momentum control evaluates SmolLM2 with :func:`iclkit.train.momentum.add_momentum` at several
  η (``--eta``; 0 = plain attention), a fresh model per η;
* ``--scorer channel`` scores P(input | label) with each task's channel template (the channel MetaICL row of the
  warmup study). The CSV has no scorer column: give channel runs their own ``--label`` (``base-channel``), since a
  run is skipped when its label, η, task, setting and seed are already in the CSV.

Each run is an ordinary ``iclkit eval`` run (``iclkit.pipeline.run``) with the given model object, so the run folders
under ``--runs`` have the usual ``predictions.jsonl`` / ``summary.json``; one line per run is appended to ``--csv``:
model label, η, task, setting, demonstration seed, n, accuracy and its Wilson 95% interval. Runs already in the CSV
are skipped, so a re-run resumes.

    python results/training/eval_icl.py --model smollm2-135m --label base --tasks sst2,mr --shots 4 --seeds 0,1,2 \\
        --limit 200 --runs runs/training/x --csv results/training/x/accuracy.csv
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import torch

from iclkit.config import run_config
from iclkit.lm.hf import HFLM
from iclkit.pipeline import run

FIELDS = ("model", "eta", "task", "setting", "seed", "n", "accuracy", "low", "high", "seconds")


def done_runs(path: Path) -> set[tuple[str, str, str, str, str]]:
    if not path.exists():
        return set()
    with path.open() as fh:
        return {(r["model"], r["eta"], r["task"], r["setting"], r["seed"]) for r in csv.DictReader(fh)}


def load(model: str, eta: float) -> HFLM:
    lm = HFLM.load(model, device="cpu")
    if eta > 0:
        from iclkit.train.momentum import add_momentum

        add_momentum(lm.model, eta)
    return lm


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, help="embedded model name or a saved folder")
    p.add_argument("--label", required=True, help="model label in the CSV (base, metaicl, control, ...)")
    p.add_argument("--tasks", required=True, help="comma-separated task names or task YAML paths")
    p.add_argument("--shots", type=int, default=4)
    p.add_argument("--seeds", default="0", help="demonstration seeds of the k-shot runs ('' = zero-shot only)")
    p.add_argument("--no-zero-shot", action="store_true")
    p.add_argument("--limit", type=int, default=200)
    p.add_argument("--scorer", default="direct", choices=("direct", "channel"),
                   help="direct: log P(label | input); channel: log P(input | label), the task's channel template")
    p.add_argument("--etas", default="0", help="momentum decays to evaluate (0 = plain attention)")
    p.add_argument("--runs", required=True, help="folder for the run directories")
    p.add_argument("--csv", required=True)
    args = p.parse_args()
    torch.set_num_threads(1)
    out_csv = Path(args.csv)
    out_csv.parent.mkdir(parents=True, exist_ok=True)
    done = done_runs(out_csv)
    settings = ([] if args.no_zero_shot else [("zero-shot", "zero", 0, 0)])
    settings += [(f"random-{args.shots}", "random", args.shots, int(s)) for s in args.seeds.split(",") if s]
    for eta in (float(e) for e in args.etas.split(",")):
        todo = [(task, setting) for task in args.tasks.split(",") for setting in settings
                if (args.label, str(eta), Path(task).stem, setting[0], str(setting[3])) not in done]
        if not todo:
            continue
        lm = load(args.model, eta)
        for task, (setting, retriever, shots, seed) in todo:
            name = Path(task).stem
            out = Path(args.runs) / args.label / f"eta{eta}" / name / setting / f"seed{seed}"
            config = run_config({"task": task, "model": args.model, "shots": shots, "retriever": retriever,
                                 "seed": seed, "limit": args.limit, "scorer": args.scorer, "device": "cpu", "out": str(out),
                                 "name": f"{args.label}-{setting}"}, where="eval_icl")
            started = time.perf_counter()
            summary = run(config, lm=lm, log=lambda _msg: None).summary
            acc = summary["metrics"]["accuracy"]
            row = {"model": args.label, "eta": str(eta), "task": name, "setting": setting, "seed": str(seed),
                   "n": summary["n"], "accuracy": round(acc["value"], 4),
                   "low": round(acc["low"], 4), "high": round(acc["high"], 4),
                   "seconds": round(time.perf_counter() - started, 1)}
            new = not out_csv.exists()
            with out_csv.open("a", newline="") as fh:
                writer = csv.DictWriter(fh, fieldnames=FIELDS)
                if new:
                    writer.writeheader()
                writer.writerow(row)
            print(row, flush=True)


if __name__ == "__main__":
    main()
