"""Collect results/reasoning/*.json into table.csv and plot the Least-to-Most length curve (l2m_length.png)."""

import csv
import json
from pathlib import Path

here = Path(__file__).resolve().parent
rows = []
# Run summaries only: chains.json and the Auto-CoT demonstration files (*-demos.json) are not runs.
for path in sorted(p for p in here.glob("*.json") if p.name != "chains.json" and not p.stem.endswith("-demos")):
    s = json.loads(path.read_text())
    m = s["metrics"]
    rows.append({"run": path.stem, "task": s["task"], "format": s["format"], "n": s["n"],
                 "task_options": json.dumps(s["task_options"], sort_keys=True),
                 "exact_match": round(m["exact_match"]["value"], 3), "em_low": round(m["exact_match"]["low"], 3),
                 "em_high": round(m["exact_match"]["high"], 3), "token_f1": round(m["token_f1"]["value"], 3),
                 "unparseable": m["unparseable"], "calls_per_question": round(s["model_calls_per_question"], 2)})
with open(here / "table.csv", "w", newline="") as f:
    writer = csv.DictWriter(f, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
def model_of(run: str, task: str) -> str:
    return run.split("-" + task)[0].split("-l2m-")[0]


# Least-to-Most length curve, one line per model: (model, words in the test list) -> row.
curve = sorted(((model_of(r["run"], r["task"]), json.loads(r["task_options"])["n_words"]), r)
               for r in rows if "-l2m-words" in r["run"])
if curve:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.figure(figsize=(4.5, 3.2))
    for i, model in enumerate(dict.fromkeys(m for (m, _), _ in curve)):
        pts = [(n, r) for (m, n), r in curve if m == model]
        xs = [n + (i - 0.5) * 0.08 for n, _ in pts]  # nudge so overlapping intervals stay visible
        ys = [r["exact_match"] for _, r in pts]
        err = [[y - r["em_low"] for y, (_, r) in zip(ys, pts)], [r["em_high"] - y for y, (_, r) in zip(ys, pts)]]
        plt.errorbar(xs, ys, yerr=err, marker="o", capsize=3, label=model)
    plt.xlabel("words in the test list (demonstrations: 2)")
    plt.ylabel("exact match (95% CI)")
    plt.title("Least-to-Most, last-letter concatenation")
    plt.ylim(-0.05, 1.05)
    plt.legend(fontsize=8)
    plt.tight_layout()
    plt.savefig(here / "l2m_length.png", dpi=120)
print((here / "table.csv").read_text())

# A few real chains, right and wrong, from the runs' predictions.jsonl (the last question of each prompt only).
# runs/ is not committed: chains of runs that are not on this machine are kept from the committed chains.json.
runs = here.parents[1] / "runs" / "reasoning"
local = sorted(runs.glob("*")) if runs.is_dir() else []
kept = json.loads((here / "chains.json").read_text()) if (here / "chains.json").exists() else []
kept = [c for c in kept if c["run"] not in {run.name for run in local}]
chains = []
for run in local:
    records = [json.loads(line) for line in (run / "predictions.jsonl").read_text().splitlines() if line]
    from iclkit.evaluate.metrics import exact_match

    for want in (1.0, 0.0):
        hit = next((r for r in records if exact_match(r["gold"], r["prediction"]) == want), None)
        if hit:
            calls = [{"stage": c["stage"], "prompt_tail": (c["prompt"] or "")[-300:], "output": c["output"]}
                     for c in hit["samples"][0]["calls"]]
            chains.append({"run": run.name, "correct": bool(want), "gold": hit["gold"],
                           "prediction": hit["prediction"], "calls": calls})
chains = sorted(kept + chains, key=lambda c: (c["run"], not c["correct"]))
(here / "chains.json").write_text(json.dumps(chains, indent=1, ensure_ascii=False) + "\n")

# Markdown tables for docs/reasoning.md: exact match (correct/n) [95% CI], unparseable answers in parentheses.
formats = ["direct", "cot", "zero-shot-cot", "auto-cot", "self-ask", "self-ask+tool", "least-to-most"]
cells: dict[tuple[str, str], dict[str, str]] = {}
for r in rows:
    if "-l2m-words" in r["run"] and not r["run"].endswith("-l2m-words2"):  # same setting as the other cells
        continue
    model = model_of(r["run"], r["task"])
    fmt = r["format"] + ("+tool" if r["run"].endswith("-tool") else "")
    k = round(r["exact_match"] * r["n"])
    note = f", {r['unparseable']} unparsed" if r["unparseable"] else ""
    cells.setdefault((model, r["task"]), {})[fmt] = f"{k}/{r['n']} [{r['em_low']:.2f}, {r['em_high']:.2f}]{note}"
used = [f for f in formats if any(f in c for c in cells.values())]
lines = ["| model | task | " + " | ".join(used) + " |", "|---|---|" + "---|" * len(used)]
for (model, task), c in sorted(cells.items()):
    lines.append(f"| {model} | {task} | " + " | ".join(c.get(f, "–") for f in used) + " |")
l2m = ["| model | words in test list | exact match [95% CI] | model calls per question |", "|---|---|---|---|"]
for (model, n), r in curve:
    l2m.append(f"| {model} | {n} | {round(r['exact_match'] * r['n'])}/{r['n']} [{r['em_low']:.2f}, {r['em_high']:.2f}] | "
               f"{r['calls_per_question']} |")
(here / "table.md").write_text("\n".join(lines) + "\n\n" + "\n".join(l2m) + "\n")
