"""A corpus of malformed inputs: files, rows, configs, task YAMLs, names, flags and output paths.

Each must stop with exit code 2 and ONE line on stderr that names the file / row / key at fault, print no
traceback, and leave no run directory behind that a later run or report could mistake for a real one.
No case loads a model: everything here is checked before that.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path

import pytest

from iclkit.cli.main import main

GOOD_ROWS = '{"text": "fine", "label": "a"}\n{"text": "also fine", "label": "b"}\n'
GOOD_TASK = """name: mytask
input_fields: [text]
labels: [a, b]
verbalizer: {a: alpha, b: beta}
template: {input: "Text: {text}\\nLabel:", answer: " {label}"}
source: {kind: jsonl, splits: {train: DATA, eval: DATA}}
"""


def _write(path: Path, text: str | bytes) -> Path:
    (path.write_bytes if isinstance(text, bytes) else path.write_text)(text)
    return path


def data_case(content: str | bytes, *, name: str = "d.jsonl", extra: tuple[str, ...] = ()) -> Callable:
    def make(tmp: Path) -> tuple[list[str], str]:
        f = _write(tmp / name, content)
        return ["eval", "--data-file", str(f), "--model", "smollm2-135m", *extra], str(f)
    return make


def eval_file_case(content: str | bytes) -> Callable:
    def make(tmp: Path) -> tuple[list[str], str]:
        pool = _write(tmp / "pool.jsonl", GOOD_ROWS)
        ev = _write(tmp / "eval.jsonl", content)
        return ["eval", "--data-file", str(pool), "--eval-file", str(ev), "--model", "smollm2-135m"], str(ev)
    return make


def config_case(yaml_text: str | bytes) -> Callable:
    def make(tmp: Path) -> tuple[list[str], str]:
        f = _write(tmp / "exp.yaml", yaml_text)
        return ["run", str(f)], str(f)
    return make


def task_case(task_text: str | bytes) -> Callable:
    def make(tmp: Path) -> tuple[list[str], str]:
        data = _write(tmp / "d.jsonl", GOOD_ROWS)
        if isinstance(task_text, str):
            text = task_text.replace("DATA", str(data))
        else:
            text = task_text
        f = _write(tmp / "task.yaml", text)
        return ["eval", "--task", str(f), "--model", "smollm2-135m"], str(f)
    return make


def flags_case(*flags: str, names: str) -> Callable:
    def make(tmp: Path) -> tuple[list[str], str]:
        return ["eval", "--task", "sst2", "--model", "smollm2-135m", "--limit", "4", *flags], names
    return make


def out_case(kind: str) -> Callable:
    def make(tmp: Path) -> tuple[list[str], str]:
        blocker = _write(tmp / "a-file", "x")
        out = {"file": blocker, "under-file": blocker / "sub", "proc": Path("/proc/iclkit-no/run")}[kind]
        return ["eval", "--task", "sst2", "--model", "smollm2-135m", "--limit", "4", "--out", str(out)], str(out)
    return make


def gz(text: str) -> bytes:
    return gzip.compress(text.encode())[:-8]  # cut the trailer: a corrupt archive


CASES: dict[str, tuple[Callable, str]] = {
    # --- data files and rows
    "data-not-utf8-jsonl": (data_case(b'{"text": "caf\xe9", "label": "a"}\n'), "line 1: not UTF-8"),
    "data-not-utf8-csv": (data_case(b"text,label\ncaf\xe9,a\n", name="d.csv"), "line 2: not UTF-8"),
    "data-bad-json-line": (data_case(GOOD_ROWS + '{"text": "x", "label": \n'), "line 3"),
    "data-json-not-object": (data_case(GOOD_ROWS + '["x", "a"]\n'), "expected a JSON object"),
    "data-empty": (data_case(""), "no rows"),
    "data-blank": (data_case("\n  \n"), "no rows"),
    "data-csv-header-only": (data_case("text,label\n", name="d.csv"), "no rows"),
    "data-missing-text": (data_case(GOOD_ROWS + '{"txt": "x", "label": "a"}\n'), "row 3: missing field 'text'"),
    "data-missing-label": (data_case(GOOD_ROWS + '{"text": "x"}\n'), "missing label"),
    "data-label-is-list": (data_case('{"text": "x", "label": ["a"]}\n' + GOOD_ROWS), "row 1: label field"),
    "data-text-is-object": (data_case(GOOD_ROWS + '{"text": {"a": 1}, "label": "a"}\n'), "row 3: field 'text'"),
    "data-no-such-file": (lambda tmp: (["eval", "--data-file", str(tmp / "nope.jsonl"), "--model", "smollm2-135m"],
                                       str(tmp / "nope.jsonl")), "no such file"),
    "data-is-directory": (lambda tmp: (["eval", "--data-file", str(tmp), "--model", "smollm2-135m"], str(tmp)),
                          "is a directory"),
    "data-corrupt-gzip": (data_case(gz(GOOD_ROWS), name="d.jsonl.gz"), "d.jsonl.gz"),
    "data-wrong-text-field": (data_case(GOOD_ROWS, extra=("--text-fields", "body")), "missing field 'body'"),
    "eval-not-utf8": (eval_file_case(b'{"text": "\xff", "label": "a"}\n'), "not UTF-8"),
    "eval-unknown-label": (eval_file_case('{"text": "x", "label": "c"}\n'), "row 1: unknown label 'c'"),
    # --- run configs
    "config-shots-word": (config_case("task: sst2\nshots: eight\n"), "key 'shots'"),
    "config-seed-float": (config_case("task: sst2\nseed: 1.5\n"), "key 'seed'"),
    "config-shots-negative": (config_case("task: sst2\nshots: -1\n"), "key 'shots'"),
    "config-limit-zero": (config_case("task: sst2\nlimit: 0\n"), "key 'limit'"),
    "config-batch-bool": (config_case("task: sst2\nbatch_size: true\n"), "key 'batch_size'"),
    "config-text-fields-int": (config_case("task: sst2\ntext_fields: 3\n"), "key 'text_fields'"),
    "config-unknown-key": (config_case("task: sst2\nshot: 4\n"), "did you mean 'shots'"),
    "config-invalid-yaml": (config_case("task: [sst2\n"), "invalid YAML"),
    "config-top-level-list": (config_case("- task: sst2\n"), "expected a mapping"),
    "config-variants-not-list": (config_case("task: sst2\nvariants: {a: 1}\n"), "'variants' must be a list"),
    "config-variant-not-mapping": (config_case("task: sst2\nvariants: [3]\n"), "variants[0]"),
    "config-seeds-words": (config_case("task: sst2\nvariants: [{shots: 2, seeds: [a]}]\n"), "'seeds'"),
    "config-calibration-typo": (config_case("task: sst2\ncalibration: contextal\n"), "did you mean 'contextual'"),
    "config-options-not-mapping": (config_case("task: sst2\nretriever_options: 5\n"), "key 'retriever_options'"),
    "config-per-query-topk": (config_case("task: sst2\nretriever: topk\nretriever_options: {per_query: true}\n"),
                              "unknown option 'per_query'"),
    "config-scorer-option-typo": (config_case("task: sst2\nscorer: ppl\nscorer_options: {normalisation: pmi}\n"),
                                  "did you mean 'normalization'"),
    "config-backend-option-typo": (config_case("task: sst2\nbackend_options: {reuse_prefx: false}\n"),
                                   "did you mean 'reuse_prefix'"),
    "config-model-typo": (config_case("task: sst2\nmodel: gemma3-27m\n"), "unknown model 'gemma3-27m'"),
    "config-retriever-typo": (config_case("task: sst2\nretriever: topkk\n"), "unknown retriever 'topkk'"),
    "config-scorer-typo": (config_case("task: sst2\nscorer: drect\n"), "unknown scorer 'drect'"),
    "config-ordering-typo": (config_case("task: sst2\nordering: similarty\n"), "unknown ordering 'similarty'"),
    "config-task-typo": (config_case("task: sst22\n"), "unknown task 'sst22'"),
    "config-not-utf8": (config_case(b"task: sst2\nname: caf\xe9\n"), "not UTF-8"),
    "config-missing": (lambda tmp: (["run", str(tmp / "none.yaml")], str(tmp / "none.yaml")), "no such config"),
    "config-is-directory": (lambda tmp: (["run", str(tmp)], str(tmp)), "is a directory"),
    # --- task YAMLs
    "task-no-input-placeholder": (task_case(GOOD_TASK.replace("Text: {text}", "Text:")), "never show the example"),
    "task-no-label-placeholder": (task_case(GOOD_TASK.replace('answer: " {label}"', 'answer: " x"')),
                                  "'{label}'"),
    "task-unknown-placeholder": (task_case(GOOD_TASK.replace("{text}", "{txt}")), "unknown placeholder '{txt}'"),
    "task-verbalizer-missing-label": (task_case(GOOD_TASK.replace(", b: beta", "")), "verbalizer"),
    "task-invalid-yaml": (task_case("name: [x\n"), "not valid YAML"),
    "task-not-utf8": (task_case(b"name: caf\xe9\n"), "not UTF-8"),
    "task-unknown-key": (task_case(GOOD_TASK + "lables: [a]\n"), "did you mean 'labels'"),
    # --- flags
    "flag-shots-negative": (flags_case("--shots", "-1", names="command line"), "key 'shots'"),
    "flag-set-not-key-value": (flags_case("--set", "shots", names="shots"), "is not key=value"),
    "flag-set-shots-word": (flags_case("--set", "shots=abc", names="command line"), "key 'shots'"),
    "flag-per-query-bm25": (flags_case("--retriever", "bm25", "--per-query", names="retriever 'bm25'"),
                            "unknown option 'per_query'"),
    "flag-normalization-direct": (flags_case("--normalization", "pmi", names="scorer 'direct'"),
                                  "unknown option 'normalization'"),
    "flag-normalization-unknown": (flags_case("--scorer", "ppl", "--normalization", "pmmi", names="ppl"),
                                   "did you mean 'pmi'"),
    "flag-backend-typo": (flags_case("--backend", "llama", names="backend"), "unknown backend 'llama'"),
    # --- output paths
    "out-is-a-file": (out_case("file"), "exists and is not a directory"),
    "out-under-a-file": (out_case("under-file"), "cannot create the run directory"),
    "out-cannot-be-created": (out_case("proc"), "cannot create the run directory"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_malformed_input_gives_one_line_exit_2_and_no_run_dir(case, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a default run directory would appear under ./runs
    make, expected = CASES[case]
    argv, culprit = make(tmp_path)
    out_dir = tmp_path / "out"
    if "--out" not in argv and argv[0] == "eval":
        argv += ["--out", str(out_dir)]
    code = main(argv)
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("iclkit: error: "), err
    assert "Traceback" not in err
    assert expected in lines[0], lines[0]
    assert culprit in lines[0], f"the message does not name {culprit!r}: {lines[0]}"
    assert not out_dir.exists() and not (tmp_path / "runs").exists()


def test_the_corpus_is_large_enough():
    assert len(CASES) >= 40
