"""OpenAI-compatible HTTP back-end: score and generate through a server's ``/v1/completions`` endpoint.

Works with any server that returns log-probabilities of the *prompt* tokens (``echo=true`` with ``logprobs``):
vLLM, llama-cpp-python's server (``--logits_all True``, its default), the OpenAI API's legacy completion models
(``davinci-002``, ``babbage-002``). llama.cpp's own ``llama-server``, TGI and chat-only models do not; a reply
without prompt log-probabilities fails the first request with a clear :class:`~iclkit.errors.IclkitError`.

llama-cpp-python (checked on 0.3.36) reads the logits of echoed prompt tokens one position late for models that add
no BOS token (SmolLM2 among them): the numbers look plausible and are wrong, and no client can tell. Serve such models
with ``--kv_overrides tokenizer.ggml.add_bos_token=bool:true``.

Scoring sends ``prompt = context + continuation`` (after the whitespace rule of :mod:`iclkit.lm.base`) with
``echo=true, logprobs=1, temperature=0, max_tokens=1`` and sums the log-probabilities of the continuation's tokens.

* **max_tokens=1, not 0.** llama-cpp-python reads ``max_tokens=0`` as "generate until the context is full", and
  nothing in its reply tells the client so before it has paid for that; every server accepts 1 and one decoded
  token costs little next to the prompt pass. The generated token is recognised and dropped (see below).
* **Continuation span (end-anchored).** ``text_offset`` is counted in the server's rendering of the tokens, which
  is not always the prompt: vLLM counts an echoed BOS's text (``"<s>"``), llama-cpp-python renders special tokens
  as nothing. Only the end is reliable, so the prompt's end is found first (after dropping the generated token)
  and the continuation starts ``len(continuation)`` characters before it. A token that straddles that boundary
  (the server's tokenizer merged the context's last characters with the continuation's first) is counted in the
  continuation: it is the only token that produces the continuation's first characters, so leaving it out would
  score a shorter continuation than the other candidates.
* **Empty context.** The OpenAI format gives the prompt's first token no log-probability, so a continuation with an
  empty context can only be scored when the server echoes a BOS token before it (vLLM with models that add one).
  Otherwise this back-end raises an ``IclkitError`` rather than silently dropping the first token (the local
  back-ends condition on BOS/EOS instead, which an HTTP client cannot do portably).
* **Batching and concurrency.** Up to ``batch_size`` prompts go in one request (``prompt`` as a list) when the
  server accepts lists (probed once; llama-cpp-python's server takes one prompt per request), and up to
  ``concurrency`` requests are in flight at once. Results come back in input order.
* **Retries.** Timeouts, connection errors, HTTP 429 and 5xx are retried with exponential backoff and jitter
  (``Retry-After`` honoured); other 4xx fail at once with the server's message.
* **Whose fault.** A request the server refuses (4xx other than 429) is the user's to fix: ``IclkitError``, exit
  code 2. An outage (no connection, timeouts, 429/5xx after the last retry, a malformed reply) is the server's or
  the network's: :class:`~iclkit.errors.BackendError`, exit code 3, so a script can retry later.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from iclkit.errors import BackendError, IclkitError
from iclkit.lm.base import GenRequest, cut_at_stop, sampling_params, split_trailing_space
from iclkit.lm.openai_replies import (
    LOGPROB_ERROR_WORDS,
    PROMPT_LOGPROBS_HELP,
    PromptText,
    ServerError,
    ServerFailure,
    error_message,
    http_error,
    result_from_choice,
    retry_after_seconds,
)
from iclkit.types import LLRequest, LLResult

T = TypeVar("T")
R = TypeVar("R")

DEFAULT_MAX_LENGTH = 2048


# ----------------------------------------------------------------------------------------------- the back-end
class OpenAICompletionsLM:
    """``LanguageModel`` over an OpenAI-compatible ``/v1/completions`` server (see the module docstring).

    Args:
        model: the model name the server expects.
        base_url: the API root, e.g. ``http://127.0.0.1:8000/v1``.
        api_key: sent as a bearer token when set.
        max_length: longest sequence in tokens (defaults to the server's ``max_model_len``, else 2048).
        batch_size: most prompts in one request.
        concurrency: most requests in flight at once.
        max_retries: retries after the first attempt for timeouts, connection errors, 429 and 5xx.
        timeout: seconds per request.
        tokenizer: a local tokenizer (transformers) for ``count_tokens``; without one, tokens are counted by the
            server (one request per distinct text, cached).
    """

    # Backoff before retry k (0-based) is RETRY_BASE_DELAY * 2**k (at most RETRY_MAX_DELAY) with jitter; a
    # Retry-After header replaces it (at most RETRY_AFTER_MAX, so a bogus header cannot stall a run for hours).
    RETRY_BASE_DELAY = 0.5
    RETRY_MAX_DELAY = 30.0
    RETRY_AFTER_MAX = 120.0

    def __init__(self, model: str, *, base_url: str = "http://127.0.0.1:8000/v1", api_key: str | None = None,
                 max_length: int | None = None, batch_size: int = 32, concurrency: int = 8, max_retries: int = 5,
                 timeout: float = 120.0, tokenizer=None, name: str | None = None) -> None:
        import httpx

        self.model = model
        self.name = name or model
        self.base_url = base_url.rstrip("/")
        self.batch_size = max(1, int(batch_size))
        self.concurrency = max(1, int(concurrency))
        self.max_retries = max(0, int(max_retries))
        self.tokenizer = tokenizer
        self.source_file = None  # no local weights file to fingerprint
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(
            timeout=timeout, headers=headers,
            limits=httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency),
        )
        self._accepts_prompt_lists: bool | None = None if self.batch_size > 1 else False
        self._token_counts: dict[str, int] = {}
        self._lock = threading.Lock()
        self._max_length = int(max_length) if max_length else self._server_max_length() or DEFAULT_MAX_LENGTH

    @classmethod
    def load(cls, model: str, *, device: str | None = None, max_length: int | None = None, batch_size: int = 32,
             base_url: str = "http://127.0.0.1:8000/v1", api_key_env: str = "OPENAI_API_KEY", concurrency: int = 8,
             max_retries: int = 5, timeout: float = 120.0, tokenizer: str | None = None) -> OpenAICompletionsLM:
        """Connect to ``base_url`` (``device`` is the server's business and ignored here).

        ``tokenizer`` (an embedded short name, hub id or path) loads a local tokenizer for ``count_tokens``.
        The API key is read from the environment variable ``api_key_env`` (none sent when it is unset).
        """
        local_tokenizer = _load_tokenizer(tokenizer) if tokenizer else None
        return cls(model, base_url=base_url, api_key=os.environ.get(api_key_env) or None, max_length=max_length,
                   batch_size=batch_size, concurrency=concurrency, max_retries=max_retries, timeout=timeout,
                   tokenizer=local_tokenizer)

    def close(self) -> None:
        self._client.close()

    @property
    def max_length(self) -> int:
        return self._max_length

    @property
    def _where(self) -> str:
        return f"server {self.base_url} (model {self.model!r})"

    # ----------------------------------------------------------------------------------------------- HTTP
    def _request(self, method: str, path: str, payload: dict[str, Any] | None = None, *,
                 retry_server_errors: bool = True) -> dict[str, Any]:
        """One API call with retries; returns the JSON body or raises ``IclkitError``/``ServerError``."""
        import httpx

        url = f"{self.base_url}{path}"
        for attempt in range(self.max_retries + 1):
            last_try = attempt == self.max_retries
            try:
                response = self._client.request(method, url, json=payload)
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                if last_try:
                    raise BackendError(f"{url}: no answer after {attempt + 1} attempts "
                                       f"({type(exc).__name__}: {exc})") from None
                self._sleep_before_retry(attempt, None)
                continue
            if response.status_code < 400:
                return self._json(response, url)
            message = error_message(response)
            status = response.status_code
            if any(word in message.lower() for word in LOGPROB_ERROR_WORDS) and payload and payload.get("echo"):
                raise ServerError(f"{self._where} cannot return prompt log-probabilities (HTTP {status}: "
                                  f"{message}); {PROMPT_LOGPROBS_HELP}", status)
            retryable = status == 429 or (status >= 500 and retry_server_errors)
            if not retryable:
                raise http_error(f"{url}: HTTP {status}: {message or response.reason_phrase}", status)
            if last_try:
                raise http_error(f"{url}: HTTP {status} after {attempt + 1} attempts: "
                                 f"{message or response.reason_phrase}", status)
            self._sleep_before_retry(attempt, retry_after_seconds(response.headers.get("retry-after")))
        raise AssertionError("unreachable")

    @staticmethod
    def _json(response, url: str) -> dict[str, Any]:
        try:
            body = response.json()
        except ValueError:
            raise ServerFailure(f"{url}: HTTP {response.status_code} with a body that is not JSON: "
                                f"{response.text[:200]!r}", response.status_code) from None
        if not isinstance(body, dict):
            raise ServerFailure(f"{url}: expected a JSON object, got {type(body).__name__}", response.status_code)
        return body

    def _sleep_before_retry(self, attempt: int, retry_after: float | None) -> None:
        if retry_after is not None:
            time.sleep(min(retry_after, self.RETRY_AFTER_MAX))
            return
        delay = min(self.RETRY_MAX_DELAY, self.RETRY_BASE_DELAY * 2**attempt)
        time.sleep(delay / 2 + random.uniform(0, delay / 2))  # jitter: concurrent clients do not retry in lockstep

    def _completions(self, prompts: list[str], *, retry_server_errors: bool = True, **params: Any
                     ) -> list[dict[str, Any]]:
        """Choices for ``prompts`` in prompt order (one request; ``prompt`` is a list only for several)."""
        payload = {"model": self.model, "prompt": prompts if len(prompts) > 1 else prompts[0], "temperature": 0,
                   **params}
        body = self._request("POST", "/completions", payload, retry_server_errors=retry_server_errors)
        choices = body.get("choices") or []
        if len(choices) != len(prompts):
            raise ServerFailure(f"{self._where} answered {len(prompts)} prompts with {len(choices)} choices", 200)
        return sorted(choices, key=lambda c: c.get("index", 0))

    def _map(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
        """``fn`` over ``items`` with at most ``concurrency`` calls in flight; results in input order."""
        if len(items) <= 1:
            return [fn(x) for x in items]
        pool = ThreadPoolExecutor(max_workers=min(self.concurrency, len(items)))
        try:
            return list(pool.map(fn, items))
        finally:
            pool.shutdown(wait=True, cancel_futures=True)  # after a failure, do not start the queued requests

    def _server_max_length(self) -> int | None:
        """``max_model_len`` from ``/models`` (vLLM reports it); ``None`` when the server does not say."""
        try:
            body = self._request("GET", "/models")
        except ServerError:
            return None
        entries = [m for m in body.get("data") or [] if isinstance(m, dict)]
        mine = [m for m in entries if m.get("id") == self.model] or entries[:1]
        value = mine[0].get("max_model_len") if mine else None
        return int(value) if value else None

    # ----------------------------------------------------------------------------------------------- scoring
    def loglikelihood(self, requests: Sequence[LLRequest]) -> list[LLResult]:
        prompts = [PromptText(*split_trailing_space(r.context, r.continuation)) for r in requests]
        if not prompts:
            return []
        for p in prompts:
            if not p.continuation:
                raise IclkitError(f"empty continuation after context ending {p.context[-40:]!r}")
        if self._accepts_prompt_lists is None and len(prompts) > 1:
            self._probe_prompt_lists(prompts[:2])
        size = self.batch_size if self._accepts_prompt_lists else 1
        chunks = [prompts[i : i + size] for i in range(0, len(prompts), size)]
        return [res for chunk in self._map(self._score_chunk, chunks) for res in chunk]

    def _score_chunk(self, prompts: list[PromptText], *, retry_server_errors: bool = True) -> list[LLResult]:
        choices = self._completions([p.text for p in prompts], echo=True, logprobs=1, max_tokens=1,
                                    retry_server_errors=retry_server_errors)
        return [result_from_choice(c, p, where=self._where) for c, p in zip(choices, prompts)]

    def _probe_prompt_lists(self, prompts: list[PromptText]) -> None:
        """Find out once whether the server takes several prompts per request.

        llama-cpp-python's server answers a list of two with HTTP 500 (an assertion), so server errors are not
        retried here: any error except "no prompt log-probabilities" just means "one prompt per request".
        """
        with self._lock:
            if self._accepts_prompt_lists is not None:
                return
            try:
                self._score_chunk(prompts, retry_server_errors=False)
                self._accepts_prompt_lists = True
            except ServerError as exc:
                if PROMPT_LOGPROBS_HELP in str(exc):
                    raise
                self._accepts_prompt_lists = False

    # ----------------------------------------------------------------------------------------------- tokens
    def count_tokens(self, text: str) -> int:
        if self.tokenizer is not None:
            return len(self.tokenizer(text, add_special_tokens=True)["input_ids"])
        with self._lock:
            cached = self._token_counts.get(text)
        if cached is not None:
            return cached
        body = self._request("POST", "/completions",
                             {"model": self.model, "prompt": text, "max_tokens": 1, "temperature": 0})
        usage = body.get("usage") or {}
        if "prompt_tokens" not in usage:
            raise IclkitError(f"{self._where} reports no token usage; pass backend option tokenizer=... "
                              "(a local tokenizer for this model) to count tokens")
        with self._lock:
            self._token_counts[text] = int(usage["prompt_tokens"])
        return int(usage["prompt_tokens"])

    # ----------------------------------------------------------------------------------------------- generation
    def generate(self, requests: Sequence[GenRequest]) -> list[str]:
        return self._map(self._generate_one, list(requests))

    def _generate_one(self, request: GenRequest) -> str:
        params: dict[str, Any] = {"max_tokens": request.max_new_tokens, **sampling_params(request)}
        stops = [s for s in request.stop if s]
        if stops:
            params["stop"] = stops[:4]  # the OpenAI API takes at most 4; cut_at_stop applies all of them
        text = self._completions([request.context], **params)[0].get("text") or ""
        return cut_at_stop(text, request.stop)


def _load_tokenizer(name: str):
    """A transformers tokenizer from an embedded short name, hub id or local path."""
    from transformers import AutoTokenizer

    from iclkit.lm.models import resolve_model

    path = resolve_model(name).path
    try:
        return AutoTokenizer.from_pretrained(path)
    except OSError as exc:
        raise IclkitError(f"cannot load tokenizer '{name}' from {path}: {exc}") from exc
