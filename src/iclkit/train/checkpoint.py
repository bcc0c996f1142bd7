"""Training checkpoints that survive crashes: written atomically, checked on load, refused when they do not match.

Layout under ``<out>/checkpoints/``: one ``step-NNNNNNNN/`` folder per checkpoint (``trainable.safetensors``: the
trainable parameters; ``optimizer.pt``: optimizer, scheduler and RNG states; ``state.json``: step, the run's
identity and a SHA-256 per file) and ``LATEST`` naming the newest one. A checkpoint is written into a hidden
temporary folder, flushed to disk, then renamed into place, and only then does ``LATEST`` move (itself replaced by
rename). A crash or a full disk during a write therefore leaves the previous checkpoint and ``LATEST`` intact.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from iclkit.errors import BackendError, IclkitError

FILES = ("trainable.safetensors", "optimizer.pt")


def checkpoints_dir(out: Path) -> Path:
    return Path(out) / "checkpoints"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_synced(path: Path, data: bytes) -> None:
    with path.open("wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _fsync(path: Path) -> None:
    with path.open("rb") as fh:
        os.fsync(fh.fileno())


def save_checkpoint(out: Path, step: int, *, trainable: Mapping[str, Any], training_state: Mapping[str, Any],
                    identity: Mapping[str, Any], keep: int = 2) -> Path:
    """Write checkpoint ``step`` atomically and prune all but the newest ``keep``; returns its folder."""
    import torch
    from safetensors.torch import save_file

    root = checkpoints_dir(out)
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step-{step:08d}"
    tmp = root / f".step-{step:08d}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir()
        save_file({k: v.contiguous() for k, v in trainable.items()}, str(tmp / FILES[0]))
        torch.save(dict(training_state), tmp / FILES[1])
        for name in FILES:
            _fsync(tmp / name)
        state = {"step": step, "identity": dict(identity), "sha256": {n: _sha256(tmp / n) for n in FILES}}
        _write_synced(tmp / "state.json", json.dumps(state, indent=2).encode())
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
        _write_synced(root / ".LATEST.tmp", final.name.encode())
        os.replace(root / ".LATEST.tmp", root / "LATEST")
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        previous = latest_checkpoint(out)
        kept = f"the previous checkpoint {previous.name} is intact" if previous else "no earlier checkpoint exists"
        raise BackendError(f"could not write checkpoint {final} ({exc.strerror or exc}); {kept}") from None
    _prune(root, keep)
    return final


def _prune(root: Path, keep: int) -> None:
    folders = sorted(p for p in root.glob("step-*") if p.is_dir())
    for old in folders[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)


def latest_checkpoint(out: Path) -> Path | None:
    """The folder ``LATEST`` names, or ``None`` when the run has no checkpoint yet."""
    pointer = checkpoints_dir(out) / "LATEST"
    if not pointer.exists():
        return None
    folder = checkpoints_dir(out) / pointer.read_text().strip()
    if not folder.is_dir():
        raise IclkitError(f"{pointer} names {folder.name}, which does not exist; the checkpoint folder is damaged "
                          "(delete it, or train into a new --out)")
    return folder


def load_checkpoint(folder: Path, identity: Mapping[str, Any]) -> tuple[int, dict[str, Any], dict[str, Any]]:
    """(step, trainable tensors, training state) of a checkpoint, after checking its files and its identity.

    Raises :class:`IclkitError` for a corrupt checkpoint (unreadable ``state.json``, a missing file, a checksum
    mismatch) and for one made by a different run (model, method, data, batch, LoRA settings...).
    """
    import torch
    from safetensors.torch import load_file

    try:
        state = json.loads((folder / "state.json").read_text())
        step, saved_identity, sums = int(state["step"]), state["identity"], state["sha256"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise IclkitError(f"checkpoint {folder} is corrupt: cannot read state.json ({exc})") from None
    for name in FILES:
        path = folder / name
        if not path.exists() or _sha256(path) != sums.get(name):
            raise IclkitError(f"checkpoint {folder} is corrupt: {name} is missing or does not match its checksum")
    check_identity(saved_identity, identity, folder)
    trainable = load_file(str(folder / FILES[0]))
    training_state = torch.load(folder / FILES[1], weights_only=True)
    return step, trainable, training_state


def check_identity(saved: Mapping[str, Any], current: Mapping[str, Any], folder: Path) -> None:
    """Refuse to resume a checkpoint made with a different model, data or training setup."""
    differ = [k for k in sorted(set(saved) | set(current)) if saved.get(k) != current.get(k)]
    if differ:
        detail = "; ".join(f"{k}: checkpoint {saved.get(k)!r} vs now {current.get(k)!r}" for k in differ)
        raise IclkitError(f"checkpoint {folder} does not match this run ({detail}); use another --out, "
                          "or --no-resume to start over")
