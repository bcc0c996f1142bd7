"""Table 6-style summary of the from-scratch momentum comparison, from ``per-run/eta*-seed*.json``.

Writes ``summary.json`` and ``table.md`` (byte-level perplexity: train at the training length, test at each context
length, mean ± std over seeds, and the per-seed paired difference momentum − plain), ``loss.png`` (training loss
curves, every seed) and ``ppl_vs_context.png``.

    python results/training/momentum-scratch/summarize.py
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

HERE = Path(__file__).resolve().parent


def mean_std(xs: list[float]) -> tuple[float, float | None]:
    return statistics.mean(xs), (statistics.stdev(xs) if len(xs) > 1 else None)


def show(xs: list[float]) -> str:
    m, s = mean_std(xs)
    return f"{m:.3f}" + (f" ± {s:.3f}" if s is not None else "")


STEPS = 150  # the main comparison's training length; other lengths get "@steps" in their key


def variant(run: dict) -> str:
    """The key of a run's model: its eta, ``n`` for the normalised term ((1 - eta) times the sum), and ``@steps``
    when it trained for other than :data:`STEPS` steps."""
    steps = run["config"]["steps"]
    return f"{run['eta']}" + ("n" if run.get("normalised") else "") + (f"@{steps}" if steps != STEPS else "")


def parts(key: str) -> tuple[float, bool, int]:
    """(eta, normalised, steps) of a variant key."""
    head, _, steps = key.partition("@")
    return float(head.rstrip("n")), head.endswith("n"), int(steps or STEPS)


def plain_of(key: str) -> str:
    """The plain model trained for as long: what a momentum variant is paired with."""
    steps = parts(key)[2]
    return "0.0" + (f"@{steps}" if steps != STEPS else "")


def label(key: str) -> str:
    eta, normalised, steps = parts(key)
    name = "plain" if eta == 0 else f"momentum η={eta}" + (", normalised" if normalised else "")
    return name + (f", {steps} steps" if steps != STEPS else "")


def in_context_table(runs: list[dict], etas: list[str], by: dict, summary: dict) -> list[str]:
    """Task-free in-context measures (``scratch_lm.in_context_scores``) of the variants whose runs recorded them:
    mean ± std over seeds, and momentum − plain of the same seed and length."""
    have = [k for k in etas if any(variant(r) == k and "in_context" in r for r in runs)]
    if not have:
        return []
    lines = ["", "In-context measures (nats/byte; negative = the context helps), test.txt:", "",
             "| model | seeds | ICL score (pos. 192-255 − 32-63) | repeat gain (2nd copy − 1st) |", "|---|---|---|---|"]
    summary["in_context"] = {}
    for key in have:
        rs = [r for r in runs if variant(r) == key and "in_context" in r]
        values = {m: [r["in_context"][m] for r in rs] for m in ("icl_score", "repeat_gain")}
        summary["in_context"][key] = {"seeds": [r["seed"] for r in rs], **values}
        lines.append(f"| {label(key)} | {len(rs)} | {show(values['icl_score'])} | {show(values['repeat_gain'])} |")
        if parts(key)[0] > 0:
            seeds = [r["seed"] for r in rs if "in_context" in by.get((plain_of(key), r["seed"]), {})]
            if seeds:
                diffs = {m: [by[(key, s)]["in_context"][m] - by[(plain_of(key), s)]["in_context"][m] for s in seeds]
                         for m in ("icl_score", "repeat_gain")}
                summary["in_context"][key]["minus_plain"] = {"seeds": seeds, **diffs}
                lines.append(f"| difference ({label(key).removeprefix('momentum ')} − plain, same seed) | "
                             f"{len(seeds)} | {show(diffs['icl_score'])} | {show(diffs['repeat_gain'])} |")
    return lines


def main() -> None:
    runs = [json.loads(p.read_text()) for p in sorted((HERE / "per-run").glob("eta*-seed*.json"))]
    etas = sorted({variant(r) for r in runs}, key=lambda k: (parts(k)[2], parts(k)[1], parts(k)[0]))
    by = {(variant(r), r["seed"]): r for r in runs}
    lengths = sorted({int(n) for r in runs for n in r["test_ppl"]})
    train_len = next(iter(runs[0]["train_ppl"]))
    columns = [("train", train_len)] + [("test", str(n)) for n in lengths]
    summary: dict = {"etas": etas, "columns": [f"{s} {n}" for s, n in columns], "models": {}, "paired": {}}
    lines = ["| model | seeds | " + " | ".join(f"{s} {n}" for s, n in columns) + " | train minutes |",
             "|---" * (len(columns) + 3) + "|"]
    for eta in etas:
        rs = [r for r in runs if variant(r) == eta]
        values = {f"{s} {n}": [r[f"{s}_ppl"][n] for r in rs] for s, n in columns}
        summary["models"][eta] = {"seeds": [r["seed"] for r in rs], "ppl": values,
                                       "train_seconds": [r["train_seconds"] for r in rs],
                                       "parameters": rs[0]["parameters"]}
        name = label(eta)
        minutes = statistics.mean(r["train_seconds"] for r in rs) / 60
        lines.append(f"| {name} | {len(rs)} | " + " | ".join(show(v) for v in values.values())
                     + f" | {minutes:.1f} |")
    for eta in (k for k in etas if parts(k)[0] > 0):
        seeds = sorted(s for (e, s) in by if e == eta and (plain_of(eta), s) in by)
        diffs = {f"{s} {n}": [by[(eta, seed)][f"{s}_ppl"][n] - by[(plain_of(eta), seed)][f"{s}_ppl"][n]
                              for seed in seeds] for s, n in columns}
        summary["paired"][eta] = {"seeds": seeds, "momentum_minus_plain": diffs}
        lines.append(f"| difference ({label(eta).removeprefix('momentum ')} − plain, same seed) | {len(seeds)} | "
                     + " | ".join(show(v) for v in diffs.values()) + " | |")
    # training loss, mean of the 10 steps from each of these starts (the numbers the docs quote from loss.png)
    summary["loss_10_step_means"] = {f"eta{variant(r)}-seed{r['seed']}": {
        str(start): round(statistics.mean(r["losses"][start : start + 10]), 3)
        for start in (0, 10, 20, 30, 50, 100, 140, 200, 300, 440) if start + 10 <= len(r["losses"])}
        for r in runs}
    summary["context_gain_64_to_256"] = {eta: {
        "absolute": statistics.mean(summary["models"][eta]["ppl"]["test 64"])
        - statistics.mean(summary["models"][eta]["ppl"]["test 256"]),
        "relative": 1 - statistics.mean(summary["models"][eta]["ppl"]["test 256"])
        / statistics.mean(summary["models"][eta]["ppl"]["test 64"])} for eta in etas}
    lines += in_context_table(runs, etas, by, summary)
    (HERE / "table.md").write_text("\n".join(lines) + "\n")
    (HERE / "summary.json").write_text(json.dumps(summary, indent=1))

    fig, ax = plt.subplots(figsize=(6, 4))
    for (eta, seed), r in sorted(by.items()):
        losses = r["losses"]
        smooth = [statistics.mean(losses[max(0, i - 9) : i + 1]) for i in range(len(losses))]
        ax.plot(smooth, color=f"C{etas.index(eta)}", alpha=0.7, label=label(eta) if seed == 0 else None)
    ax.set_xlabel("step (16 × 256 bytes); one line per seed")
    ax.set_ylabel("training loss, nats/byte (10-step mean)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(HERE / "loss.png", dpi=110)

    fig, ax = plt.subplots(figsize=(6, 4))
    for eta in etas:
        ms = [mean_std(summary["models"][eta]["ppl"][f"test {n}"]) for n in lengths]
        ax.errorbar(lengths, [m for m, _ in ms], yerr=[s or 0 for _, s in ms], marker="o", capsize=3, label=label(eta))
    ax.set_xscale("log", base=2)
    ax.set_xticks(lengths, [str(n) for n in lengths])
    ax.set_xlabel("context length (bytes), WikiText-2 test.txt")
    ax.set_ylabel("perplexity per byte (mean ± std over seeds)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(HERE / "ppl_vs_context.png", dpi=110)
    print((HERE / "table.md").read_text())


if __name__ == "__main__":
    main()
