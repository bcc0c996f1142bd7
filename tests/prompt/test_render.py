import pytest

from iclkit.data.spec import TemplateSpec
from iclkit.errors import IclkitError
from iclkit.prompt.render import PromptBuilder, content_free_query, opening_literal, render_demo
from iclkit.types import Example

TEMPLATE = TemplateSpec(input="Sentence: {text}\nLabel:", answer=" {label}", separator="\n\n")
VERB = {"negative": "Negative", "positive": "Positive"}
LABELS = ("negative", "positive")


def ex(i, text, label=None):
    return Example(str(i), {"text": text}, label)


def test_demo_and_query_layout_is_exact():
    builder = PromptBuilder(TEMPLATE, LABELS, VERB)
    demos = [ex(1, "great fun", "positive"), ex(2, "dull", "negative")]
    p = builder.build(ex(9, "fine"), demos)
    prefix = "Sentence: great fun\nLabel: Positive\n\nSentence: dull\nLabel: Negative\n\n"
    assert p.prefix == prefix
    assert p.contexts == (prefix + "Sentence: fine\nLabel:",) * 2
    assert p.continuations == (" Negative", " Positive")
    assert p.demo_ids == ("1", "2") and p.n_demos_used == 2


def test_instruction_comes_first():
    t = TemplateSpec(input="Q: {text}\nA:", instruction="Classify the sentiment.")
    p = PromptBuilder(t, LABELS, VERB).build(ex(0, "ok"), [])
    assert p.contexts[0] == "Classify the sentiment.\n\nQ: ok\nA:"


def test_channel_template_puts_label_in_context():
    t = TemplateSpec(input="Label: {label}\nSentence:", answer=" {text}")
    p = PromptBuilder(t, LABELS, VERB).build(ex(0, "ok"), [ex(1, "bad", "negative")])
    assert p.contexts[0].endswith("Label: Negative\nSentence:") and p.contexts[1].endswith("Label: Positive\nSentence:")
    assert p.continuations == (" ok", " ok")
    assert p.prefix == "Label: Negative\nSentence: bad\n\n"


def test_demonstrations_dropped_from_far_end_when_too_long():
    count = lambda s: len(s.split())
    builder = PromptBuilder(TEMPLATE, LABELS, VERB, count_tokens=count, max_tokens=16)
    demos = [ex(i, "word " * 3, "positive") for i in range(6)]  # each demo is 6 words
    p = builder.build(ex(99, "short"), demos)
    assert 0 < p.n_demos_used < 6 and p.n_demos_requested == 6
    assert p.demo_ids == tuple(str(i) for i in range(6 - p.n_demos_used, 6))  # the ones nearest the query stay
    assert count(p.contexts[0] + p.continuations[0]) + 1 <= 16
    assert p.contexts[0].endswith("Sentence: short\nLabel:")  # query intact


def test_budget_uses_the_label_longest_in_tokens_not_in_characters():
    # "Positive" is the longer word, but this tokenizer splits "Neg" into one token per character, so the
    # negative candidate is the longest in tokens: the budget must hold for it.
    def count(text: str) -> int:
        return sum(3 if word == "Neg" else 1 for word in text.replace("\n", " ").split())

    verbalizer = {"negative": "Neg", "positive": "Positive"}
    builder = PromptBuilder(TEMPLATE, LABELS, verbalizer, count_tokens=count, max_tokens=18)
    demos = [ex(i, "word " * 3, "positive") for i in range(6)]  # each demo is 6 tokens
    p = builder.build(ex(99, "short"), demos)
    assert max(count(c + k) for c, k in zip(p.contexts, p.continuations)) + 1 <= 18
    # 2 demos: 12 + 3 (query) + 3 ("Neg") + 1 = 19 tokens, too many (with " Positive" it would be 17)
    assert p.n_demos_used == 1


def test_query_longer_than_budget_is_an_error():
    builder = PromptBuilder(TEMPLATE, LABELS, VERB, count_tokens=lambda s: len(s.split()), max_tokens=4)
    with pytest.raises(IclkitError, match="never truncated"):
        builder.build(ex(7, "a b c d e f g"), [])


def test_demo_without_label_is_an_error():
    with pytest.raises(IclkitError, match="no label"):
        render_demo(TEMPLATE, ex(3, "x"), VERB)


def test_content_free_query_replaces_every_field():
    q = content_free_query(("premise", "hypothesis"), "N/A")
    assert dict(q.fields) == {"premise": "N/A", "hypothesis": "N/A"} and q.label is None


def test_with_prefix_keeps_demonstrations():
    builder = PromptBuilder(TEMPLATE, LABELS, VERB)
    p = builder.build(ex(9, "fine"), [ex(1, "great", "positive")])
    cf = builder.with_prefix(p, content_free_query(("text",), "N/A"))
    assert cf.prefix == p.prefix and cf.contexts[0] == p.prefix + "Sentence: N/A\nLabel:"


def test_opening_literal_is_the_template_text_before_its_first_field():
    assert opening_literal("Sentence: {text}\nLabel:") == "Sentence:"
    assert opening_literal("Premise: {premise}\nHypothesis: {hypothesis}") == "Premise:"
    assert opening_literal("{text}\nLabel:") == ""
    assert opening_literal("no fields at all") == ""
