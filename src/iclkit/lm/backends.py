"""Name registry of scoring back-ends. Every back-end implements ``LanguageModel`` and a ``load`` classmethod:

    load(model: str, *, device: str | None, max_length: int | None, batch_size: int, **options) -> LanguageModel

``model`` is whatever the back-end understands (an embedded short name, a hub id, a local path, a GGUF file, or the
model name a server expects). ``options`` come from the run config's ``backend_options``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from iclkit.errors import IclkitError
from iclkit.lm.base import LanguageModel
from iclkit.registry import Registry

BACKENDS: Registry[type] = Registry("backend")
BACKENDS.register("hf", "iclkit.lm.hf:HFLM")
BACKENDS.register("llamacpp", "iclkit.lm.llamacpp:LlamaCppLM")
BACKENDS.register("openai", "iclkit.lm.openai_api:OpenAICompletionsLM")
BACKENDS.register("openai-chat", "iclkit.lm.openai_chat:OpenAIChatLM")
BACKENDS.register("vllm", "iclkit.lm.vllm_backend:VLLMLM")


# Filled by the pipeline for every back-end; users set them with their own config keys, not backend_options.
COMMON_ARGUMENTS = ("model", "name", "device", "max_length", "batch_size")


def check_backend_options(name: str, options: Mapping[str, Any]) -> None:
    """Refuse ``backend_options`` the back-end does not take, before anything is loaded.

    A back-end whose ``load`` forwards ``**kwargs`` to a third-party constructor checks them itself through an
    optional ``check_extra_options(options)`` classmethod (llama.cpp); vLLM's own constructor names a bad one.
    """
    from iclkit.registry import check_options, keyword_options

    cls = BACKENDS.get(name)
    where = f"backend '{name}' (backend_options)"
    for key in options:
        if key in COMMON_ARGUMENTS:
            raise IclkitError(f"{where}: '{key}' is a run setting; set the config key '{key}' (--{key.replace('_', '-')})"
                              if key != "name" else f"{where}: 'name' is the config key 'model'")
    check_options(where, cls.load, options, exclude=COMMON_ARGUMENTS)
    known, open_ended = keyword_options(cls.load, exclude=COMMON_ARGUMENTS)
    extra = {k: v for k, v in options.items() if k not in known}
    if open_ended and extra and hasattr(cls, "check_extra_options"):
        cls.check_extra_options(extra)


def load_backend(name: str, model: str, *, device: str | None = None, max_length: int | None = None,
                 batch_size: int = 32, options: Mapping[str, Any] | None = None) -> LanguageModel:
    """Load ``model`` with back-end ``name``, naming the back-end when an option is not understood."""
    cls = BACKENDS.get(name)
    try:
        return cls.load(model, device=device, max_length=max_length, batch_size=batch_size, **dict(options or {}))
    except TypeError as exc:
        raise IclkitError(f"backend '{name}': bad option ({exc})") from None
