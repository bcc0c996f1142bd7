"""Scoring functions: how a prompt's candidate continuations become one score per label (higher is better).

They only build ``loglikelihood`` requests and reduce the results, so every back-end shares tokenisation and
masking. Definitions follow the ICL methods spec §D:

* ``direct``: log P(verbalized label | prompt), summed or averaged over the label's tokens (Dai et al. average).
* ``ppl``: log-likelihood of the whole candidate query ``T(x, y)`` given the demonstrations, normalised by
  ``sum`` | ``mean`` (per token) | ``per_char`` | ``per_byte``, or ``pmi``: log P(answer | prompt) minus
  log P(answer | ``pmi_context``) (lm-eval ``acc_mutual_info``; Holtzman et al. 2021).
* ``channel``: log P(input | label) with the flipped template (Min et al. 2022), averaged over the input's tokens.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Protocol

from iclkit.errors import IclkitError
from iclkit.registry import Registry
from iclkit.types import LLRequest, LLResult, Prompt


class Scorer(Protocol):
    name: str
    channel: bool  # True: the prompt must be built with the task's channel template

    def requests(self, prompt: Prompt, group: Hashable) -> list[LLRequest]: ...

    def reduce(self, prompt: Prompt, results: Sequence[LLResult]) -> tuple[float, ...]: ...


SCORERS: Registry[type] = Registry("scorer")
SCORERS.register("generate", "iclkit.score.extract:GenerateScorer")  # generate-then-extract (chat-only servers)


@SCORERS.register("direct")
class DirectScorer:
    name = "direct"
    channel = False

    def __init__(self, *, reduce: str = "mean") -> None:
        if reduce not in ("mean", "sum"):
            raise IclkitError(f"direct scorer: reduce must be 'mean' or 'sum', not {reduce!r}")
        self.mode = reduce

    def requests(self, prompt: Prompt, group: Hashable) -> list[LLRequest]:
        return [LLRequest(c, k, group, keep_space=prompt.keep_space)
                for c, k in zip(prompt.contexts, prompt.continuations)]

    def reduce(self, prompt: Prompt, results: Sequence[LLResult]) -> tuple[float, ...]:
        return tuple(r.logprob / r.n_tokens if self.mode == "mean" else r.logprob for r in results)


PPL_NORMALIZATIONS = ("sum", "mean", "per_char", "per_byte", "pmi")


@SCORERS.register("ppl")
class PPLScorer:
    name = "ppl"
    channel = False

    def __init__(self, *, normalization: str = "mean", pmi_context: str = "") -> None:
        if normalization not in PPL_NORMALIZATIONS:
            from iclkit.errors import did_you_mean

            raise IclkitError(f"ppl scorer: unknown normalization {normalization!r}"
                              f"{did_you_mean(normalization, PPL_NORMALIZATIONS)}; known: {PPL_NORMALIZATIONS}")
        self.normalization = normalization
        self.pmi_context = pmi_context

    def candidates(self, prompt: Prompt) -> list[str]:
        n = len(prompt.prefix)
        return [c[n:] + k for c, k in zip(prompt.contexts, prompt.continuations)]

    def requests(self, prompt: Prompt, group: Hashable) -> list[LLRequest]:
        if self.normalization == "pmi":
            reqs = [LLRequest(c, k, group) for c, k in zip(prompt.contexts, prompt.continuations)]
            return reqs + [LLRequest(self.pmi_context, k, ("pmi", self.pmi_context)) for k in prompt.continuations]
        return [LLRequest(prompt.prefix, cand, group) for cand in self.candidates(prompt)]

    def reduce(self, prompt: Prompt, results: Sequence[LLResult]) -> tuple[float, ...]:
        if self.normalization == "pmi":
            n = len(prompt.labels)
            return tuple(a.logprob - b.logprob for a, b in zip(results[:n], results[n:]))
        if self.normalization == "sum":
            return tuple(r.logprob for r in results)
        if self.normalization == "mean":
            return tuple(r.logprob / r.n_tokens for r in results)
        lengths = [len(c) if self.normalization == "per_char" else len(c.encode()) for c in self.candidates(prompt)]
        return tuple(r.logprob / max(1, n) for r, n in zip(results, lengths))


@SCORERS.register("channel")
class ChannelScorer:
    name = "channel"
    channel = True

    def __init__(self) -> None:
        pass

    def requests(self, prompt: Prompt, group: Hashable) -> list[LLRequest]:
        return [LLRequest(c, k, group) for c, k in zip(prompt.contexts, prompt.continuations)]

    def reduce(self, prompt: Prompt, results: Sequence[LLResult]) -> tuple[float, ...]:
        return tuple(r.logprob / r.n_tokens for r in results)


def build_scorer(name: str, **options) -> Scorer:
    cls = SCORERS.get(name)
    try:
        return cls(**options)
    except TypeError as exc:
        raise IclkitError(f"scorer '{name}': bad option ({exc})") from None
