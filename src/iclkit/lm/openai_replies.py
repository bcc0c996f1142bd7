"""Reading the replies of an OpenAI-compatible ``/v1/completions`` server: error bodies, ``Retry-After``, and the
continuation's log-probabilities in an echoed prompt (the rules are in :mod:`iclkit.lm.openai_api`'s docstring).
Also the errors the back-end raises for HTTP answers: a refused request (exit 2) or a failed server (exit 3)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

from iclkit.errors import BackendError, IclkitError
from iclkit.types import LLResult

# Words in a server's error message that mean "this server/model cannot echo prompt log-probabilities".
LOGPROB_ERROR_WORDS = ("logprob", "echo", "logits_all")
PROMPT_LOGPROBS_HELP = (
    "scoring needs the log-probabilities of the prompt tokens (/v1/completions with echo=true and logprobs): "
    "vLLM supports this; start llama-cpp-python's server with --logits_all True; llama.cpp's llama-server, "
    "TGI and OpenAI's chat-only models do not"
)


class ServerError(IclkitError):
    """An HTTP error answer from the server (``status``), after any retries: the request was refused (4xx)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class ServerFailure(BackendError, ServerError):
    """The server failed, not the request: 429/5xx after the last retry, or a reply that breaks the API (exit 3)."""


def http_error(message: str, status: int) -> ServerError:
    """The error for an HTTP error answer: rate limits and server errors are the server's failure."""
    return ServerFailure(message, status) if status == 429 or status >= 500 else ServerError(message, status)


@dataclass(frozen=True)
class PromptText:
    """What one scoring request sends: ``context + continuation``, the continuation's log-probabilities read."""

    context: str
    continuation: str

    @property
    def text(self) -> str:
        return self.context + self.continuation


# ----------------------------------------------------------------------------------------------- reading replies
def error_message(response) -> str:
    """The human-readable message of an error reply (OpenAI, FastAPI, TGI shapes), else its raw text."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:500]
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])
        for key in ("error", "message", "detail"):
            if body.get(key):
                return str(body[key])
    return str(body)[:500]


def retry_after_seconds(value: str | None) -> float | None:
    """``Retry-After`` as seconds (it is either a number of seconds or an HTTP date), ``None`` if absent/unreadable."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def _prompt_end(tokens: Sequence[str], prompt: str, generated_text: str) -> int:
    """How many of the echoed ``tokens`` belong to the prompt (the rest is the one generated token, if shown).

    The generated token is the trailing token that spells the generated text; when the generated text is empty
    (an end-of-sequence token) a trailing token whose text does not end the prompt (vLLM echoes ``"</s>"``) is the
    generated one. llama-cpp-python sometimes leaves the generated token out entirely; then nothing is dropped.
    """
    n = len(tokens)
    if n and generated_text and tokens[-1] and generated_text.endswith(tokens[-1]):
        return n - 1
    if n and not generated_text and tokens[-1] and not prompt.endswith(tokens[-1]):
        return n - 1
    return n


def continuation_start(offsets: Sequence[int], end_offset: int, n_chars: int) -> int:
    """Index of the first continuation token among prompt tokens with ``offsets`` (in the server's rendering),
    where the prompt ends at ``end_offset`` and the continuation is its last ``n_chars`` characters.

    A token starting exactly at the boundary starts the continuation; otherwise the token that straddles the
    boundary does (see the module docstring).
    """
    boundary = end_offset - n_chars
    for i, off in enumerate(offsets):
        if off >= boundary:
            return i if off == boundary or i == 0 else i - 1
    return len(offsets) - 1


def result_from_choice(choice: dict[str, Any], prompt: PromptText, *, where: str) -> LLResult:
    """Turn one echoed completion choice into the continuation's ``LLResult`` (``where`` names server and model)."""
    lp = choice.get("logprobs") or {}
    tokens, offsets = lp.get("tokens"), lp.get("text_offset")
    token_lps, tops = lp.get("token_logprobs"), lp.get("top_logprobs")
    if not tokens or offsets is None or token_lps is None or not (len(tokens) == len(offsets) == len(token_lps)):
        raise IclkitError(f"{where} returned no prompt log-probabilities; {PROMPT_LOGPROBS_HELP}")
    text = choice.get("text") or ""
    if not text.startswith(prompt.text):
        raise IclkitError(f"{where} did not echo the prompt (echo=true); {PROMPT_LOGPROBS_HELP}")
    n_prompt = _prompt_end(tokens, prompt.text, text[len(prompt.text):])
    if n_prompt == 0:
        raise IclkitError(f"{where} echoed no prompt tokens; {PROMPT_LOGPROBS_HELP}")
    end_offset = offsets[n_prompt] if n_prompt < len(tokens) else offsets[n_prompt - 1] + len(tokens[n_prompt - 1])
    start = continuation_start(offsets[:n_prompt], end_offset, len(prompt.continuation))
    span = range(start, n_prompt)
    if any(token_lps[i] is None for i in span):
        if start == 0:
            raise IclkitError(
                f"cannot score {prompt.continuation!r}: its context is empty and {where} gives the first token of a "
                "prompt no log-probability (the server adds no BOS token, or does not echo it); give the request "
                "a non-empty context (an instruction, or the PMI/calibration context)"
            )
        raise IclkitError(f"{where} returned null log-probabilities inside the prompt; {PROMPT_LOGPROBS_HELP}")
    total = sum(float(token_lps[i]) for i in span)
    greedy = all(_is_top(float(token_lps[i]), tops[i] if tops else None) for i in span)
    return LLResult(total, len(span), greedy)


def _is_top(logprob: float, top: dict[str, float] | None) -> bool:
    # Servers put the actual token into top_logprobs next to the top-k, so it is greedy iff nothing beats it.
    # Compared by value: keys are token *strings*, and two tokens can render the same.
    if not top:
        return False
    return logprob >= max(top.values())
