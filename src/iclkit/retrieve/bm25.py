"""BM25 over the input fields (Robertson & Zaragoza 2009), as the sparse baseline of EPR/CEIL/OpenICL.

Tokenisation is bm25s's own (lower-cased words, no stop-word removal and no stemming, as OpenICL), so it needs no
NLTK data and works offline.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence

import numpy as np

from iclkit.errors import IclkitError
from iclkit.paths import cache_dir
from iclkit.retrieve.base import input_text
from iclkit.types import Demo, Example


class BM25Demos:
    """Top-k pool examples by BM25 score of the query's input text; exact duplicates of the query are skipped."""

    def __init__(self, *, k1: float = 1.5, b: float = 0.75, skip_duplicates: bool = True, seed: int = 0) -> None:
        self.k1, self.b = k1, b
        self.skip_duplicates = skip_duplicates

    def fit(self, pool: Sequence[Example]) -> None:
        import bm25s

        if not pool:
            raise IclkitError("the demonstration pool is empty")
        self.pool = list(pool)
        self._texts = [input_text(e) for e in self.pool]
        key = hashlib.sha256("\x00".join([f"{self.k1}:{self.b}", *self._texts]).encode()).hexdigest()[:24]
        path = cache_dir() / "bm25" / key  # keyed by the pool's exact texts: built once, reused by later runs
        if (path / "params.index.json").exists():
            self._index = bm25s.BM25.load(str(path))
            return
        self._index = bm25s.BM25(k1=self.k1, b=self.b)
        self._index.index(bm25s.tokenize(self._texts, stopwords=None, show_progress=False), show_progress=False)
        tmp = path.with_name(f"{key}.tmp{os.getpid()}")
        self._index.save(str(tmp))
        if not path.exists():
            os.replace(tmp, path)  # whole folder at once: a crash never leaves a half-written index behind

    def scores(self, query: Example) -> np.ndarray:
        import bm25s

        tokens = bm25s.tokenize([input_text(query)], stopwords=None, return_ids=False, show_progress=False)[0]
        known = [t for t in tokens if t in self._index.vocab_dict]
        if not known:
            return np.zeros(len(self.pool), dtype=np.float32)
        return self._index.get_scores(known)

    def select(self, query: Example, k: int) -> list[Demo]:
        if k <= 0:  # the loop below only stops once it has k, which never happens for k = 0
            return []
        scores = self.scores(query)
        ranked = np.argsort(-scores, kind="stable")  # ties: lower pool index first
        text = input_text(query)
        out = []
        for i in ranked:
            if self.skip_duplicates and self._texts[i] == text:
                continue
            out.append(Demo(self.pool[i], float(scores[i])))
            if len(out) == k:
                break
        return out
