"""Apply the fixed APE choice rule (``iclkit.ape.choose``: best of the candidates AND the baselines, ties to the
simpler prompt) to the committed searches, without running the LM again.

Reads, per task, results/ape/<task>-smollm2/ape.json (held-out accuracy of no instruction, the hand-written
instruction and every candidate; written before the fix, so it saved the best candidate whatever the baselines
scored; a search run after the fix records ``chosen_from``) and eval-{none,hand,ape}.json (the evaluation
slice). The fixed rule picks one of those three prompts, so
its evaluation-slice accuracy is already in the committed eval files: nothing is re-run. Writes fixed-rule.json and
fixed-rule.md next to this script, and where the fixed rule saves another prompt than the search did, rewrites that
task's saved <task>-ape.yaml as ``iclkit ape`` now saves it (ape.json stays the search's own record).

    PYTHONPATH=src python results/ape/rechoose.py
"""

import json
from pathlib import Path

import yaml

from iclkit.ape import choose, task_yaml
from iclkit.config import run_config
from iclkit.evaluate.metrics import paired_difference

here = Path(__file__).resolve().parent
ORDER = ["sst2", "mr", "subj", "sst5", "agnews", "cb", "trec", "rte"]
EVAL_FILE = {"candidate": "ape", "none": "none", "hand-written": "hand"}  # chosen_from -> eval-<name>.json


def paired(correct: dict[str, dict[str, int]], a: str, b: str) -> list[float]:
    """a - b on the same evaluation examples (correct.json), with its paired bootstrap 95% interval."""
    ids = sorted(correct[a])
    d = paired_difference([([correct[a][i] for i in ids], [correct[b][i] for i in ids])])
    return [round(d.value, 3), round(d.low, 3), round(d.high, 3)]


rows = []
for out in sorted(here.glob("*-smollm2"), key=lambda p: ORDER.index(p.name.split("-")[0])):
    ape = json.loads((out / "ape.json").read_text())
    held = ape["heldout_accuracy"]["baselines"]
    baselines = {"none": None, **({"hand-written": ape["config"]["instruction"]} if "hand-written" in held else {})}
    source, instruction, score = choose(baselines, held, (ape["best"]["instruction"], ape["best"]["accuracy"]))
    saved = ape.get("chosen_from", "candidate")  # searches before the fix saved the best candidate
    name = "ape" if source == saved else EVAL_FILE[source]  # eval-ape.json evaluated the saved <task>-ape.yaml
    acc = json.loads((out / f"eval-{name}.json").read_text())["metrics"]["accuracy"]
    if source != saved:
        task = ape["config"]["task"]
        (out / f"{task}-ape.yaml").write_text(
            f"# Rewritten by results/ape/rechoose.py: the fixed choice rule saves the {source} prompt.\n"
            + yaml.safe_dump(task_yaml(run_config(ape["config"]), task, instruction), sort_keys=False))
    correct = json.loads((out / "correct.json").read_text())
    rows.append({"task": out.name.split("-")[0], "heldout": {**held, "best_candidate": ape["best"]["accuracy"]},
                 "saved_by_search": saved, "chosen_from": source, "instruction": instruction,
                 "heldout_accuracy": score, "changed": source != saved,
                 "eval_file": f"{out.name}/eval-{name}.json",
                 "eval_accuracy": {k: acc[k] for k in ("value", "low", "high")},
                 "diff_vs_hand": paired(correct, name, "hand"),
                 "diff_vs_none": paired(correct, name, "none")})

(here / "fixed-rule.json").write_text(json.dumps(rows, indent=2) + "\n")


def diff(d: list[float]) -> str:
    return f"{d[0]:+.2f} [{d[1]:+.2f}, {d[2]:+.2f}]"


HEADER = ("| task | held-out: none / hand / best candidate | saved by the search | fixed rule saves | "
          "fixed rule (eval, from) | fixed − hand (paired) | fixed − none (paired) |")
lines = [HEADER, "|---|---|---|---|---|---|---|"]
for r in rows:
    h, e = r["heldout"], r["eval_accuracy"]
    lines.append(f"| {r['task']} | {h['none']:.2f} / {h.get('hand-written', float('nan')):.2f} / "
                 f"{h['best_candidate']:.2f} | {r['saved_by_search']} | "
                 f"{'**' + r['chosen_from'] + '**' if r['changed'] else r['chosen_from']}"
                 f" | {e['value']:.2f} [{e['low']:.2f}, {e['high']:.2f}] (`{r['eval_file']}`) | "
                 f"{diff(r['diff_vs_hand'])} | {diff(r['diff_vs_none'])} |")
(here / "fixed-rule.md").write_text("\n".join(lines) + "\n")
print((here / "fixed-rule.md").read_text())
