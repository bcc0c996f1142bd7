import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from iclkit.errors import IclkitError
from iclkit.evaluate.records import (
    PredictionWriter,
    RunDir,
    TruncatedRecordWarning,
    environment_info,
    file_sha256,
    read_predictions,
    read_summary,
    write_summary,
)
from iclkit.types import PredictionRecord


def _record(i: int, *, prompt: str = "Sentence: x\nLabel:") -> PredictionRecord:
    return PredictionRecord(example_id=str(i), demo_ids=("7", "9"), n_demos_requested=2, prompt=prompt,
                            labels=("neg", "pos"), scores=(-1.5, -0.25), prediction="pos", gold="neg",
                            calibrated_scores=(0.1, -0.1), calibrated_prediction="neg")


def _lines(run_dir: Path) -> list[str]:
    return (run_dir / "predictions.jsonl").read_text(encoding="utf-8").splitlines()


def test_writer_resumes_and_is_idempotent(tmp_path):
    with PredictionWriter(tmp_path) as w:
        assert w.done_ids == set() and w.records == []
        assert all(w.write(_record(i)) for i in range(3))
    with PredictionWriter(tmp_path) as w:
        assert w.done_ids == {"0", "1", "2"}
        assert w.records == [_record(i) for i in range(3)]  # round-trips exactly
        assert w.write(_record(1)) is False  # already done: skipped
        assert w.write(_record(3)) is True
    assert len(_lines(tmp_path)) == 4
    assert [r.example_id for r in read_predictions(tmp_path)] == ["0", "1", "2", "3"]


def test_lines_are_flushed_before_close(tmp_path):
    w = PredictionWriter(tmp_path)
    w.write(_record(0))
    assert len(_lines(tmp_path)) == 1  # a crash after write() loses nothing
    w.close()
    with pytest.raises(ValueError):
        w.write(_record(1))


def test_prompt_with_unicode_line_separators_survives(tmp_path):
    odd = "a\u2028b\x85c\nLabel:"
    with PredictionWriter(tmp_path) as w:
        w.write(_record(0, prompt=odd))
        w.write(_record(1))
    assert read_predictions(tmp_path)[0].prompt == odd


def test_truncated_last_line_is_dropped_and_file_repaired(tmp_path):
    with PredictionWriter(tmp_path) as w:
        for i in range(3):
            w.write(_record(i))
    path = tmp_path / "predictions.jsonl"
    full = json.dumps(_record(3).to_json())
    path.write_text(path.read_text() + full[: len(full) // 2])  # killed mid-write
    with pytest.warns(TruncatedRecordWarning):
        w = PredictionWriter(tmp_path)
    with w:
        assert w.done_ids == {"0", "1", "2"}
        w.write(_record(3))
    assert [json.loads(line)["example_id"] for line in _lines(tmp_path)] == ["0", "1", "2", "3"]


def test_complete_last_line_without_newline_is_kept(tmp_path):
    path = tmp_path / "predictions.jsonl"
    path.write_text(json.dumps(_record(0).to_json()))
    with PredictionWriter(tmp_path) as w:
        assert w.done_ids == {"0"}
        w.write(_record(1))
    assert len(_lines(tmp_path)) == 2


def test_corrupt_middle_line_is_an_error(tmp_path):
    path = tmp_path / "predictions.jsonl"
    path.write_text(json.dumps(_record(0).to_json()) + "\n{oops\n" + json.dumps(_record(1).to_json()) + "\n")
    with pytest.raises(IclkitError, match="line 2"):
        PredictionWriter(tmp_path)


def test_killed_process_leaves_recoverable_file(tmp_path):
    """A real child process writes records then dies without closing; everything written is there."""
    code = (
        "import os, sys\n"
        "from iclkit.evaluate.records import PredictionWriter\n"
        "from iclkit.types import PredictionRecord\n"
        "w = PredictionWriter(sys.argv[1])\n"
        "for i in range(5):\n"
        "    w.write(PredictionRecord(str(i), (), 0, 'p', ('a', 'b'), (0.0, 1.0), 'b', 'a'))\n"
        "os._exit(1)\n"
    )
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=False)
    with PredictionWriter(tmp_path) as w:
        assert w.done_ids == {str(i) for i in range(5)}


def test_check_config_stores_then_guards(tmp_path):
    run = RunDir(tmp_path / "run")
    config = {"model": "m", "seed": 0, "shots": 8, "limit": 100, "batch_size": 32, "text_fields": ("text",)}
    run.check_config(config, ignore=("limit", "batch_size"))
    assert json.loads((tmp_path / "run" / "config.json").read_text())["text_fields"] == ["text"]
    run.check_config(config)  # identical (tuples compare equal to the stored lists)
    run.check_config({**config, "limit": 500, "batch_size": 4}, ignore=("limit", "batch_size"))
    with pytest.raises(IclkitError) as err:
        run.check_config({**config, "seed": 1, "limit": 5}, ignore=("limit", "batch_size"))
    msg = str(err.value)
    assert "seed" in msg and "limit" not in msg and "--out" in msg and "delete" in msg
    with pytest.raises(IclkitError, match="scorer"):
        run.check_config({**config, "scorer": "ppl"}, ignore=("limit",))


def test_check_config_unreadable(tmp_path):
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(IclkitError, match="config.json"):
        RunDir(tmp_path).check_config({"a": 1})


def test_summary_atomic_round_trip(tmp_path):
    summary = {"n": 3, "path": Path("/x/y"), "metrics": {"accuracy": {"value": 0.5}}, "name": "café"}
    path = write_summary(tmp_path / "run", summary)
    assert path == tmp_path / "run" / "summary.json"
    assert read_summary(tmp_path / "run") == {**summary, "path": "/x/y"}
    write_summary(tmp_path / "run", {"n": 4})
    assert read_summary(tmp_path / "run") == {"n": 4}
    assert sorted(os.listdir(tmp_path / "run")) == ["summary.json"]  # no temporary file left behind
    assert "\n  " in path.read_text()  # pretty-printed


def test_environment_info_without_importing_torch():
    before = "torch" in sys.modules
    info = environment_info()
    assert info["python"].count(".") == 2 and info["platform"]
    assert info["packages"]["numpy"] is not None
    assert {"torch", "transformers", "bm25s", "sentence-transformers"} <= set(info["packages"])
    assert ("torch" in sys.modules) == before


def test_file_sha256(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"abc" * 1000)
    import hashlib

    assert file_sha256(path, chunk=7) == hashlib.sha256(b"abc" * 1000).hexdigest()


def test_scan_predictions_reads_without_touching_the_file(tmp_path):
    from iclkit.evaluate.records import scan_predictions

    with PredictionWriter(tmp_path) as w:
        for i in range(3):
            w.write(_record(i))
    path = tmp_path / "predictions.jsonl"
    partial = json.dumps(_record(3).to_json())[:40]  # a run still writing its next line
    path.write_text(path.read_text() + partial)
    before = path.read_bytes()
    assert [r.example_id for r in scan_predictions(tmp_path)] == ["0", "1", "2"]
    assert path.read_bytes() == before  # not repaired: the writer may still be appending
    path.write_text(json.dumps(_record(0).to_json()) + "\n{oops\n" + json.dumps(_record(1).to_json()) + "\n")
    with pytest.raises(IclkitError, match="line 2"):
        scan_predictions(tmp_path)
    with pytest.raises(IclkitError, match="missing"):
        scan_predictions(tmp_path / "elsewhere")
