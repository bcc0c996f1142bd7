"""Momentum attention: exact against the recurrence and the direct sum, and inside tiny Llama/Gemma-3 models."""

from __future__ import annotations

import pytest
import torch

from iclkit.errors import IclkitError
from iclkit.testing import tiny_gemma3, tiny_llama
from iclkit.train.momentum import (
    add_momentum,
    attention_modules,
    chunked_momentum,
    momentum_matrix,
    momentum_term,
    reference_recurrence,
    remove_momentum,
)


def direct_sum(value: torch.Tensor, eta: float) -> torch.Tensor:
    """sum_{i<t} eta^(t-i) v_i written out literally."""
    out = torch.zeros_like(value)
    for t in range(value.shape[-2]):
        for i in range(t):
            out[..., t, :] += eta ** (t - i) * value[..., i, :]
    return out


@pytest.mark.parametrize("eta", [0.1, 0.5, 0.9, 0.99])
def test_matrix_form_equals_recurrence_and_direct_sum(eta):
    value = torch.randn(2, 3, 17, 8, dtype=torch.float64)
    matrix = momentum_matrix(17, 17, eta, dtype=torch.float64) @ value
    torch.testing.assert_close(matrix, reference_recurrence(value, eta), atol=1e-12, rtol=0)
    torch.testing.assert_close(matrix, direct_sum(value, eta), atol=1e-12, rtol=0)


@pytest.mark.parametrize("length", [1, 7, 8, 9, 50, 130])
@pytest.mark.parametrize("eta", [0.05, 0.9, 0.999])
def test_blocked_scan_equals_the_recurrence(length, eta):
    value = torch.randn(2, 3, length, 5, dtype=torch.float64)
    torch.testing.assert_close(chunked_momentum(value, eta, 8), reference_recurrence(value, eta), atol=1e-10, rtol=0)


def test_long_spans_take_the_blocked_path_and_agree_with_the_dense_one():
    value = torch.randn(1, 2, 400, 4, dtype=torch.float64)
    blocked = momentum_term(value, 300, 0.8, 4)  # 300 > BLOCKED_FROM: blocked scan
    dense = (momentum_matrix(300, 400, 0.8, dtype=torch.float64) @ value).transpose(1, 2).repeat_interleave(2, 2)
    torch.testing.assert_close(blocked, dense, atol=1e-10, rtol=0)


def test_query_rows_are_the_last_positions_of_the_cache():
    value = torch.randn(1, 2, 10, 4, dtype=torch.float64)
    full = momentum_term(value, 10, 0.7, 4)
    last3 = momentum_term(value, 3, 0.7, 4)
    torch.testing.assert_close(last3, full[:, -3:])


def test_long_sequences_do_not_overflow():
    m = momentum_matrix(4096, 4096, 0.5)
    assert torch.isfinite(m).all() and m[0].abs().sum() == 0 and m[5, 4] == 0.5


def test_gqa_expands_each_kv_head_to_its_query_group():
    value = torch.randn(1, 2, 6, 4)
    out = momentum_term(value, 6, 0.5, 4)  # [b, q, 4 heads, d]; heads 0,1 share kv head 0
    torch.testing.assert_close(out[:, :, 0], out[:, :, 1])
    torch.testing.assert_close(out[:, :, 2], reference_recurrence(value, 0.5)[:, 1])


def hooked_reference(model, input_ids: torch.Tensor, eta: float, scale: float = 1.0) -> torch.Tensor:
    """Logits of plain ``model`` with ``scale`` times the momentum added by hooks: values read at v_proj, added at
    o_proj's input."""
    handles = []
    for attn in attention_modules(model):
        store = {}
        head_dim, heads = attn.head_dim, attn.config.num_attention_heads

        def grab(mod, args, out, store=store, head_dim=head_dim):
            b, t, _ = out.shape
            store["v"] = out.view(b, t, -1, head_dim).transpose(1, 2)

        def add(mod, args, store=store, head_dim=head_dim, heads=heads):
            (x,) = args
            v = store["v"]
            m = reference_recurrence(v.double(), eta).float().repeat_interleave(heads // v.shape[1], dim=1)
            return (x + scale * m.transpose(1, 2).reshape(x.shape),)

        handles += [attn.v_proj.register_forward_hook(grab), attn.o_proj.register_forward_pre_hook(add)]
    try:
        return model(input_ids).logits
    finally:
        for h in handles:
            h.remove()


@pytest.mark.parametrize("make", [tiny_llama, lambda: tiny_gemma3(sliding_window=8)], ids=["llama", "gemma3"])
@pytest.mark.parametrize("impl", ["sdpa", "eager"])
@pytest.mark.parametrize("length", [20, 300], ids=["dense", "blocked"])
def test_plugin_equals_reference_in_a_model(make, impl, length):
    model = make()
    model.set_attn_implementation(impl)
    ids = torch.randint(3, model.config.vocab_size, (2, length))
    with torch.no_grad():
        plain = model(ids).logits
        expected = hooked_reference(model, ids, 0.8)
        add_momentum(model, 0.8)
        got = model(ids).logits
        assert not torch.allclose(got, plain, atol=1e-3)  # the plug-in changes the function
        torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)
        remove_momentum(model)
        torch.testing.assert_close(model(ids).logits, plain)
    assert model.config._attn_implementation == impl


@pytest.mark.parametrize("make", [tiny_llama, lambda: tiny_gemma3(sliding_window=64)], ids=["llama", "gemma3"])
def test_incremental_decoding_with_cache_matches_full_forward(make):
    model = add_momentum(make(), 0.6)
    ids = torch.randint(3, model.config.vocab_size, (1, 12))
    with torch.no_grad():
        full = model(ids).logits
        first = model(ids[:, :8], use_cache=True)
        cache = first.past_key_values
        steps = [first.logits[:, -1]]
        for t in range(8, 12):
            out = model(ids[:, t:t + 1], past_key_values=cache, use_cache=True)
            steps.append(out.logits[:, -1])
    torch.testing.assert_close(torch.stack(steps[1:], 1), full[:, 8:], atol=1e-4, rtol=1e-4)


def test_only_chosen_layers_and_gradients_flow():
    model = tiny_llama()
    ids = torch.randint(3, model.config.vocab_size, (1, 10))
    add_momentum(model, 0.5, layers=[1])
    assert [m.momentum_eta for m in attention_modules(model)] == [None, 0.5]
    model.train()
    model(ids, labels=ids).loss.backward()
    assert model.model.layers[0].self_attn.v_proj.weight.grad.abs().sum() > 0


def test_normalised_scale_multiplies_the_term():
    model = tiny_llama()
    ids = torch.randint(3, model.config.vocab_size, (2, 20))
    with torch.no_grad():
        expected = hooked_reference(model, ids, 0.9, scale=0.1)
        unscaled = add_momentum(model, 0.9)(ids).logits
        got = add_momentum(model, 0.9, scale=0.1)(ids).logits
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)
    assert not torch.allclose(got, unscaled, atol=1e-3)


def test_bad_eta_is_a_user_error():
    with pytest.raises(IclkitError, match="eta"):
        add_momentum(tiny_llama(), 1.5)
    with pytest.raises(IclkitError, match="scale"):
        add_momentum(tiny_llama(), 0.5, scale=0.0)


def test_scoring_through_hflm_with_momentum_matches_plain_recomputation():
    # Regression: HFLM packs the candidate continuations of a query into one trie row (siblings are kept apart by
    # the attention mask only). Momentum sums the values of every earlier *position* of the row, mask or not, so
    # with momentum each request needs a row of its own, or a label's score depends on its siblings.
    from iclkit.testing import tiny_hflm
    from iclkit.types import LLRequest

    lm = tiny_hflm("llama", verify=False)
    add_momentum(lm.model, 0.6)
    demos = "Sentence: the plot is good\nLabel: Positive\n\nSentence: the acting is bad\nLabel: Negative\n\n"
    reqs = [LLRequest(demos + f"Sentence: query {q} is fine\nLabel:", label, group=q)
            for q in range(3) for label in (" Positive", " Negative", " Neutral truly")]
    fast = lm.loglikelihood(reqs)
    one_row_each = lm.tokens_run
    naive = lm.naive_loglikelihood(reqs)
    assert max(abs(a.logprob - b.logprob) for a, b in zip(fast, naive)) <= 1e-4
    # plain attention again (a fresh HFLM: the kept prefix cache holds K/V computed with momentum): tries again,
    # which run each query's shared tokens once
    from iclkit.lm.hf import HFLM

    plain = HFLM(remove_momentum(lm.model), lm.tokenizer, verify=False)
    fast = plain.loglikelihood(reqs)
    assert plain.tokens_run < one_row_each
    naive = plain.naive_loglikelihood(reqs)
    assert max(abs(a.logprob - b.logprob) for a, b in zip(fast, naive)) <= 1e-4
