"""The vLLM back-end. Its reply parsing is checked everywhere; the model tests need vLLM and a GPU, plus
``ICLKIT_VLLM_TEST_MODEL`` (a small model name, hub id or path, e.g. ``smollm2-135m``)."""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass

import pytest

from iclkit.errors import IclkitError
from iclkit.lm.vllm_backend import VLLMLM, result_from_prompt_logprobs
from iclkit.types import LLRequest


def _vllm_on_gpu() -> bool:
    if importlib.util.find_spec("vllm") is None:  # find_spec: importing vLLM itself is slow and may fail on CPU
        return False
    import torch

    return torch.cuda.is_available()


MODEL = os.environ.get("ICLKIT_VLLM_TEST_MODEL")
needs_vllm_gpu = pytest.mark.skipif(not _vllm_on_gpu(), reason="needs vLLM and a CUDA GPU")
needs_model = pytest.mark.skipif(not MODEL, reason="set ICLKIT_VLLM_TEST_MODEL to a small model to run these")
# vLLM in fp32 against HF in fp32: only kernel and summation-order differences remain.
HF_AGREEMENT_ATOL = 0.05


# ----------------------------------------------------------------------------------------------- no GPU needed
@dataclass
class Logprob:  # the shape of vllm.sequence.Logprob
    logprob: float
    rank: int | None = None
    decoded_token: str | None = None


def test_prompt_logprobs_become_the_continuations_sum_and_greedy_flag():
    tokens = [1, 10, 11, 12, 13]  # context = first 3 tokens
    prompt_logprobs = [None, {10: Logprob(-3.0, 7)}, {11: Logprob(-2.0, 2), 5: Logprob(-1.0, 1)},
                       {12: Logprob(-0.5, 1)}, {13: Logprob(-0.25, 1)}]
    res = result_from_prompt_logprobs(prompt_logprobs, tokens, 3)
    assert (res.logprob, res.n_tokens, res.is_greedy) == (-0.75, 2, True)
    not_greedy = result_from_prompt_logprobs(prompt_logprobs, tokens, 2)
    assert (not_greedy.logprob, not_greedy.n_tokens, not_greedy.is_greedy) == (-2.75, 3, False)


def test_plain_float_entries_without_rank_compare_with_the_top_entry():
    tokens = [1, 10, 11]
    res = result_from_prompt_logprobs([None, {10: -1.0}, {11: -0.5, 4: -2.0}], tokens, 2)
    assert (res.logprob, res.n_tokens, res.is_greedy) == (-0.5, 1, True)
    res = result_from_prompt_logprobs([None, {10: -1.0}, {11: -0.5, 4: -0.1}], tokens, 2)
    assert res.is_greedy is False


def test_missing_prompt_logprob_is_a_clear_error():
    with pytest.raises(IclkitError, match="no log-probability for prompt position 2"):
        result_from_prompt_logprobs([None, {10: Logprob(-1.0, 1)}, None], [1, 10, 11], 2)
    with pytest.raises(IclkitError, match="at least one context token"):
        result_from_prompt_logprobs([None, {10: Logprob(-1.0, 1)}], [1, 10], 0)


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vLLM is installed")
def test_missing_vllm_is_a_clear_error():
    with pytest.raises(IclkitError, match=r"pip install 'iclkit\[vllm\]'"):
        VLLMLM.load("smollm2-135m")


# ----------------------------------------------------------------------------------------------- on a GPU
@pytest.fixture(scope="module")
def lm():
    # fp32 so that batch composition cannot move scores past the contract's tolerance
    return VLLMLM.load(MODEL, dtype="float32", gpu_memory_utilization=0.3, max_length=1024)


@pytest.mark.gpu
@needs_model
@needs_vllm_gpu
def test_contract(lm):
    from iclkit.testing import assert_lm_contract

    assert_lm_contract(lm, atol=1e-3)


@pytest.mark.gpu
@needs_model
@needs_vllm_gpu
def test_agrees_with_the_hf_backend(lm):
    from iclkit.lm.hf import HFLM

    hf = HFLM.load(MODEL, device="cpu")  # fp32
    demos = "Sentence: the plot is good\nLabel: Positive\n\nSentence: the acting is bad\nLabel: Negative\n\n"
    sentences = ["a wonderful , moving film", "dull and lifeless", "an utterly compelling story", "too long"]
    reqs = [LLRequest(demos + f"Sentence: {s}\nLabel:", label, s) for s in sentences
            for label in (" Positive", " Negative")] + [LLRequest("", " Positive")]
    assert [lm.encode_pair(r.context, r.continuation) for r in reqs] == [
        hf.encode_pair(r.context, r.continuation) for r in reqs]
    ours, theirs = lm.loglikelihood(reqs), hf.loglikelihood(reqs)
    deltas = [abs(a.logprob - b.logprob) for a, b in zip(ours, theirs)]
    assert max(deltas) <= HF_AGREEMENT_ATOL, deltas
    for i in range(0, len(sentences) * 2, 2):
        assert (ours[i].logprob > ours[i + 1].logprob) == (theirs[i].logprob > theirs[i + 1].logprob)


@pytest.mark.gpu
@needs_model
@needs_vllm_gpu
def test_generation_stops_at_newline(lm):
    from iclkit.lm.base import GenRequest

    context = "Sentence: the plot is good\nLabel: Positive\n\nSentence: the acting is bad\nLabel:"
    [text] = lm.generate([GenRequest(context, stop=("\n",), max_new_tokens=16)])
    assert "\n" not in text
