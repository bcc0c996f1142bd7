"""Demonstration selection contract. Retrievers return ranked pool examples; they never render text.

``select`` returns demonstrations **most relevant first** (for random retrievers: in sampled order). Where they
end up in the prompt is decided separately by an ordering (:mod:`iclkit.retrieve.order`).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from iclkit.errors import IclkitError
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
RETRIEVERS.register("dpp", "iclkit.retrieve.dpp:DPPDemos")
RETRIEVERS.register("votek", "iclkit.retrieve.votek:VoteKDemos")
RETRIEVERS.register("mdl", "iclkit.retrieve.mdl:MDLDemos")
RETRIEVERS.register("mi", "iclkit.retrieve.mi:MutualInfoDemos")
RETRIEVERS.register("epr", "iclkit.retrieve.epr:EPRDemos")
RETRIEVERS.register("active", "iclkit.retrieve.active:ActiveDemos")
RETRIEVERS.register("sgicl", "iclkit.retrieve.sgicl:SelfGeneratedDemos")


@runtime_checkable
class LMProbe(Protocol):
    """What LM-guided methods (MDL, MI, EPR labelling, two-stage Vote-k, active selection, entropy ordering) may ask
    of the language model. ``pipeline.py`` builds it over the run's model, scorer and template, so ``retrieve/``
    never imports ``score/`` or ``prompt/``. Demonstrations are given in prompt order (the last next to the query).
    """

    labels: tuple[str, ...]

    def label_scores(self, items: Sequence[tuple[Sequence[Example], Example]]) -> list[tuple[float, ...]]:
        """One score per label (the run's scorer, higher is better) for each (demonstrations, query)."""
        ...

    def gold_logprob(self, items: Sequence[tuple[Sequence[Example], Example]]) -> list[float]:
        """Mean per-token log P(gold answer | demonstrations, query input); queries must be labelled."""
        ...

    def generate_inputs(self, demo_sets: Sequence[Sequence[Example]], *, max_new_tokens: int = 64,
                        temperature: float = 0.0, seed: int = 0) -> list[Example | None]:
        """For each demonstration sequence, let the model continue it and parse what it wrote as one new
        (unlabelled) input; ``None`` where the continuation does not parse (Lu et al.'s probing examples)."""
        ...

    def generate_for_labels(self, items: Sequence[tuple[Example, str]], *, instruction: str,
                            max_new_tokens: int = 48) -> list[str]:
        """For each (query, label): the model's continuation of ``instruction`` filled with the query's input
        (``{input}``) and the label's verbalizer word (``{label}``), up to the first newline (SG-ICL)."""
        ...


def require_probe(probe: LMProbe | None, method: str) -> LMProbe:
    if probe is None:
        raise IclkitError(f"retriever '{method}' needs the language model; run it through iclkit.pipeline "
                          "(or pass probe=...)")
    return probe


def require_labels(pool: Sequence[Example], method: str) -> None:
    """Methods that score gold answers or render demonstrations need every pool example labelled."""
    missing = [e.id for e in pool if e.label is None]
    if missing:
        raise IclkitError(f"retriever '{method}' needs labelled pool examples; {len(missing)} have no label "
                          f"(first: id {missing[0]})")


def require_pool_size(pool: Sequence[Example], k: int, method: str) -> None:
    if len(pool) < k:
        raise IclkitError(f"retriever '{method}': the pool has {len(pool)} examples, fewer than k={k}")


class SelectionDetails(Protocol):
    """Optional: a retriever or ordering that records its own per-query scores for ``predictions.jsonl``."""

    def details(self, query: Example) -> dict | None: ...


def query_rng(seed: int, query: Example) -> random.Random:
    """Randomness for one query that depends only on (seed, query id), so resumed or sharded runs agree."""
    return random.Random(f"{seed}:{query.id}")


def input_text(example: Example, fields: Sequence[str] | None = None) -> str:
    """The text a retriever compares: the input fields joined by a space, in task order."""
    names = fields if fields is not None else list(example.fields)
    return " ".join(example.fields[f] for f in names)


# Arguments the pipeline supplies itself; a retriever declares the ones it uses and users never set them.
INJECTED = ("seed", "probe")


def build_retriever(name: str, *, seed: int = 0, probe: LMProbe | None = None, **options) -> Retriever:
    """Build retriever ``name`` with the user's ``options`` plus whichever of ``seed`` / ``probe`` it declares.

    Retrievers take no ``**kwargs``, so an option they do not know is an error (see ``registry.check_options``).
    """
    from iclkit.registry import keyword_options

    cls = RETRIEVERS.get(name)
    accepted, _ = keyword_options(cls.__init__)
    injected = {k: v for k, v in (("seed", seed), ("probe", probe)) if k in accepted}
    return cls(**injected, **options)


class CorpusChoice:
    """Base for corpus-level methods (one demonstration set for every query, chosen once per k): subclasses
    implement ``choose(k) -> (demos, info)``; ``info`` is recorded with every prediction."""

    _chosen: dict[int, tuple[list[Demo], dict]]
    same_for_every_query = True  # one set per k for every query (see Runner.select)

    def choose(self, k: int) -> tuple[list[Demo], dict]:
        raise NotImplementedError

    def select(self, query: Example, k: int) -> list[Demo]:
        if k == 0:
            return []
        if k not in self._chosen:
            self._chosen[k] = self.choose(k)
        return self._chosen[k][0]

    def details(self, query: Example) -> dict | None:
        chosen = next(iter(self._chosen.values()), None)
        return None if chosen is None else dict(chosen[1])
