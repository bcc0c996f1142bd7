"""The LM-guided selection methods run through the pipeline with the dummy LM: the probe is wired, each method's
own scores land in predictions.jsonl, and the LM cost in summary.json."""

import itertools
import json

import pytest

from iclkit.cli.main import main
from iclkit.config import RunConfig
from iclkit.errors import IclkitError
from iclkit.pipeline import run
from iclkit.testing import DummyLM


@pytest.fixture
def data_file(tmp_path, monkeypatch):
    monkeypatch.setenv("ICLKIT_CACHE", str(tmp_path / "cache"))
    rows = [{"text": f"{w} movie number {i}", "label": lab}
            for i, (w, lab) in enumerate([("great", "positive"), ("awful", "negative")] * 12)]
    path = tmp_path / "reviews.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def go(data_file, tmp_path, lm=None, **kw):
    config = RunConfig(**{"data_file": str(data_file), "shots": 2, "limit": 6, "model": "dummy",
                          "out": str(tmp_path / kw.get("retriever", "run")), **kw})
    result = run(config, lm=lm or DummyLM(), log=lambda s: None)
    rows = [json.loads(x) for x in (result.run_dir / "predictions.jsonl").read_text().splitlines()]
    return result, rows


HASH = {"embedder": "hashing-64"}


@pytest.mark.parametrize("retriever, options, key", [
    ("dpp", {**HASH, "candidate_num": 6}, "dpp_logdet"),
    ("mdl", {**HASH, "num_candidates": 5, "window": 3}, "mdl_entropy"),
    ("mi", {"n_sets": 3, "n_probe": 8}, "mi"),
    ("votek", {**HASH, "budget": 6, "graph_k": 4}, "demo_scores"),
    ("votek", {**HASH, "budget": 10, "graph_k": 4, "two_stage": True}, "demo_scores"),
    ("active", {"n_candidates": 4, "n_probe": 8, "episodes": 2}, "active_q"),
])
def test_each_method_records_its_scores_and_cost(data_file, tmp_path, retriever, options, key):
    result, rows = go(data_file, tmp_path, retriever=retriever, retriever_options=options)
    assert len(rows) == 6 and all(len(r["demo_ids"]) == 2 and r["example_id"] not in r["demo_ids"] for r in rows)
    assert all(key in r["selection"] for r in rows)
    cost = result.summary["cost"]
    assert cost["loglikelihood_requests"] >= 6 * 2 and cost["continuation_tokens"] > 0
    if retriever in ("mdl", "mi", "active"):  # these ask the LM more than the final scoring does
        assert cost["loglikelihood_requests"] > 6 * 2


def test_globale_ordering_through_the_pipeline_uses_generated_probes(data_file, tmp_path):
    counter, seeds = itertools.count(), []

    def write_probe(req):  # the context is primed with the template's opening "Input:", so the model writes the rest
        assert req.context.endswith("Label: positive\n\nInput:") or req.context.endswith("Label: negative\n\nInput:")
        assert req.temperature == 1.0 and req.seed is not None  # sampled, as Lu et al., and seeded
        seeds.append(req.seed)
        return f" probe text {next(counter)}\nLabel: positive\n\nInput: more"

    lm = DummyLM(generate_fn=write_probe)
    result, rows = go(data_file, tmp_path, lm=lm, retriever="random", shots=3, ordering="globale")
    assert {r["selection"]["permutations"] for r in rows} == {6}
    assert all(r["selection"]["probes"] == 6 for r in rows)
    assert result.summary["cost"]["generate_requests"] == 6  # once for the run's one fixed set
    assert len(set(seeds)) == 6  # one sample per permutation, each with its own seed


def test_pool_smaller_than_k_is_one_clear_error(data_file, tmp_path):
    with pytest.raises(IclkitError, match="fewer than shots=40"):
        go(data_file, tmp_path, retriever="random", shots=40)


def test_cli_exits_2_on_a_missing_saved_retriever(data_file, tmp_path, capsys):
    code = main(["eval", "--data-file", str(data_file), "--model", "smollm2-135m", "--retriever", "epr",
                 "--limit", "2", "--out", str(tmp_path / "x"), "--set", f"retriever_options.model_path={tmp_path}/no"])
    assert code == 2
    err = capsys.readouterr().err
    assert "not a saved EPR retriever" in err and "Traceback" not in err


def test_sgicl_through_the_pipeline_generates_label_conditioned_demonstrations(data_file, tmp_path):
    lm = DummyLM(generate_fn=lambda req: "a generated review\nmore text")
    result, rows = go(data_file, tmp_path, lm=lm, retriever="sgicl")
    assert all(len(r["demo_ids"]) == 2 and set(r["selection"]["sgicl_generated"].values()) == {"a generated review"}
               for r in rows)
    assert "Input: a generated review\nLabel: negative" in rows[0]["prompt"]
    assert result.summary["cost"]["generate_requests"] == 6 * 2
