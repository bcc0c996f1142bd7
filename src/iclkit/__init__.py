"""iclkit: in-context learning with language models.

The public API is loaded lazily, so ``import iclkit`` imports neither torch nor sentence-transformers::

    from iclkit import RunConfig, run
    result = run(RunConfig(task="sst2", model="smollm2-135m", shots=8, retriever="topk", limit=100))
    print(result.summary["metrics"]["accuracy"])
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "RunConfig": "iclkit.config",
    "load_experiment": "iclkit.config",
    "run": "iclkit.pipeline",
    "load_task": "iclkit.data.tasks",
    "task_names": "iclkit.data.tasks",
    "load_split": "iclkit.data.loaders",
    "PromptBuilder": "iclkit.prompt.render",
    "build_retriever": "iclkit.retrieve.base",
    "build_scorer": "iclkit.score.scorers",
    "HFLM": "iclkit.lm.hf",
    "IclkitError": "iclkit.errors",
}
__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'iclkit' has no attribute {name!r}")
