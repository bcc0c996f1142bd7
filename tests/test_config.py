"""``key=value`` overrides (``--set``, ``iclkit run ... KEY=VALUE``): YAML only for numbers, booleans, null, lists
and braced mappings; other text, colons included, is kept as typed."""

import pytest

from iclkit.config import apply_overrides, load_experiment, parse_override, run_config
from iclkit.errors import IclkitError


@pytest.mark.parametrize("text, expected", [
    ("instruction=Classify: positive or negative", "Classify: positive or negative"),  # YAML: a mapping
    ("instruction=Premise: a. Hypothesis: b: c", "Premise: a. Hypothesis: b: c"),  # YAML: a parse error
    ("instruction=Say yes #1 or no", "Say yes #1 or no"),  # YAML: " #1 or no" is a comment
    ("instruction=- not a list item", "- not a list item"),  # YAML: a block sequence
    ("instruction=  padded text  ", "padded text"),
])
def test_free_text_is_kept_as_typed(text, expected):
    assert parse_override(text) == ("instruction", expected)


@pytest.mark.parametrize("text, expected", [
    ("shots=4", 4), ("generation.temperature=0.7", 0.7), ("chat_template=true", True), ("limit=null", None),
    ("limit=", None), ('generation.stop=["\\n", "."]', ["\n", "."]), ("text_fields=[premise, hypothesis]",
                                                                      ["premise", "hypothesis"]),
    ("scorer_options={normalization: pmi}", {"normalization": "pmi"}),  # braces: an explicit mapping
    ("instruction='42'", "42"), ('instruction="Label: yes"', "Label: yes"),  # quoted: a string, quotes removed
])
def test_yaml_values_still_parse(text, expected):
    assert parse_override(text)[1] == expected


def test_an_instruction_with_a_colon_reaches_the_config(tmp_path):
    values = apply_overrides({"task": "sst2"}, ["instruction=Classify: positive or negative", "shots=2"])
    config = run_config(values)
    assert config.instruction == "Classify: positive or negative" and config.shots == 2
    path = tmp_path / "run.yaml"
    path.write_text("task: sst2\nmodel: smollm2-135m\n")
    _, (variant,) = load_experiment(path, ["instruction=Answer: Positive or Negative."])
    assert variant.config.instruction == "Answer: Positive or Negative."


def test_overrides_still_need_an_equals_sign():
    with pytest.raises(IclkitError, match="is not key=value"):
        parse_override("shots")
