"""Hooks record the right tensors at the right positions: checked against a slow reference recomputed from the
weights and the eager attention probabilities, on tiny random Llama (GQA) and Gemma-3 (GQA, sliding window)."""

import numpy as np
import pytest
import torch

from iclkit.analyze.hooks import attention_layers, expand_kv
from iclkit.analyze.passes import Row, run_prefix, run_rows
from iclkit.errors import IclkitError
from iclkit.lm.kv_cache import fork_cache
from iclkit.testing import tiny_gemma3, tiny_llama

MODELS = {"llama": tiny_llama, "gemma3": lambda: tiny_gemma3(sliding_window=8)}


def eager(build):
    model = build()
    model.config._attn_implementation = "eager"
    return model


def reference(model, tokens, position):
    """Per layer: attention probabilities of row ``position`` (eager), the attention output at ``position``
    recomputed as o_proj(P @ V) from the layer's input, and the scaled pre-RoPE query."""
    ids = torch.tensor([tokens])
    with torch.no_grad():
        out = model(input_ids=ids, output_attentions=True, output_hidden_states=True)
        refs = []
        for layer, block in enumerate(model.model.layers):
            attn = block.self_attn
            x = block.input_layernorm(out.hidden_states[layer])
            v = attn.v_proj(x).view(1, len(tokens), -1, attn.head_dim).transpose(1, 2)
            probs = out.attentions[layer][0, :, position]  # (H, T)
            heads = torch.einsum("ht,htd->hd", probs, expand_kv(v, probs.shape[0])[0])
            q = attn.q_proj(x)[0, position].view(-1, attn.head_dim)
            if hasattr(attn, "q_norm"):
                q = attn.q_norm(q)
            refs.append((probs.numpy(), attn.o_proj(heads.reshape(-1)).numpy(), (q * attn.scaling).reshape(-1).numpy()))
    return refs


def assert_scores_match_probs(scores, probs, keys):
    """Pre-softmax scores s over ``keys`` agree with probabilities p when log p - s is constant over them."""
    diff = np.log(probs[:, keys]) - scores
    np.testing.assert_allclose(diff - diff.mean(-1, keepdims=True), 0, atol=1e-4)


@pytest.mark.parametrize("kind", MODELS)
def test_records_match_slow_reference(kind):
    model = eager(MODELS[kind])
    tokens = list(range(5, 25))
    position, key_start = 17, 12
    got = run_rows(model, [Row(tuple(tokens), 18, position, key_start)], batch_size=1)
    refs = reference(model, tokens, position)
    for layer, (probs, out, q) in enumerate(refs):
        np.testing.assert_allclose(got.out[0][layer], out, atol=1e-5)
        np.testing.assert_allclose(got.q[0][layer], q, atol=1e-5)
        assert got.scores[0][layer].shape == (probs.shape[0], position - key_start + 1)
        assert_scores_match_probs(got.scores[0][layer], probs, slice(key_start, position + 1))


@pytest.mark.parametrize("kind", MODELS)
def test_cached_prefix_batch_equals_full_recomputation(kind):
    """ICL path: prefix cache + right-padded batch + context scores = one full forward per row; the sliding-window
    layer's context scores are NaN exactly where the window masks the key."""
    model = eager(MODELS[kind])
    prefix = list(range(30, 42))
    rows = [Row(tuple(prefix + list(range(5, 5 + n))), len(prefix) + n - 1, len(prefix) + n - 1, len(prefix))
            for n in (4, 7)]
    cached = run_rows(model, rows, prefix=run_prefix(model, prefix, fork_cache), batch_size=2)
    for b, row in enumerate(rows):
        full = run_rows(model, [row], batch_size=1)
        np.testing.assert_allclose(cached.out[b], full.out[0], atol=1e-5)
        np.testing.assert_allclose(cached.scores[b], full.scores[0], atol=1e-4)
        assert cached.logprob[b] == pytest.approx(full.logprob[0], abs=1e-4)
        refs = reference(model, list(row.tokens), row.position)
        for info, (probs, _, _) in zip(attention_layers(model), refs):
            ctx = cached.ctx[b][info.index]
            visible = ~np.isnan(ctx)
            if info.window is None:
                assert visible.all()
            else:
                assert visible.sum() == max(0, info.window - (row.position - len(prefix) + 1))
            # per head, log p - s is one constant c_h (fixed by the score at p* itself); ctx sums s over heads
            scores = cached.scores[b][info.index]
            c = np.log(probs[:, row.position]) - scores[:, -1]
            expected = (np.log(probs[:, : len(prefix)][:, visible]) - c[:, None]).sum(0)
            np.testing.assert_allclose(ctx[visible], expected, atol=1e-3)

def test_scores_equal_eager_logits_of_the_label_alternatives():
    """Single-token alternatives read at the last context position = a plain forward's log-softmax there."""
    model = tiny_llama()
    tokens = tuple(range(5, 15))
    got = run_rows(model, [Row(tokens, 9, 9, 0, alternatives=(3, 4))], record=False)
    with torch.no_grad():
        lp = torch.log_softmax(model(input_ids=torch.tensor([tokens])).logits[0, 8], -1)
    assert got.alternatives[0] == pytest.approx([float(lp[3]), float(lp[4])], abs=1e-5)
    assert got.logprob[0] == pytest.approx(float(lp[tokens[9]]), abs=1e-5)
    assert got.out == []


def test_unhookable_model_names_its_class():
    class Odd(torch.nn.Module):
        base_model_prefix = "model"

    with pytest.raises(IclkitError, match="Odd"):
        attention_layers(Odd())


@pytest.mark.parametrize("kind", MODELS)
def test_batched_rows_of_mixed_lengths_keep_their_order(kind):
    """Rows are batched by length internally (and logits kept only where some row reads them): every output must
    still belong to its own row, for single-token alternatives and multi-token continuations alike."""
    model = MODELS[kind]()
    rows = [Row(tuple(range(5, 5 + n)), n - c, n - c, 2, alternatives=(3, 4) if c == 1 else (), record=n != 9)
            for n, c in ((14, 1), (6, 3), (11, 1), (9, 2), (7, 1))]
    batched = run_rows(model, rows, batch_size=2)
    recorded = 0
    for i, row in enumerate(rows):
        alone = run_rows(model, [row], batch_size=1)
        assert batched.logprob[i] == pytest.approx(alone.logprob[0], abs=1e-4)
        assert batched.n_tokens[i] == alone.n_tokens[0]
        assert batched.alternatives[i] == pytest.approx(alone.alternatives[0], abs=1e-4)
        if row.record:
            np.testing.assert_allclose(batched.out[recorded], alone.out[0], atol=1e-4)
            np.testing.assert_allclose(batched.scores[recorded], alone.scores[0], atol=1e-4)
            recorded += 1
    assert len(batched.out) == recorded == 4
