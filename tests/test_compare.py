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
    assert "| toy | bm25 | 2 |" in table and " ± " in table and "| toy | random | 2 | 6 | " in table
    assert (tmp_path / "cmp" / "accuracy_by_method.png").stat().st_size > 1000
    assert (tmp_path / "cmp" / "accuracy_vs_k.png").exists()
    assert (tmp_path / "cmp" / "toy" / "random" / "k2" / "seed1" / "predictions.jsonl").exists()


def test_one_seed_methods_run_once_and_effects_compare_against_the_baseline(task_file, tmp_path):
    grid = Grid(tasks=(str(task_file),), methods=("random", "bm25", "zero"), seeds=(0, 1, 2), shots=(2,),
                one_seed=("bm25", "zero"))
    rows = compare(RunConfig(model="dummy", limit=6), grid, out=tmp_path / "cmp", lm=DummyLM(), log=lambda s: None)
    by = {r["method"]: r for r in rows}
    assert by["random"]["seeds"] == 3 and by["bm25"]["seeds"] == 1 and by["zero"]["seeds"] == 1
    assert not (tmp_path / "cmp" / "toy" / "bm25" / "k2" / "seed1").exists()
    assert by["bm25"]["bc_accuracy_mean"] is not None and len(by["random"]["bc_accuracy_values"]) == 3
    effects = {r["method"]: r for r in json.loads((tmp_path / "cmp" / "effects.json").read_text())}
    assert set(effects) == {"bm25", "zero"} and effects["bm25"]["n"] == 6
    # the difference is the per-example mean over seeds, so it equals the gap between the accuracy means
    gap = by["bm25"]["accuracy_mean"] - by["random"]["accuracy_mean"]
    raw = effects["bm25"]["raw"]
    assert abs(raw["difference"] - gap) < 1e-3 and raw["low"] <= raw["difference"] <= raw["high"]
    assert "| bm25 | 2 | toy | 6 |" in (tmp_path / "cmp" / "effects.md").read_text()


def test_a_fully_resumed_comparison_keeps_each_cells_cost_and_time(task_file, tmp_path):
    grid = Grid(tasks=(str(task_file),), methods=("random", "bm25"), seeds=(0, 1), shots=(2,))
    first = compare(RunConfig(model="dummy", limit=6), grid, out=tmp_path / "cmp", lm=DummyLM(), log=lambda s: None)
    again = compare(RunConfig(model="dummy", limit=6), grid, out=tmp_path / "cmp", lm=DummyLM(), log=lambda s: None)
    assert [r["lm_requests"] for r in again] == [r["lm_requests"] for r in first] == [12, 12]
    assert [r["seconds"] for r in again] == [r["seconds"] for r in first]
    summary = json.loads((tmp_path / "cmp" / "toy" / "bm25" / "k2" / "seed1" / "summary.json").read_text())
    assert summary["cost"]["loglikelihood_requests"] == 12


def test_the_methods_run_with_one_seed_in_the_study_do_not_read_the_seed(task_file, tmp_path):
    """docs/selection.md runs bm25, topk, dpp and votek once (--one-seed): their demonstrations must not depend on
    the seed, while random's do."""
    hashing = {"embedder": "hashing-64"}
    options = {"topk": hashing, "dpp": {**hashing, "candidate_num": 6}, "votek": {**hashing, "budget": 6,
                                                                                  "graph_k": 4}}
    grid = Grid(tasks=(str(task_file),), methods=("random", "bm25", "topk", "dpp", "votek"), seeds=(0, 1, 2),
                shots=(2,), method_options=options)
    compare(RunConfig(model="dummy", limit=6), grid, out=tmp_path / "cmp", lm=DummyLM(), log=lambda s: None)

    def demos(method, seed):
        path = tmp_path / "cmp" / "toy" / method / "k2" / f"seed{seed}" / "predictions.jsonl"
        return [json.loads(line)["demo_ids"] for line in path.read_text().splitlines()]

    for method in ("bm25", "topk", "dpp", "votek"):
        assert demos(method, 0) == demos(method, 1) == demos(method, 2), method
    assert len({json.dumps(demos("random", s)) for s in (0, 1, 2)}) > 1


def test_a_labelled_variant_runs_the_same_retriever_with_its_own_options(task_file, tmp_path):
    hashing = {"embedder": "hashing-64", "graph_k": 4}
    grid = Grid(tasks=(str(task_file),), methods=("random", "votek", "votek_small=votek", "shuffled=random:random"),
                seeds=(0,), shots=(2,),
                method_options={"votek": {**hashing, "budget": 10}, "votek_small": {**hashing, "budget": 3}})
    rows = compare(RunConfig(model="dummy", limit=6), grid, out=tmp_path / "cmp", lm=DummyLM(), log=lambda s: None)
    assert [r["method"] for r in rows] == ["random", "votek", "votek_small", "shuffled"]

    def demo_ids(method):
        path = tmp_path / "cmp" / "toy" / method / "k2" / "seed0" / "predictions.jsonl"
        return {i for line in path.read_text().splitlines() for i in json.loads(line)["demo_ids"]}

    # a budget of 3 annotates 3 examples: the variant draws from at most 3 ids, the base method from more
    assert len(demo_ids("votek_small")) <= 3 < len(demo_ids("votek"))
    summary = json.loads((tmp_path / "cmp" / "toy" / "shuffled" / "k2" / "seed0" / "summary.json").read_text())
    assert summary["config"]["retriever"] == "random" and summary["config"]["ordering"] == "random"
    assert {r["method"] for r in json.loads((tmp_path / "cmp" / "effects.json").read_text())} == {
        "votek", "votek_small", "shuffled"}
