"""``iclkit analyze icl-vs-ft`` end to end on a tiny random model saved to disk, and its user errors (exit 2)."""

import json

import pytest

from iclkit.cli.main import main
from iclkit.testing import tiny_llama, tiny_tokenizer


@pytest.fixture(scope="module")
def tiny_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("tiny-llama")
    tiny_llama().save_pretrained(path)
    tiny_tokenizer().save_pretrained(path)
    return str(path)


def test_command_writes_analysis_and_resumes(tiny_path, tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["analyze", "icl-vs-ft", "--model", tiny_path, "--task", "sst2", "--shots", "2", "--seeds", "0",
            "--limit", "3", "--lr", "0.01", "--kendall-n", "2", "--out", str(out), "--no-progress"]
    assert main(argv) == 0
    analysis = json.loads((out / "analysis.json").read_text())
    seed = analysis["seeds"][0]
    assert seed["demos"]["used"] == 2 and seed["lr"] == 0.01
    assert len(seed["main"]["per_layer"]["simam_after_ft"]) == 2
    assert analysis["dual_form"] and max(d["identity_rel_error"] for d in analysis["dual_form"]) < 1e-5
    assert (out / "seed0" / "zsl.npz").exists() and (out / "accuracy.png").exists()
    assert "ZSL acc %" in capsys.readouterr().out
    (out / "seed0" / "ft.npz").unlink()  # as if killed during FT: FT is recomputed, the rest is read back
    assert main(argv) == 0
    assert json.loads((out / "analysis.json").read_text())["summary"] == analysis["summary"]


def test_unhookable_model_is_a_one_line_error(tmp_path, capsys):
    from transformers import GPT2Config, GPT2LMHeadModel

    path = tmp_path / "gpt2"
    GPT2LMHeadModel(GPT2Config(vocab_size=len(tiny_tokenizer()), n_embd=32, n_layer=1, n_head=2)).save_pretrained(path)
    tiny_tokenizer().save_pretrained(path)
    argv = ["analyze", "icl-vs-ft", "--model", str(path), "--shots", "2", "--seeds", "0", "--limit", "2",
            "--lr", "0.01", "--out", str(tmp_path / "o"), "--no-progress"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "GPT2LMHeadModel" in err and "Traceback" not in err


@pytest.mark.parametrize("flags, message", [
    (["--record-pos", "middle"], "--record-pos"),
    (["--controls", "random"], "--controls"),
    (["--lr-selection", "test"], "--lr-selection"),
    (["--lr-grid", "fast"], "--lr-grid"),
])
def test_bad_flags_exit_2(flags, message, tiny_path, tmp_path, capsys):
    argv = ["analyze", "icl-vs-ft", "--model", tiny_path, "--shots", "2", "--seeds", "0", "--limit", "2",
            "--out", str(tmp_path / "o"), "--no-progress", *flags]
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_two_selection_modes_fine_tune_once_per_learning_rate(tiny_path, tmp_path, monkeypatch):
    from iclkit.analyze import finetune

    calls: list[float] = []
    real = finetune.finetune_kv
    monkeypatch.setattr(finetune, "finetune_kv", lambda model, seqs, lr, **kw: calls.append(lr) or real(
        model, seqs, lr, **kw))
    argv = ["analyze", "icl-vs-ft", "--model", tiny_path, "--task", "sst2", "--shots", "2", "--seeds", "0",
            "--limit", "4", "--lr-selection", "heldout,eval", "--lr-grid", "0.1,0.01", "--heldout-n", "3",
            "--kendall-n", "2", "--out", str(tmp_path / "run"), "--no-progress"]
    assert main(argv) == 0
    seed = json.loads((tmp_path / "run" / "analysis.json").read_text())["seeds"][0]
    assert set(seed["lr_selection"]) == {"heldout", "eval"}
    # one FT per grid value shared by both modes, then the recorded FT at the chosen rate
    assert sorted(calls[:2]) == [0.01, 0.1] and len(calls) == 3 and calls[2] == seed["lr"]


def test_requesting_a_control_does_not_change_the_held_out_slice(tiny_path, tmp_path, monkeypatch):
    from iclkit.analysis_materials import Workbench

    excluded: list[set[str]] = []  # what the held-out LR slice must avoid: on a small pool it decides the slice
    real = Workbench.heldout
    monkeypatch.setattr(Workbench, "heldout", lambda self, exclude: excluded.append(set(exclude)) or real(
        self, exclude))
    for controls in ("", "other-demos"):
        argv = ["analyze", "icl-vs-ft", "--model", tiny_path, "--task", "sst2", "--shots", "2", "--seeds", "0",
                "--limit", "3", "--lr-selection", "heldout", "--lr-grid", "0.01", "--heldout-n", "4",
                "--kendall-n", "2", "--controls", controls, "--out", str(tmp_path / f"run{controls}"),
                "--no-progress"]
        assert main(argv) == 0
    # the demonstrations and the other-demos control's set, in both runs
    assert len(excluded) == 2 and excluded[0] == excluded[1] and len(excluded[0]) == 4
