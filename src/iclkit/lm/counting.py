"""A wrapper that counts what a run asks of its language model (for per-method cost reports)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from iclkit.lm.base import GenRequest, LanguageModel
from iclkit.types import LLRequest, LLResult


@dataclass
class Usage:
    loglikelihood_requests: int = 0
    continuation_tokens: int = 0      # tokens whose log-probability was read
    generate_requests: int = 0
    generated_chars: int = 0

    def to_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


class CountingLM:
    """Delegates to ``lm`` and adds up requests and scored tokens in :attr:`usage`."""

    def __init__(self, lm: LanguageModel) -> None:
        self.inner = lm
        self.name = lm.name
        self.usage = Usage()

    def __getattr__(self, attr: str):  # source_file, tokenizer, ...: whatever the wrapped back-end offers
        return getattr(self.inner, attr)

    @property
    def max_length(self) -> int:
        return self.inner.max_length

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    def loglikelihood(self, requests: Sequence[LLRequest]) -> list[LLResult]:
        results = self.inner.loglikelihood(requests)
        self.usage.loglikelihood_requests += len(requests)
        self.usage.continuation_tokens += sum(r.n_tokens for r in results)
        return results

    def generate(self, requests: Sequence[GenRequest]) -> list[str]:
        out = self.inner.generate(requests)
        self.usage.generate_requests += len(requests)
        self.usage.generated_chars += sum(len(t) for t in out)
        return out
