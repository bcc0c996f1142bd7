"""The trainer: learns a trivial ICL task, resumes after a crash with the same data and loss, checkpoints atomically,
refuses corrupt or mismatched checkpoints, and saves a model folder ``iclkit eval`` loads."""

from __future__ import annotations

import errno
import json

import pytest

from iclkit.data.tasks import load_task
from iclkit.errors import BackendError, IclkitError
from iclkit.testing import tiny_llama, tiny_tokenizer
from iclkit.train import checkpoint
from iclkit.train.model import apply_lora
from iclkit.train.trainer import TrainConfig, Trainer, global_batch
from iclkit.train.warmup import TaskData, build_icl_tuning, build_metaicl
from iclkit.types import Example

WORDS = ("great", "awful", "boring", "fun", "movie", "film", "plot", "acting")


def copy_task_examples(n: int = 24, restricted: bool = False):
    """A trivially learnable ICL task: every demonstration in a prompt carries the label of the query (MetaICL's
    format; with ``restricted``, in-context tuning's template and verbalizer-restricted loss)."""
    pool = tuple(Example(str(i), {"text": f"the {WORDS[i % 8]} {WORDS[(i * 3) % 8]}"},
                         "positive" if i % 2 else "negative") for i in range(n))
    tasks = [TaskData(load_task("sst2"), pool)]
    if restricted:
        return build_icl_tuning(tasks, shots=2, per_task=n, seed=0, label_loss="restricted")
    return build_metaicl(tasks, shots=2, per_task=n, seed=0)


def run(tmp_path, name="run", on_step=None, restricted=False, **overrides):
    settings = {"out": str(tmp_path / name), "steps": 6, "batch_size": 4, "micro_batch_size": 2, "lr": 5e-3,
                "save_every": 2, "progress": False, "lora_rank": 4}
    settings.update(overrides)
    trainer = Trainer(tiny_llama(), tiny_tokenizer(), copy_task_examples(restricted=restricted),
                      TrainConfig(**settings), identity={"model": "tiny"}, on_step=on_step)
    return trainer.train()


def rows(result):
    return [json.loads(line) for line in result.metrics_path.read_text().splitlines()]


@pytest.mark.parametrize("settings", [
    {"steps": 16, "lr": 3e-2},
    # the restricted loss starts at log 2 (two labels) and can only fall by learning the labels themselves
    {"steps": 30, "lr": 3e-3, "batch_size": 8, "micro_batch_size": 4, "save_every": 100, "restricted": True},
], ids=["lm-loss", "restricted-loss"])
def test_training_reduces_the_loss_on_a_learnable_task(tmp_path, settings):
    result = run(tmp_path, lora=False, **settings)
    losses = [r["loss"] for r in rows(result)]
    assert sum(losses[-4:]) / 4 < 0.6 * sum(losses[:4]) / 4
    assert all(r["tokens"] > 0 and r["tokens_per_s"] > 0 for r in rows(result))


def test_resume_after_crash_continues_with_the_same_data_and_loss(tmp_path):
    reference = rows(run(tmp_path, "reference"))

    def crash(step, loss):
        if step == 5:
            raise RuntimeError("simulated crash")

    with pytest.raises(RuntimeError, match="simulated crash"):
        run(tmp_path, "crashed", on_step=crash)
    assert checkpoint.latest_checkpoint(tmp_path / "crashed").name == "step-00000004"
    resumed = rows(run(tmp_path, "crashed"))
    assert [r["step"] for r in resumed] == [1, 2, 3, 4, 5, 6]
    assert [r["examples"] for r in resumed] == [r["examples"] for r in reference]
    for got, want in zip(resumed, reference):
        assert got["loss"] == pytest.approx(want["loss"], abs=1e-5)


def test_checkpoint_holds_the_whole_optimizer_state_by_parameter_name(tmp_path):
    import torch

    run(tmp_path, steps=2, lora=False)
    state = torch.load(checkpoint.latest_checkpoint(tmp_path / "run") / "optimizer.pt", weights_only=True)
    names = [n for n, p in tiny_llama().named_parameters() if p.requires_grad]
    assert sorted(state["optimizer"]["state"]) == sorted(names)  # every parameter, by name, not by position
    shapes = {n: p.shape for n, p in tiny_llama().named_parameters()}
    assert all(s["exp_avg"].shape == shapes[n] for n, s in state["optimizer"]["state"].items())


def test_checkpoint_with_positional_optimizer_state_still_resumes(tmp_path, monkeypatch):
    """Checkpoints written before the state was gathered by name (``optimizer.state_dict()``) resume exactly."""
    from iclkit.train import full_state

    reference = rows(run(tmp_path, "reference"))
    real_gather = full_state.gather_optimizer_state
    monkeypatch.setattr(full_state, "gather_optimizer_state", lambda model, optimizer: optimizer.state_dict())

    def crash(step, loss):
        if step == 5:
            raise RuntimeError("simulated crash")

    with pytest.raises(RuntimeError, match="simulated crash"):
        run(tmp_path, "old", on_step=crash)
    monkeypatch.setattr(full_state, "gather_optimizer_state", real_gather)
    resumed = rows(run(tmp_path, "old"))
    assert [r["examples"] for r in resumed] == [r["examples"] for r in reference]
    for got, want in zip(resumed, reference):
        assert got["loss"] == pytest.approx(want["loss"], abs=1e-5)


def test_rerunning_a_finished_run_reports_its_last_loss(tmp_path):
    first = run(tmp_path, steps=2)
    again = run(tmp_path, steps=2)
    assert again.final_loss == pytest.approx(first.final_loss) and len(rows(again)) == 2


def test_trackers_that_are_not_installed_are_a_user_error():
    import importlib.util

    if importlib.util.find_spec("tensorboard") is not None:
        pytest.skip("tensorboard is installed")
    with pytest.raises(IclkitError, match="tensorboard.*not installed"):
        Trainer(tiny_llama(), tiny_tokenizer(), copy_task_examples(), TrainConfig(out="x", report_to=("tensorboard",)))


def test_data_order_is_a_pure_function_of_seed_and_step():
    a = [global_batch(s, n=10, batch_size=4, seed=3) for s in range(5)]
    assert a == [global_batch(s, n=10, batch_size=4, seed=3) for s in range(5)]
    assert sorted(a[0] + a[1] + a[2][:2]) == list(range(10))  # one epoch is a permutation


def test_disk_full_during_a_checkpoint_keeps_the_previous_one(tmp_path, monkeypatch):
    import torch

    run(tmp_path, steps=2)
    real_save = torch.save

    def full_disk(obj, path, *args, **kwargs):
        real_save(obj, path, *args, **kwargs)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.raises(BackendError, match="step-00000002 is intact"):
        run(tmp_path, steps=4)
    monkeypatch.setattr(torch, "save", real_save)
    out = tmp_path / "run"
    assert checkpoint.latest_checkpoint(out).name == "step-00000002"
    assert not list(checkpoint.checkpoints_dir(out).glob(".*.tmp"))
    assert run(tmp_path, steps=4).steps == 4  # and the run goes on from it


def test_corrupt_checkpoint_is_a_clear_error(tmp_path):
    run(tmp_path, steps=2)
    weights = checkpoint.latest_checkpoint(tmp_path / "run") / "trainable.safetensors"
    weights.write_bytes(weights.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(IclkitError, match="corrupt.*trainable.safetensors"):
        run(tmp_path, steps=4)


def test_checkpoint_of_another_setup_is_refused(tmp_path):
    run(tmp_path, steps=2)
    with pytest.raises(IclkitError, match="does not match.*lr"):
        run(tmp_path, steps=4, lr=1e-3)
    assert run(tmp_path, steps=2, lr=1e-3, resume=False).steps == 2  # --no-resume starts over


def test_lora_target_that_matches_nothing_names_the_modules():
    with pytest.raises(IclkitError, match="qproj.*q_proj.*v_proj"):
        apply_lora(tiny_llama(), targets=("qproj",))


def test_global_batch_must_split_evenly():
    with pytest.raises(IclkitError, match="multiple"):
        Trainer(tiny_llama(), tiny_tokenizer(), copy_task_examples(), TrainConfig(out="x", batch_size=3,
                                                                                   micro_batch_size=2))


def test_saved_model_folder_loads_in_iclkit_eval(tmp_path, capsys):
    from iclkit.cli.main import main

    result = run(tmp_path, steps=2)
    assert (result.model_dir / "config.json").exists() and (result.model_dir / "iclkit_training.json").exists()
    code = main(["eval", "--task", "sst2", "--model", str(result.model_dir), "--shots", "1", "--limit", "3",
                 "--out", str(tmp_path / "eval")])
    assert code == 0, capsys.readouterr().err
    assert (tmp_path / "eval" / "summary.json").exists()
