import json

import pytest

from iclkit.compare import Grid, compare
from iclkit.config import RunConfig
from iclkit.testing import DummyLM


@pytest.fixture
def task_file(tmp_path, monkeypatch):
    monkeypatch.setenv("ICLKIT_CACHE", str(tmp_path / "cache"))
    rows = [{"text": f"{w} film {i}", "label": lab}
            for i, (w, lab) in enumerate([("great", "positive"), ("awful", "negative")] * 10)]
    (tmp_path / "pool.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    task = tmp_path / "toy.yaml"
    task.write_text(f"name: toy\ninput_fields: [text]\nlabels: [negative, positive]\n"
                    f"verbalizer: {{negative: negative, positive: positive}}\n"
                    f"template: {{input: \"Input: {{text}}\\nLabel:\", answer: \" {{label}}\"}}\n"
                    f"source: {{kind: jsonl, splits: {{train: {tmp_path / 'pool.jsonl'}, "
                    f"eval: {tmp_path / 'pool.jsonl'}}}}}\n")
    return task


def test_compare_writes_one_table_with_seed_spread_cost_and_plots(task_file, tmp_path):
    grid = Grid(tasks=(str(task_file),), methods=("zero", "random", "bm25", "mi"), seeds=(0, 1, 2), shots=(1, 2),
                method_options={"mi": {"n_sets": 2, "n_probe": 8}})
    rows = compare(RunConfig(model="dummy", limit=6), grid, out=tmp_path / "cmp", lm=DummyLM(),
                   log=lambda s: None)
    assert len(rows) == 4 * 2 and all(r["seeds"] == 3 for r in rows)
    by = {(r["method"], r["shots"]): r for r in rows}
    assert by[("random", 2)]["accuracy_std"] >= 0 and len(by[("random", 2)]["accuracy_values"]) == 3
    assert by[("mi", 2)]["lm_requests"] > by[("random", 2)]["lm_requests"] == 6 * 2  # MI's selection costs calls
    table = (tmp_path / "cmp" / "results.md").read_text()
    assert "| toy | bm25 | 2 |" in table and " ± " in table
    assert (tmp_path / "cmp" / "accuracy_by_method.png").stat().st_size > 1000
    assert (tmp_path / "cmp" / "accuracy_vs_k.png").exists()
    assert (tmp_path / "cmp" / "toy" / "random" / "k2" / "seed1" / "predictions.jsonl").exists()
