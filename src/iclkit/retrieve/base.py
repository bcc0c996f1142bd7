"""Demonstration selection contract. Retrievers return ranked pool examples; they never render text.

``select`` returns demonstrations **most relevant first** (for random retrievers: in sampled order). Where they
end up in the prompt is decided separately by an ordering (:mod:`iclkit.retrieve.order`).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from iclkit.registry import Registry
from iclkit.types import Demo, Example


@runtime_checkable
class Retriever(Protocol):
    def fit(self, pool: Sequence[Example]) -> None:
        """Index the demonstration pool once per run."""
        ...

    def select(self, query: Example, k: int) -> list[Demo]:
        """Up to ``k`` demonstrations for ``query``, most relevant first."""
        ...


RETRIEVERS: Registry[type] = Registry("retriever")
RETRIEVERS.register("zero", "iclkit.retrieve.sampling:ZeroShot")
RETRIEVERS.register("random", "iclkit.retrieve.sampling:RandomDemos")
RETRIEVERS.register("balanced", "iclkit.retrieve.sampling:BalancedDemos")
RETRIEVERS.register("bm25", "iclkit.retrieve.bm25:BM25Demos")
RETRIEVERS.register("topk", "iclkit.retrieve.topk:TopKDemos")


def query_rng(seed: int, query: Example) -> random.Random:
    """Randomness for one query that depends only on (seed, query id), so resumed or sharded runs agree."""
    return random.Random(f"{seed}:{query.id}")


def input_text(example: Example, fields: Sequence[str] | None = None) -> str:
    """The text a retriever compares: the input fields joined by a space, in task order."""
    names = fields if fields is not None else list(example.fields)
    return " ".join(example.fields[f] for f in names)


def build_retriever(name: str, **options) -> Retriever:
    return RETRIEVERS.get(name)(**options)
