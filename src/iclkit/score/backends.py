"""Name registry of scoring back-ends. Every back-end implements ``LanguageModel`` and a ``load`` classmethod:

    load(model: str, *, device: str | None, max_length: int | None, batch_size: int, **options) -> LanguageModel

``model`` is whatever the back-end understands (an embedded short name, a hub id, a local path, a GGUF file, or the
model name a server expects). ``options`` come from the run config's ``backend_options``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from iclkit.errors import IclkitError
from iclkit.registry import Registry
from iclkit.score.base import LanguageModel

BACKENDS: Registry[type] = Registry("backend")
BACKENDS.register("hf", "iclkit.score.hf:HFLM")
BACKENDS.register("llamacpp", "iclkit.score.llamacpp:LlamaCppLM")
BACKENDS.register("openai", "iclkit.score.openai_api:OpenAICompletionsLM")
BACKENDS.register("openai-chat", "iclkit.score.openai_chat:OpenAIChatLM")
BACKENDS.register("vllm", "iclkit.score.vllm_backend:VLLMLM")


def load_backend(name: str, model: str, *, device: str | None = None, max_length: int | None = None,
                 batch_size: int = 32, options: Mapping[str, Any] | None = None) -> LanguageModel:
    """Load ``model`` with back-end ``name``, naming the back-end when an option is not understood."""
    cls = BACKENDS.get(name)
    try:
        return cls.load(model, device=device, max_length=max_length, batch_size=batch_size, **dict(options or {}))
    except TypeError as exc:
        raise IclkitError(f"backend '{name}': bad option ({exc})") from None
