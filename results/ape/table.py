"""Collect results/ape/<task>-smollm2/ into table.md and table.csv: the held-out (selection) accuracy and the
evaluation-slice accuracy of no instruction, the hand-written instruction and the APE-selected one, and the paired
difference APE - hand-written on the evaluation slice (same examples, paired bootstrap 95% interval).

Per-example correctness comes from the eval runs' predictions.jsonl (runs/ape-eval/<task>/<variant>/, not committed);
it is saved as <task>-smollm2/correct.json so the paired intervals can be recomputed from committed files.
"""

import csv
import json
from pathlib import Path

from iclkit.evaluate.metrics import paired_difference

here = Path(__file__).resolve().parent
runs = here.parents[1] / "runs" / "ape-eval"
ORDER = ["sst2", "mr", "subj", "sst5", "agnews", "cb", "trec", "rte"]
VARIANTS = ("none", "hand", "ape")


def correctness(task: str, out: Path) -> dict[str, dict[str, int]] | None:
    """Example id -> 1/0 per variant, refreshed from the local runs when they are all there."""
    files = {v: runs / task / v / "predictions.jsonl" for v in VARIANTS}
    if all(f.exists() for f in files.values()):
        table = {}
        for v, f in files.items():
            records = [json.loads(line) for line in f.read_text().splitlines() if line]
            table[v] = {r["example_id"]: int(r["prediction"] == r["gold"]) for r in records}
        (out / "correct.json").write_text(json.dumps(table, indent=0, sort_keys=True) + "\n")
    path = out / "correct.json"
    return json.loads(path.read_text()) if path.exists() else None


def paired(table: dict[str, dict[str, int]] | None, a: str, b: str) -> tuple[float, float, float] | None:
    if not table:
        return None
    ids = sorted(table[a])
    d = paired_difference([([table[a][i] for i in ids], [table[b][i] for i in ids])])
    return d.value, d.low, d.high


rows = []
for out in sorted(here.glob("*-smollm2"), key=lambda p: ORDER.index(p.name.split("-")[0])):
    task = out.name.split("-")[0]
    if not all((out / f"eval-{v}.json").exists() for v in VARIANTS):
        print(f"skipped {out.name}: not finished (no eval-*.json)")
        continue
    ape = json.loads((out / "ape.json").read_text())
    held = ape["heldout_accuracy"]["baselines"]
    ev = {v: json.loads((out / f"eval-{v}.json").read_text()) for v in VARIANTS}
    table = correctness(task, out)
    row = {"task": task, "n_heldout": ape["settings"]["n_heldout"], "n_eval": ev["ape"]["n"],
           "candidates": len(ape["heldout_accuracy"]["candidates"]),
           "heldout_none": held["none"], "heldout_hand": held.get("hand-written"),
           # The saved (and evaluated) prompt: searches since the choice fix record it as "chosen"; before, the best
           # candidate was always saved (rechoose.py applies the fixed rule to those).
           "heldout_ape": ape.get("chosen", ape["best"])["accuracy"],
           "ape_instruction": ape.get("chosen", ape["best"])["instruction"] or "(no instruction)",
           "hand_instruction": ape["config"]["instruction"]}
    for v in VARIANTS:
        acc = ev[v]["metrics"]["accuracy"]
        dist = ev[v]["metrics"]["predicted_distribution"]
        top = max(dist, key=dist.get)
        row |= {f"eval_{v}": acc["value"], f"eval_{v}_low": acc["low"], f"eval_{v}_high": acc["high"],
                f"top_pred_{v}": f"{top} {dist[top]:.2f}"}
    row["gold_majority"] = max(ev["ape"]["metrics"]["gold_distribution"].values())
    for a, b in (("ape", "hand"), ("ape", "none")):
        diff = paired(table, a, b)
        row[f"diff_{a}_{b}"] = diff and [round(x, 3) for x in diff]
    rows.append(row)

with open(here / "table.csv", "w", newline="") as f:
    writer = csv.DictWriter(f, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)


def acc(r: dict, v: str) -> str:
    return f"{r[f'eval_{v}']:.2f} [{r[f'eval_{v}_low']:.2f}, {r[f'eval_{v}_high']:.2f}]"


def diff(r: dict, key: str) -> str:
    return "–" if not r[key] else f"{r[key][0]:+.2f} [{r[key][1]:+.2f}, {r[key][2]:+.2f}]"


header = ("| task | held-out n | none / hand / APE (held-out, selection) | eval n | none (eval) | hand-written (eval) "
          "| APE (eval) | APE − hand (paired) | APE − none (paired) |")
lines = [header, "|---|---|---|---|---|---|---|---|---|"]
for r in rows:
    lines.append(f"| {r['task']} | {r['n_heldout']} | {r['heldout_none']:.2f} / {r['heldout_hand']:.2f} / "
                 f"{r['heldout_ape']:.2f} | {r['n_eval']} | {acc(r, 'none')} | {acc(r, 'hand')} | {acc(r, 'ape')} | "
                 f"{diff(r, 'diff_ape_hand')} | {diff(r, 'diff_ape_none')} |")
bias = ["| task | majority gold share | most predicted label: none | hand-written | APE | APE-selected instruction |",
        "|---|---|---|---|---|---|"]
for r in rows:
    bias.append(f"| {r['task']} | {r['gold_majority']:.2f} | {r['top_pred_none']} | {r['top_pred_hand']} | "
                f"{r['top_pred_ape']} | \"{r['ape_instruction']}\" |")
(here / "table.md").write_text("\n".join(lines) + "\n\n" + "\n".join(bias) + "\n")
print((here / "table.md").read_text())
