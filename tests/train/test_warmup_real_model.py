"""``iclkit warmup`` on the real SmolLM2-135M (one short LoRA step), then ``iclkit eval`` on the saved folder."""

from __future__ import annotations

import json

import pytest

from iclkit.cli.main import main


@pytest.mark.integration
def test_warmup_one_step_then_eval_the_saved_model(tmp_path, capsys):
    out = tmp_path / "w"
    code = main(["warmup", "--method", "metaicl", "--model", "smollm2-135m", "--tasks", "cb", "--shots", "1",
                 "--examples-per-task", "4", "--steps", "1", "--batch-size", "1", "--max-length", "96",
                 "--no-progress", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    row = json.loads((out / "metrics.jsonl").read_text().splitlines()[0])
    assert row["step"] == 1 and row["loss"] > 0
    code = main(["eval", "--task", "sst2", "--model", str(out / "model"), "--shots", "0", "--limit", "4",
                 "--out", str(tmp_path / "eval")])
    assert code == 0, capsys.readouterr().err
    summary = json.loads((tmp_path / "eval" / "summary.json").read_text())
    assert 0.0 <= summary["metrics"]["accuracy"]["value"] <= 1.0


@pytest.mark.integration
def test_restricted_label_loss_encodes_every_held_out_training_task_on_smollm2(tmp_path, capsys):
    """In-context tuning's restricted loss needs verbalizers with distinct first tokens in the real tokenizer: on
    TREC, RTE, SST-5 and CB with every template, and its first loss is near log(number of labels) (a softmax over the
    verbalizer tokens, not the 49k-token vocabulary)."""
    out = tmp_path / "ict"
    code = main(["warmup", "--method", "icl-tuning", "--label-loss", "restricted", "--templates", "5",
                 "--model", "smollm2-135m", "--shots", "1", "--examples-per-task", "30", "--steps", "1",
                 "--batch-size", "1", "--max-length", "128", "--no-progress", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    loss = json.loads((out / "metrics.jsonl").read_text().splitlines()[0])["loss"]
    assert 0.0 < loss < 3.0  # log 6 = 1.79 for TREC; a full-vocabulary loss on a label word is usually far higher
