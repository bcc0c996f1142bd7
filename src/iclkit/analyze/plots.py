"""PNG plots (matplotlib, Agg backend): per-layer SimAOU / SimAM / Kendall curves with baselines and controls,
accuracy bars with intervals, and the per-layer softmax-vs-linear gap of the dual form."""

from __future__ import annotations

from pathlib import Path

CURVES = {
    "simaou.png": ("SimAOU (ΔICL vs ΔFT)", ["simaou", "simaou_random_uniform", "simaou_random_gaussian"]),
    "simam.png": ("SimAM (pre-softmax maps)", ["simam_after_ft", "simam_before_ft", "simam_ft_diff"]),
    "kendall.png": ("Kendall (attention to training tokens)", ["kendall", "kendall_random"]),
}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_all(out: Path, summary: dict, dual: list[dict]) -> list[Path]:
    paths = [p for name, spec in CURVES.items() if (p := _curves(out / name, summary, *spec)) is not None]
    paths.append(_accuracy(out / "accuracy.png", summary))
    if dual:
        paths.append(_dual(out / "dual_form.png", dual))
    return paths


def _curves(path: Path, summary: dict, title: str, measures: list[str]) -> Path | None:
    plt = _pyplot()
    columns = {"model": summary["main"], **summary["controls"]}
    fig, ax = plt.subplots(figsize=(7, 4))
    drawn = 0
    for col, agg in columns.items():
        for m in measures:
            ys = agg["per_layer_mean"].get(m)
            if not ys or (col != "model" and m != measures[0]):
                continue  # controls: only their main measure, to keep the plot readable
            ax.plot(range(len(ys)), [float("nan") if y is None else y for y in ys], marker=".",
                    linestyle="-" if col == "model" else "--", label=f"{m} [{col}]")
            drawn += 1
    if not drawn:
        plt.close(fig)
        return None
    ax.axhline(0, color="grey", linewidth=0.5)
    ax.set(xlabel="layer", ylabel="mean over examples and seeds", title=title)
    return _save(fig, ax, path)


def _accuracy(path: Path, summary: dict) -> Path:
    plt = _pyplot()
    columns = {"model": summary["main"], **summary["controls"]}
    fig, ax = plt.subplots(figsize=(7, 4))
    width = 0.8 / max(1, len(columns))
    for i, (col, agg) in enumerate(columns.items()):
        means, errs = [], [[], []]
        for s in ("zsl", "icl", "ft"):
            cell = agg["accuracy"][s]
            m = 100 * (cell["mean"] or 0)
            means.append(m)
            errs[0].append(m - 100 * cell["low"] if cell.get("low") is not None else 0)
            errs[1].append(100 * cell["high"] - m if cell.get("high") is not None else 0)
        ax.bar([j + i * width for j in range(3)], means, width, yerr=errs, capsize=3, label=col)
    ax.set_xticks([j + width * (len(columns) - 1) / 2 for j in range(3)], ["ZSL", "ICL", "FT"])
    ax.set(ylabel="accuracy % (mean over seeds, 95% t-interval)", title="Accuracy")
    return _save(fig, ax, path)


def _dual(path: Path, dual: list[dict]) -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    layers = range(len(dual))
    ax.plot(layers, [d["softmax_cosine"] for d in dual], marker=".", label="cos(softmax attn, linear attn)")
    ax.plot(layers, [d["softmax_rel_error"] for d in dual], marker=".", label="rel. error (best scalar fit)")
    ax.set(xlabel="layer", title="How far softmax attention is from the dual (linear) form")
    return _save(fig, ax, path)


def _save(fig, ax, path: Path) -> Path:
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    _pyplot().close(fig)
    return path
