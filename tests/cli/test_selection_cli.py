"""``iclkit tune`` and ``iclkit compare`` stop on bad input with one line and exit code 2, before loading a model."""

from iclkit.cli.main import main


def test_tune_rejects_a_misspelt_retriever_in_its_space(capsys):
    assert main(["tune", "--task", "sst2", "--retrievers", "random,dppp"]) == 2
    err = capsys.readouterr().err
    assert "did you mean 'dpp'" in err and "Traceback" not in err


def test_compare_rejects_options_for_a_method_not_in_the_grid(capsys):
    assert main(["compare", "--methods", "random,dpp", "--set", "mdl.window=4"]) == 2
    assert "METHOD.KEY=VALUE" in capsys.readouterr().err
    assert main(["compare", "--methods", "random:globalee"]) == 2
    assert "did you mean 'globale'" in capsys.readouterr().err
    assert main(["compare", "--methods", "votek,votek=dpp"]) == 2
    assert "votek appears twice" in capsys.readouterr().err
    assert main(["compare", "--methods", "v2=votek", "--set", "votek.two_stage=true"]) == 2
    assert "METHOD one of v2" in capsys.readouterr().err


def test_eval_accepts_batch_calibration_and_rejects_others(capsys):
    assert main(["eval", "--calibration", "platt", "--limit", "2"]) == 2
    assert "none, contextual, batch" in capsys.readouterr().err
