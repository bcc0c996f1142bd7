"""Demonstration orderings: where each selected demonstration sits in the prompt (the last is next to the query).

* ``retrieved``: the retriever's order as is (for similarity retrievers, most similar first = farthest, as OpenICL).
* ``similarity``: most similar last, next to the query (KATE "reverse", EPR, CEIL, Vote-k).
* ``random``: shuffled with a seed that depends only on (seed, query id).
* ``globale`` / ``locale``: the best permutation by Lu et al.'s entropy criteria on an LM-generated probing set
  (:mod:`iclkit.retrieve.entropy_order`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from iclkit.registry import Registry
from iclkit.retrieve.base import query_rng
from iclkit.types import Demo, Example

Ordering = Callable[[Sequence[Demo], Example, int], list[Demo]]
ORDERINGS: Registry[Ordering] = Registry("ordering")
# Classes are built per run with the LM probe (they need the model); plain functions are used as they are.
ORDERINGS.register("globale", "iclkit.retrieve.entropy_order:EntropyOrdering")
ORDERINGS.register("locale", "iclkit.retrieve.entropy_order:LocalEOrdering")


def build_ordering(name: str, *, probe=None, seed: int = 0, **options) -> Ordering:
    target = ORDERINGS.get(name)
    return target(probe=probe, seed=seed, **options) if isinstance(target, type) else target


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
