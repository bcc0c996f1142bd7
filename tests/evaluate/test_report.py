import pytest
from rich.console import Console

from iclkit.errors import IclkitError
from iclkit.evaluate.report import format_ci, results_table, row_from_summary, seed_aggregate


def _render(table) -> str:
    console = Console(width=200, record=True, color_system=None)
    console.print(table)
    return console.export_text()


def _summary(acc: float, f1: float, *, calibrated: bool = False) -> dict:
    summary = {"name": "topk-8shot", "n": 100, "demos": {"requested": 8, "used_mean": 7.5, "used_min": 6},
               "metrics": {"n": 100, "accuracy": {"value": acc, "low": acc - 0.05, "high": acc + 0.04, "ci": "w"},
                           "macro_f1": {"value": f1, "low": f1 - 0.06, "high": f1 + 0.05, "ci": "b"}}}
    if calibrated:
        summary["metrics_calibrated"] = {"accuracy": {"value": acc + 0.1, "low": acc, "high": acc + 0.2},
                                         "macro_f1": {"value": f1 + 0.1, "low": f1, "high": f1 + 0.2}}
    return summary


def test_format_ci():
    assert format_ci(0.8123, 0.7701, 0.8489) == "0.812 [0.770, 0.849]"


def test_table_renders_ci_strings():
    rows = [{"name": "zero-shot", "n": 872, "accuracy": {"value": 0.8123, "low": 0.7701, "high": 0.8489},
             "macro_f1": {"value": 0.8, "low": 0.75, "high": 0.85}}]
    text = _render(results_table(rows, "sst2"))
    assert "sst2" in text and "zero-shot" in text and "872" in text
    assert "0.812 [0.770, 0.849]" in text and "0.800 [0.750, 0.850]" in text
    assert "cal." not in text and "demos" not in text  # optional columns only when present


def test_table_optional_columns_from_summaries():
    rows = [row_from_summary(_summary(0.7, 0.6, calibrated=True)), row_from_summary(_summary(0.5, 0.4), name="b")]
    text = _render(results_table(rows, "exp"))
    assert "cal. accuracy" in text and "demos" in text and "7.5" in text
    assert "0.800 [0.700, 0.900]" in text  # calibrated accuracy of the first row
    assert "–" in text  # the second row has no calibrated metrics


def test_seed_aggregate_mean_std_and_table():
    agg = seed_aggregate([_summary(0.6, 0.5, calibrated=True), _summary(0.7, 0.6, calibrated=True),
                          _summary(0.8, 0.7, calibrated=True)])
    assert agg["n_seeds"] == 3 and agg["n"] == 100 and agg["n_demos"] == 7.5
    assert agg["accuracy"]["mean"] == pytest.approx(0.7) and agg["accuracy"]["std"] == pytest.approx(0.1)
    assert agg["macro_f1"]["mean"] == pytest.approx(0.6)
    assert agg["calibrated_accuracy"]["mean"] == pytest.approx(0.8)
    text = _render(results_table([{"name": "topk", **agg}], "seeds"))
    assert "0.700 ± 0.100" in text and "0.800 ± 0.100" in text


def test_seed_aggregate_single_seed_and_missing_calibration():
    agg = seed_aggregate([_summary(0.6, 0.5, calibrated=True), _summary(0.8, 0.7)])
    assert "calibrated_accuracy" not in agg  # not every seed has it
    one = seed_aggregate([row_from_summary(_summary(0.6, 0.5))])
    assert one["accuracy"]["mean"] == pytest.approx(0.6) and one["accuracy"]["std"] == 0.0
    with pytest.raises(IclkitError):
        seed_aggregate([])


def _with_batch_and_distribution(summary: dict, share: float) -> dict:
    summary["metrics_batch_calibrated"] = {"accuracy": {"value": 0.66, "low": 0.6, "high": 0.7},
                                           "macro_f1": {"value": 0.6, "low": 0.5, "high": 0.7}}
    summary["metrics"]["predicted_distribution"] = {"negative": 1 - share, "positive": share}
    return summary


def test_table_has_batch_calibration_and_flags_label_collapse():
    rows = [row_from_summary(_with_batch_and_distribution(_summary(0.5, 0.3), 0.95), name="collapsed"),
            row_from_summary(_with_batch_and_distribution(_summary(0.7, 0.7), 0.55), name="healthy")]
    assert rows[0]["batch_calibrated_accuracy"] == {"value": 0.66, "low": 0.6, "high": 0.7}
    assert rows[0]["top_label_share"] == {"label": "positive", "value": 0.95}
    text = _render(results_table(rows, "exp"))
    assert "batch-cal. acc. (log)" in text and "0.660 [0.600, 0.700]" in text
    assert "top predicted label" in text and "positive 95% ⚠" in text
    assert "positive 55%" in text and "positive 55% ⚠" not in text


def test_seed_aggregate_keeps_the_most_collapsed_seed_and_batch_mean():
    seeds = [_with_batch_and_distribution(_summary(0.6, 0.5), s) for s in (0.5, 0.92, 0.7)]
    agg = seed_aggregate(seeds)
    assert agg["top_label_share"] == {"label": "positive", "value": 0.92, "n_seeds": 3}
    assert agg["batch_calibrated_accuracy"]["mean"] == pytest.approx(0.66)
    assert "positive 92% ⚠" in _render(results_table([{"name": "s", **agg}], "t"))
