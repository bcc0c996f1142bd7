"""llama.cpp back-end: the contract, prefix-state reuse, and agreement with the HF back-end on the same GGUF weights.

Needs llama-cpp-python (``pip install 'iclkit[llamacpp]'``); skipped cleanly without it. Tests that load the real
embedded GGUF files (SmolLM2, and Gemma-3 once) are integration tests: seconds each, as llama.cpp memory-maps them.
"""

import random

import pytest

from iclkit.errors import BackendError, IclkitError
from iclkit.lm.base import GenRequest
from iclkit.lm.llamacpp import LlamaCppLM, gguf_path
from iclkit.testing import assert_lm_contract, sst2_requests
from iclkit.types import LLRequest

pytest.importorskip("llama_cpp")

MODEL = "smollm2-135m"
DEMOS = "Sentence: the plot is good\nLabel: Positive\n\nSentence: the acting is bad\nLabel: Negative\n\n"
NESTED = (" Positive", " Neutral", " Neutral and", " Neutral and calm", " Neutral and calm today")
# Per-request |Δ log-prob| against the HF back-end (fp32 weights dequantised from the same GGUF), measured on the 20
# SST-2 prompts below (10 zero-shot, 10 four-shot; labels are single tokens):
# * the Q4_1 file as shipped: max 0.25, mean 0.054. llama.cpp quantises activations to 8 bits in every matrix product,
#   on top of the 4-bit weights. The bound is twice the maximum; the smallest label margin there is 0.51 nats.
Q4_VS_HF_ATOL = 0.5
# * the same weights requantised to F16 (no 4/8-bit arithmetic left): max 0.0075, mean 0.002. This bound checks the
#   token spans, positions and scored logits tightly: an off-by-one position or a missing BOS costs nats.
F16_VS_HF_ATOL = 0.02


@pytest.fixture(scope="module")
def lm():
    return LlamaCppLM.load(MODEL, n_threads=2)


# ------------------------------------------------------------------------------------------ without a model
def test_missing_gguf_file_is_a_clear_error(tmp_path):
    with pytest.raises(IclkitError, match="GGUF file not found"):
        LlamaCppLM.load(str(tmp_path / "nope.gguf"))


def test_unknown_model_name_is_a_clear_error():
    with pytest.raises(IclkitError, match="unknown model 'smollm2-13m'.*did you mean 'smollm2-135m'"):
        LlamaCppLM.load("smollm2-13m")


def test_a_file_that_is_not_gguf_is_a_user_error(tmp_path):
    path = tmp_path / "model.gguf"
    path.write_text("not a model")
    with pytest.raises(IclkitError, match="is not a GGUF file") as info:
        LlamaCppLM.load(str(path))
    assert not isinstance(info.value, BackendError)


def test_a_truncated_gguf_file_is_a_backend_error(tmp_path):
    from iclkit.lm.models import EMBEDDED

    path = tmp_path / "truncated.gguf"
    with EMBEDDED[MODEL].locate_gguf().open("rb") as fh:
        path.write_bytes(fh.read(1 << 20))  # an interrupted download: the header is fine, the tensors are missing
    with pytest.raises(BackendError, match="llama.cpp cannot load .*truncated or corrupt") as info:
        LlamaCppLM.load(str(path))
    assert info.value.exit_code == 3


def test_unknown_llama_option_is_named():
    with pytest.raises(IclkitError, match="unknown option 'n_thread'"):
        LlamaCppLM.load(MODEL, n_thread=2)


# ------------------------------------------------------------------------------------------ on the real models
@pytest.mark.integration
def test_contract(lm):
    assert_lm_contract(lm)
    assert lm.max_length == 2048
    assert lm.source_file is not None and lm.source_file.suffix == ".gguf"


def _history_requests(n_queries):
    # Fixed demonstrations (a shared prefix) and nested multi-token continuations: in trie order every path runs (kept
    # last logits, truncating inside the context, continuations one token longer than the cached state), which
    # without MIN_DECODE_TOKENS gives llama.cpp one-token calls whose rounding differs (0.06-0.2 nats, measured).
    reqs = [LLRequest(DEMOS * 3 + f"Sentence: query {q} is {'good' if q % 2 else 'dull'}\nLabel:", cont, group=q)
            for q in range(n_queries) for cont in NESTED]
    random.Random(0).shuffle(reqs)
    return reqs


@pytest.mark.integration
def test_prefix_reuse_gives_the_same_scores_as_a_fresh_state(lm):
    reqs = _history_requests(3)
    fast, naive = lm.loglikelihood(reqs), lm.naive_loglikelihood(reqs)
    assert max(abs(a.logprob - b.logprob) for a, b in zip(fast, naive)) <= 1e-3
    assert [a.n_tokens for a in fast] == [b.n_tokens for b in naive]
    assert [a.is_greedy for a in fast] == [b.is_greedy for b in naive]


@pytest.mark.integration
def test_gemma_adds_bos_and_its_prefix_reuse_is_exact_too():
    gemma = LlamaCppLM.load("gemma3-270m", n_threads=2)
    try:
        # Gemma's tokenizer adds BOS (as HF's does), SmolLM2's does not (tested against HF above)
        assert gemma.encode_pair("Sentence: fine\nLabel:", " Positive")[0][0] == gemma.llama.token_bos()
        reqs = _history_requests(2)
        fast, naive = gemma.loglikelihood(reqs), gemma.naive_loglikelihood(reqs)
        assert max(abs(a.logprob - b.logprob) for a, b in zip(fast, naive)) <= 1e-3
    finally:
        gemma.close()


@pytest.mark.integration
def test_shared_prefix_is_evaluated_once(lm):
    ctx = DEMOS * 4 + "Sentence: a fine film\nLabel:"
    n_ctx = lm.count_tokens(ctx)
    before = lm.tokens_run
    lm.loglikelihood([LLRequest(ctx, lab, group=0) for lab in (" Positive", " Negative", " Neutral")])
    # single-token labels: the context runs once and every label is read from its last position's logits
    assert lm.tokens_run - before <= n_ctx
    # the next query over the same demonstrations runs only its own tokens
    query = "Sentence: a dull film\nLabel:"
    before = lm.tokens_run
    lm.loglikelihood([LLRequest(DEMOS * 4 + query, lab, group=1) for lab in (" Positive", " Negative")])
    assert lm.tokens_run - before <= lm.count_tokens(query) + 1
    assert lm.tokens_run - before < 0.2 * n_ctx


@pytest.mark.integration
def test_generate_is_greedy_and_stops_at_newline(lm):
    prompt = DEMOS * 2 + "Sentence: a dull film\nLabel:"
    (free,) = lm.generate([GenRequest(prompt, (), 16)])
    (stopped,) = lm.generate([GenRequest(prompt, ("\n",), 16)])
    assert "\n" in free  # the model goes on to the next demonstration line
    assert stopped == free.split("\n")[0] and stopped.strip()
    assert lm.generate([GenRequest(prompt, ("\n",), 16)]) == [stopped]  # deterministic, cached prefix or not


@pytest.mark.integration
def test_overlong_sequence_is_an_error_not_a_truncation(lm):
    with pytest.raises(IclkitError, match="exceeds the model's maximum of 2048"):
        lm.loglikelihood([LLRequest(DEMOS * 80, " Positive")])


@pytest.fixture(scope="module")
def hf_and_requests(lm):
    from iclkit.lm.hf import HFLM

    hf = HFLM.load(MODEL)
    reqs = sst2_requests(lm, 0, lambda ev: ev[:10]) + sst2_requests(lm, 4, lambda ev: ev[10:20])
    return hf, reqs, hf.loglikelihood(reqs)


@pytest.mark.integration
def test_scores_the_same_token_spans_as_the_hf_backend(lm, hf_and_requests):
    hf, reqs, _ = hf_and_requests
    # the same BOS handling (none for SmolLM2) and the same tokens, hence the same scored spans
    assert [lm.encode_pair(r.context, r.continuation) for r in reqs] == [
        hf.encode_pair(r.context, r.continuation) for r in reqs]


@pytest.mark.integration
def test_agrees_with_the_hf_backend_on_sst2_prompts(lm, hf_and_requests):
    _, reqs, theirs = hf_and_requests
    ours = lm.loglikelihood(reqs)
    deltas = [abs(a.logprob - b.logprob) for a, b in zip(ours, theirs)]
    assert max(deltas) <= Q4_VS_HF_ATOL, deltas
    assert [a.n_tokens for a in ours] == [b.n_tokens for b in theirs]
    for i in range(0, len(reqs), 2):  # two labels per query: the same prediction
        assert (ours[i].logprob > ours[i + 1].logprob) == (theirs[i].logprob > theirs[i + 1].logprob)


@pytest.mark.integration
def test_without_quantised_arithmetic_it_matches_the_hf_backend_closely(hf_and_requests, tmp_path):
    import llama_cpp

    _, reqs, theirs = hf_and_requests
    f16 = tmp_path / "smollm2-f16.gguf"
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype, params.allow_requantize = llama_cpp.LLAMA_FTYPE_MOSTLY_F16, True
    assert llama_cpp.llama_model_quantize(str(gguf_path(MODEL)).encode(), str(f16).encode(), params) == 0
    lm = LlamaCppLM.load(str(f16), n_threads=2)
    try:
        deltas = [abs(a.logprob - b.logprob) for a, b in zip(lm.loglikelihood(reqs), theirs)]
    finally:
        lm.close()
    assert max(deltas) <= F16_VS_HF_ATOL, deltas
