"""Tables and plots of the held-out warmup study from ``runs.csv`` (``collect_runs.py``) and the two training runs'
``metrics.jsonl``.

Writes ``table.md`` (per model, metric, format, task and setting: zero-shot with its Wilson 95% interval, 4-shot as
mean ± std over the demonstration seeds; metrics: accuracy, and accuracy after batch calibration),
``summary.json`` (the same numbers), ``accuracy.png`` and ``loss.png``.

    python results/training/warmup-heldout/summarize.py
"""

from __future__ import annotations

import csv
import json
import statistics
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

HERE = Path(__file__).resolve().parent
MODELS = ("base", "metaicl", "control")
TASKS = ("sst2", "mr", "subj", "agnews")
FORMATS = ("metaicl", "template")
METRICS = {"accuracy": ("accuracy", "low", "high"),
           "calibrated": ("calibrated_accuracy", "calibrated_low", "calibrated_high")}


def cells() -> dict:
    """{(metric, format, model, task, setting): {"mean", "std", "seeds", "n", "low", "high", "top_label_share"}}."""
    groups: dict[tuple, list[dict]] = {}
    with (HERE / "runs.csv").open() as fh:
        for row in csv.DictReader(fh):
            task, _, fmt = row["task"].partition("-")
            groups.setdefault((fmt or "template", row["model"], task, row["setting"]), []).append(row)
    out = {}
    for key, rows in groups.items():
        for metric, (value, low, high) in METRICS.items():
            accs = [float(r[value]) for r in rows]
            out[(metric, *key)] = {
                "mean": statistics.mean(accs), "std": statistics.stdev(accs) if len(accs) > 1 else None,
                "seeds": [int(r["seed"]) for r in rows], "values": accs, "n": int(rows[0]["n"]),
                "low": float(rows[0][low]) if len(rows) == 1 else None,
                "high": float(rows[0][high]) if len(rows) == 1 else None,
                "top_label_share": [float(r["top_label_share"]) for r in rows]}
    return out


def fmt_cell(c: dict | None) -> str:
    if c is None:
        return "n/a"
    if c["std"] is None:
        return f"{100 * c['mean']:.1f} [{100 * c['low']:.1f}, {100 * c['high']:.1f}]"
    return f"{100 * c['mean']:.1f} ± {100 * c['std']:.1f}"


def table(data: dict) -> str:
    lines = []
    for metric, fmt in ((m, f) for m in METRICS for f in FORMATS):
        settings = sorted({k[4] for k in data if k[:2] == (metric, fmt)}, key=lambda s: (s != "zero-shot", s))
        if not settings:
            continue
        title = ("Accuracy" if metric == "accuracy" else "Accuracy after batch calibration") + ", " + (
            "MetaICL raw format (the trained format)" if fmt == "metaicl" else "task templates")
        lines += [f"\n### {title}\n",
                  "| model | setting | " + " | ".join(TASKS) + " | mean |", "|---" * (len(TASKS) + 3) + "|"]
        for model in MODELS:
            for setting in settings:
                row = [data.get((metric, fmt, model, t, setting)) for t in TASKS]
                means = [c["mean"] for c in row if c]
                avg = f"{100 * statistics.mean(means):.1f}" if len(means) == len(TASKS) else "n/a"
                lines.append(f"| {model} | {setting} | " + " | ".join(fmt_cell(c) for c in row) + f" | {avg} |")
            if len(settings) == 2:  # the ICL gain: k-shot mean minus zero-shot, in points
                zero, shot = ([data.get((metric, fmt, model, t, s)) for t in TASKS] for s in settings)
                gains = [100 * (b["mean"] - a["mean"]) if a and b else None for a, b in zip(zero, shot)]
                shown = [f"{g:+.1f}" if g is not None else "n/a" for g in gains]
                avg = f"{statistics.mean(gains):+.1f}" if None not in gains else "n/a"
                lines.append(f"| {model} | gain ({settings[1]} − zero-shot) | " + " | ".join(shown) + f" | {avg} |")
    return "\n".join(lines) + "\n"


def plot_accuracy(data: dict, fmt: str = "metaicl") -> None:
    fig, axes = plt.subplots(1, len(METRICS), figsize=(12, 4.6), sharey=True)
    for ax, metric in zip(axes, METRICS):
        settings = sorted({k[4] for k in data if k[:2] == (metric, fmt)}, key=lambda s: (s != "zero-shot", s))
        width = 0.8 / (len(MODELS) * max(1, len(settings)))
        i = 0
        for model in MODELS:
            for setting in settings:
                xs, ys, errs = [], [], []
                for t_index, task in enumerate(TASKS):
                    c = data.get((metric, fmt, model, task, setting))
                    if c:
                        xs.append(t_index + (i - (len(MODELS) * len(settings) - 1) / 2) * width)
                        ys.append(100 * c["mean"])
                        if c["std"] is None:
                            errs.append((100 * (c["mean"] - c["low"]), 100 * (c["high"] - c["mean"])))
                        else:
                            errs.append((100 * c["std"], 100 * c["std"]))
                if xs:
                    ax.bar(xs, ys, width, yerr=list(zip(*errs)), capsize=2, label=f"{model} {setting}",
                           hatch="//" if setting != "zero-shot" else None)
                i += 1
        ax.set_xticks(range(len(TASKS)), TASKS)
        ax.set_title("accuracy" if metric == "accuracy" else "accuracy after batch calibration")
    axes[0].set_ylabel("accuracy (%)")
    fig.legend(*axes[0].get_legend_handles_labels(), loc="lower center", ncol=6, fontsize=8)
    fig.suptitle("SmolLM2-135M, held-out tasks in MetaICL format: base, after MetaICL warmup, after the control\n"
                 "(zero-shot: Wilson 95% interval, n=200; 4-shot: mean ± std over 3 demonstration seeds)", fontsize=10)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    fig.savefig(HERE / "accuracy.png", dpi=110)


def plot_loss() -> dict:
    fig, ax = plt.subplots(figsize=(6, 4))
    curves = {}
    for name in ("metaicl", "control"):
        path = HERE / name / "metrics.jsonl"
        if not path.exists():
            continue
        rows = [json.loads(line) for line in path.open()]
        curves[name] = {"loss": [r["loss"] for r in rows], "tokens_per_s": statistics.median(r["tokens_per_s"]
                                                                                              for r in rows)}
        ax.plot([r["step"] for r in rows], [r["loss"] for r in rows], label=f"{name} ({'4' if name == 'metaicl' else '0'} shots)")
    ax.set_xlabel("optimizer step (4 examples)")
    ax.set_ylabel("loss on the query's output tokens")
    ax.legend()
    fig.tight_layout()
    fig.savefig(HERE / "loss.png", dpi=110)
    return curves


def main() -> None:
    data = cells()
    (HERE / "table.md").write_text(table(data))
    curves = plot_loss()
    plot_accuracy(data)
    summary = {"cells": [{"metric": k[0], "format": k[1], "model": k[2], "task": k[3], "setting": k[4], **v}
                         for k, v in sorted(data.items())],
               "training": {k: {"first_4_mean_loss": statistics.mean(v["loss"][:4]),
                                "last_4_mean_loss": statistics.mean(v["loss"][-4:]),
                                "median_tokens_per_s": v["tokens_per_s"]} for k, v in curves.items()}}
    (HERE / "summary.json").write_text(json.dumps(summary, indent=1))
    print((HERE / "table.md").read_text())


if __name__ == "__main__":
    main()
