"""Batched generation on the HF back-end: identical greedy tokens to one-at-a-time ``model.generate``, the shared
prefix encoded once, per-request seeded sampling, and clear errors."""

import pytest

import iclkit.lm.generate
from iclkit.errors import IclkitError
from iclkit.lm.base import GenRequest
from iclkit.lm.generate import generate_one_by_one
from iclkit.testing import tiny_hflm

PREFIX = ("Sentence: the plot is good\nLabel: Positive\n\nSentence: the acting is bad\nLabel: Negative\n\n"
          "Review: wonderful and moving . Sentiment: Positive\n\n")
QUERIES = ["Sentence: a great movie\nLabel:", "Sentence: awful\nLabel:", "Question: who is it ? Answer:",
           "it was", "news world sports business technology"]


@pytest.mark.parametrize("kind", ["llama", "gemma"])
def test_batched_greedy_equals_one_at_a_time(kind):
    lm = tiny_hflm(kind)
    requests = [GenRequest(PREFIX + q, stop=(), max_new_tokens=10) for q in QUERIES]
    requests += [GenRequest(q, stop=("e",), max_new_tokens=6) for q in QUERIES]  # no shared prefix, stop strings
    assert lm.generate(requests) == generate_one_by_one(lm, requests)


def batch_sizes(monkeypatch) -> list[int]:
    """Rows per decoded batch, recorded as generation runs."""
    sizes: list[int] = []
    decode = iclkit.lm.generate._decode

    def spy(lm, rows, prefix_cache, n_shared):
        sizes.append(len(rows))
        return decode(lm, rows, prefix_cache, n_shared)

    monkeypatch.setattr(iclkit.lm.generate, "_decode", spy)
    return sizes


@pytest.mark.parametrize("prefix", [PREFIX, ""], ids=["shared-prefix", "no-prefix"])
def test_gemma_rows_of_different_lengths_outgrowing_the_window_batch_together_exactly(prefix, monkeypatch):
    lm = tiny_hflm("gemma")  # window 8: every prompt outgrows it, by a different number of tokens
    requests = [GenRequest(prefix + q * 3, stop=(), max_new_tokens=12) for q in QUERIES]
    lengths = {len(lm._encode(r.context)) for r in requests}
    assert len(lengths) == len(requests) and min(lengths) > lm.model.config.sliding_window
    sizes = batch_sizes(monkeypatch)
    assert lm.generate(requests) == generate_one_by_one(lm, requests)
    assert sizes == [len(requests)]  # one batch across lengths (the old path split by length: 5 batches of 1)


def test_shared_prefix_is_encoded_once_per_run():
    lm = tiny_hflm("llama")
    n_prefix = len(lm._encode(PREFIX))
    lm.generate([GenRequest(PREFIX + q, stop=(), max_new_tokens=4) for q in QUERIES[:2]])
    first = lm.tokens_run
    lm.generate([GenRequest(PREFIX + q, stop=(), max_new_tokens=4) for q in QUERIES[2:4]])
    second = lm.tokens_run - first
    assert first > n_prefix and second < n_prefix  # the second call reused the prefix cache


def test_seeded_sampling_does_not_depend_on_the_batch():
    lm = tiny_hflm("gemma")
    sample = GenRequest("it was", stop=(), max_new_tokens=8, temperature=1.0, seed=7)
    alone = lm.generate([sample])[0]
    batched = lm.generate([GenRequest("news", (), 8, temperature=1.0, seed=1), sample])[1]
    assert alone == batched
    others = {lm.generate([GenRequest("it was", (), 8, temperature=1.0, seed=s)])[0] for s in range(6)}
    assert len(others) > 1  # different seeds, different samples


def test_eos_and_stop_strings_end_generation():
    lm = tiny_hflm("llama")
    (text,) = lm.generate([GenRequest("Sentence:", ("e",), 8)])
    assert "e" not in text


def test_prompt_filling_the_context_is_a_clear_error():
    lm = tiny_hflm("llama", max_length=8)
    with pytest.raises(IclkitError, match="no room to generate"):
        lm.generate([GenRequest("Sentence: the plot is good and the acting is bad", (), 4)])


@pytest.mark.parametrize("bias", [False, True])
def test_transposed_head_computes_the_same_logits(bias):
    import torch

    from iclkit.lm.generate import _TransposedHead

    torch.manual_seed(0)
    head = torch.nn.Linear(16, 50, bias=bias)
    hidden = torch.randn(3, 2, 16)
    assert torch.allclose(_TransposedHead(head)(hidden), head(hidden), atol=1e-6)


def test_generation_puts_the_model_head_back():
    lm = tiny_hflm("gemma")
    head = lm.model.get_output_embeddings()
    lm.generate([GenRequest("it was", (), 3), GenRequest("news world", (), 3)])
    assert lm.model.get_output_embeddings() is head
