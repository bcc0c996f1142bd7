import json
import subprocess
import sys
import textwrap

import pytest

from iclkit.data.loaders import load_split
from iclkit.data.spec import TemplateSpec, placeholders
from iclkit.data.tasks import default_input_template, load_task, task_from_file, task_names
from iclkit.errors import IclkitError

BUILTIN = ["agnews", "cb", "mr", "rte", "sst2", "sst5", "subj", "trec"]
PAPER = {  # Dai et al. 2023, Table 8: (input template, verbalizer words in label order)
    "sst2": ("Sentence: {text}\nLabel:", ["Negative", "Positive"]),
    "sst5": ("Sentence: {text}\nLabel:", ["terrible", "bad", "neutral", "good", "great"]),
    "mr": ("Review: {text}\nSentiment:", ["Negative", "Positive"]),
    "subj": ("Input: {text}\nType:", ["objective", "subjective"]),
    "agnews": (("Classify the news articles into the categories of World, Sports, Business, and Technology.\n"
               "News: {text}\nType:"), ["World", "Sports", "Business", "Technology"]),
    "cb": ("{premise}\nQuestion: {hypothesis} True, False, or Neither?\nAnswer:", ["True", "False", "Neither"]),
}


def write(path, text):
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def test_task_names_are_the_eight_builtins():
    assert task_names() == BUILTIN


@pytest.mark.parametrize("name", BUILTIN)
def test_builtin_task_is_well_formed(name):
    t = load_task(name)
    assert t.name == name and t.source.kind == "builtin"
    words = [t.verbalizer[lab] for lab in t.labels]
    assert len(set(words)) == len(words) == len(t.labels)
    for tmpl in (t.template, t.channel()):
        tmpl.check(t.input_fields, where=name)
        assert set(placeholders(tmpl.input + tmpl.answer, where=name)) == set(t.input_fields) | {"label"}
    assert t.template.label_in_answer and t.template.answer == " {label}" and t.template.separator == "\n\n"
    assert t.channel_template is not None and not t.channel_template.label_in_answer
    assert set(t.source.splits) == {"train", "eval"}
    assert t.hf is not None and t.hf.kind == "hf" and set(t.hf.label_map.values()) == set(t.labels)


@pytest.mark.parametrize("name", sorted(PAPER))
def test_paper_templates_and_verbalizers(name):
    t = load_task(name)
    template, words = PAPER[name]
    assert t.template.input == template
    assert [t.verbalizer[lab] for lab in t.labels] == words


def test_other_builtin_templates():
    rte, trec = load_task("rte"), load_task("trec")
    assert rte.template.input == "{premise}\nQuestion: {hypothesis} True or False?\nAnswer:"
    assert rte.verbalizer == {"entailment": "True", "not_entailment": "False"}
    assert trec.template.input == "Question: {text}\nAnswer Type:"
    assert trec.verbalizer["human"] == "Person" and trec.hf.label_field == "coarse_label"


def test_pair_task_channel_scores_both_fields():
    ch = load_task("cb").channel()
    assert ch.input == "Answer: {label}\nPremise:"
    assert ch.answer == " {premise}\nHypothesis: {hypothesis}"


def test_unknown_task_suggests_the_closest():
    with pytest.raises(IclkitError, match=r"unknown task 'sst-2' \(did you mean 'sst2'\?\); known: agnews"):
        load_task("sst-2")


def test_missing_task_file(tmp_path):
    with pytest.raises(IclkitError, match="no such task file"):
        load_task(str(tmp_path / "nope.yaml"))


def test_hf_source_shortcut():
    t = load_task("sst2", source="hf")
    assert t.source.kind == "hf" and t.source.name == "glue" and t.source.config == "sst2"
    assert t.source.field_map == {"sentence": "text"} and t.source.label_map == {"0": "negative", "1": "positive"}
    assert t.source.splits["eval"] == "validation"
    assert load_task("cb", source="hf").source.splits["eval"] == "validation"


def test_overrides_deep_merge():
    t = load_task("sst2", template={"instruction": "Classify the sentiment."}, description="mine")
    assert t.template.instruction == "Classify the sentiment."
    assert t.template.input == "Sentence: {text}\nLabel:" and t.description == "mine"


def test_unknown_override_key():
    with pytest.raises(IclkitError, match=r"load_task overrides: unknown key 'templat' \(did you mean 'template'\?\)"):
        load_task("sst2", templat={})


def test_include_builtin_by_name_with_overrides(tmp_path):
    path = write(tmp_path / "mine.yaml", """
        include: sst2
        name: sst2-qa
        template:
          input: "Q: {text}\\nA:"
        verbalizer: {negative: bad}
    """)
    t = load_task(str(path))
    assert t.name == "sst2-qa" and t.template.input == "Q: {text}\nA:"
    assert t.template.separator == "\n\n"  # inherited key inside the merged template
    assert t.verbalizer == {"negative": "bad", "positive": "Positive"}
    assert t.source.name == "sst2" and len(load_split(t, "eval")) == 872


def test_include_relative_file_and_cycle(tmp_path):
    write(tmp_path / "base.yaml", """
        name: base
        input_fields: [text]
        labels: [a, b]
        verbalizer: {a: A, b: B}
        template: "Text: {text}\\nLabel:"
        source: {kind: jsonl, splits: {train: data/pool.jsonl, eval: data/pool.jsonl}}
    """)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "pool.jsonl").write_text('{"text": "x", "label": "a"}\n{"text": "y", "label": "b"}\n')
    sub = tmp_path / "sub"
    sub.mkdir()
    child = write(sub / "child.yaml", "include: ../base.yaml\nname: child\n")
    t = load_task(str(child))
    assert t.name == "child" and t.labels == ("a", "b")
    # data paths are relative to the file that names them, not to the working directory
    assert [e.label for e in load_split(t, "train")] == ["a", "b"]
    write(tmp_path / "base.yaml", "include: sub/child.yaml\n")
    with pytest.raises(IclkitError, match="include cycle"):
        load_task(str(child))


def test_include_missing(tmp_path):
    path = write(tmp_path / "x.yaml", "include: sst3\n")
    with pytest.raises(IclkitError, match=r"include: no file .* no built-in task 'sst3' \(did you mean"):
        load_task(str(path))


BASE = """
    name: mine
    input_fields: [text]
    labels: [neg, pos]
    verbalizer: {neg: Negative, pos: Positive}
    template: {input: "Review: {text}\\nSentiment:"}
    source: {kind: jsonl, splits: {train: a.jsonl, eval: a.jsonl}}
"""


@pytest.mark.parametrize("edit, message", [
    (("template: {input:", "template: {inptu:"), r"template: unknown key 'inptu' \(did you mean 'input'\?\)"),
    (("labels:", "label:"), r"unknown key 'label' \(did you mean 'labels'\?\)"),
    (("verbalizer: {neg: Negative, pos: Positive}", ""), r"missing key\(s\) 'verbalizer'"),
    (("{text}\\nSentiment", "{txt}\\nSentiment"), r"template\.input: unknown placeholder '\{txt\}'"),
    (("{neg: Negative,", "{negative: Negative,"), r"verbalizer: 'negative' is not a task label"),
    (("kind: jsonl", "kind: jsnol"), r"source\.kind: 'jsnol' \(did you mean 'jsonl'\?\)"),
    (("eval: a.jsonl", "test: a.jsonl"), r"source\.splits: needs an 'eval' entry"),
    (("labels: [neg, pos]", "labels: [no, pos]"), r"labels\[0\]: False was read as a YAML boolean; quote it"),
    (("labels: [neg, pos]", "labels: neg"), r"labels: expected a non-empty list"),
    (("template: {", "template: [{"), r"not valid YAML"),
])
def test_yaml_errors_name_file_and_key(tmp_path, edit, message):
    path = write(tmp_path / "bad.yaml", BASE.replace(*edit))
    with pytest.raises(IclkitError, match=message) as err:
        load_task(str(path))
    assert str(path) in str(err.value)


def test_label_map_values_must_be_labels(tmp_path):
    path = write(tmp_path / "bad.yaml", BASE + '    hf: {name: x, splits: {eval: test}, label_map: {"0": poss}}\n')
    with pytest.raises(IclkitError, match=r"hf\.label_map: '0' maps to 'poss', not a task label \(did you mean"):
        load_task(str(path))


def test_empty_and_non_mapping_yaml(tmp_path):
    with pytest.raises(IclkitError, match="empty task file"):
        load_task(str(write(tmp_path / "e.yaml", "")))
    with pytest.raises(IclkitError, match="must be a mapping"):
        load_task(str(write(tmp_path / "l.yaml", "- a\n- b\n")))


def test_task_from_jsonl_infers_labels_in_first_appearance_order(tmp_path):
    rows = [{"text": "meh", "label": "neutral"}, {"text": "yay", "label": "pos"}, {"text": "ok", "label": "neutral"}]
    path = tmp_path / "reviews.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    t = task_from_file(path, text_fields="text", verbalizer={"pos": "good"})
    assert t.name == "reviews" and t.labels == ("neutral", "pos")
    assert t.verbalizer == {"neutral": "neutral", "pos": "good"}
    assert t.template == TemplateSpec(input="Input: {text}\nLabel:")
    assert [e.label for e in load_split(t, "eval")] == ["neutral", "pos", "neutral"]


def test_task_from_csv_pair_fields_with_eval_file(tmp_path):
    (tmp_path / "pool.csv").write_text("premise,hypothesis,gold\nA man sleeps,Someone rests,yes\nIt rains,It is dry,no\n")
    (tmp_path / "test.csv").write_text("premise,hypothesis,gold\nA dog barks,An animal is loud,yes\n")
    t = task_from_file(tmp_path / "pool.csv", text_fields=["premise", "hypothesis"], label_field="gold",
                       eval_path=tmp_path / "test.csv")
    assert t.labels == ("yes", "no") and t.source.kind == "csv"
    assert t.template.input == "Premise: {premise}\nHypothesis: {hypothesis}\nLabel:"
    ev = load_split(t, "eval")
    assert len(ev) == 1 and ev[0].fields == {"premise": "A dog barks", "hypothesis": "An animal is loud"}


def test_task_from_file_errors(tmp_path):
    with pytest.raises(IclkitError, match="no such file"):
        task_from_file(tmp_path / "missing.jsonl", text_fields="text")
    (tmp_path / "a.jsonl").write_text('{"text": "x", "y": "a"}\n')
    with pytest.raises(IclkitError, match=r"no label field 'label' \(columns: text, y\)"):
        task_from_file(tmp_path / "a.jsonl", text_fields="text")
    with pytest.raises(IclkitError, match=r"unknown placeholder '\{txt\}'"):
        task_from_file(tmp_path / "a.jsonl", text_fields="text", label_field="y", template="T: {txt}\nL:")


def test_default_input_template():
    assert default_input_template(["question_text"]) == "Input: {question_text}\nLabel:"
    assert default_input_template(["a", "b_c"]) == "A: {a}\nB c: {b_c}\nLabel:"


def test_importing_tasks_does_not_import_datasets_or_torch():
    code = ("import sys, iclkit.data.tasks, iclkit.data.loaders; "
            "print(sorted(m for m in ('datasets', 'torch', 'pyarrow') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
