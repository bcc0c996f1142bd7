"""results/training/collect_runs.py (--merge) and results/training/warmup-heldout/summarize.py (the overview)."""

from __future__ import annotations

import csv
import importlib.util
import json
from pathlib import Path

import pytest

TRAINING = Path(__file__).resolve().parents[2] / "results" / "training"


def load(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


collect_runs = load(TRAINING / "collect_runs.py")
summarize = load(TRAINING / "warmup-heldout" / "summarize.py")


def write_run(runs: Path, model: str, task: str, setting: str, seed: int, acc: float) -> None:
    folder = runs / model / "eta0.0" / task / setting / f"seed{seed}"
    folder.mkdir(parents=True)
    metric = {"value": acc, "low": acc - 0.05, "high": acc + 0.05}
    folder.joinpath("summary.json").write_text(json.dumps({
        "n": 200, "metrics": {"accuracy": metric, "macro_f1": metric, "predicted_distribution": {"a": 0.6, "b": 0.4}},
        "metrics_batch_calibrated": {"accuracy": metric}}))


def run_collect(monkeypatch, *argv: str) -> list[dict]:
    monkeypatch.setattr("sys.argv", ["collect_runs.py", *argv])
    collect_runs.main()
    with open(argv[-1]) as fh:
        return list(csv.DictReader(fh))


def test_merge_keeps_committed_rows_whose_run_folders_are_gone(tmp_path, monkeypatch):
    """Extending a study on a machine without the earlier run folders must not drop the earlier rows."""
    out = tmp_path / "runs.csv"
    first = tmp_path / "first"
    write_run(first, "base", "sst2-metaicl", "zero-shot", 0, 0.5)
    write_run(first, "metaicl", "sst2-metaicl", "zero-shot", 0, 0.6)
    run_collect(monkeypatch, str(first), str(out))
    second = tmp_path / "second"  # a fresh machine: only the new variant, plus a re-run of metaicl
    write_run(second, "symbol", "sst2-metaicl", "zero-shot", 0, 0.7)
    write_run(second, "metaicl", "sst2-metaicl", "zero-shot", 0, 0.65)
    rows = run_collect(monkeypatch, "--merge", str(second), str(out))
    assert [(r["model"], r["accuracy"]) for r in rows] == [("base", "0.5"), ("metaicl", "0.65"), ("symbol", "0.7")]
    # without --merge the CSV is rewritten from the folders alone
    rows = run_collect(monkeypatch, str(second), str(out))
    assert [r["model"] for r in rows] == ["metaicl", "symbol"]


def test_merge_of_nothing_leaves_the_csv_unchanged(tmp_path, monkeypatch):
    out = tmp_path / "runs.csv"
    first = tmp_path / "first"
    for seed, acc in enumerate((0.4, 0.5, 0.55)):
        write_run(first, "base", "mr-metaicl", "random-4", seed, acc)
    run_collect(monkeypatch, str(first), str(out))
    before = out.read_text()
    (tmp_path / "empty").mkdir()
    run_collect(monkeypatch, "--merge", str(tmp_path / "empty"), str(out))
    assert out.read_text() == before


def rows_for(model: str, zero: dict[str, float], shots: dict[str, list[float]]) -> list[dict]:
    rows = []
    for task in summarize.TASKS:
        settings = [("zero-shot", 0, zero[task])] + [("random-4", s, a) for s, a in enumerate(shots[task])]
        for setting, seed, acc in settings:
            rows.append({"model": model, "task": f"{task}-metaicl", "setting": setting, "seed": str(seed), "n": "200",
                         "accuracy": str(acc), "low": "0", "high": "1", "calibrated_accuracy": str(acc),
                         "calibrated_low": "0", "calibrated_high": "1", "top_label_share": "0.95"})
    return rows


def test_overview_pools_zero_shot_and_pairs_seeds_with_the_base_model():
    base = rows_for("base", dict.fromkeys(summarize.TASKS, 0.5),
                    {t: [0.5, 0.6, 0.7] for t in summarize.TASKS})
    other = rows_for("x", {"sst2": 0.6, "mr": 0.5, "subj": 0.5, "agnews": 0.5},
                     {t: [0.6, 0.7, 0.8] for t in summarize.TASKS})
    data = summarize.cells(base + other)
    o = summarize.overview(data, "accuracy", "metaicl", "x")
    assert o["zero_shot"]["mean"] == pytest.approx(0.525)
    low, high = summarize.wilson_interval(420, 800)  # 4 tasks x 200 answers, pooled
    assert (o["zero_shot"]["low"], o["zero_shot"]["high"]) == pytest.approx((low, high))
    assert o["k_shot"]["values"] == pytest.approx([0.6, 0.7, 0.8])
    assert o["gain"]["mean"] == pytest.approx(0.7 - 0.525)
    # the same seed's difference is 0.1 every time: paired, so no spread, unlike the unpaired seed spread of 0.1
    assert o["k_shot_minus_base"]["values"] == pytest.approx([0.1, 0.1, 0.1])
    assert o["k_shot_minus_base"]["std"] == pytest.approx(0.0)
    assert o["top_label_share_ge_90"] == o["runs"] == 16


def test_overview_is_none_when_a_task_is_missing():
    rows = [r for r in rows_for("x", dict.fromkeys(summarize.TASKS, 0.5), {t: [0.5] for t in summarize.TASKS})
            if not r["task"].startswith("agnews")]
    assert summarize.overview(summarize.cells(rows), "accuracy", "metaicl", "x") is None


def test_models_follow_the_preferred_order_then_the_csv_order():
    rows = [{"model": m} for m in ("zeta", "symbol", "base", "alpha", "metaicl")]
    assert summarize.models_in(rows) == ["base", "metaicl", "symbol", "zeta", "alpha"]


def test_channel_models_pair_with_base_channel_and_with_their_direct_counterpart():
    same = dict.fromkeys(summarize.TASKS, 0.5)
    rows = (rows_for("base", same, {t: [0.5, 0.5, 0.5] for t in summarize.TASKS})
            + rows_for("metaicl", same, {t: [0.6, 0.6, 0.6] for t in summarize.TASKS})
            + rows_for("base-channel", same, {t: [0.7, 0.6, 0.5] for t in summarize.TASKS})
            + rows_for("metaicl-channel", dict.fromkeys(summarize.TASKS, 0.55),
                       {t: [0.8, 0.7, 0.6] for t in summarize.TASKS}))
    data = summarize.cells(rows)
    o = summarize.overview(data, "accuracy", "metaicl", "metaicl-channel")
    assert o["k_shot_minus_base"]["values"] == pytest.approx([0.1, 0.1, 0.1])  # against base-channel, not base
    assert o["k_shot_minus_direct"]["values"] == pytest.approx([0.2, 0.1, 0.0])  # against metaicl
    assert o["zero_shot_minus_direct"] == pytest.approx(0.05)
    assert "k_shot_minus_base" not in summarize.overview(data, "accuracy", "metaicl", "base-channel")
    table = summarize.channel_table(data, summarize.models_in(rows))
    assert "| metaicl-channel | metaicl | sst2, mr, subj, agnews |" in table and "| base-channel | base |" in table


def test_channel_comparison_uses_the_tasks_every_model_of_the_pair_has_complete():
    """The channel runs without AG News 4-shot: the comparison is over the other three tasks, the overview is None."""
    shots = {t: [0.6, 0.6, 0.6] for t in summarize.TASKS}
    rows = [r for m in ("base", "metaicl", "base-channel", "metaicl-channel")
            for r in rows_for(m, {**dict.fromkeys(summarize.TASKS, 0.5), "agnews": 0.9}, shots)
            if not (m.endswith("channel") and r["task"] == "agnews-metaicl" and r["setting"] != "zero-shot")]
    data = summarize.cells(rows)
    assert summarize.overview(data, "accuracy", "metaicl", "metaicl-channel") is None
    cmp = summarize.channel_comparison(data, "accuracy", "metaicl-channel")
    assert cmp["tasks"] == ["sst2", "mr", "subj"]
    assert cmp["channel"]["zero_shot"]["mean"] == pytest.approx(0.5)  # AG News' 0.9 left out
    assert cmp["channel"]["k_shot_minus_base"]["values"] == pytest.approx([0.0, 0.0, 0.0])
