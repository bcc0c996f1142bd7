from iclkit.cli.main import main


def test_unknown_names_exit_2_with_suggestion(capsys):
    assert main(["eval", "--task", "sst22", "--limit", "2"]) == 2
    err = capsys.readouterr().err
    assert "unknown task 'sst22'" in err and "did you mean 'sst2'" in err and "Traceback" not in err
    assert main(["eval", "--retriever", "bm52"]) == 2
    assert "did you mean 'bm25'" in capsys.readouterr().err


def test_bad_row_in_user_file_names_file_and_row(tmp_path, capsys):
    f = tmp_path / "d.jsonl"
    f.write_text('{"text": "ok", "label": "a"}\n{"txt": "oops", "label": "b"}\n')
    assert main(["eval", "--data-file", str(f), "--model", "smollm2-135m", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert str(f) in err and "row 2" in err and "text" in err


def test_tasks_and_models_listings(capsys):
    assert main(["tasks"]) == 0
    out = capsys.readouterr().out
    for name in ("sst2", "sst5", "mr", "subj", "agnews", "cb", "rte", "trec"):
        assert name in out
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "gemma3-270m" in out and "smollm2-135m" in out


def test_validate_every_shipped_config(capsys):
    from pathlib import Path

    configs = sorted(Path(__file__).resolve().parents[2].joinpath("configs").glob("*.yaml"))
    assert configs
    for path in configs:
        assert main(["validate", str(path)]) == 0, capsys.readouterr().err


def test_bad_config_key_is_named(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("task: sst2\nshot: 4\n")
    assert main(["validate", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "unknown key 'shot'" in err and "did you mean 'shots'" in err


def _crash_with(monkeypatch, exc):
    from iclkit.cli import evaluate

    def boom(args):
        raise exc
    monkeypatch.setattr(evaluate, "cmd_eval", boom)


def test_a_bug_prints_one_line_and_logs_the_traceback(monkeypatch, tmp_path, capsys):
    import pytest

    monkeypatch.setenv("ICLKIT_CACHE", str(tmp_path))
    _crash_with(monkeypatch, RuntimeError("kaboom\nsecond line"))
    assert main(["eval"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "internal error: RuntimeError: kaboom" in err[0] and "Traceback" not in err[0]
    logs = list((tmp_path / "logs").glob("error-*.log"))
    assert len(logs) == 1 and str(logs[0]) in err[0]
    assert "Traceback" in logs[0].read_text() and "kaboom" in logs[0].read_text()
    with pytest.raises(RuntimeError, match="kaboom"):  # --debug shows the real traceback
        main(["--debug", "eval"])


def test_backend_and_environment_failures_exit_3(monkeypatch, tmp_path, capsys):
    from iclkit.errors import BackendError

    monkeypatch.setenv("ICLKIT_CACHE", str(tmp_path))
    _crash_with(monkeypatch, BackendError("server at http://127.0.0.1:9/v1 unreachable after 5 retries"))
    assert main(["eval"]) == 3
    assert "unreachable" in capsys.readouterr().err
    _crash_with(monkeypatch, OSError(28, "No space left on device", "/data/run/predictions.jsonl"))
    assert main(["eval"]) == 3
    err = capsys.readouterr().err
    assert "/data/run/predictions.jsonl" in err and "No space left" in err and len(err.strip().splitlines()) == 1


def test_progress_bar_shows_examples_per_second_and_eta():
    from rich.console import Console

    from iclkit.cli.evaluate import _progress_bar

    console = Console(width=160, record=True, color_system=None, force_terminal=False)
    progress = _progress_bar(console)
    task = progress.add_task("scoring", total=100)
    columns = progress.columns
    rate = next(c for c in columns if type(c).__name__ == "ExamplesPerSecond")
    assert str(rate.render(progress.tasks[0])) == "– ex/s"  # no rate before two chunks
    for done in (16, 32, 48):
        progress.update(task, completed=done)
    samples = progress.tasks[0]._progress  # chunks finished at 0 s, 8 s and 16 s
    for i, t in enumerate((0.0, 8.0, 16.0)):
        samples[i] = samples[i]._replace(timestamp=t)
    assert str(rate.render(progress.tasks[0])) == "2.00 ex/s"  # 32 examples in 16 s
    names = [type(c).__name__ for c in columns]
    assert "TimeRemainingColumn" in names and "MofNCompleteColumn" in names
