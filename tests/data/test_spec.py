import pytest

from iclkit.data.spec import SourceSpec, TaskSpec, TemplateSpec, placeholders
from iclkit.errors import IclkitError

SOURCE = SourceSpec(kind="jsonl", splits={"train": "a.jsonl", "eval": "a.jsonl"})
VERB = {"negative": "Negative", "positive": "Positive"}


def task(**kw):
    args = {"name": "t", "input_fields": ("text",), "labels": ("negative", "positive"), "verbalizer": VERB,
                "template": TemplateSpec(input="Sentence: {text}\nLabel:"), "source": SOURCE}
    args.update(kw)
    return TaskSpec(**args)


def test_placeholders_in_order():
    assert placeholders("{premise}\nQuestion: {hypothesis} {label}", where="x") == ("premise", "hypothesis", "label")


def test_unknown_placeholder_is_named_with_suggestion():
    with pytest.raises(IclkitError, match=r"unknown placeholder '\{txt\}' \(did you mean 'text'\?\)"):
        task(template=TemplateSpec(input="Sentence: {txt}\nLabel:"))


def test_unknown_placeholder_in_channel_template():
    with pytest.raises(IclkitError, match=r"channel_template\.answer: unknown placeholder '\{sentence\}'"):
        task(channel_template=TemplateSpec(input="Label: {label}\nSentence:", answer=" {sentence}"))


@pytest.mark.parametrize("bad, message", [
    ("Sentence: {text\nLabel:", "malformed template"),
    ("Sentence: {}\nLabel:", "positional placeholder"),
    ("Sentence: {0}\nLabel:", "positional placeholder"),
    ("Sentence: {text!r}\nLabel:", "not supported"),
])
def test_malformed_templates(bad, message):
    with pytest.raises(IclkitError, match=message):
        task(template=TemplateSpec(input=bad))


def test_literal_braces_are_allowed():
    t = task(template=TemplateSpec(input="{{json}} {text}\nLabel:"))
    assert t.template.input.format(text="x") == "{json} x\nLabel:"


def test_double_space_between_input_and_answer_is_refused():
    with pytest.raises(IclkitError, match="ends with a space"):
        task(template=TemplateSpec(input="Sentence: {text}\nLabel: "))


def test_verbalizer_must_cover_labels_and_be_distinct():
    with pytest.raises(IclkitError, match=r"no words for label\(s\) \['positive'\]"):
        task(verbalizer={"negative": "Negative"})
    with pytest.raises(IclkitError, match="share the same verbalizer words"):
        task(verbalizer={"negative": "Bad", "positive": "Bad"})


def test_default_channel_template_flips_label_and_input():
    t = task()
    ch = t.channel()
    assert placeholders(ch.input, where="x") == ("label",)
    assert placeholders(ch.answer, where="x") == ("text",)
    assert t.template.label_in_answer and not ch.label_in_answer


def test_hf_block_defaults_to_none():
    assert task().hf is None
