"""Demonstration orderings: where each selected demonstration sits in the prompt (the last is next to the query).

* ``retrieved``: the retriever's order as is (for similarity retrievers, most similar first = farthest, as OpenICL).
* ``similarity``: most similar last, next to the query (KATE "reverse", EPR, CEIL, Vote-k).
* ``random``: shuffled with a seed that depends only on (seed, query id).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from iclkit.registry import Registry
from iclkit.retrieve.base import query_rng
from iclkit.types import Demo, Example

Ordering = Callable[[Sequence[Demo], Example, int], list[Demo]]
ORDERINGS: Registry[Ordering] = Registry("ordering")


@ORDERINGS.register("retrieved")
def as_retrieved(demos: Sequence[Demo], query: Example, seed: int) -> list[Demo]:
    return list(demos)


@ORDERINGS.register("similarity")
def most_similar_last(demos: Sequence[Demo], query: Example, seed: int) -> list[Demo]:
    return list(reversed(demos))


@ORDERINGS.register("random")
def shuffled(demos: Sequence[Demo], query: Example, seed: int) -> list[Demo]:
    out = list(demos)
    query_rng(seed + 7919, query).shuffle(out)  # offset: ordering randomness independent of selection's
    return out
