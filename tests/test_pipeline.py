import json

import pytest

from iclkit.config import RunConfig
from iclkit.errors import IclkitError
from iclkit.pipeline import run
from iclkit.testing import DummyLM, tiny_hflm


@pytest.fixture
def data_file(tmp_path):
    rows = [{"text": f"{w} movie number {i}", "label": lab}
            for i, (w, lab) in enumerate([("great", "positive"), ("awful", "negative")] * 10)]
    path = tmp_path / "reviews.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def config(data_file, tmp_path, **kw):
    base = {"data_file": str(data_file), "shots": 4, "retriever": "random", "out": str(tmp_path / "run"),
            "model": "dummy"}
    return RunConfig(**{**base, **kw})


def lines(path):
    return [json.loads(x) for x in path.read_text().splitlines()]


def test_run_writes_predictions_and_summary(data_file, tmp_path):
    result = run(config(data_file, tmp_path), lm=DummyLM(bias={"positive": 5.0}), log=lambda s: None)
    rows = lines(result.run_dir / "predictions.jsonl")
    assert len(rows) == 20 and all(r["prediction"] == "positive" for r in rows)
    assert all(len(r["demo_ids"]) == 4 and r["example_id"] not in r["demo_ids"] for r in rows)
    summary = json.loads((result.run_dir / "summary.json").read_text())
    assert summary["metrics"]["accuracy"]["value"] == pytest.approx(0.5)
    assert summary["config"]["shots"] == 4 and "environment" in summary


def test_rerun_resumes_and_only_scores_new_examples(data_file, tmp_path):
    lm = DummyLM()
    run(config(data_file, tmp_path, limit=8), lm=lm, log=lambda s: None)
    calls = len(lm.calls)
    result = run(config(data_file, tmp_path, limit=12), lm=lm, log=lambda s: None)
    assert result.summary["n"] == 12 and result.summary["timing"]["examples_scored"] == 4
    assert len(lm.calls) - calls == 4 * 2  # 4 new queries x 2 labels
    assert len(lines(result.run_dir / "predictions.jsonl")) == 12


def test_resuming_with_a_different_config_is_refused(data_file, tmp_path):
    run(config(data_file, tmp_path, limit=4), lm=DummyLM(), log=lambda s: None)
    with pytest.raises(IclkitError, match="shots"):
        run(config(data_file, tmp_path, limit=4, shots=2), lm=DummyLM(), log=lambda s: None)


def test_contextual_calibration_is_recorded_and_removes_a_constant_bias(data_file, tmp_path):
    lm = DummyLM(bias={"positive": 3.0})  # content-free inputs see the same bias, so calibration cancels it
    result = run(config(data_file, tmp_path, calibration="contextual"), lm=lm,
                 log=lambda s: None)
    assert result.summary["metrics"]["predicted_distribution"]["positive"] == 1.0
    assert result.summary["metrics_calibrated"]["predicted_distribution"]["positive"] < 1.0
    assert result.summary["metrics_batch_calibrated"]["predicted_distribution"]["positive"] < 1.0
    row = lines(result.run_dir / "predictions.jsonl")[0]
    assert set(row["calibrated_scores"]) == {"negative", "positive"}


@pytest.mark.parametrize("scorer,options", [("direct", {}), ("ppl", {"normalization": "pmi"}), ("channel", {})])
def test_every_scorer_runs_on_a_tiny_real_model(data_file, tmp_path, scorer, options):
    result = run(config(data_file, tmp_path, scorer=scorer, scorer_options=options, retriever="bm25", limit=6,
                        calibration="contextual"), lm=tiny_hflm("llama"), log=lambda s: None)
    rows = lines(result.run_dir / "predictions.jsonl")
    assert len(rows) == 6 and all(r["prediction"] in ("negative", "positive") for r in rows)
    assert all(r["calibrated_prediction"] in ("negative", "positive") for r in rows)


def test_demonstrations_are_dropped_to_fit_the_model(data_file, tmp_path):
    lm = DummyLM(max_length=20)  # DummyLM counts words: only one demonstration fits
    result = run(config(data_file, tmp_path, shots=4, limit=3), lm=lm, log=lambda s: None)
    assert result.summary["demos"]["requested"] == 4 and result.summary["demos"]["used_mean"] < 4


def test_a_run_that_failed_before_scoring_does_not_pin_its_config(data_file, tmp_path):
    with pytest.raises(IclkitError):
        run(config(data_file, tmp_path, scorer="nope"), lm=DummyLM(), log=lambda s: None)
    result = run(config(data_file, tmp_path, limit=2), lm=DummyLM(), log=lambda s: None)
    assert result.summary["n"] == 2


@pytest.mark.parametrize("retriever,options", [("bm25", {}), ("random", {"per_query": True})])
def test_contextual_calibration_with_per_query_demos_survives_cache_eviction(data_file, tmp_path, retriever, options,
                                                                             monkeypatch):
    """More distinct demonstration prefixes than the prior cache holds, within one chunk and across chunks: the
    cache used to be cleared while a chunk still needed its priors (KeyError after 512 TopK/BM25 queries)."""
    from iclkit.pipeline import Runner

    big = run(config(data_file, tmp_path / "big", calibration="contextual", retriever=retriever,
                     retriever_options=options), lm=DummyLM(), log=lambda s: None)
    monkeypatch.setattr(Runner, "prior_cache_size", 2)
    small = run(config(data_file, tmp_path / "small", calibration="contextual", retriever=retriever,
                       retriever_options=options), lm=DummyLM(), log=lambda s: None)
    assert len({r.prompt.split("Label")[0] for r in small.records}) > 2  # really more prefixes than the cache
    assert [r.calibrated_scores for r in small.records] == [r.calibrated_scores for r in big.records]


@pytest.mark.parametrize("retriever", ["bm25", "random", "zero"])
def test_zero_shots_gives_zero_demonstrations_in_the_prompt(data_file, tmp_path, retriever):
    result = run(config(data_file, tmp_path, shots=0, retriever=retriever), lm=DummyLM(), log=lambda s: None)
    assert all(r.demo_ids == () for r in result.records)
    assert result.summary["demos"]["used_mean"] == 0


def test_a_failure_before_the_first_prediction_leaves_no_run_directory(data_file, tmp_path):
    out = tmp_path / "deep" / "run"
    with pytest.raises(IclkitError, match="longer than the model"):
        run(config(data_file, tmp_path, out=str(out)), lm=DummyLM(max_length=3), log=lambda s: None)
    assert not (tmp_path / "deep").exists()


def test_unknown_options_are_refused_before_anything_runs(data_file, tmp_path):
    lm = DummyLM()
    with pytest.raises(IclkitError, match="unknown option 'per_query'"):
        run(config(data_file, tmp_path, retriever="topk", retriever_options={"per_query": True}), lm=lm,
            log=lambda s: None)
    assert lm.calls == [] and not (tmp_path / "run").exists()


# ----------------------------------------------------------------------------------------------- momentum at inference
def test_momentum_eta_loads_the_model_with_momentum_attention(tmp_path):
    from iclkit.pipeline import load_lm
    from iclkit.testing import tiny_llama, tiny_tokenizer
    from iclkit.types import LLRequest

    folder = tmp_path / "tiny"
    tiny_llama().save_pretrained(folder)
    tiny_tokenizer().save_pretrained(folder)
    request = [LLRequest(context="good movie . Label:", continuation=" positive")]
    plain = load_lm(RunConfig(model=str(folder), device="cpu"))
    momentum = load_lm(RunConfig(model=str(folder), device="cpu", momentum_eta=0.5))
    assert momentum.model.config._attn_implementation.startswith("momentum_")
    assert all(m.momentum_eta == 0.5 for m in momentum.model.modules() if hasattr(m, "momentum_eta"))
    assert abs(plain.loglikelihood(request)[0].logprob - momentum.loglikelihood(request)[0].logprob) > 1e-4


@pytest.mark.parametrize("values, message", [({"momentum_eta": 1.5}, "in \\(0, 1\\)"),
                                             ({"momentum_eta": 0.3, "backend": "openai"}, "needs the hf back-end")])
def test_bad_momentum_settings_are_refused_naming_the_key(values, message):
    from iclkit.pipeline import load_lm

    with pytest.raises(IclkitError, match=message):
        load_lm(RunConfig(**values))
