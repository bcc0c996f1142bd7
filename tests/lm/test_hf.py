import os
import random

import pytest
import torch

from iclkit.lm.base import GenRequest
from iclkit.testing import assert_lm_contract, tiny_hflm
from iclkit.types import LLRequest

DEMOS = "Sentence: the plot is good\nLabel: Positive\n\nSentence: the acting is bad\nLabel: Negative\n\n"


def _requests(n_queries=4, labels=(" Positive", " Negative", " Neutral truly")):
    reqs = []
    for q in range(n_queries):
        ctx = DEMOS * 2 + f"Sentence: query {q} is {'good' if q % 2 else 'awful and boring'}\nLabel:"
        reqs += [LLRequest(ctx, lab, group=q) for lab in labels]
    return reqs


@pytest.mark.parametrize("kind", ["llama", "gemma3"])
def test_fast_path_matches_naive_recomputation(kind):
    lm = tiny_hflm(kind, batch_size=2)
    reqs = _requests()
    fast, naive = lm.loglikelihood(reqs), lm.naive_loglikelihood(reqs)
    assert max(abs(a.logprob - b.logprob) for a, b in zip(fast, naive)) <= 1e-4
    assert [a.n_tokens for a in fast] == [b.n_tokens for b in naive]
    assert [a.is_greedy for a in fast] == [b.is_greedy for b in naive]


@pytest.mark.parametrize("kind", ["llama", "gemma3"])
def test_run_prefix_reuse_runs_fewer_tokens_and_keeps_scores(kind):
    reqs = _requests(n_queries=6)
    with_reuse, without = tiny_hflm(kind), tiny_hflm(kind, reuse_prefix=False)
    # one call per query: the demonstrations' cache must carry over from call to call
    a = [r for i in range(0, len(reqs), 3) for r in with_reuse.loglikelihood(reqs[i : i + 3])]
    b = [r for i in range(0, len(reqs), 3) for r in without.loglikelihood(reqs[i : i + 3])]
    assert max(abs(x.logprob - y.logprob) for x, y in zip(a, b)) <= 1e-4
    if kind == "llama":  # the tiny Gemma's 8-token window is full, so its cache cannot be cropped and reused
        assert with_reuse.tokens_run < 0.5 * without.tokens_run


def test_groups_in_any_order_give_the_same_scores():
    lm = tiny_hflm("llama")
    reqs = _requests()
    shuffled = reqs[:]
    random.Random(0).shuffle(shuffled)
    by_req = dict(zip(shuffled, lm.loglikelihood(shuffled)))
    for r, res in zip(reqs, lm.loglikelihood(reqs)):
        assert abs(by_req[r].logprob - res.logprob) <= 1e-4


def test_contract_and_trailing_space_rule():
    assert_lm_contract(tiny_hflm("llama"))


def test_only_scored_positions_reach_the_lm_head():
    lm = tiny_hflm("llama", verify=False)
    rows = []
    lm.model.lm_head.register_forward_hook(lambda m, i, o: rows.append(o.shape[-2]))
    ctx = DEMOS + "Sentence: fine\nLabel:"
    (pos, n_ctx), (neg, _) = lm.encode_pair(ctx, " Positive"), lm.encode_pair(ctx, " Negative")
    n_pos, n_neg = len(pos) - n_ctx, len(neg) - n_ctx
    assert pos[n_ctx] != neg[n_ctx] and n_ctx > 20
    lm.loglikelihood([LLRequest(ctx, " Positive", group=0), LLRequest(ctx, " Negative", group=0)])
    # one forward call; logits at the context's last token (shared by both labels) and inside each label only
    assert rows == [1 + (n_pos - 1) + (n_neg - 1)]


@pytest.mark.parametrize("kind", ["llama", "gemma3"])
def test_ppl_style_requests_run_each_shared_token_once(kind):
    # PPL scoring: context = demonstrations, continuation = query + label; candidates share the query tokens
    from iclkit.lm.tree import Seq, minimum_tokens

    lm = tiny_hflm(kind, verify=False)
    # queries differ from their first token on: no group shares tokens with another beyond the demonstrations
    reqs = [LLRequest(DEMOS, f"{w} is what the film is\nLabel:{lab}", group=w)
            for w in ("good", "bad", "fine", "awful") for lab in (" Positive", " Negative truly")]
    fast = lm.loglikelihood(reqs)
    run = lm.tokens_run
    naive = lm.naive_loglikelihood(reqs)
    assert max(abs(a.logprob - b.logprob) for a, b in zip(fast, naive)) <= 1e-4
    seqs = [Seq(i, tuple(t), n) for i, (t, n) in enumerate(lm.encode_pair(r.context, r.continuation) for r in reqs)]
    # Tokens common to every request but at or after the first scored position (here the demonstrations' trailing
    # "\n\n", moved onto the continuation, and the last context token) cannot come from the logit-free prefix
    # cache: each of the 4 groups runs them once. Everything else runs exactly once.
    common = len(os.path.commonprefix([s.tokens for s in seqs])) - (min(s.n_ctx for s in seqs) - 1)
    assert common == 3
    assert run == minimum_tokens(seqs) + 3 * common
    assert run < 0.4 * sum(len(s.tokens) for s in seqs)


class _IgnoresPositions(torch.nn.Module):
    """A causal LM that drops position ids and masks (as some architectures would): tree attention is wrong."""

    def __init__(self, model):
        super().__init__()
        self.inner, self.config, self.dtype = model, model.config, model.dtype
        self.base_model_prefix = "inner"

    def forward(self, input_ids, attention_mask=None, position_ids=None, logits_to_keep=0, **kwargs):
        kwargs.pop("past_key_values", None)
        return self.inner(input_ids=input_ids, logits_to_keep=logits_to_keep, use_cache=False)


def test_a_model_that_breaks_tree_attention_falls_back_to_exact_scores():
    from iclkit.lm.hf import HFLM
    from iclkit.testing import tiny_llama, tiny_tokenizer

    model = tiny_llama()
    lm = HFLM(_IgnoresPositions(model), tiny_tokenizer())
    reqs = _requests(n_queries=2)
    with pytest.warns(UserWarning, match="falling back"):
        fast = lm.loglikelihood(reqs)
    reference = HFLM(model, tiny_tokenizer()).naive_loglikelihood(reqs)
    assert max(abs(a.logprob - b.logprob) for a, b in zip(fast, reference)) <= 1e-5


def test_empty_context_is_conditioned_on_bos():
    lm = tiny_hflm("llama")
    tokens, n_ctx = lm.encode_pair("", " Positive")
    assert n_ctx == 1 and tokens[0] == lm.tokenizer.bos_token_id


def test_overlong_sequence_is_an_error_not_a_truncation():
    from iclkit.errors import IclkitError

    lm = tiny_hflm("llama", max_length=16)
    with pytest.raises(IclkitError, match="exceeds the model's maximum"):
        lm.loglikelihood([LLRequest(DEMOS * 3, " Positive")])


def test_generate_stops_at_stop_string():
    lm = tiny_hflm("llama")
    (text,) = lm.generate([GenRequest("Sentence:", ("e",), 8)])
    assert "e" not in text


@pytest.mark.parametrize("shots", [0, 2])
def test_batched_queries_match_naive(shots):
    # zero-shot (short rows, no prefix) and a fixed demonstration set (one shared prefix for the whole batch)
    lm = tiny_hflm("gemma3", batch_size=3)
    reqs = [LLRequest(DEMOS * shots + f"Sentence: q{q} fine\nLabel:", lab, group=q)
            for q in range(5) for lab in (" Positive", " Negative")]
    before = lm.tokens_run
    fast = lm.loglikelihood(reqs)
    run = lm.tokens_run - before
    assert max(abs(a.logprob - b.logprob) for a, b in zip(fast, lm.naive_loglikelihood(reqs))) <= 1e-4
    if shots:  # the demonstrations ran once, not once per query
        assert run < 0.5 * sum(lm.count_tokens(r.context) for r in reqs)


@pytest.mark.parametrize("kind", ["llama", "gemma3"])
def test_per_query_prefixes_batched_match_naive(kind):
    # different demonstrations per query (as TopK): prefixes differ from the first tokens and in length
    lm = tiny_hflm(kind, batch_size=4)
    words = ["great fun", "awful and boring", "the plot is good", "bad acting", "truly great"]
    reqs = []
    for q in range(6):
        demos = "".join(f"Sentence: {words[(q + j) % 5]}\nLabel: Positive\n\n" for j in range(1 + q % 3))
        ctx = f"{q} " + demos + f"Sentence: query {q}\nLabel:"
        reqs += [LLRequest(ctx, lab, group=q) for lab in (" Positive", " Negative truly")]
        reqs.append(LLRequest(ctx.replace(f"query {q}", "N/A"), " Positive", group=q))  # a calibration row
    fast = lm.loglikelihood(reqs)
    naive = lm.naive_loglikelihood(reqs)
    assert max(abs(a.logprob - b.logprob) for a, b in zip(fast, naive)) <= 1e-4
    assert [a.n_tokens for a in fast] == [b.n_tokens for b in naive]


def test_prefix_boundary_is_found_in_tokens_not_text():
    # Both contexts contain the text "...Sentence: the ac", but BPE merges its last characters with what follows
    # ("the acting" vs "the act"), so its tokens alone are NOT a prefix of either sequence. The shared prefix is
    # therefore taken from the jointly tokenised sequences (the rule in iclkit.lm.base), never from text.
    from iclkit.lm.tree import Seq, shared_prefix

    lm = tiny_hflm("llama", verify=False)
    reqs = [LLRequest(DEMOS + "Sentence: the acting is fine\nLabel:", " Positive", group=0),
            LLRequest(DEMOS + "Sentence: the act is fine\nLabel:", " Positive", group=1)]
    seqs = [Seq(i, tuple(t), n) for i, (t, n) in enumerate(lm.encode_pair(r.context, r.continuation) for r in reqs)]
    text_prefix = tuple(lm.tokenizer(DEMOS + "Sentence: t")["input_ids"])
    assert all(s.tokens[: len(text_prefix)] != text_prefix for s in seqs)  # the merge really happens
    shared = shared_prefix(seqs)
    assert all(s.tokens[: len(shared)] == shared for s in seqs) and seqs[0].tokens[len(shared)] != seqs[1].tokens[
        len(shared)]
    fast, naive = lm.loglikelihood(reqs), lm.naive_loglikelihood(reqs)
    assert max(abs(a.logprob - b.logprob) for a, b in zip(fast, naive)) <= 1e-4


# ----------------------------------------------------------------------------------------------- loading errors
@pytest.fixture
def saved_tiny_model(tmp_path):
    from iclkit.testing import tiny_llama, tiny_tokenizer

    folder = tmp_path / "tiny"
    tiny_llama().save_pretrained(folder)
    tiny_tokenizer().save_pretrained(folder)
    return folder


def test_truncated_weights_are_a_backend_error(saved_tiny_model):
    from iclkit.errors import BackendError
    from iclkit.lm.hf import HFLM

    weights = saved_tiny_model / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])  # an interrupted copy
    with pytest.raises(BackendError, match="cannot read the weights .*truncated or corrupt") as info:
        HFLM.load(str(saved_tiny_model), device="cpu")
    assert info.value.exit_code == 3


def test_missing_weights_or_path_stay_user_errors(saved_tiny_model, tmp_path):
    from iclkit.errors import BackendError, IclkitError
    from iclkit.lm.hf import HFLM

    (saved_tiny_model / "model.safetensors").unlink()
    for path in (saved_tiny_model, tmp_path / "nowhere"):
        with pytest.raises(IclkitError) as info:
            HFLM.load(str(path), device="cpu")
        assert not isinstance(info.value, BackendError) and info.value.exit_code == 2


# ----------------------------------------------------------------------------------------------- PMI and the cache
def _pmi_chunk(queries) -> list[LLRequest]:
    from iclkit.score.scorers import PPLScorer
    from iclkit.types import Prompt

    scorer, reqs = PPLScorer(normalization="pmi"), []
    for q in queries:
        ctx = DEMOS * 2 + f"Sentence: query {q} is {'good' if q % 2 else 'awful'}\nLabel:"
        prompt = Prompt(labels=("pos", "neg"), contexts=(ctx, ctx), continuations=(" Positive", " Negative truly"),
                        demo_ids=("a", "b"), n_demos_requested=2, prefix=DEMOS * 2)
        reqs += scorer.requests(prompt, q)
    return reqs


@pytest.mark.parametrize("kind", ["llama", "gemma3"])
def test_pmi_requests_keep_the_demonstrations_cache(kind):
    # PMI adds log P(answer | "") requests: with them in the call no token is common to all requests. The
    # demonstrations must still run once per run, not once per query.
    from iclkit.lm.tree import Seq, minimum_tokens

    chunks = [_pmi_chunk(range(4)), _pmi_chunk(range(4, 8))]
    with_pmi, without_pmi = tiny_hflm(kind, verify=False), tiny_hflm(kind, verify=False)
    for chunk in chunks:
        fast = with_pmi.loglikelihood(chunk)
        assert max(abs(a.logprob - b.logprob) for a, b in zip(fast, with_pmi.naive_loglikelihood(chunk))) <= 1e-4
        without_pmi.loglikelihood([r for r in chunk if r.context])
    pmi = [r for r in chunks[0] if not r.context]
    pmi_trie = minimum_tokens([Seq(i, tuple(t), n) for i, (t, n) in
                               enumerate(with_pmi.encode_pair(r.context, r.continuation) for r in pmi)])
    naive_tokens = sum(len(with_pmi.encode_pair(r.context, r.continuation)[0]) for c in chunks for r in c)
    # the domain-conditional requests add only their own small trie per call
    assert with_pmi.tokens_run - naive_tokens == without_pmi.tokens_run + len(chunks) * pmi_trie


# ----------------------------------------------------------------------------------------------- the self-check
def test_self_check_fits_a_request_that_fills_the_context():
    lm = tiny_hflm("llama", max_length=64)
    label = " Neutral truly"
    n_words = 1
    while lm.count_tokens("Sentence:" + " good" * (n_words + 1) + label) <= 64:
        n_words += 1  # the longest request that still fits: the prompt builder's budget at its limit
    req = LLRequest("Sentence:" + " good" * n_words, label)
    tokens, n_ctx = lm.encode_pair(req.context, req.continuation)
    assert len(tokens) >= 63 and len(tokens) - n_ctx >= 2  # the old probe (continuation twice) did not fit
    (fast,) = lm.loglikelihood([req])
    (naive,) = lm.naive_loglikelihood([req])
    assert not lm._fallback_naive and abs(fast.logprob - naive.logprob) <= 1e-4


def test_self_check_tolerance_scales_with_the_dtype():
    from iclkit.lm.hf import verify_tolerance

    assert verify_tolerance(torch.float32) == 1e-3
    assert verify_tolerance(torch.float16) == pytest.approx(16 * 2**-10)
    assert verify_tolerance(torch.bfloat16) == pytest.approx(16 * 2**-7)


def test_self_check_in_bf16_keeps_the_fast_path_and_still_catches_a_broken_model():
    # bf16's rounding makes fast and naive differ by ~2e-3 here: a fixed 1e-3 bound sent every bf16 run to the
    # slow path. A model that ignores the tree mask and position ids is off by ~0.25 and must still be caught.
    import warnings

    from iclkit.lm.hf import HFLM
    from iclkit.testing import tiny_gemma3, tiny_tokenizer

    model = tiny_gemma3().to(torch.bfloat16)
    request = [_requests(n_queries=2)[5]]  # one whose probe rounds differently by more than 1e-3 in bf16
    lm = HFLM(model, tiny_tokenizer())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lm.loglikelihood(request)
    assert not lm._fallback_naive
    broken = HFLM(_IgnoresPositions(model), tiny_tokenizer())
    with pytest.warns(UserWarning, match="falling back"):
        broken.loglikelihood(request)
