"""Print the Markdown tables of docs/results.md from the committed result files under ``results/``.

``results/`` is filled by ``python scripts/collect_results.py`` from the runs the docs name; a row or cell whose
files are missing is printed as "not re-run yet" rather than with numbers from anywhere else.

    python scripts/results_table.py            # all three tables
    python scripts/results_table.py paper      # one of: main, paper, lm-eval
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

RESULTS = Path("results")
KEYS = ("metrics", "metrics_calibrated", "metrics_batch_calibrated")  # raw, CC, BC (log-space)
PAPER_VARIANTS = ("zero-shot", "random-8", "topk-8")
PAPER_MODELS = ("gemma3-270m", "smollm2-135m")
PAPER_TASKS = ("sst2", "sst5", "mr", "subj", "agnews", "cb")
MAIN_VARIANTS = ("zero-shot", "random-8", "topk-8")
LMEVAL_VARIANTS = (("zero-shot", "zero-shot"), ("random-4", "4 random demonstrations (3 seeds)"))
COLLAPSE = 0.9  # a run predicting one label this often is flagged ⚠


def summaries(variant_dir: Path) -> list[dict]:
    """One summary per demonstration seed (``seed*/summary.json``), or the variant's single summary."""
    files = sorted(variant_dir.glob("seed*/summary.json")) or sorted(variant_dir.glob("summary.json"))
    return [json.loads(f.read_text(encoding="utf-8")) for f in files]


def cell(runs: list[dict], key: str) -> str:
    """Accuracy of one run, or mean ± sample std over seeds; ⚠x% when a run collapses onto one label."""
    values = [r[key]["accuracy"]["value"] for r in runs if key in r]
    if not values:
        return "–"
    text = f"{values[0]:.3f}" if len(values) == 1 else \
        f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"
    worst = max(max(r[key]["predicted_distribution"].values()) for r in runs if key in r)
    return text + (f" ⚠{worst:.0%}" if worst >= COLLAPSE else "")


def with_ci(metric: dict) -> str:
    return f"{metric['value']:.3f} [{metric['low']:.3f}, {metric['high']:.3f}]"


def paper_table(root: Path) -> list[str]:
    head = ["zero-shot", "random-8 (3 seeds)", "topk-8"]
    lines = ["| model | task | n | " + " | ".join(f"{h} | {h.split()[0]} CC | {h.split()[0]} BC" for h in head) + " |",
             "|---|---|---|" + "---|" * 9]
    for model in PAPER_MODELS:
        for task in PAPER_TASKS:
            runs = {v: summaries(root / model / task / v) for v in PAPER_VARIANTS}
            if not any(runs.values()):
                lines.append(f"| {model} | {task} | not re-run yet |" + " |" * 8 + " |")
                continue
            n = next(r[0]["n"] for r in runs.values() if r)
            cells = [cell(runs[v], key) if runs[v] else "not re-run yet" for v in PAPER_VARIANTS for key in KEYS]
            lines.append(f"| {model} | {task} | {n} | " + " | ".join(cells) + " |")
    return lines


def main_table(root: Path) -> list[str]:
    head = ("| run | accuracy | macro-F1 | CC accuracy | CC macro-F1 | BC accuracy | predicted \"negative\" (raw) "
            "| wall time of the variant |")
    lines = [head, "|---|---|---|---|---|---|---|---|"]
    for variant in MAIN_VARIANTS:
        runs = summaries(root / variant)
        if not runs:
            lines.append(f"| {variant} | not re-run yet |" + " |" * 6)
            continue
        s = runs[0]
        raw, cc, bc = (s.get(k) for k in KEYS)
        cells = [with_ci(raw["accuracy"]), with_ci(raw["macro_f1"]),
                 with_ci(cc["accuracy"]) if cc else "–", with_ci(cc["macro_f1"]) if cc else "–",
                 with_ci(bc["accuracy"]) if bc else "–",
                 f"{raw['predicted_distribution'].get('negative', 0):.0%}", f"{s['timing']['seconds']:.0f} s"]
        lines.append(f"| {variant} | " + " | ".join(cells) + " |")
    return lines


def lmeval_table(root: Path) -> list[str]:
    lines = ["| model | run | n | iclkit raw | iclkit CC | iclkit BC |", "|---|---|---|---|---|---|"]
    for model in PAPER_MODELS:
        for variant, label in LMEVAL_VARIANTS:
            runs = summaries(root / model / variant)
            if not runs:
                lines.append(f"| {model} | {label} | not re-run yet | | | |")
                continue
            lines.append(f"| {model} | {label} | {runs[0]['n']} | " + " | ".join(cell(runs, k) for k in KEYS) + " |")
    return lines


TABLES = {"main": (main_table, "sst2-main"), "paper": (paper_table, "paper-tasks"),
          "lm-eval": (lmeval_table, "lm-eval-compare")}


def main(argv: list[str]) -> int:
    names = argv or list(TABLES)
    for name in names:
        if name not in TABLES:
            print(f"unknown table {name!r}; choose from {', '.join(TABLES)}", file=sys.stderr)
            return 2
        build, folder = TABLES[name]
        if len(names) > 1:
            print(f"\n<!-- {name}: results/{folder} -->")
        print("\n".join(build(RESULTS / folder)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
