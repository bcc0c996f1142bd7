"""scripts/collect_results.py and scripts/results_table.py: committed result files in, docs tables out."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def metric(acc: float, negative: float) -> dict:
    return {"accuracy": {"value": acc, "low": acc - 0.05, "high": acc + 0.05},
            "macro_f1": {"value": acc, "low": acc - 0.05, "high": acc + 0.05},
            "predicted_distribution": {"negative": negative, "positive": 1 - negative}}


def write_summary(path: Path, acc: float, negative: float = 0.5, **extra) -> None:
    path.mkdir(parents=True, exist_ok=True)
    summary = {"name": path.name, "n": 200, "metrics": metric(acc, negative),
               "metrics_calibrated": metric(acc + 0.01, 0.5), "metrics_batch_calibrated": metric(acc + 0.02, 0.5),
               "timing": {"seconds": 12.0}, **extra}
    (path / "summary.json").write_text(json.dumps(summary))


@pytest.fixture
def paper_runs(tmp_path: Path) -> Path:
    task = tmp_path / "runs" / "gemma3-270m" / "sst2"
    write_summary(task / "zero-shot", 0.70, bulky=["x"] * 10)
    for seed, acc in enumerate((0.60, 0.70, 0.80)):
        write_summary(task / "random-8" / f"seed{seed}", acc, negative=0.99 if seed == 0 else 0.5)
    write_summary(task / "topk-8", 0.75)
    return tmp_path


def test_collect_keeps_the_summary_keys_and_drops_the_rest(paper_runs: Path) -> None:
    collect = load_script("collect_results")
    written = collect.collect(paper_runs / "runs", paper_runs / "results")
    assert len(written) == 5
    copied = json.loads((paper_runs / "results" / "gemma3-270m" / "sst2" / "zero-shot" / "summary.json").read_text())
    assert "bulky" not in copied
    assert copied["metrics"]["accuracy"]["value"] == 0.70


def test_paper_table_reads_results_and_marks_missing_rows(paper_runs: Path) -> None:
    table = load_script("results_table")
    load_script("collect_results").collect(paper_runs / "runs", paper_runs / "results")
    lines = table.paper_table(paper_runs / "results")
    row = next(line for line in lines if "| gemma3-270m | sst2 |" in line)
    assert "| 200 | 0.700 | 0.710 | 0.720 | 0.700 ± 0.100 ⚠99% |" in row  # mean ± sample std, collapse flag
    assert row.endswith("| 0.750 | 0.760 | 0.770 |")
    assert "| smollm2-135m | sst2 | not re-run yet |" in "\n".join(lines)


def test_paper_table_marks_a_missing_variant_cell(paper_runs: Path) -> None:
    table = load_script("results_table")
    for path in (paper_runs / "runs" / "gemma3-270m" / "sst2" / "topk-8").iterdir():
        path.unlink()
    load_script("collect_results").collect(paper_runs / "runs", paper_runs / "results")
    row = next(line for line in table.paper_table(paper_runs / "results") if "| gemma3-270m | sst2 |" in line)
    assert row.endswith("| 0.700 ± 0.100 ⚠99% | 0.710 ± 0.100 | 0.720 ± 0.100 | not re-run yet | not re-run yet "
                        "| not re-run yet |")
