"""FT changes only key/value projections and equals a manual SGD step; the dual form holds on tiny models."""

import numpy as np
import pytest
import torch

from iclkit.analyze.dual_form import check_layers, dual_form, relative_error, softmax_gap
from iclkit.analyze.finetune import finetune_kv, kv_parameters, kv_state, restore_kv
from iclkit.testing import tiny_gemma3, tiny_llama


@pytest.mark.parametrize("build", [tiny_llama, tiny_gemma3])
def test_one_step_changes_only_kv_and_equals_manual_sgd(build):
    model = build()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    ids = [3, 7, 11, 13, 17, 19]
    x = torch.tensor([ids])
    logits = model(input_ids=x).logits[0, :-1]
    loss = torch.nn.functional.cross_entropy(logits, x[0, 1:])  # mean NLL over every target token
    kv = kv_parameters(model)
    grads = torch.autograd.grad(loss, list(kv.values()))
    lr = 0.05
    losses = finetune_kv(model, [ids], lr)
    assert losses[0] == pytest.approx(float(loss.detach()), rel=1e-5)
    for name, p in model.named_parameters():
        if name in kv:
            expected = before[name] - lr * grads[list(kv).index(name)]
            torch.testing.assert_close(p.detach(), expected, atol=1e-6, rtol=1e-5)
            assert not torch.equal(p.detach(), before[name])
        else:
            assert torch.equal(p.detach(), before[name]), name
        assert p.requires_grad  # flags restored
    assert all(("k_proj" in n or "v_proj" in n) for n in kv) and len(kv) == 2 * model.config.num_hidden_layers


def test_steps_follow_the_given_order_and_restore():
    model = tiny_llama()
    state = kv_state(model)
    seen = []
    finetune_kv(model, [[1, 2, 3], [4, 5, 6, 7]], 0.1, before_step=seen.append)
    assert seen == [0, 1]
    restore_kv(model, state)
    for name, p in kv_parameters(model).items():
        assert torch.equal(p.detach(), state[name])


def test_dual_form_identity_on_random_matrices():
    rng = np.random.default_rng(0)
    keys, values, q = rng.standard_normal((12, 8)), rng.standard_normal((12, 8)), rng.standard_normal(8)
    direct, dual = dual_form(q, keys, values, slice(0, 7), slice(7, 12))
    assert relative_error(direct, dual) < 1e-12
    gap = softmax_gap(q, keys, values, 8 ** -0.5)
    assert -1 <= gap["cosine"] <= 1 and gap["rel_error"] > 0


@pytest.mark.parametrize("build", [tiny_llama, lambda: tiny_gemma3(sliding_window=8)])
def test_dual_form_on_tiny_model_layers(build):
    model = build()
    report = check_layers(model, list(range(3, 23)), n_context=12)
    assert len(report) == model.config.num_hidden_layers
    assert all(layer["identity_rel_error"] < 1e-5 for layer in report)
    assert all(-1 <= layer["softmax_cosine"] <= 1 for layer in report)
