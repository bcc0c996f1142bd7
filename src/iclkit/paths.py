"""Where iclkit keeps its caches (converted models, pool embeddings)."""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "ICLKIT_CACHE"


def cache_dir() -> Path:
    """``$ICLKIT_CACHE`` or ``~/.cache/iclkit``."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "iclkit")
