"""Chat templates: label scoring where the assistant's reply starts, checked against a plain recomputation."""

import copy

import pytest
import torch

from iclkit.data.tasks import load_task
from iclkit.errors import IclkitError
from iclkit.lm.chat import chat_renderer
from iclkit.lm.hf import HFLM
from iclkit.prompt.chat import ChatPromptBuilder, Layout
from iclkit.prompt.render import PromptBuilder
from iclkit.score.scorers import build_scorer
from iclkit.testing import tiny_hflm, tiny_llama, tiny_tokenizer
from iclkit.types import Example

TEMPLATE = ("{{ bos_token }}{% for m in messages %}<pad>{{ m['role'] }}\n{{ m['content'] }}<eos>\n{% endfor %}"
            "{% if add_generation_prompt %}<pad>assistant\n{% endif %}")


def chat_lm():
    tok = copy.deepcopy(tiny_tokenizer())
    tok.chat_template = TEMPLATE
    return HFLM(tiny_llama(), tok, name="tiny-chat")


def plain_label_logprob(lm, messages, label_word):
    tok = lm.tokenizer
    ids = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=False)
    label = tok(label_word, add_special_tokens=False)["input_ids"]
    logits = lm.model(input_ids=torch.tensor([ids + label])).logits[0]
    lp = torch.log_softmax(logits[len(ids) - 1 : -1], dim=-1)
    return lp.gather(1, torch.tensor(label)[:, None]).sum().item()


@pytest.mark.parametrize("multiturn", [False, True])
def test_chat_label_scores_equal_plain_recomputation(multiturn):
    lm = chat_lm()
    task = load_task("sst2")
    layout = Layout(instruction="Classify the sentiment.", render_chat=chat_renderer(lm), multiturn=multiturn)
    builder = ChatPromptBuilder(PromptBuilder(task.template, task.labels, task.verbalizer), layout)
    demos = [Example("d0", {"text": "a great movie"}, "positive"), Example("d1", {"text": "awful"}, "negative")]
    query = Example("q", {"text": "truly great fun"}, "positive")
    prompt = builder.build(query, demos)
    assert prompt.continuations == ("Negative", "Positive")  # no leading space: a fresh assistant turn
    scores = lm.loglikelihood(build_scorer("direct").requests(prompt, "q"))
    messages = layout.messages([("Sentence: a great movie\nLabel:", " Positive"),
                                ("Sentence: awful\nLabel:", " Negative")], "Sentence: truly great fun\nLabel:")
    assert messages[0] == {"role": "system", "content": "Classify the sentiment."}
    assert len(messages) == (6 if multiturn else 2)
    with torch.inference_mode():
        for word, result in zip(("Negative", "Positive"), scores):
            assert result.logprob == pytest.approx(plain_label_logprob(lm, messages, word), abs=1e-4)
    again = builder.with_prefix(prompt, query)  # the calibration path rebuilds the same contexts
    assert again.contexts == prompt.contexts


def test_bos_written_by_the_template_is_not_doubled():
    lm = chat_lm()
    render = chat_renderer(lm)
    text = render([{"role": "user", "content": "hi"}])
    ids = lm._encode(text)
    expected = lm.tokenizer.apply_chat_template([{"role": "user", "content": "hi"}], add_generation_prompt=True,
                                                tokenize=True, return_dict=False)
    assert ids == expected


def test_chat_template_on_a_model_without_one_is_a_clear_error():
    with pytest.raises(IclkitError, match="has no chat template"):
        chat_renderer(tiny_hflm("llama"))


def test_keep_space_only_when_the_context_tokens_are_a_prefix():
    lm = tiny_hflm("llama")
    merged = lm.encode_pair("Label: ", "Positive", True)  # " Positive" is one token: the usual rule applies
    assert merged == lm.encode_pair("Label: ", "Positive", False)
    _, n_ctx = lm.encode_pair("Label:\n", "Positive", True)  # "\n" stays in the context
    assert n_ctx == len(lm._encode("Label:\n")) == lm.encode_pair("Label:\n", "Positive", False)[1] + 1


def test_generation_run_in_the_chat_template(tmp_path):
    from iclkit.config import RunConfig
    from iclkit.pipeline import run

    config = RunConfig(task="arithmetic", format="direct", shots=1, limit=2, model="tiny", chat_template=True,
                       multiturn=True, generation={"max_new_tokens": 3}, out=str(tmp_path / "r"))
    result = run(config, lm=chat_lm(), log=lambda s: None)
    prompt = result.records[0].samples[0]["calls"][0]["prompt"]
    assert prompt.startswith("<bos><pad>user\nQ: ") and prompt.endswith("<pad>assistant\nThe answer (arabic numerals) is")
    assert prompt.count("<pad>assistant\n") == 2  # the demonstration's answer turn and the query's
