"""vLLM back-end (GPU machines; ``pip install iclkit[vllm]``). Written against vLLM's offline ``LLM`` API as of
v0.8-0.11: ``LLM.generate`` with token-id prompts (``{"prompt_token_ids": [...]}``, the ``TokensPrompt`` shape) and
``SamplingParams(prompt_logprobs=...)``, whose ``RequestOutput.prompt_logprobs`` holds, per prompt position, ``None``
(position 0) or a dict token id -> ``Logprob(logprob, rank, decoded_token)``.

Tokenisation is the HF back-end's (:func:`~iclkit.lm.base.encode_pair` with the model's own HF tokenizer), so both
back-ends score exactly the same token spans. vLLM is imported only when a model is loaded: this module (and its pure
helper :func:`result_from_prompt_logprobs`) imports on machines without vLLM.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from iclkit.errors import IclkitError
from iclkit.lm.base import GenRequest, LocalTokenizer, cut_at_stop
from iclkit.types import LLRequest, LLResult

DEFAULT_MAX_LENGTH = 2048


def _logprob_value(entry: Any) -> float:
    # vLLM >= 0.4 stores Logprob objects; older versions stored plain floats.
    return float(getattr(entry, "logprob", entry))


def result_from_prompt_logprobs(prompt_logprobs: Sequence[Mapping[int, Any] | None], token_ids: Sequence[int],
                                n_ctx: int) -> LLResult:
    """The continuation ``token_ids[n_ctx:]``'s ``LLResult`` from one prompt's ``prompt_logprobs``.

    ``prompt_logprobs[i]`` maps token ids to the log-probability of token ``i`` given tokens ``< i`` (``None`` at
    position 0). A token is greedy when its ``rank`` is 1, or (no rank) when no entry in its dict beats it.
    """
    if n_ctx < 1:
        raise IclkitError("a continuation needs at least one context token (BOS) to be scored")
    total, greedy = 0.0, True
    for pos in range(n_ctx, len(token_ids)):
        entries = prompt_logprobs[pos] if pos < len(prompt_logprobs) else None
        chosen = entries.get(token_ids[pos]) if entries else None
        if chosen is None:
            raise IclkitError(f"vLLM returned no log-probability for prompt position {pos}")
        value = _logprob_value(chosen)
        total += value
        rank = getattr(chosen, "rank", None)
        if rank is not None:
            greedy = greedy and rank == 1
        else:
            greedy = greedy and value >= max(_logprob_value(e) for e in entries.values())
    return LLResult(total, len(token_ids) - n_ctx, greedy)


class VLLMLM(LocalTokenizer):
    """``LanguageModel`` over a ``vllm.LLM``.

    Args:
        llm: a ``vllm.LLM``.
        tokenizer: its HF tokenizer (``llm.get_tokenizer()``).
        name: label for records.
        max_length: longest sequence to accept (defaults to the engine's ``max_model_len``).
    """

    def __init__(self, llm, tokenizer, *, name: str = "vllm", max_length: int | None = None) -> None:
        self.llm = llm
        self.tokenizer = tokenizer
        self.name = name
        self.source_file = None
        self._max_length = int(max_length or _engine_max_length(llm) or DEFAULT_MAX_LENGTH)
        bos = tokenizer.bos_token_id
        self._prefix_token = bos if bos is not None else tokenizer.eos_token_id

    @classmethod
    def load(cls, model: str, *, device: str | None = None, max_length: int | None = None, batch_size: int = 32,
             tensor_parallel_size: int = 1, dtype: str = "auto", gpu_memory_utilization: float = 0.9,
             **llm_kwargs: Any) -> VLLMLM:
        """Load ``model`` (embedded short name, hub id or path) into ``vllm.LLM``.

        ``device`` and ``batch_size`` are left to vLLM, which places the model and schedules batches itself.
        ``max_length`` becomes vLLM's ``max_model_len`` (less KV-cache memory); ``llm_kwargs`` go to ``vllm.LLM``.
        """
        try:
            import vllm
        except ImportError as exc:
            raise IclkitError(f"the vllm back-end needs vLLM on a GPU machine: pip install 'iclkit[vllm]' ({exc})"
                              ) from None
        from iclkit.lm.models import resolve_model

        resolved = resolve_model(model)
        if max_length:
            llm_kwargs.setdefault("max_model_len", int(max_length))
        try:
            llm = vllm.LLM(model=resolved.path, tensor_parallel_size=tensor_parallel_size, dtype=dtype,
                           gpu_memory_utilization=gpu_memory_utilization, **llm_kwargs)
        except (OSError, ValueError) as exc:
            raise IclkitError(f"vLLM cannot load model '{model}' from {resolved.path}: {exc}") from exc
        lm = cls(llm, llm.get_tokenizer(), name=model, max_length=max_length)
        lm.source_file = resolved.source_file
        return lm

    def loglikelihood(self, requests: Sequence[LLRequest]) -> list[LLResult]:
        if not requests:
            return []
        from vllm import SamplingParams

        encoded = [self.encode_pair(r.context, r.continuation, r.keep_space) for r in requests]
        # prompt_logprobs=1: each position's dict holds the prompt token (with its rank) and the top-1 token.
        # max_tokens=1 because vLLM must sample something; detokenize=False skips decoding we do not read.
        params = SamplingParams(max_tokens=1, prompt_logprobs=1, temperature=0, detokenize=False)
        outputs = self.llm.generate([{"prompt_token_ids": tokens} for tokens, _ in encoded], params, use_tqdm=False)
        return [result_from_prompt_logprobs(out.prompt_logprobs, tokens, n_ctx)
                for out, (tokens, n_ctx) in zip(outputs, encoded)]

    def generate(self, requests: Sequence[GenRequest]) -> list[str]:
        if not requests:
            return []
        from vllm import SamplingParams

        prompts = [{"prompt_token_ids": self._encode(r.context)} for r in requests]
        params = [SamplingParams(temperature=r.temperature, top_p=r.top_p, seed=r.seed if r.temperature > 0 else None,
                                 max_tokens=r.max_new_tokens, stop=[s for s in r.stop if s] or None)
                  for r in requests]
        outputs = self.llm.generate(prompts, params, use_tqdm=False)
        return [cut_at_stop(out.outputs[0].text, r.stop) for out, r in zip(outputs, requests)]


def _engine_max_length(llm) -> int | None:
    config = getattr(getattr(llm, "llm_engine", None), "model_config", None)
    value = getattr(config, "max_model_len", None)
    return int(value) if value else None
