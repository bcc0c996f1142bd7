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


def variant(run: dict) -> str:
    """The key of a run's model: its eta, with ``n`` for the normalised term ((1 - eta) times the sum)."""
    return f"{run['eta']}" + ("n" if run.get("normalised") else "")


def label(key: str) -> str:
    if key == "0.0":
        return "plain"
    return f"momentum η={key.rstrip('n')}" + (", normalised" if key.endswith("n") else "")


def main() -> None:
    runs = [json.loads(p.read_text()) for p in sorted((HERE / "per-run").glob("eta*-seed*.json"))]
    etas = sorted({variant(r) for r in runs}, key=lambda k: (k.endswith("n"), float(k.rstrip("n"))))
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
    for eta in etas[1:]:
        seeds = sorted(s for (e, s) in by if e == eta and ("0.0", s) in by)
        diffs = {f"{s} {n}": [by[(eta, seed)][f"{s}_ppl"][n] - by[("0.0", seed)][f"{s}_ppl"][n] for seed in seeds]
                 for s, n in columns}
        summary["paired"][eta] = {"seeds": seeds, "momentum_minus_plain": diffs}
        lines.append(f"| difference ({label(eta).removeprefix('momentum ')} − plain, same seed) | {len(seeds)} | "
                     + " | ".join(show(v) for v in diffs.values()) + " | |")
    # training loss, mean of the 10 steps from each of these starts (the numbers the docs quote from loss.png)
    summary["loss_10_step_means"] = {f"eta{r['eta']:g}{'n' if r.get('normalised') else ''}-seed{r['seed']}": {
        str(start): round(statistics.mean(r["losses"][start : start + 10]), 3) for start in (0, 10, 20, 30, 50, 100, 140)}
        for r in runs}
    summary["context_gain_64_to_256"] = {eta: {
        "absolute": statistics.mean(summary["models"][eta]["ppl"]["test 64"])
        - statistics.mean(summary["models"][eta]["ppl"]["test 256"]),
        "relative": 1 - statistics.mean(summary["models"][eta]["ppl"]["test 256"])
        / statistics.mean(summary["models"][eta]["ppl"]["test 64"])} for eta in etas}
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
