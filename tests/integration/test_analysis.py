"""The ICL-vs-FT study on the real embedded models: the dual form on real layers, and the command end to end."""

import json

import pytest

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("name", ["smollm2-135m", "gemma3-270m"])
def test_dual_form_identity_on_real_layers(name):
    """Linear attention over [demonstrations; query] = (W_ZSL + ΔW_ICL) q to 1e-5 in every layer and head of a real
    ICL forward (Gemma-3: sliding-window and global layers, GQA)."""
    from iclkit.analysis_materials import AnalysisConfig, Workbench
    from iclkit.analyze.dual_form import check_layers
    from iclkit.lm.hf import HFLM

    bench = Workbench(AnalysisConfig(model=name, shots=4, seeds=(0,), limit=2), HFLM.load(name), log=lambda s: None)
    row = bench.materials(bench.fitting(bench.demos(0))).icl_rows[0]
    report = check_layers(bench.lm.model, row.tokens[: row.position + 1], row.key_start)
    assert len(report) == bench.lm.model.config.num_hidden_layers
    assert max(layer["identity_rel_error"] for layer in report) < 1e-5
    assert all(-1 <= layer["softmax_cosine"] <= 1 for layer in report)


def test_cli_icl_vs_ft_runs_and_resumes(tmp_path, capsys):
    from iclkit.cli.main import main

    out = tmp_path / "a"
    argv = ["analyze", "icl-vs-ft", "--task", "sst2", "--model", "smollm2-135m", "--shots", "4", "--seeds", "0",
            "--limit", "6", "--lr-grid", "0.01,0.001", "--heldout-n", "6", "--kendall-n", "3", "--out", str(out),
            "--no-progress"]
    assert main(argv) == 0
    first = json.loads((out / "analysis.json").read_text())
    main_result = first["seeds"][0]["main"]
    assert set(main_result["accuracy"]) == {"zsl", "icl", "ft"}
    assert len(main_result["per_layer"]["simaou"]) == 30 and main_result["mean"]["kendall"] is not None
    assert first["seeds"][0]["lr_selection"]["heldout"]["lr"] in (0.01, 0.001)
    assert {p.name for p in out.glob("*.png")} >= {"simaou.png", "simam.png", "accuracy.png", "dual_form.png"}
    assert "simam_after_ft" in capsys.readouterr().out
    assert main(argv) == 0  # resumes from the stored records: identical numbers
    assert json.loads((out / "analysis.json").read_text())["summary"] == first["summary"]
    assert main([*argv, "--record-pos", "prompt_last"]) == 2  # other settings, same folder: refused
