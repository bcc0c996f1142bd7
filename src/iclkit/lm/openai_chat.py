"""OpenAI-compatible chat back-end (``backend: openai-chat``): generation through ``/v1/chat/completions``.

For servers and models that only offer chat (OpenAI's chat models, many hosted endpoints). Each prompt is sent as
one user message and the reply is the continuation; the server applies its own chat template. Such servers give no
prompt log-probabilities, so label scoring is impossible: classification runs use the generate-then-extract scorer
(``--scorer generate``), and ``loglikelihood`` raises a clear error. Connection options, retries and concurrency are
those of :class:`~iclkit.lm.openai_api.OpenAICompletionsLM`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from iclkit.errors import IclkitError
from iclkit.lm.base import GenRequest, cut_at_stop, sampling_params
from iclkit.lm.openai_api import OpenAICompletionsLM
from iclkit.types import LLRequest, LLResult


class OpenAIChatLM(OpenAICompletionsLM):
    """Generation over ``/chat/completions``; no log-probabilities."""

    def loglikelihood(self, requests: Sequence[LLRequest]) -> list[LLResult]:
        raise IclkitError(f"{self._where}: a chat endpoint gives no prompt log-probabilities, so labels cannot be "
                          "scored; use --scorer generate (generate, then map the text onto a label) or a "
                          "/v1/completions server with --backend openai")

    def generate(self, requests: Sequence[GenRequest]) -> list[str]:
        return self._map(self._chat_one, list(requests))

    def _chat_one(self, request: GenRequest) -> str:
        payload: dict[str, Any] = {"model": self.model, "messages": [{"role": "user", "content": request.context}],
                                   "max_tokens": request.max_new_tokens, **sampling_params(request)}
        stops = [s for s in request.stop if s]
        if stops:
            payload["stop"] = stops[:4]  # the API takes at most 4; cut_at_stop applies all of them
        body = self._request("POST", "/chat/completions", payload)
        choices = body.get("choices") or [{}]
        text = (choices[0].get("message") or {}).get("content") or ""
        return cut_at_stop(text, request.stop)
