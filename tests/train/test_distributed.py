"""Two processes (DDP on CPU through ``accelerate launch``) follow the same loss curve as one process.

accelerate 1.15's ``launch --cpu --num_processes 2`` starts a single process unless an MPI hostfile is given, so the
two CPU processes are started with the torchrun launcher (``--multi_gpu``), which on a machine without GPUs (or with
``ACCELERATE_USE_CPU=1``) gives gloo DDP on CPU (``DistributedType.MULTI_CPU``): the same code path as on GPUs.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

WORKER = Path(__file__).with_name("ddp_worker.py")
FSDP_STATE_WORKER = Path(__file__).with_name("fsdp_state_worker.py")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_launch(args: list[str], **env_changes: str | None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "OMP_NUM_THREADS": "1", "ACCELERATE_USE_CPU": "1"}
    env.update(env_changes)
    env = {k: v for k, v in env.items() if v is not None}
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=600, check=False)


def accelerate_launch(*flags: str) -> list[str]:
    return [sys.executable, "-m", "accelerate.commands.launch", *flags, "--num_processes", "2", "--num_machines", "1",
            "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", str(free_port())]


def launch(args: list[str], out: Path | None) -> list[dict]:
    proc = run_launch(args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    if out is None:
        return []
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def test_two_processes_equal_one_process(tmp_path):
    one = launch([sys.executable, str(WORKER), str(tmp_path / "one"), "2"], tmp_path / "one")
    two = launch([*accelerate_launch("--multi_gpu"), str(WORKER), str(tmp_path / "two"), "2"], tmp_path / "two")
    assert json.loads((tmp_path / "one" / "launch.json").read_text()) == {"num_processes": 1, "accumulation": 2,
                                                                          "distributed_type": "NO"}
    assert json.loads((tmp_path / "two" / "launch.json").read_text()) == {"num_processes": 2, "accumulation": 1,
                                                                          "distributed_type": "MULTI_CPU"}
    assert [r["examples"] for r in one] == [r["examples"] for r in two]
    assert [r["tokens"] for r in one] == [r["tokens"] for r in two]
    for a, b in zip(one, two):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-4, abs=1e-5)
    assert one[-1]["loss"] != pytest.approx(one[0]["loss"], rel=1e-3)  # it trained: the curve is not flat


def test_two_processes_resume_from_their_checkpoint_exactly(tmp_path):
    """A DDP run that crashed after its step-2 checkpoint and is relaunched (parameters and optimizer state loaded
    back in every process) follows the uninterrupted one-process curve."""
    one = launch([sys.executable, str(WORKER), str(tmp_path / "one"), "2"], tmp_path / "one")
    two = tmp_path / "two"
    crashed = run_launch([*accelerate_launch("--multi_gpu"), str(WORKER), str(two), "1", "2"])
    assert crashed.returncode != 0 and "simulated crash" in crashed.stderr, crashed.stderr[-3000:]
    assert (two / "checkpoints" / "LATEST").read_text() == "step-00000002"
    resumed = launch([*accelerate_launch("--multi_gpu"), str(WORKER), str(two), "1"], two)
    assert [r["step"] for r in resumed] == [1, 2, 3, 4]
    assert [r["examples"] for r in resumed] == [r["examples"] for r in one]
    for a, b in zip(one, resumed):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-4, abs=1e-5)


def test_fsdp_sharded_optimizer_state_is_saved_whole_and_resumes_exactly(tmp_path):
    """Under torch FSDP2 (``fully_shard``) on two CPU processes, iclkit.train.full_state gathers the sharded
    optimizer state into the one-process state, and loading it back (sharded, or into one process) continues
    training exactly. With rank 0's ``optimizer.state_dict()`` in its place (the old checkpoint), the restored
    fourth-step loss was 5.622 instead of 5.574 (checked by hand), so the loss comparison catches a partial state."""
    two = tmp_path / "two"
    launch([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(free_port()),
            str(FSDP_STATE_WORKER), str(two)], None)
    launch([sys.executable, str(FSDP_STATE_WORKER), str(tmp_path / "one")], None)
    launch([sys.executable, str(FSDP_STATE_WORKER), str(tmp_path / "cross"), str(two / "state.pt")], None)
    results = {name: json.loads((tmp_path / name / "result.json").read_text()) for name in ("one", "two", "cross")}
    assert results["two"]["world_size"] == 2 and results["two"]["local_shape"] == [200, 64]  # really sharded
    assert results["two"]["param_shape"] == results["one"]["local_shape"] == [400, 64]
    for name, result in results.items():  # restored = uninterrupted, also across process counts ("cross")
        assert result["restored_losses"] == pytest.approx(results["one"]["losses"][2:], abs=1e-5), name
        assert result["losses"] == pytest.approx(results["one"]["losses"], abs=1e-5), name
    import torch

    gathered = torch.load(two / "state.pt", weights_only=True)["optimizer"]["state"]
    reference = torch.load(tmp_path / "one" / "state.pt", weights_only=True)["optimizer"]["state"]
    assert sorted(gathered) == sorted(reference)
    for name, state in reference.items():
        for key in ("exp_avg", "exp_avg_sq"):
            torch.testing.assert_close(gathered[name][key], state[key], rtol=1e-4, atol=1e-6, msg=name)


@pytest.mark.parametrize("flags, env", [
    # accelerate 1.15 drops the FSDP plugin on CPU processes and would run DDP: refused, not run as "FSDP"
    (("--use_fsdp", "--fsdp_version", "2", "--fsdp_sync_module_states", "false",
      "--fsdp_cpu_ram_efficient_loading", "false"), {}),
    # without ACCELERATE_USE_CPU on a machine without GPUs, each process would train alone into the same --out
    (("--multi_gpu",), {"ACCELERATE_USE_CPU": None, "CUDA_VISIBLE_DEVICES": ""}),
], ids=["fsdp-on-cpu", "cpu-without-ACCELERATE_USE_CPU"])
def test_launches_accelerate_would_silently_change_are_refused(tmp_path, flags, env):
    proc = run_launch([*accelerate_launch(*flags), str(WORKER), str(tmp_path / "out"), "2"], **env)
    assert proc.returncode != 0
    message = "FSDP was asked for" if "--use_fsdp" in flags else "launched as 2 processes, but accelerate set up 1"
    assert message in proc.stderr, proc.stderr[-3000:]
    assert not (tmp_path / "out" / "metrics.jsonl").exists()
