"""Tables and plots of the held-out warmup study from ``runs.csv`` (``collect_runs.py``) and the training runs'
committed ``<variant>/metrics.jsonl``, ``iclkit_training.json`` and ``time.txt``.

Writes ``table.md``:

* an overview per model, averaged over the four evaluation tasks: zero-shot (Wilson 95% interval on the pooled
  4 × 200 answers), 4-shot (mean ± std over the 3 demonstration seeds of the per-seed task mean), the ICL gain
  (4-shot − zero-shot, per seed) and the difference from the base model at 4 shots (same seed, same examples);
* per model, metric, format, task and setting: zero-shot with its Wilson 95% interval, 4-shot as mean ± std;
* channel against direct: each channel-scored model beside its direct counterpart (same seed, same examples);
* the training runs (method, shots, loss, tokens, wall time, peak memory).

Models whose name contains ``channel`` are scored with the channel scorer (log P(input | label)); their base row is
``base-channel`` (the released model under channel scoring) and their direct counterpart is the name without
``-channel`` (``metaicl-channel`` → ``metaicl``, ``base-channel`` → ``base``).

Metrics: accuracy, and accuracy after batch calibration. Also ``summary.json`` (the same numbers), ``accuracy.png``
(overview) and ``loss.png``.

    PYTHONPATH=src python results/training/warmup-heldout/summarize.py
"""

from __future__ import annotations

import csv
import json
import os
import re
import statistics
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from iclkit.evaluate.metrics import wilson_interval

# run.sh sets these for a study of another model (results/training/warmup-heldout-gemma3/); default: this folder.
HERE = Path(os.environ.get("STUDY_DIR", Path(__file__).resolve().parent))
MODEL_NAME = os.environ.get("MODEL_NAME", "SmolLM2-135M")
LIMIT = os.environ.get("LIMIT", "200")
# Row order of the tables; a model not listed here follows in the order of runs.csv.
PREFERRED = ("base", "metaicl", "control", "metaicl-seed1", "control-seed1", "base-channel", "metaicl-channel",
             "metaicl-channel-control", "icl-tuning", "icl-tuning-control", "icl-tuning-seed1",
             "icl-tuning-control-seed1", "icl-tuning-restricted", "icl-tuning-restricted-control",
             "icl-tuning-restricted-seed1", "icl-tuning-restricted-control-seed1", "instruct", "instruct-control",
             "symbol", "selfsup", "selfsup-control")
TASKS = ("sst2", "mr", "subj", "agnews")
FORMATS = ("metaicl", "template")
METRICS = {"accuracy": ("accuracy", "low", "high"),
           "calibrated": ("calibrated_accuracy", "calibrated_low", "calibrated_high")}
ZERO = "zero-shot"


def read_rows(path: Path) -> list[dict]:
    with path.open() as fh:
        return list(csv.DictReader(fh))


def models_in(rows: list[dict]) -> list[str]:
    seen = list(dict.fromkeys(r["model"] for r in rows))
    return [m for m in PREFERRED if m in seen] + [m for m in seen if m not in PREFERRED]


def cells(rows: list[dict]) -> dict:
    """{(metric, format, model, task, setting): {"mean", "std", "seeds", "values", "n", "low", "high", ...}}."""
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        task, _, fmt = row["task"].partition("-")
        groups.setdefault((fmt or "template", row["model"], task, row["setting"]), []).append(row)
    out = {}
    for key, group in groups.items():
        group.sort(key=lambda r: int(r["seed"]))
        for metric, (value, low, high) in METRICS.items():
            accs = [float(r[value]) for r in group]
            out[(metric, *key)] = {
                "mean": statistics.mean(accs), "std": statistics.stdev(accs) if len(accs) > 1 else None,
                "seeds": [int(r["seed"]) for r in group], "values": accs, "n": int(group[0]["n"]),
                "low": float(group[0][low]) if len(group) == 1 else None,
                "high": float(group[0][high]) if len(group) == 1 else None,
                "top_label_share": [float(r["top_label_share"]) for r in group]}
    return out


def settings_of(data: dict, metric: str, fmt: str) -> list[str]:
    return sorted({k[4] for k in data if k[:2] == (metric, fmt)}, key=lambda s: (s != ZERO, s))


def _mean_sd(values: list[float]) -> dict:
    return {"mean": statistics.mean(values), "std": statistics.stdev(values) if len(values) > 1 else None,
            "values": values}


def base_of(model: str) -> str:
    """The base row a model is compared with: the released model under the same scoring."""
    return "base-channel" if "channel" in model else "base"


# Channel models whose direct counterpart is not named by dropping "-channel": the channel no-demonstration control
# pairs with the direct one (both MetaICL's data without demonstrations).
DIRECT_COUNTERPART = {"metaicl-channel-control": "control"}


def direct_of(model: str) -> str | None:
    """The direct-scored counterpart of a channel model (``metaicl-channel`` → ``metaicl``), else None."""
    if model in DIRECT_COUNTERPART:
        return DIRECT_COUNTERPART[model]
    return model.replace("-channel", "", 1) if "-channel" in model else None


def control_of(model: str) -> str | None:
    """The no-demonstration control trained on the same queries (``metaicl`` → ``control``, ``X`` → ``X-control``,
    ``X-seed1`` → the control of ``X`` with ``-seed1``); None for base rows and controls."""
    name, seed = re.fullmatch(r"(.*?)((?:-seed\d+)?)", model).groups()
    if name in ("control", "base", "base-channel") or name.endswith("-control"):
        return None
    return ("control" if name == "metaicl" else f"{name}-control") + seed


def overview(data: dict, metric: str, fmt: str, model: str, compare: bool = True,
             tasks: tuple[str, ...] = TASKS) -> dict | None:
    """Task-mean accuracy of one model: zero-shot with a pooled Wilson interval; k-shot, gain and, with
    ``compare``, the difference from its base row, from its no-demonstration control and (channel models) from its
    direct counterpart per demonstration seed (paired: the same seed gives the same demonstrations to every model).
    Means over ``tasks`` (default: all four); None unless each of them has both settings."""
    shot = next((s for s in settings_of(data, metric, fmt) if s != ZERO), None)
    zero = [data.get((metric, fmt, model, t, ZERO)) for t in tasks]
    kshot = [data.get((metric, fmt, model, t, shot)) for t in tasks]
    if shot is None or None in zero or None in kshot:
        return None
    seeds = kshot[0]["seeds"]
    if any(c["seeds"] != seeds for c in kshot):
        return None
    n = sum(c["n"] for c in zero)
    zero_mean = statistics.mean(c["mean"] for c in zero)
    # Equal n per task, so the task mean is the pooled accuracy and the pooled count gives its interval.
    low, high = wilson_interval(round(sum(c["mean"] * c["n"] for c in zero)), n)
    per_seed = [statistics.mean(c["values"][i] for c in kshot) for i in range(len(seeds))]
    out = {"setting": shot, "seeds": seeds, "n_zero_shot": n,
           "zero_shot": {"mean": zero_mean, "low": low, "high": high},
           "k_shot": _mean_sd(per_seed), "gain": _mean_sd([v - zero_mean for v in per_seed]),
           "top_label_share_ge_90": sum(s >= 0.9 for c in zero + kshot for s in c["top_label_share"]),
           "runs": sum(len(c["top_label_share"]) for c in zero + kshot)}
    for key, ref_model in (("base", base_of(model)), ("control", control_of(model)), ("direct", direct_of(model))):
        ref = (overview(data, metric, fmt, ref_model, compare=False, tasks=tasks)
               if compare and ref_model not in (None, model) else None)
        if ref is not None and ref["seeds"] == seeds:
            out[f"k_shot_minus_{key}"] = _mean_sd([a - b for a, b in zip(per_seed, ref["k_shot"]["values"])])
            out[f"zero_shot_minus_{key}"] = zero_mean - ref["zero_shot"]["mean"]
    return out


def pct(c: dict | None, signed: bool = False) -> str:
    if c is None:
        return "n/a"
    sign = "+" if signed else ""
    if c.get("std") is None and "low" in c:
        return f"{100 * c['mean']:.1f} [{100 * c['low']:.1f}, {100 * c['high']:.1f}]"
    if c.get("std") is None:
        return f"{100 * c['mean']:{sign}.1f}"
    return f"{100 * c['mean']:{sign}.1f} ± {100 * c['std']:.1f}"


def overview_table(data: dict, models: list[str], info: dict) -> str:
    lines = []
    for metric in METRICS:
        title = "Accuracy" if metric == "accuracy" else "Accuracy after batch calibration"
        lines += [f"\n### Overview: {title.lower()}, mean over {', '.join(TASKS)} (MetaICL raw format)\n",
                  "Models named *channel* are scored channel (log P(input | label)); their base is base-channel.\n",
                  ("| model | trained on | zero-shot [95%] | 4-shot | gain (4-shot − zero-shot) | 4-shot − base "
                   "(same seed) | 4-shot − its control (same seed) | runs with one label ≥ 90% |"),
                  "|---|---|---|---|---|---|---|---|"]
        for model in models:
            o = overview(data, metric, "metaicl", model)
            if o is None:
                continue
            diff = pct(o.get("k_shot_minus_base"), signed=True) if model != base_of(model) else ""
            own = pct(o["k_shot_minus_control"], signed=True) if "k_shot_minus_control" in o else ""
            lines.append(f"| {model} | {info.get(model, {}).get('what', '—')} | {pct(o['zero_shot'])} | "
                         f"{pct(o['k_shot'])} | {pct(o['gain'], signed=True)} | {diff} | {own} | "
                         f"{o['top_label_share_ge_90']}/{o['runs']} |")
    return "\n".join(lines) + "\n"


def complete_tasks(data: dict, metric: str, models: tuple[str, ...]) -> tuple[str, ...]:
    """The evaluation tasks on which every one of ``models`` has zero-shot and k-shot runs (the channel runs cover
    fewer tasks than the direct ones)."""
    shot = next((s for s in settings_of(data, metric, "metaicl") if s != ZERO), None)
    return tuple(t for t in TASKS if all((metric, "metaicl", m, t, s) in data for m in models for s in (ZERO, shot)))


def channel_comparison(data: dict, metric: str, channel: str) -> dict | None:
    """A channel model and its direct counterpart over the tasks both (and both base rows) have complete."""
    direct = direct_of(channel)
    tasks = complete_tasks(data, metric, (channel, direct, base_of(channel), base_of(direct)))
    if not tasks:
        return None
    c = overview(data, metric, "metaicl", channel, tasks=tasks)
    d = overview(data, metric, "metaicl", direct, tasks=tasks)
    if c is None or d is None or "k_shot_minus_direct" not in c:
        return None
    return {"tasks": list(tasks), "channel": c, "direct": d}


def channel_table(data: dict, models: list[str]) -> str:
    """Each channel-scored model beside its direct counterpart: task means, channel − direct and each − its base
    (4-shot, per seed)."""
    channels = [m for m in models if direct_of(m) in models]
    lines = []
    for metric in METRICS if channels else ():
        title = "accuracy" if metric == "accuracy" else "accuracy after batch calibration"
        lines += [f"\n### Channel against direct: {title}, MetaICL raw format, mean over the tasks listed\n",
                  ("| channel model | direct model | tasks | zero-shot: direct [95%] | channel [95%] | channel − direct "
                   "| 4-shot: direct | channel | channel − direct (same seed) | direct − base | channel − base-channel |"),
                  "|---" * 11 + "|"]
        for channel in channels:
            cmp = channel_comparison(data, metric, channel)
            if cmp is None:
                continue
            c, d = cmp["channel"], cmp["direct"]
            lines.append(f"| {channel} | {direct_of(channel)} | {', '.join(cmp['tasks'])} | {pct(d['zero_shot'])} | "
                         f"{pct(c['zero_shot'])} | {100 * c['zero_shot_minus_direct']:+.1f} | {pct(d['k_shot'])} | "
                         f"{pct(c['k_shot'])} | {pct(c['k_shot_minus_direct'], signed=True)} | "
                         f"{pct(d.get('k_shot_minus_base'), signed=True)} | "
                         f"{pct(c.get('k_shot_minus_base'), signed=True)} |")
    return "\n".join(lines) + "\n" if lines else ""


def task_table(data: dict, models: list[str]) -> str:
    lines = []
    for metric, fmt in ((m, f) for m in METRICS for f in FORMATS):
        settings = settings_of(data, metric, fmt)
        if not settings:
            continue
        title = ("Accuracy" if metric == "accuracy" else "Accuracy after batch calibration") + ", " + (
            "MetaICL raw format" if fmt == "metaicl" else "task templates")
        lines += [f"\n### {title}\n",
                  "| model | setting | " + " | ".join(TASKS) + " | mean |", "|---" * (len(TASKS) + 3) + "|"]
        for model in models:
            if not any(k[:3] == (metric, fmt, model) for k in data):
                continue
            for setting in settings:
                row = [data.get((metric, fmt, model, t, setting)) for t in TASKS]
                means = [c["mean"] for c in row if c]
                avg = f"{100 * statistics.mean(means):.1f}" if len(means) == len(TASKS) else "n/a"
                lines.append(f"| {model} | {setting} | " + " | ".join(pct(c) for c in row) + f" | {avg} |")
            if len(settings) == 2:  # the ICL gain: k-shot mean minus zero-shot, in points
                zero, shot = ([data.get((metric, fmt, model, t, s)) for t in TASKS] for s in settings)
                gains = [100 * (b["mean"] - a["mean"]) if a and b else None for a, b in zip(zero, shot)]
                shown = [f"{g:+.1f}" if g is not None else "n/a" for g in gains]
                avg = f"{statistics.mean(gains):+.1f}" if None not in gains else "n/a"
                lines.append(f"| {model} | gain ({settings[1]} − zero-shot) | " + " | ".join(shown) + f" | {avg} |")
    return "\n".join(lines) + "\n"


def _seconds(text: str) -> float | None:
    m = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)", text)
    if not m:
        return None
    parts = [float(p) for p in m.group(1).split(":")]
    return sum(p * 60 ** i for i, p in enumerate(reversed(parts)))


def training_info() -> dict:
    """Per trained variant: what it trained on, its loss and cost (from the committed copies of its run)."""
    info = {}
    folders = {p.parent.name: p.parent for p in HERE.glob("*/metrics.jsonl")}
    for folder in (folders[n] for n in models_in([{"model": n} for n in sorted(folders)])):
        rows = [json.loads(line) for line in (folder / "metrics.jsonl").open()]
        ident = json.loads((folder / "iclkit_training.json").read_text())["identity"]
        time_txt = (folder / "time.txt").read_text() if (folder / "time.txt").exists() else ""
        rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", time_txt)
        shots = ident["shots"]
        what = f"{ident['method']}{' channel' if ident.get('channel') else ''}, {shots} shots"
        if ident.get("max_length", 256) != 256:  # the study's setting; channel MetaICL needed 512
            what += f", max length {ident['max_length']}"
        if ident.get("label_loss", "lm") != "lm":
            what += f", {ident['label_loss']} label loss"
        if ident.get("templates", 1) != 1:
            what += f", {ident['templates']} templates"
        if ident.get("seed", 0) != 0:
            what += f", seed {ident['seed']}"
        info[folder.name] = {
            "what": what, "method": ident["method"], "channel": ident.get("channel", False), "shots": shots,
            "steps": len(rows), "loss": [r["loss"] for r in rows], "steps_axis": [r["step"] for r in rows],
            "first_4_mean_loss": statistics.mean(r["loss"] for r in rows[:4]),
            "last_4_mean_loss": statistics.mean(r["loss"] for r in rows[-4:]),
            "tokens": sum(r["tokens"] for r in rows),
            "median_tokens_per_s": statistics.median(r["tokens_per_s"] for r in rows),
            "wall_seconds": _seconds(time_txt), "peak_rss_gib": int(rss.group(1)) / 2 ** 20 if rss else None}
    info["base"] = {"what": f"— ({MODEL_NAME} as released)"}
    info["base-channel"] = {"what": "— (as released; channel scoring)"}
    return info


def training_table(info: dict) -> str:
    lines = ["\n### Training runs (40 steps × 4 examples, LoRA r=8, lr 5e-4, up to 256 tokens unless said)\n",
             ("| variant | trained on | loss, first 4 steps | last 4 steps | tokens trained | median tokens/s | "
              "wall time | peak RSS |"), "|---|---|---|---|---|---|---|---|"]
    for name, v in info.items():
        if "loss" not in v:
            continue
        wall = f"{v['wall_seconds'] / 60:.1f} min" if v["wall_seconds"] else "n/a"
        rss = f"{v['peak_rss_gib']:.2f} GiB" if v["peak_rss_gib"] else "n/a"
        lines.append(f"| {name} | {v['what']} | {v['first_4_mean_loss']:.2f} | {v['last_4_mean_loss']:.2f} | "
                     f"{v['tokens']:,} | {v['median_tokens_per_s']:.0f} | {wall} | {rss} |")
    return "\n".join(lines) + "\n"


def plot_accuracy(data: dict, models: list[str]) -> None:
    fig, axes = plt.subplots(1, len(METRICS), figsize=(13, 4.8), sharey=True)
    for ax, metric in zip(axes, METRICS):
        shown = [(m, o) for m in models if (o := overview(data, metric, "metaicl", m)) is not None]
        xs = range(len(shown))
        zero = [100 * o["zero_shot"]["mean"] for _, o in shown]
        zero_err = [[100 * (o["zero_shot"]["mean"] - o["zero_shot"]["low"]) for _, o in shown],
                    [100 * (o["zero_shot"]["high"] - o["zero_shot"]["mean"]) for _, o in shown]]
        kshot = [100 * o["k_shot"]["mean"] for _, o in shown]
        kshot_err = [100 * (o["k_shot"]["std"] or 0) for _, o in shown]
        ax.bar([x - 0.2 for x in xs], zero, 0.4, yerr=zero_err, capsize=2, label="zero-shot (Wilson 95%)")
        ax.bar([x + 0.2 for x in xs], kshot, 0.4, yerr=kshot_err, capsize=2, hatch="//",
               label="4-shot (± std over 3 demonstration seeds)")
        ax.set_xticks(list(xs), [m for m, _ in shown], rotation=35, ha="right", fontsize=8)
        ax.set_title("accuracy" if metric == "accuracy" else "accuracy after batch calibration")
        ax.set_ylim(30, 80)
    axes[0].set_ylabel(f"mean accuracy over {', '.join(TASKS)} (%)")
    axes[0].legend(fontsize=8, loc="upper left")
    fig.suptitle(f"{MODEL_NAME}, held-out tasks in MetaICL raw format, after each warmup variant (n={LIMIT} per task)",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(HERE / "accuracy.png", dpi=110)


def plot_loss(info: dict) -> None:
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, v in info.items():
        if "loss" in v:
            ax.plot(v["steps_axis"], v["loss"], label=f"{name} ({v['what']})", lw=1)
    ax.set_xlabel("optimizer step (4 examples)")
    ax.set_ylabel("loss on the query's output tokens")
    ax.set_yscale("log")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(HERE / "loss.png", dpi=110)


def main() -> None:
    rows = read_rows(HERE / "runs.csv")
    data, models, info = cells(rows), models_in(rows), training_info()
    (HERE / "table.md").write_text(overview_table(data, models, info) + channel_table(data, models)
                                   + task_table(data, models) + training_table(info))
    plot_loss(info)
    plot_accuracy(data, models)
    summary = {"cells": [{"metric": k[0], "format": k[1], "model": k[2], "task": k[3], "setting": k[4], **v}
                         for k, v in sorted(data.items())],
               "overview": {metric: {m: overview(data, metric, "metaicl", m) for m in models} for metric in METRICS},
               "channel": {metric: {m: channel_comparison(data, metric, m) for m in models if direct_of(m) in models}
                           for metric in METRICS},
               "training": {k: {f: v[f] for f in v if f not in ("loss", "steps_axis")} for k, v in info.items()}}
    (HERE / "summary.json").write_text(json.dumps(summary, indent=1))
    print((HERE / "table.md").read_text())


if __name__ == "__main__":
    main()
