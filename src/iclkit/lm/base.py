"""The language-model contract every back-end implements. Text in, numbers out, batched.

Whitespace rule (as lm-evaluation-harness): a continuation carries its own leading space (``" positive"``). If a
context ends in whitespace, that whitespace is moved to the front of the continuation before tokenising, so the
model scores the single token it would actually see. ``context + continuation`` is tokenised jointly and the
continuation span is whatever follows the tokens of the context alone; tokenising the two parts separately and
concatenating gives different (wrong) tokens at the boundary for BPE tokenizers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from iclkit.errors import IclkitError
from iclkit.types import LLRequest, LLResult


@dataclass(frozen=True)
class GenRequest:
    """Generation from ``context`` until one of ``stop`` appears or ``max_new_tokens`` are produced.

    ``temperature`` 0 is greedy decoding; above 0, tokens are sampled (nucleus ``top_p``) from a generator seeded
    with ``seed``, per request, so a sample does not depend on which other requests share its batch.
    """

    context: str
    stop: tuple[str, ...] = ("\n",)
    max_new_tokens: int = 64
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None


@runtime_checkable
class LanguageModel(Protocol):
    """What the scorers need from a back-end."""

    name: str

    def loglikelihood(self, requests: Sequence[LLRequest]) -> list[LLResult]:
        """Log P(continuation | context) summed over the continuation's tokens, one result per request, in order."""
        ...

    def generate(self, requests: Sequence[GenRequest]) -> list[str]:
        """Greedy continuations, cut before the first stop string."""
        ...

    def count_tokens(self, text: str) -> int:
        """Tokens the model sees for ``text`` as a context (special tokens included)."""
        ...

    @property
    def max_length(self) -> int:
        """The longest sequence (context + continuation, in tokens) this back-end will score."""
        ...


def sampling_params(request: GenRequest) -> dict[str, float | int | None]:
    """Temperature, top_p and seed of a request as OpenAI-style API fields (greedy: temperature 0 only)."""
    if request.temperature <= 0:
        return {"temperature": 0}
    return {"temperature": request.temperature, "top_p": request.top_p, "seed": request.seed}


def split_trailing_space(context: str, continuation: str) -> tuple[str, str]:
    """Move the context's trailing whitespace onto the continuation (see the module docstring)."""
    stripped = context.rstrip()
    n = len(context) - len(stripped)
    if n:
        return stripped, context[-n:] + continuation
    return context, continuation


def cut_at_stop(text: str, stop: Sequence[str]) -> str:
    """Return ``text`` up to (not including) the earliest stop string."""
    cut = len(text)
    for s in stop:
        if s:
            i = text.find(s)
            if i != -1:
                cut = min(cut, i)
    return text[:cut]


def encode_pair(encode: Callable[[str], list[int]], context: str, continuation: str, *, prefix_token: int,
                max_length: int, keep_space: bool = False) -> tuple[list[int], int]:
    """Token ids of ``context + continuation`` and the index where the continuation starts (the module's rule).

    ``encode`` tokenises a text as the model sees it (special tokens included). When the context is empty and the
    tokenizer adds no BOS, the continuation is conditioned on ``prefix_token`` (BOS, else EOS), as lm-eval does.
    Shared by every back-end that tokenises locally, so they all score exactly the same token spans.
    ``keep_space`` (chat prompts) keeps the context's trailing whitespace in the context when its tokens are a
    prefix of the whole's (otherwise the whitespace merged into the continuation and the usual rule applies).
    """
    whole = encode(context + continuation)
    kept = encode(context) if keep_space else None
    if kept is not None and whole[: len(kept)] == kept:
        n_ctx = len(kept)
    else:
        context, continuation = split_trailing_space(context, continuation)
        n_ctx = len(encode(context))
    if n_ctx == 0:
        whole, n_ctx = [prefix_token, *whole], 1
    if len(whole) <= n_ctx:
        raise IclkitError(f"empty continuation {continuation!r} after context ending {context[-40:]!r}")
    if len(whole) > max_length:
        raise IclkitError(
            f"sequence of {len(whole)} tokens exceeds the model's maximum of {max_length} "
            f"(context ending {context[-60:]!r}); the prompt builder should have dropped demonstrations"
        )
    return whole, n_ctx


class LocalTokenizer:
    """Mixin for back-ends that tokenise locally: subclasses set ``_encode`` (text → ids as the model sees them),
    ``_prefix_token`` and ``_max_length``, and get the shared span rule and token counting."""

    _prefix_token: int
    _max_length: int

    def _encode(self, text: str) -> list[int]:
        """Default: a HuggingFace tokenizer in ``self.tokenizer`` (back-ends with their own tokenizer override)."""
        return self.tokenizer(text, add_special_tokens=True)["input_ids"]

    @property
    def max_length(self) -> int:
        return self._max_length

    def count_tokens(self, text: str) -> int:
        return len(self._encode(text))

    def encode_pair(self, context: str, continuation: str, keep_space: bool = False) -> tuple[list[int], int]:
        """Token ids of ``context + continuation`` and the index where the continuation starts."""
        return encode_pair(self._encode, context, continuation, prefix_token=self._prefix_token,
                           max_length=self._max_length, keep_space=keep_space)
