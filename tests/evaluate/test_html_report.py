import json
import re
import shutil

import pytest

from iclkit.errors import IclkitError
from iclkit.evaluate.html_report import (
    MAX_EXAMPLES,
    browser_data,
    find_run_dirs,
    group_variants,
    load_run,
    split_prompt,
    write_report,
)
from iclkit.evaluate.metrics import summarize
from iclkit.evaluate.records import read_summary


def test_one_run_dir_metrics_come_from_predictions(experiment_dir):
    run = load_run(experiment_dir / "bm25-2")
    summary = read_summary(experiment_dir / "bm25-2")
    assert sorted(run.labels) == ["negative", "positive"] and len(run.records) == 30
    # recomputed from predictions.jsonl with the same seed: identical to what the pipeline wrote
    assert run.metrics["metrics"]["accuracy"] == summary["metrics"]["accuracy"]
    assert run.metrics["metrics"]["macro_f1"] == summary["metrics"]["macro_f1"]
    assert run.metrics["metrics_calibrated"]["accuracy"] == summary["metrics_calibrated"]["accuracy"]
    assert run.metrics["metrics_batch_calibrated"] == summary["metrics_batch_calibrated"]
    assert sum(map(sum, run.confusion)) == 30
    correct = sum(run.confusion[i][i] for i in range(2))
    assert correct / 30 == pytest.approx(summary["metrics"]["accuracy"]["value"])
    assert set(run.f1) == {"raw", "contextual calibration"} and set(run.f1["raw"]) == {"negative", "positive"}
    assert not run.collapsed


def test_experiment_folder_groups_seeds_and_flags_collapse(experiment_dir):
    dirs = find_run_dirs([experiment_dir])
    assert len(dirs) == 5
    variants = {v.name: v for v in group_variants([load_run(d) for d in dirs])}
    assert set(variants) == {"zero-shot", "random-4", "bm25-2"}
    seeds = variants["random-4"]
    assert len(seeds.runs) == 3 and seeds.shots == 4
    cell = seeds.cell("metrics", "accuracy")
    values = [r.metrics["metrics"]["accuracy"]["value"] for r in seeds.runs]
    assert cell["n_seeds"] == 3 and cell["values"] == values
    assert cell["mean"] == pytest.approx(sum(values) / 3)
    one = variants["bm25-2"].cell("metrics", "accuracy")
    assert set(one) == {"value", "low", "high"} and one["low"] <= one["value"] <= one["high"]
    zero = variants["zero-shot"]
    assert zero.runs[0].collapsed and zero.top_share() == {"label": "positive", "value": 1.0}


def test_several_runs_with_the_same_name_are_told_apart_by_path(experiment_dir, tmp_path):
    for name in ("a", "b"):
        shutil.copytree(experiment_dir / "bm25-2", tmp_path / name / "bm25-2")
    dirs = find_run_dirs([tmp_path / "a" / "bm25-2", tmp_path / "b" / "bm25-2", tmp_path / "a"])
    assert len(dirs) == 2  # the third path finds a run already listed
    names = [v.name for v in group_variants([load_run(d) for d in dirs])]
    assert names == ["a/bm25-2", "b/bm25-2"]


def test_no_runs_or_missing_path_is_a_user_error_naming_it(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(IclkitError, match=re.escape(str(tmp_path / "empty")) + ".*no runs found"):
        find_run_dirs([tmp_path / "empty"])
    with pytest.raises(IclkitError, match="no such file"):
        find_run_dirs([tmp_path / "nope"])


def test_summary_without_predictions_is_named(experiment_dir, tmp_path):
    shutil.copytree(experiment_dir / "bm25-2", tmp_path / "r")
    (tmp_path / "r" / "predictions.jsonl").unlink()
    with pytest.raises(IclkitError, match="predictions.jsonl: missing"):
        load_run(tmp_path / "r")


def test_run_without_gold_labels_is_named(experiment_dir, tmp_path):
    shutil.copytree(experiment_dir / "bm25-2", tmp_path / "r")
    path = tmp_path / "r" / "predictions.jsonl"
    rows = [{**json.loads(line), "gold": None} for line in path.read_text().splitlines()]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(IclkitError, match=re.escape(str(tmp_path / "r")) + ": no labelled examples"):
        load_run(tmp_path / "r")


@pytest.mark.parametrize("prompt,n,instruction,expected", [
    ("A\n\nB\n\nQ", 2, None, (["A", "B"], "Q")),
    ("Do it\n\nA\n\nQ", 1, "Do it", (["A"], "Q")),
    ("Q only", 0, None, ([], "Q only")),
    ("A\n\nhas\n\nbreak\n\nQ", 2, None, None),  # a separator inside a demonstration: keep the prompt whole
    ("A\n\nQ", 1, "Missing", None),
])
def test_split_prompt(prompt, n, instruction, expected):
    assert split_prompt(prompt, n, "\n\n", instruction) == expected


def test_browser_data_stores_each_demo_once_and_rebuilds_prompts(experiment_dir):
    run = load_run(experiment_dir / "random-4" / "seed0")
    data = browser_data(run, 0, "random-4")
    assert data["total"] == 30 and len(data["examples"]) == min(30, MAX_EXAMPLES)
    # one fixed set of 4 per seed (+1 stand-in where a query is itself in the set: pool and eval share a file)
    assert 4 <= len(data["demos"]) <= 5
    for record, row in zip(run.records, data["examples"]):
        rebuilt = "".join(data["demos"][d] + data["separator"] for d in row["demo_ids"]) + row["query"]
        assert rebuilt == record.prompt
        assert row["pred"] == record.prediction and row["scores"] == list(record.scores)


def test_page_renders_every_section_offline(experiment_dir, tmp_path):
    out = write_report([experiment_dir], tmp_path / "page.html")
    html = out.read_text()
    for section in ("overview", "shots", "calibration", "runs", "examples"):
        assert f'<section id="{section}">' in html
    assert "batch calibration (log-space)" in html and "label collapse" in html
    assert 'id="overview-table"' in html and html.count('confusion-table"') == 5
    images = re.findall(r'<img src="([^"]+)"', html)
    assert len(images) == 3 + 3 * 5 and all(src.startswith("data:image/png;base64,") for src in images)
    files = sorted(p.name for p in (tmp_path / "page_files").iterdir())
    assert len(files) == len(images) and "overview.png" in files and "accuracy_vs_k.png" in files
    assert not re.search(r'(src|href)="(https?:)?//', html)  # nothing fetched from the network
    data = json.loads(re.search(r'id="browser-data">(.*?)</script>', html, re.DOTALL).group(1))
    assert [d["name"] for d in data][:2] == ["zero-shot", "bm25-2"]  # fewest demonstrations first
    assert len(data) == 5 and all(len(d["examples"]) == 30 for d in data)


def test_collapsed_run_is_flagged_and_healthy_one_is_not(experiment_dir, tmp_path):
    html = write_report([experiment_dir / "zero-shot"], tmp_path / "z.html").read_text()
    assert "positive 100% ⚠" in html and 'class="collapsed"' in html and "label collapse" in html
    html = write_report([experiment_dir / "bm25-2"], tmp_path / "b.html").read_text()
    assert 'class="collapsed"' not in html and '<span class="badge">label collapse' not in html
    assert '<section id="shots">' not in html  # one k only: no accuracy-vs-k figure


def test_script_data_cannot_close_its_element(experiment_dir, tmp_path):
    shutil.copytree(experiment_dir / "bm25-2", tmp_path / "r")
    path = tmp_path / "r" / "predictions.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    rows[0]["prompt"] = "</script><script>alert(1)</script>"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    html = write_report([tmp_path / "r"], tmp_path / "r.html").read_text()
    assert "<script>alert(1)" not in html and html.count("</script>") == 2


def test_output_that_is_a_directory_is_refused(experiment_dir, tmp_path):
    with pytest.raises(IclkitError, match="is a directory"):
        write_report([experiment_dir / "bm25-2"], tmp_path)


def test_summarize_is_the_metric_code(experiment_dir):
    """The report does not compute accuracy itself: it calls evaluate.metrics.summarize on the records."""
    run = load_run(experiment_dir / "zero-shot")
    again = summarize([r.gold for r in run.records], [r.prediction for r in run.records], run.labels)
    assert again["accuracy"] == run.metrics["metrics"]["accuracy"]
