"""The loss mask covers exactly the target tokens, and the loss is the per-example mean over them."""

from __future__ import annotations

import pytest
import torch

from iclkit.data.tasks import load_task
from iclkit.errors import IclkitError
from iclkit.testing import tiny_gemma3, tiny_llama, tiny_tokenizer
from iclkit.train.examples import TrainExample, encode_example, encode_examples
from iclkit.train.loss import collate, per_example_loss
from iclkit.train.warmup import TaskData, build_metaicl
from iclkit.types import Example


def test_target_span_is_exactly_the_output_tokens():
    tok = tiny_tokenizer()
    ex = TrainExample("Sentence: the plot is good\nLabel:", " Positive")
    enc = encode_example(tok, ex, 128)
    whole = tok(ex.context + ex.target)["input_ids"]
    assert list(enc.input_ids) == whole
    assert tok.decode(list(enc.input_ids[-enc.n_target:])) == " Positive"
    assert tok.decode(list(enc.input_ids[:-enc.n_target])) == ex.context


def test_trailing_space_of_the_context_moves_to_the_target():
    tok = tiny_tokenizer()
    enc = encode_example(tok, TrainExample("Label: ", "Positive"), 64)
    assert tok.decode(list(enc.input_ids[-enc.n_target:])) == " Positive"


def test_collate_marks_the_positions_that_predict_targets():
    tok = tiny_tokenizer()
    examples = [TrainExample("Sentence: the acting is bad\nLabel:", " Negative"), TrainExample("it was", " great fun")]
    encoded = encode_examples(tok, examples, 64)
    batch = collate(encoded, pad_id=tok.pad_token_id)
    for b, enc in enumerate(encoded):
        n, k = len(enc.input_ids), enc.n_target
        expected = torch.zeros(batch["input_ids"].shape[1], dtype=torch.bool)
        expected[n - k - 1:n - 1] = True
        assert torch.equal(batch["predicts_target"][b], expected)
        assert batch["targets"][batch["rows"] == b].tolist() == list(enc.input_ids[-k:])
    assert batch["attention_mask"].sum().item() == sum(len(e.input_ids) for e in encoded)


@pytest.mark.parametrize("make", [tiny_llama, tiny_gemma3], ids=["llama", "gemma3"])
def test_loss_equals_manual_cross_entropy_on_target_tokens_only(make):
    tok, model = tiny_tokenizer(), make()
    examples = [TrainExample("Sentence: the plot is good\nLabel:", " Positive"),
                TrainExample("a terrible film , awful and boring . it was", " negative .")]
    encoded = encode_examples(tok, examples, 64)
    got = per_example_loss(model, collate(encoded, tok.pad_token_id))
    for b, enc in enumerate(encoded):
        nll = _manual_target_nll(model, enc)
        assert got[b].item() == pytest.approx(nll.mean().item(), abs=1e-5)


def test_left_truncation_keeps_the_target_and_drops_the_earliest_context():
    tok = tiny_tokenizer()
    ex = TrainExample("first demo . " * 20 + "Sentence: the plot is good\nLabel:", " Positive")
    full = encode_example(tok, ex, 1000)
    cut = encode_example(tok, ex, 16)
    assert len(cut.input_ids) == 16 and cut.n_target == full.n_target
    assert cut.input_ids == full.input_ids[-16:]


def test_target_longer_than_max_length_is_a_user_error():
    with pytest.raises(IclkitError, match="more than --max-length 8; raise --max-length"):
        encode_example(tiny_tokenizer(), TrainExample("a", " great fun . " * 10), 8)


def _manual_target_nll(model, enc) -> torch.Tensor:
    ids = torch.tensor([enc.input_ids])
    logp = torch.log_softmax(model(ids).logits[0, :-1].float(), -1)
    return -logp[torch.arange(len(enc.input_ids) - 1), ids[0, 1:]][-enc.n_target:]


def test_channel_metaicl_puts_the_loss_on_the_query_input_not_its_label():
    """Channel MetaICL (SPEC-icl-methods §E1): the model learns P(input | label), so the scored tokens are the
    query's input and the label word is context; the direct variant of the same query scores the label."""
    tok, model = tiny_tokenizer(), tiny_llama()
    pool = tuple(Example(str(i), {"text": f"the acting is good {i}"}, "positive" if i % 2 else "negative")
                 for i in range(12))
    data = [TaskData(load_task("sst2"), pool)]
    channel = build_metaicl(data, shots=2, per_task=4, seed=0, channel=True)
    direct = build_metaicl(data, shots=2, per_task=4, seed=0)
    encoded = encode_examples(tok, channel, 128)
    batch = collate(encoded, tok.pad_token_id)
    losses = per_example_loss(model, batch)
    for b, (ex, dex, enc) in enumerate(zip(channel, direct, encoded)):
        scored = tok.decode(batch["targets"][batch["rows"] == b].tolist())
        query = dex.context.split("\n\n\n")[-1]
        label = dex.target.strip()
        assert scored == "\n" + query  # every input token, and nothing else
        unscored = tok.decode(list(enc.input_ids[:-enc.n_target]))
        assert unscored.endswith("\n\n\n" + label) and label not in scored
        assert losses[b].item() == pytest.approx(_manual_target_nll(model, enc).mean().item(), abs=1e-5)


def test_restricted_loss_is_cross_entropy_over_the_choices_first_tokens_only():
    """In-context tuning's loss (Chen et al.): softmax over the verbalizer tokens at the label position, not over
    the vocabulary; the other target tokens are not scored."""
    tok, model = tiny_tokenizer(), tiny_llama()
    choices = (" Positive", " Negative")
    examples = [TrainExample("Sentence: the plot is good\nLabel:", " Positive", "sst2", choices),
                TrainExample("Sentence: the acting is bad\nLabel:", " Negative", "sst2", choices)]
    encoded = encode_examples(tok, examples, 64)
    got = per_example_loss(model, collate(encoded, tok.pad_token_id))
    for b, (ex, enc) in enumerate(zip(examples, encoded)):
        firsts = [tok(ex.context + c)["input_ids"][len(tok(ex.context)["input_ids"])] for c in choices]
        assert enc.choice_ids == tuple(firsts) and enc.n_target == 1
        ids = torch.tensor([enc.input_ids])
        last = model(ids).logits[0, -2].float()  # the position that predicts the label's first token
        expected = -torch.log_softmax(last[firsts], -1)[choices.index(ex.target)]
        full_vocab = -torch.log_softmax(last, -1)[firsts[choices.index(ex.target)]]
        assert got[b].item() == pytest.approx(expected.item(), abs=1e-5)
        assert got[b].item() < full_vocab.item() - 1e-3  # restricting the softmax changes the loss


def test_restricted_loss_refuses_choices_that_share_a_first_token():
    tok = tiny_tokenizer()
    ex = TrainExample("it was", " great fun", "x", (" great fun", " great film"))
    with pytest.raises(IclkitError, match="first tokens"):
        encode_example(tok, ex, 64)
    with pytest.raises(IclkitError, match="not one of its choices"):
        encode_example(tok, TrainExample("it was", " bad", "x", (" good", " fine")), 64)
