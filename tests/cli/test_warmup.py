"""``iclkit warmup``: the train/eval split is checked before any model loads; user errors are one line, exit 2."""

from __future__ import annotations

import json

import pytest

from iclkit.cli.main import main
from iclkit.testing import tiny_llama, tiny_tokenizer
from iclkit.train.run import WarmupConfig, build_examples, run_warmup
from iclkit.train.trainer import TrainConfig


def test_overlapping_task_lists_are_refused_naming_the_overlap(tmp_path, capsys):
    code = main(["warmup", "--method", "metaicl", "--tasks", "trec,sst2", "--eval-tasks", "sst2,mr",
                 "--examples-per-task", "5", "--out", str(tmp_path / "w")])
    err = capsys.readouterr().err
    assert code == 2 and "['sst2']" in err and "--allow-overlap" in err and "Traceback" not in err
    assert not (tmp_path / "w" / "model").exists()


def test_allow_overlap_warns_and_trains(tmp_path):
    train = TrainConfig(out=str(tmp_path / "w"), steps=2, batch_size=2, max_length=128, progress=False)
    config = WarmupConfig(method="metaicl", model="tiny", train=train, tasks=("cb",), eval_tasks=("cb",),
                          allow_overlap=True, shots=1, per_task=4)
    with pytest.warns(UserWarning, match=r"\['cb'\] are also evaluation tasks"):
        result = run_warmup(config, model=tiny_llama(), tokenizer=tiny_tokenizer())
    assert (result.model_dir / "config.json").exists()
    sample = [json.loads(line) for line in (tmp_path / "w" / "data_sample.jsonl").read_text().splitlines()]
    assert len(sample) == 4 and all(s["task"] == "cb" for s in sample)


def test_training_inputs_found_in_evaluation_sets_are_removed():
    from iclkit.train.run import _eval_inputs, load_train_tasks
    from iclkit.train.warmup import input_text

    held_out = _eval_inputs(("mr", "subj"))
    with pytest.warns(UserWarning, match="removed training examples.*from sst5"):
        build_examples(WarmupConfig(method="metaicl", model="tiny", tasks=("sst5",), per_task=2,
                                    train=TrainConfig(out="x")))
    (sst5,), _ = load_train_tasks(("sst5",), held_out)
    assert not any(input_text(sst5.spec, ex) in held_out for ex in sst5.pool)
    # the figures docs/training.md quotes: SST-5 train holds MR and Subj test sentences, no SST-2 or AG News ones
    per_eval_task = {name: load_train_tasks(("trec", "rte", "sst5", "cb"), _eval_inputs((name,)))[1]
                     for name in ("sst2", "mr", "subj", "agnews")}
    assert per_eval_task == {"sst2": {}, "mr": {"sst5": 677}, "subj": {"sst5": 244}, "agnews": {}}


def test_every_method_builds(tmp_path):
    for method in ("metaicl", "icl-tuning", "instruct", "symbol", "selfsup"):
        config = WarmupConfig(method=method, model="tiny", per_task=3, shots=2, tasks=("trec", "rte", "cb"),
                              train=TrainConfig(out=str(tmp_path), steps=2, batch_size=2))
        examples = build_examples(config)
        assert examples and all(ex.target for ex in examples)


@pytest.mark.parametrize("argv, message", [
    (["--steps", "0"], "--steps must be at least 1"),
    (["--model", "nosuchmodel"], "unknown model"),
    (["--method", "selfsup", "--corpus", "/nonexistent.txt"], "does not exist"),
    (["--label-loss", "restricted"], "--label-loss applies to --method icl-tuning only, not to metaicl"),
    (["--method", "selfsup", "--label-loss", "restricted"], "--label-loss applies to --method icl-tuning only"),
    (["--method", "icl-tuning", "--templates", "7"], "--templates must be between 1 and 5"),
    (["--method", "icl-tuning", "--instruct-share", "0.5"], "--instruct-share applies to --method symbol only"),
])
def test_bad_flags_are_one_line_errors(tmp_path, capsys, argv, message):
    base = ["warmup", "--method", "metaicl", "--out", str(tmp_path / "w")]
    assert main(base + argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_icl_tuning_with_the_restricted_loss_trains_and_records_it(tmp_path):
    train = TrainConfig(out=str(tmp_path / "w"), steps=2, batch_size=2, max_length=128, progress=False)
    config = WarmupConfig(method="icl-tuning", model="tiny", train=train, tasks=("sst2",), eval_tasks=("mr",),
                          shots=1, per_task=4, label_loss="restricted", templates=3)
    result = run_warmup(config, model=tiny_llama(), tokenizer=tiny_tokenizer())
    saved = json.loads((result.model_dir / "iclkit_training.json").read_text())
    assert saved["identity"]["label_loss"] == "restricted" and saved["identity"]["templates"] == 3
    sample = json.loads((tmp_path / "w" / "data_sample.jsonl").read_text().splitlines()[0])
    assert sample["target"] in sample["choices"] and len(sample["choices"]) == 2
    # two labels: the restricted loss of an untrained model is near log 2, far below a full-vocabulary loss
    assert 0.2 < result.final_loss < 2.0
