import pytest

from iclkit.cli.main import main
from iclkit.testing import tiny_experiment


@pytest.fixture(scope="module")
def experiment(tmp_path_factory):
    return tiny_experiment(tmp_path_factory.mktemp("cli-report") / "exp")


def test_report_of_an_experiment_folder(experiment, tmp_path, capsys):
    out = tmp_path / "r.html"
    assert main(["report", str(experiment), "-o", str(out)]) == 0
    assert f"report written to {out}" in capsys.readouterr().out
    assert out.stat().st_size > 10_000 and (tmp_path / "r_files" / "overview.png").exists()


def test_default_output_is_inside_the_single_run_dir(experiment, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["report", str(experiment / "bm25-2")]) == 0
    assert (experiment / "bm25-2" / "report.html").exists()
    assert main(["report", str(experiment / "bm25-2"), str(experiment / "zero-shot")]) == 0
    assert (tmp_path / "report.html").exists()


def test_path_without_runs_exits_2_naming_it(tmp_path, capsys):
    (tmp_path / "nothing").mkdir()
    assert main(["report", str(tmp_path / "nothing")]) == 2
    err = capsys.readouterr().err
    assert str(tmp_path / "nothing") in err and "no runs found" in err and "Traceback" not in err
    assert main(["report", str(tmp_path / "typo")]) == 2
    assert str(tmp_path / "typo") in capsys.readouterr().err


def test_unwritable_output_exits_2(experiment, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["report", str(experiment / "bm25-2"), "-o", str(blocker / "r.html")]) == 2
    err = capsys.readouterr().err
    assert "cannot write the report" in err and str(blocker) in err
