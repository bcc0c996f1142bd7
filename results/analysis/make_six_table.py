"""Print the six-task tables of docs/analysis.md from results/analysis/six/*/analysis.json (made by
results/analysis/run_six_tasks.sh), next to Dai et al.'s numbers for GPT 1.3B (spec §4).

    python results/analysis/make_six_table.py            # markdown on stdout
    python results/analysis/make_six_table.py --csv results/analysis/six/table.csv

Cells over seeds are "mean ±half-width of the Student-t 95% interval" (3 demonstration seeds); accuracies in %.
Rec2FTP pools its counts over the seeds (ICL also right / FT fixes a ZSL error), because per-seed ratios of a few
examples are mostly undefined or 0/1.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

HERE = Path(__file__).parent / "six"
TASKS = ("sst2", "sst5", "mr", "subj", "agnews", "cb")
# Dai et al. (ACL 2023), GPT 1.3B, spec §4.1-4.5
PAPER = {
    "zsl": dict(zip(TASKS, (70.5, 39.3, 65.9, 72.6, 46.3, 37.5))),
    "ft": dict(zip(TASKS, (73.9, 39.5, 73.0, 77.8, 65.3, 55.4))),
    "icl": dict(zip(TASKS, (92.7, 45.0, 89.0, 90.0, 79.2, 57.1))),
    "rec2ftp": dict(zip(TASKS, (91.84, 66.67, 97.08, 87.17, 83.08, 87.50))),
    "simaou": dict(zip(TASKS, (0.110, 0.080, 0.222, 0.191, 0.281, 0.234))),
    "simam_before_ft": dict(zip(TASKS, (0.555, 0.391, 0.398, 0.378, 0.152, 0.152))),
    "simam_after_ft": dict(zip(TASKS, (0.585, 0.404, 0.498, 0.490, 0.496, 0.177))),
    "kendall": dict(zip(TASKS, (0.192, 0.151, 0.173, 0.181, 0.190, 0.274))),
}
CONTROLS = ("random-init", "shuffled-labels", "other-demos")


def fmt(cell: dict | None, scale: float = 1.0, digits: int = 3) -> str:
    if not cell or cell.get("mean") is None:
        return "–"
    text = f"{cell['mean'] * scale:.{digits}f}"
    if cell.get("low") is not None:
        text += f" ±{(cell['high'] - cell['low']) / 2 * scale:.{digits}f}"
    return text


def rec2ftp(results: list[dict]) -> tuple[str, float | None]:
    both = sum(r["rec2ftp"]["n_both"] for r in results)
    fixed = sum(r["rec2ftp"]["n_ft_over_zsl"] for r in results)
    return f"{both}/{fixed}", (100 * both / fixed if fixed else None)


def load(kind: str) -> dict[tuple[str, str], dict]:
    out = {}
    for path in sorted(HERE.glob(f"*-{kind}/analysis.json")):
        a = json.loads(path.read_text())
        out[(a["config"]["task"], a["config"]["model"])] = a
    return out


def main_rows(runs: dict) -> list[dict]:
    rows = []
    for (task, model), a in sorted(runs.items(), key=lambda kv: (kv[0][1], TASKS.index(kv[0][0]))):
        s = a["summary"]["main"]
        counts, pooled = rec2ftp([seed["main"] for seed in a["seeds"]])
        m = s["measures"]
        rows.append({
            "model": model, "task": task, "seeds": len(a["seeds"]),
            "n": a["seeds"][0]["main"]["accuracy"]["zsl"]["n"],
            "demos": "/".join(str(x) for x in sorted({seed["demos"]["used"] for seed in a["seeds"]})),
            "lr": a["seeds"][0]["lr"],
            **{f"{k}_acc": fmt(s["accuracy"][k], 100, 1) for k in ("zsl", "icl", "ft")},
            "rec2ftp": f"{pooled:.0f} ({counts})" if pooled is not None else f"– ({counts})",
            **{k: fmt(m.get(k)) for k in ("simaou", "simaou_random_uniform", "simam_before_ft", "simam_after_ft",
                                         "simam_ft_diff", "kendall", "kendall_random")},
        })
    return rows


def control_rows(runs: dict) -> list[dict]:
    rows = []
    for (task, model), a in sorted(runs.items(), key=lambda kv: (kv[0][1], TASKS.index(kv[0][0]))):
        seed = a["seeds"][0]
        cols = {"real": seed["main"], **{c: seed["controls"].get(c) for c in CONTROLS}}
        for name, r in cols.items():
            if r is None:
                continue
            m = r["mean"]
            g = {k: (f"{m[k]:.3f}" if m.get(k) is not None else "–") for k in
                 ("simaou", "simam_before_ft", "simam_after_ft", "simam_ft_diff", "kendall")}
            acc = r["accuracy"]
            rows.append({"model": model, "task": task, "column": name, "lr": seed["lr"],
                         **{f"{k}_acc": f"{100 * acc[k]['value']:.1f}" for k in ("zsl", "icl", "ft")},
                         "rec2ftp": rec2ftp([r])[0], **g})
    return rows


def control_summary(runs: dict) -> list[dict]:
    """Per model and control: on how many tasks the control's measure is at least the real study's (seed 0), with
    the per-task differences control - real. "At least" with no margin: these are single-seed readings."""
    rows = []
    for model in sorted({m for _, m in runs}):
        tasks = [t for t in TASKS if (t, model) in runs]
        for control in CONTROLS:
            row = {"model": model, "control": control}
            for key in ("simaou", "simam_after_ft", "simam_ft_diff", "kendall"):
                diffs = []
                for task in tasks:
                    seed = runs[(task, model)]["seeds"][0]
                    c = seed["controls"].get(control)
                    if c is None or c["mean"].get(key) is None or seed["main"]["mean"].get(key) is None:
                        continue
                    diffs.append((task, c["mean"][key] - seed["main"]["mean"][key]))
                row[key] = (f"{sum(d >= 0 for _, d in diffs)}/{len(diffs)}: " +
                            ", ".join(f"{t} {d:+.3f}" for t, d in diffs)) if diffs else "–"
            rows.append(row)
    return rows


def lr_rows(runs: dict) -> list[dict]:
    rows = []
    for (task, model), a in sorted(runs.items(), key=lambda kv: (kv[0][1], TASKS.index(kv[0][0]))):
        sel = a["seeds"][0]["lr_selection"]
        row = {"model": model, "task": task}
        for mode in ("heldout", "eval"):
            if mode in sel:
                row[f"{mode}_lr"] = sel[mode]["lr"]
                row[f"{mode}_correct"] = f"{sel[mode]['correct']}/{sel[mode]['n_selection']}"
                row[f"{mode}_scored"] = f"{sel[mode]['examples_scored']}/{sel[mode]['full_cost_examples']}"
        rows.append(row)
    return rows


def markdown(rows: list[dict], columns: list[tuple[str, str]]) -> str:
    lines = ["| " + " | ".join(h for h, _ in columns) + " |", "|---" * len(columns) + "|"]
    for r in rows:
        lines.append("| " + " | ".join(str(r.get(k, "–")) for _, k in columns) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--csv", help="also write the main table as CSV")
    args = parser.parse_args(argv)
    main_runs, control_runs = load("3seeds"), load("seed0-controls")
    rows = main_rows(main_runs)
    print("#### Main table (3 seeds)\n")
    print(markdown(rows, [("model", "model"), ("task", "task"), ("n", "n"), ("demos used", "demos"),
                          ("FT lr", "lr"), ("ZSL %", "zsl_acc"), ("ICL %", "icl_acc"), ("FT %", "ft_acc"),
                          ("Rec2FTP % (pooled counts)", "rec2ftp"), ("SimAOU ΔFT", "simaou"),
                          ("SimAOU random U", "simaou_random_uniform"), ("SimAM before", "simam_before_ft"),
                          ("SimAM after", "simam_after_ft"), ("SimAM FT-diff", "simam_ft_diff"),
                          ("Kendall", "kendall"), ("Kendall random", "kendall_random")]))
    print("\n#### Paper (GPT 1.3B)\n")
    paper = [{"task": t, **{k: PAPER[k][t] for k in PAPER}} for t in TASKS]
    print(markdown(paper, [("task", "task")] + [(k, k) for k in PAPER]))
    print("\n#### Controls (seed 0)\n")
    print(markdown(control_rows(control_runs), [
        ("model", "model"), ("task", "task"), ("column", "column"), ("FT lr", "lr"), ("ZSL %", "zsl_acc"),
        ("ICL %", "icl_acc"),
        ("FT %", "ft_acc"), ("Rec2FTP counts", "rec2ftp"), ("SimAOU", "simaou"), ("SimAM before", "simam_before_ft"),
        ("SimAM after", "simam_after_ft"), ("SimAM FT-diff", "simam_ft_diff"), ("Kendall", "kendall")]))
    print("\n#### Controls against the real study (seed 0): tasks where control >= real, and control - real\n")
    print(markdown(control_summary(control_runs), [
        ("model", "model"), ("control", "control"), ("SimAOU", "simaou"), ("SimAM after", "simam_after_ft"),
        ("SimAM FT-diff", "simam_ft_diff"), ("Kendall", "kendall")]))
    print("\n#### Learning-rate selection (seed 0)\n")
    print(markdown(lr_rows(control_runs), [
        ("model", "model"), ("task", "task"), ("held-out lr", "heldout_lr"), ("held-out correct", "heldout_correct"),
        ("held-out scored/full", "heldout_scored"), ("eval-set lr", "eval_lr"), ("eval-set correct", "eval_correct"),
        ("eval-set scored/full", "eval_scored")]))
    if args.csv and rows:
        with open(args.csv, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
