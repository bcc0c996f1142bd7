import gzip
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from iclkit.data import loaders
from iclkit.data.loaders import load_split, split_location, subsample
from iclkit.data.spec import SourceSpec
from iclkit.data.tasks import load_task, task_from_file
from iclkit.errors import IclkitError
from iclkit.types import Example

SIZES = {  # (train, eval) as documented in builtin/README.md
    "sst2": (6920, 872), "sst5": (8544, 1101), "mr": (8662, 2000), "subj": (8000, 2000),
    "agnews": (5600, 2000), "cb": (250, 56), "rte": (2490, 277), "trec": (5452, 500),
}
LABELS = ("negative", "positive")


@pytest.mark.parametrize("name", sorted(SIZES))
def test_builtin_splits_load_with_documented_sizes_and_labels(name):
    task = load_task(name)
    for role, size in zip(("train", "eval"), SIZES[name]):
        examples = load_split(task, role)
        assert len(examples) == size
        assert {e.label for e in examples} == set(task.labels)  # every label occurs, no other label does
        assert [e.id for e in examples[:3]] == ["0", "1", "2"]
        assert all(set(e.fields) == set(task.input_fields) for e in examples)
        assert all(isinstance(v, str) and v for e in examples[:50] for v in e.fields.values())


def test_builtin_files_are_where_split_location_says():
    task = load_task("sst2")
    assert split_location(task, "eval").endswith("builtin/sst2/validation.jsonl.gz")
    assert split_location(load_task("cb"), "eval").endswith("builtin/cb/test.jsonl.gz")


def test_agnews_rows_carry_only_text_and_label():
    path = split_location(load_task("agnews"), "train")
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        assert set(json.loads(fh.readline())) == {"text", "label"}


def write_jsonl(path, rows):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path


def user_task(path, **kw):
    kw.setdefault("labels", LABELS)
    return task_from_file(path, text_fields=kw.pop("text_fields", "text"), **kw)


def test_user_jsonl_with_ids_label_map_and_field_map(tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", [{"uid": "a7", "sentence": "fun", "y": 1, "extra": [1, 2]},
                                              {"uid": "b2", "sentence": "dull", "y": 0, "extra": None}])
    task = user_task(path, label_field="y", id_field="uid", field_map={"sentence": "text"})
    task = replace(task, source=replace(task.source, label_map={"0": "negative", "1": "positive"}))
    assert load_split(task, "train") == [Example("a7", {"text": "fun"}, "positive"),
                                         Example("b2", {"text": "dull"}, "negative")]


def test_user_csv_and_tsv(tmp_path):
    (tmp_path / "d.csv").write_text('text,label\n"great, really",positive\n42,negative\n')
    assert [(e.fields["text"], e.label) for e in load_split(user_task(tmp_path / "d.csv"), "eval")] == [
        ("great, really", "positive"), ("42", "negative")]
    (tmp_path / "d.tsv").write_text("text\tlabel\nfine, ok\tpositive\n")
    assert load_split(user_task(tmp_path / "d.tsv"), "eval")[0].fields["text"] == "fine, ok"


def test_gzipped_user_jsonl(tmp_path):
    path = tmp_path / "d.jsonl.gz"
    with gzip.open(path, "wt") as fh:
        fh.write('{"text": "ok", "label": "positive"}\n')
    assert load_split(user_task(path), "eval")[0].label == "positive"


def test_edited_file_is_reread(tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", [{"text": "a", "label": "positive"}])
    task = user_task(path)
    assert len(load_split(task, "eval")) == 1
    write_jsonl(path, [{"text": "a", "label": "positive"}, {"text": "b", "label": "negative"}])
    assert len(load_split(task, "eval")) == 2


def expect_error(task, pattern, role="eval"):
    with pytest.raises(IclkitError, match=pattern) as err:
        load_split(task, role)
    return str(err.value)


def test_missing_file(tmp_path):
    msg = expect_error(user_task(tmp_path / "gone.jsonl"), "no such file")
    assert str(tmp_path / "gone.jsonl") in msg


@pytest.mark.parametrize("content", ["", "\n  \n"])
def test_empty_file(tmp_path, content):
    (tmp_path / "e.jsonl").write_text(content)
    expect_error(user_task(tmp_path / "e.jsonl"), r"e\.jsonl: no rows$")


def test_header_only_csv_has_no_rows(tmp_path):
    (tmp_path / "e.csv").write_text("text,label\n")
    expect_error(user_task(tmp_path / "e.csv"), r"e\.csv: no rows")


def test_missing_input_field_names_row_and_fields(tmp_path):
    rows = [{"text": "a", "label": "positive"}, {"text": "b", "label": "negative"}, {"txt": "c", "label": "positive"}]
    path = write_jsonl(tmp_path / "d.jsonl", rows)
    msg = expect_error(user_task(path), r"d\.jsonl row 3: missing field 'text' \(row has: label, txt\)")
    assert msg.startswith(str(path))


def test_null_input_field_and_blank_csv_cell(tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", [{"text": None, "label": "positive"}])
    expect_error(user_task(path), r"row 1: missing field 'text' \(row has: label\)")
    (tmp_path / "d.csv").write_text("text,label\nok,positive\n,negative\n")
    expect_error(user_task(tmp_path / "d.csv"), r"d\.csv row 2: missing field 'text'")


def test_missing_label(tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", [{"text": "a", "label": "positive"}, {"text": "b", "label": None}])
    expect_error(user_task(path), r"d\.jsonl row 2: missing label field 'label' \(row has: text\)")


def test_unknown_label_suggests_and_lists(tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", [{"text": "a", "label": "positive"}] * 2 + [{"text": "c", "label": "postive"}])
    expect_error(user_task(path), r"d\.jsonl row 3: unknown label 'postive' \(did you mean 'positive'\?\); "
                                  r"task labels: negative, positive")


def test_malformed_json_line_is_located(tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", [{"text": "a", "label": "positive"}] * 3 + ['{"text": "b", label: 1}'])
    expect_error(user_task(path), r"d\.jsonl line 4: not valid JSON \(Expecting property name")


def test_malformed_gzipped_json_and_non_object_line(tmp_path):
    path = tmp_path / "d.jsonl.gz"
    with gzip.open(path, "wt") as fh:
        fh.write('{"text": "a", "label": "positive"}\n{"text": "b", "label": "negative"\n')
    expect_error(user_task(path), r"d\.jsonl\.gz line 2: not valid JSON")
    path = write_jsonl(tmp_path / "l.jsonl", [{"text": "a", "label": "positive"}, "[1, 2]"])
    expect_error(user_task(path), r"l\.jsonl line 2: (expected a JSON object|not valid JSON)")


def test_malformed_json_array_file(tmp_path):
    (tmp_path / "d.json").write_text('[\n {"text": "a", "label": "positive"},\n {"text": "b" "label": "x"}\n]\n')
    expect_error(user_task(tmp_path / "d.json"), r"d\.json line 3: not valid JSON")


def test_duplicate_and_missing_ids(tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", [{"id": 7, "text": "a", "label": "positive"},
                                              {"id": 7, "text": "b", "label": "negative"}])
    expect_error(user_task(path, id_field="id"), r"row 2: duplicate id '7' \(also row 1\)")
    path = write_jsonl(tmp_path / "e.jsonl", [{"text": "a", "label": "positive"}])
    expect_error(user_task(path, id_field="id"), r"row 1: missing id field 'id'")


def test_unknown_role_and_missing_train_split():
    task = load_task("sst2")
    with pytest.raises(IclkitError, match=r"unknown split role 'test'"):
        load_split(task, "test")
    no_train = replace(task, source=SourceSpec(kind="builtin", splits={"eval": "validation"}, name="sst2"))
    with pytest.raises(IclkitError, match=r"no 'train' split \(the demonstration pool\)"):
        load_split(no_train, "train")


class FakeHub:
    """Stands in for datasets.load_dataset on hub names (no network in tests); local files still load for real."""

    def __init__(self, monkeypatch):
        import datasets

        self.real, self.calls = datasets.load_dataset, []
        monkeypatch.setattr(datasets, "load_dataset", self)

    def __call__(self, path, name=None, split=None, **kw):
        import datasets

        if path in ("json", "csv"):
            return self.real(path, name, split=split, **kw)
        self.calls.append((path, name, split))
        features = datasets.Features({"sentence": datasets.Value("string"), "idx": datasets.Value("int32"),
                                      "label": datasets.ClassLabel(names=["negative", "positive"])})
        return datasets.Dataset.from_dict({"sentence": ["bad .", "good ."], "idx": [0, 1], "label": [0, 1]},
                                          features=features)


def test_hf_source_maps_fields_and_classlabel_ids(monkeypatch):
    fake = FakeHub(monkeypatch)
    task = load_task("sst2", source="hf")
    assert load_split(task, "eval") == [Example("0", {"text": "bad ."}, "negative"),
                                        Example("1", {"text": "good ."}, "positive")]
    assert fake.calls == [("glue", "sst2", "validation")]
    # without a label_map, the ClassLabel names are used
    no_map = replace(task, source=replace(task.source, label_map={}))
    assert [e.label for e in load_split(no_map, "eval")] == ["negative", "positive"]
    assert len(load_split(load_task("sst2"), "eval")) == 872  # the local path is untouched by the fake


def test_hub_failure_is_a_clear_error(monkeypatch):
    import datasets

    def offline(*args, **kw):
        raise ConnectionError("Couldn't reach 'glue' on the Hub (LocalEntryNotFoundError)")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(IclkitError, match=r"hf:glue/sst2\[validation\]: cannot load .*Couldn't reach.*builtin"):
        load_split(load_task("sst2", source="hf"), "eval")


def test_progress_bar_setting_is_restored(tmp_path):
    import datasets

    path = write_jsonl(tmp_path / "d.jsonl", [{"text": "a", "label": "positive"}])
    before = datasets.is_progress_bar_enabled()
    load_split(user_task(path), "eval")
    assert datasets.is_progress_bar_enabled() == before


EXAMPLES = [Example(str(i), {"text": f"t{i}"}, "positive") for i in range(50)]


def test_subsample_is_deterministic_seeded_and_hf_shuffle_compatible():
    a = subsample(EXAMPLES, 10, seed=1)
    assert a == subsample(EXAMPLES, 10, seed=1)
    assert [e.id for e in a] == [str(i) for i in np.random.default_rng(1).permutation(50)[:10]]
    assert a != subsample(EXAMPLES, 10, seed=2)
    assert len({e.id for e in a}) == 10
    assert subsample(EXAMPLES, 20, seed=1)[:10] == a  # a larger slice extends a smaller one


def test_subsample_all_and_invalid():
    assert subsample(EXAMPLES, None, seed=3) == EXAMPLES
    assert subsample(EXAMPLES, 50, seed=3) == EXAMPLES and subsample(EXAMPLES, 99, seed=3) == EXAMPLES
    assert subsample(EXAMPLES, 0, seed=3) == []
    with pytest.raises(IclkitError, match="must be >= 0"):
        subsample(EXAMPLES, -1, seed=0)


def test_file_format_by_suffix():
    assert loaders.file_format(Path("a.JSONL.gz")) == "json"
    assert loaders.file_format(Path("a.tsv")) == "csv"
    assert loaders.file_format(Path("a.txt"), "csv") == "csv"
    with pytest.raises(IclkitError, match="cannot tell the file format"):
        loaders.file_format(Path("a.txt"), "hf")


def test_subsample_without_seed_takes_the_first_n_in_file_order():
    from iclkit.data.loaders import subsample
    from iclkit.types import Example

    items = [Example(str(i), {"text": str(i)}, "a") for i in range(10)]
    assert [e.id for e in subsample(items, 3, None)] == ["0", "1", "2"]
    assert len({tuple(e.id for e in subsample(items, 3, s)) for s in range(5)}) > 1  # seeded slices differ
