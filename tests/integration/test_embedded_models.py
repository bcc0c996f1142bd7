"""Integration tests on the real embedded models (converted from their GGUF on first use; minutes in all)."""

import json

import pytest

from iclkit.data.tasks import load_task
from iclkit.testing import sst2_requests
from iclkit.types import LLRequest

pytestmark = pytest.mark.integration
MODELS = ["smollm2-135m", "gemma3-270m"]


@pytest.fixture(scope="module", params=MODELS)
def lm(request):
    from iclkit.lm.hf import HFLM

    return HFLM.load(request.param)


@pytest.mark.parametrize("shots", [0, 8, 32])
def test_fast_path_equals_naive_recomputation(lm, shots):
    # 32 shots is ~1,000 tokens: past Gemma-3's 512-token sliding window, so the windowed cache path is covered.
    reqs = sst2_requests(lm, shots, lambda ev: ev[:3])
    fast, naive = lm.loglikelihood(reqs), lm.naive_loglikelihood(reqs)
    assert max(abs(a.logprob - b.logprob) for a, b in zip(fast, naive)) <= 1e-4
    for i in range(0, len(reqs), 2):
        assert (fast[i].logprob > fast[i + 1].logprob) == (naive[i].logprob > naive[i + 1].logprob)


def test_label_words_are_single_tokens_and_sentiment_is_sensible(lm):
    task = load_task("sst2")
    ctx = "Sentence: a wonderful , moving and beautifully acted film\nLabel:"
    neg, pos = lm.loglikelihood([LLRequest(ctx, " " + task.verbalizer[lab]) for lab in task.labels])
    assert neg.n_tokens == pos.n_tokens == 1
    assert pos.logprob > neg.logprob


def test_cli_eval_runs_topk_end_to_end_and_resumes(tmp_path, capsys):
    from iclkit.cli.main import main

    out = tmp_path / "run"
    args = ["eval", "--task", "sst2", "--model", "smollm2-135m", "--shots", "4", "--retriever", "topk",
            "--calibration", "contextual", "--out", str(out)]
    assert main([*args, "--limit", "24"]) == 0
    first = json.loads((out / "summary.json").read_text())
    assert first["n"] == 24 and first["demos"]["used_min"] == 4
    rows = [json.loads(x) for x in (out / "predictions.jsonl").read_text().splitlines()]
    assert all(len(r["demo_ids"]) == 4 and r["prompt"].count("Sentence:") == 5 for r in rows)
    # better than chance after calibration on an easy task (zero-shot SmolLM2 is ~0.8 on SST-2)
    assert first["metrics_calibrated"]["accuracy"]["value"] >= 0.6
    assert main([*args, "--limit", "30"]) == 0
    second = json.loads((out / "summary.json").read_text())
    assert second["n"] == 30 and second["timing"]["examples_scored"] == 6
    assert second["model_file"]["sha256"] and len(second["model_file"]["sha256"]) == 64


def test_minilm_topk_finds_paraphrase_and_skips_the_query_itself():
    from iclkit.retrieve.topk import TopKDemos
    from iclkit.types import Example

    pool = [Example("0", {"text": "the film was wonderful and moving"}, "positive"),
            Example("1", {"text": "stock prices fell sharply on monday"}, "negative"),
            Example("2", {"text": "a dreadful , boring movie"}, "negative"),
            Example("3", {"text": "what a great movie"}, "positive")]
    r = TopKDemos()
    r.fit(pool)
    assert r.matrix.shape == (4, 384)
    got = r.select(Example("q", {"text": "what a great movie"}), 2)
    ids = [d.example.id for d in got]
    assert "3" not in ids  # the identical pool item is skipped as a duplicate of the query
    assert "1" not in ids  # finance news is not a neighbour of a movie review
