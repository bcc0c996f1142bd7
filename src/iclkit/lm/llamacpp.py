"""llama.cpp back-end (llama-cpp-python) for GGUF models: the embedded models' own quantised arithmetic, on CPU.

Token spans follow :func:`iclkit.lm.base.encode_pair` with llama.cpp's tokenizer, so this back-end scores the same
spans as the HF one; the two differ only by llama.cpp's quantised matrix products.

Speed comes from not recomputing what is shared, with a single KV-cache sequence:

* **Prefix state.** The back-end remembers which tokens the KV cache holds. A new sequence truncates the cache to
  the longest prefix it shares with them (``llama_memory_seq_rm``) and evaluates only the tokens after it.
* **Trie order.** Requests are evaluated in lexicographic order of their tokens, so one query's candidates, and
  queries sharing fixed demonstrations, follow each other and their common prefix is evaluated once.
* **Scored positions only.** llama.cpp computes logits only for batch positions flagged as outputs; only the
  positions that predict continuation tokens are flagged (Gemma-3's vocabulary is 262,144: logits for every position
  of a 2,048-token context would be 2 GB). The logits of the last position evaluated are kept, so the second
  candidate of a single-token label set needs no evaluation at all.

Scores do not depend on what was evaluated before (tested to 0.0 against a fresh cache per request): llama.cpp's
results depend on how tokens are batched in a few cases, which the settings below avoid (see ``MIN_DECODE_TOKENS``).

llama-cpp-python is optional (``pip install 'iclkit[llamacpp]'``) and imported only when a model is loaded.
"""

from __future__ import annotations

import atexit
import contextlib
import inspect
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np

from iclkit.errors import BackendError, IclkitError, did_you_mean, unknown_name
from iclkit.lm.base import GenRequest, LocalTokenizer, cut_at_stop
from iclkit.lm.tree import common_prefix_len
from iclkit.types import LLRequest, LLResult

DEFAULT_MAX_LENGTH = 2048
SEQ = 0  # the one KV-cache sequence this back-end uses
# Reproducibility: a sequence's log-probs must not depend on how its tokens were split into llama_decode calls, or
# reusing a cached prefix would not give the numbers of a fresh evaluation. Measured on both embedded models (x86
# AVX2 CPU; tests/lm/test_llamacpp.py checks it wherever it runs):
# * llama.cpp's CPU kernels round differently for calls of fewer than 8 tokens, which moves log-probs of these 4-bit
#   models by up to 0.2 nats; calls of 8 or more tokens agreed to 0.0 whatever the split. So every llama_decode
#   call evaluates at least this many tokens (a cached prefix is cut back if need be):
MIN_DECODE_TOKENS = 8
# * llama.cpp's repacked CPU weight layouts (Gemma-3's Q4_K tensors) process tokens in tiles, so a token's result
#   depends on its place in the batch (up to 0.13 nats). They are off unless load(..., repack=True).
# * Gemma-3's sliding-window layers keep only the window by default, so the cache could not be truncated back to an
#   earlier prefix; a full-size window cache (small at these context sizes) can.
LLAMA_DEFAULTS: dict[str, Any] = {"swa_full": True, "verbose": False}


_OPEN_MODELS: weakref.WeakSet[LlamaCppLM] = weakref.WeakSet()


@atexit.register
def _close_open_models() -> None:
    # llama-cpp-python frees its model in Llama.__del__, which fails with a TypeError when that runs after
    # interpreter shutdown has torn down the llama_cpp module (it does when torch is loaded too): free them first.
    for lm in list(_OPEN_MODELS):
        lm.close()


def _import_llama_cpp():
    try:
        import llama_cpp
    except ImportError as exc:
        raise IclkitError(
            f"the llamacpp backend needs llama-cpp-python: pip install 'iclkit[llamacpp]' ({exc})"
        ) from None
    return llama_cpp


def gguf_path(model: str) -> Path:
    """An embedded model's short name, a ``.gguf`` file, or a folder holding exactly one ``.gguf`` file."""
    from iclkit.lm.models import EMBEDDED

    if model in EMBEDDED:
        return EMBEDDED[model].locate_gguf()
    path = Path(model).expanduser()
    if path.is_dir():
        found = sorted(path.glob("*.gguf"))
        if len(found) != 1:
            raise IclkitError(f"{path}: expected exactly one .gguf file in the folder, found {len(found)}")
        return found[0]
    if path.is_file():
        return path
    if path.suffix == ".gguf" or "/" in model or model.startswith("."):
        raise IclkitError(f"GGUF file not found: {path}")
    raise unknown_name("model", model, EMBEDDED)


def _check_gguf_magic(path: Path) -> None:
    """A file that is not GGUF at all is the user's mistake (a wrong path), not a failure of llama.cpp."""
    try:
        with path.open("rb") as fh:
            magic = fh.read(4)
    except OSError as exc:
        raise IclkitError(f"cannot read {path}: {exc}") from None
    if magic != b"GGUF":
        raise IclkitError(f"{path} is not a GGUF file (the llamacpp backend needs a .gguf model file)")


def _decode_spans(start: int, end: int, size: int) -> list[tuple[int, int]]:
    """Split positions ``[start, end)`` into ``llama_decode`` calls of at most ``size`` tokens, the last one moved
    back so that no call is shorter than MIN_DECODE_TOKENS (unless the whole span is)."""
    bounds = [*range(start, end, size), end]
    if len(bounds) > 2 and bounds[-1] - bounds[-2] < MIN_DECODE_TOKENS:
        bounds[-2] = bounds[-1] - MIN_DECODE_TOKENS
    return list(pairwise(bounds))


@dataclass
class _Encoded:
    tokens: list[int]
    n_ctx: int  # continuation = tokens[n_ctx:]


@dataclass(frozen=True)
class _PositionScore:
    logprob: float  # log P(target) at this position (nan when there is no target: generation)
    argmax: int


def _score_row(logits: np.ndarray, target: int | None) -> _PositionScore:
    """Log-softmax at one position, computed only for the target token (float64: vocabularies of 262k entries)."""
    best = int(logits.argmax())
    if target is None:
        return _PositionScore(float("nan"), best)
    row = logits.astype(np.float64)
    peak = row[best]
    log_z = peak + np.log(np.exp(row - peak).sum())
    return _PositionScore(float(row[target] - log_z), best)


class LlamaCppLM(LocalTokenizer):
    """``LanguageModel`` over a ``llama_cpp.Llama``.

    Args:
        llama: a loaded ``llama_cpp.Llama`` (its high-level state is not used: this class drives the context).
        name: label for records.
        max_length: longest sequence to accept (default: the model's training context, capped at 2048 and at the
            context's size).
    """

    def __init__(self, llama: Any, *, name: str = "llamacpp", max_length: int | None = None) -> None:
        self._lib = _import_llama_cpp()
        self.llama = llama
        self.name = name
        self._ctx = llama.ctx
        self._memory = self._lib.llama_get_memory(self._ctx)
        self._vocab = self._lib.llama_model_get_vocab(llama.model)
        self._n_vocab = llama.n_vocab()
        self._n_batch = llama.n_batch
        self._max_length = self._resolve_max_length(max_length)
        bos, eos = llama.token_bos(), llama.token_eos()
        self._prefix_token = bos if bos >= 0 else eos
        self._batch = self._lib.llama_batch_init(self._n_batch, 0, 1)
        self._free_batch = weakref.finalize(self, self._lib.llama_batch_free, self._batch)
        self._state: list[int] = []  # tokens whose keys/values sequence SEQ of the cache holds, in order
        self._last_logits: np.ndarray | None = None  # logits after self._state, when its last position was scored
        self.tokens_run = 0  # tokens actually evaluated (for benchmarks and tests)
        self.source_file: Path | None = None  # the weights file, for the run summary
        _OPEN_MODELS.add(self)

    @classmethod
    def load(cls, model: str, *, device: str | None = None, max_length: int | None = None, batch_size: int = 32,
             n_threads: int | None = None, n_ctx: int | None = None, repack: bool = False,
             **llama_kwargs: Any) -> LlamaCppLM:
        """Load an embedded model's GGUF (``smollm2-135m``, ``gemma3-270m``) or a ``.gguf`` file.

        ``device``: ``None``/``"cpu"`` keeps every layer on the CPU; anything else offloads all layers to the
        accelerator the wheel was built for. ``batch_size`` is accepted for the common interface and unused: one
        sequence is evaluated at a time against the cached prefix. ``n_ctx`` (default ``max_length`` or 2048) sizes
        the KV cache. ``repack`` turns on llama.cpp's repacked CPU weights ("extra buffer types", AVX-512/AMX
        layouts): faster prompt evaluation on some CPUs, but scores then depend on how tokens were batched (see the
        module's constants), and on some Xeons with AMX ``Llama.eval`` crashes (a segfault) with a wheel built for
        that CPU; leave it off there.
        Other keyword arguments go to ``llama_cpp.Llama`` and override the defaults here.
        """
        llama_cpp = _import_llama_cpp()
        path = gguf_path(model)
        _check_llama_options(llama_cpp.Llama, llama_kwargs)
        options: dict[str, Any] = {
            "n_ctx": n_ctx or max_length or DEFAULT_MAX_LENGTH,
            "n_threads": n_threads,
            "n_threads_batch": n_threads,  # llama-cpp-python otherwise uses every core for prompt evaluation
            "n_gpu_layers": 0 if device in (None, "cpu") else -1,
            **LLAMA_DEFAULTS,
            **llama_kwargs,
        }
        _check_gguf_magic(path)
        try:
            with _model_params(llama_cpp, use_extra_bufts=repack):
                llama = llama_cpp.Llama(model_path=str(path), **options)
        except (ValueError, RuntimeError, MemoryError) as exc:
            # The file exists and is GGUF: what fails now is the file's content or the machine, not the command.
            raise BackendError(f"llama.cpp cannot load {path}: {exc} (a truncated or corrupt file, an architecture "
                               f"this llama.cpp build does not know, or not enough memory)") from exc
        lm = cls(llama, name=model, max_length=max_length)
        lm.source_file = path
        return lm

    @classmethod
    def check_extra_options(cls, options: dict[str, Any]) -> None:
        """Options that ``load`` forwards to ``llama_cpp.Llama`` (checked without loading a model)."""
        _check_llama_options(_import_llama_cpp().Llama, dict(options))

    def _resolve_max_length(self, requested: int | None) -> int:
        n_ctx = self.llama.n_ctx()
        if requested is not None and requested > n_ctx:
            raise IclkitError(f"max_length {requested} exceeds the llama.cpp context of {n_ctx} tokens; "
                              f"pass a larger n_ctx")
        trained = self._lib.llama_model_n_ctx_train(self.llama.model) or n_ctx  # 0 when loaded vocab_only
        return int(requested or min(trained, DEFAULT_MAX_LENGTH, n_ctx))

    def close(self) -> None:
        """Free the llama.cpp model, context and batch now (the object is unusable afterwards)."""
        self._free_batch()
        self.llama.close()
        _OPEN_MODELS.discard(self)

    # ----------------------------------------------------------------------------------------------- tokenising
    def _encode(self, text: str) -> list[int]:
        # add_bos=True adds BOS only when the model's metadata asks for it (Gemma does, SmolLM2 does not), like HF's
        # add_special_tokens; special=True parses special-token text as the HF tokenizer does.
        return self.llama.tokenize(text.encode("utf-8"), add_bos=True, special=True)

    # ----------------------------------------------------------------------------------------------- scoring
    def loglikelihood(self, requests: Sequence[LLRequest]) -> list[LLResult]:
        encoded = [_Encoded(*self.encode_pair(r.context, r.continuation, r.keep_space)) for r in requests]
        results: list[LLResult | None] = [None] * len(requests)
        for i in sorted(range(len(encoded)), key=lambda i: encoded[i].tokens):  # trie order: shared prefixes adjacent
            results[i] = self._score(encoded[i])
        return results  # type: ignore[return-value]

    def _score(self, seq: _Encoded) -> LLResult:
        # The last token is only a target: the model never needs to read it.
        targets = seq.tokens[seq.n_ctx :]
        scores = self._evaluate(seq.tokens[:-1], seq.n_ctx - 1, targets)
        return LLResult(sum(s.logprob for s in scores), len(targets),
                        all(s.argmax == t for s, t in zip(scores, targets)))

    def _evaluate(self, tokens: list[int], first_scored: int,
                  targets: Sequence[int | None]) -> list[_PositionScore]:
        """Bring the cache to ``tokens`` and score positions ``first_scored ..`` (the end) against ``targets``."""
        scores, start = self._reuse_prefix(tokens, first_scored, targets)
        for begin, end in _decode_spans(start, len(tokens), self._n_batch):
            scores += self._decode(tokens[begin:end], begin, first_scored, targets)
        return scores

    def _reuse_prefix(self, tokens: list[int], first_scored: int,
                      targets: Sequence[int | None]) -> tuple[list[_PositionScore], int]:
        """Truncate the cache to the longest prefix of ``tokens`` worth keeping; return the scores already known
        (from the kept logits) and the position where evaluation must start.

        Positions to score are evaluated now (logits are not kept), except the one just before the cached state's
        end. At least MIN_DECODE_TOKENS tokens are evaluated whenever any are, so results never depend on history.
        """
        shared = common_prefix_len(self._state, tokens)
        remaining = len(tokens) - shared
        if (shared == len(self._state) == first_scored + 1 and self._last_logits is not None
                and (remaining == 0 or remaining >= MIN_DECODE_TOKENS)):
            return [_score_row(self._last_logits, targets[0])], shared
        self._truncate(max(0, min(shared, first_scored, len(tokens) - MIN_DECODE_TOKENS)))
        return [], len(self._state)  # 0 when the cache could not be truncated

    def _truncate(self, length: int) -> None:
        """Drop cached tokens from ``length`` on; clear everything if this memory cannot drop a partial sequence."""
        if length >= len(self._state):
            return
        self._last_logits = None
        ok = self._lib.llama_memory_seq_rm(self._memory, SEQ, length, -1)
        # A sliding-window cache that has evicted early positions cannot serve a shorter prefix either.
        if not ok or (length and self._lib.llama_memory_seq_pos_min(self._memory, SEQ) > 0):
            self._lib.llama_memory_clear(self._memory, True)
            length = 0
        del self._state[length:]

    def _decode(self, chunk: list[int], start: int, first_scored: int,
                targets: Sequence[int | None]) -> list[_PositionScore]:
        """Evaluate ``chunk`` at positions ``start ..``, asking llama.cpp for logits only at scored positions."""
        batch = self._batch
        batch.n_tokens = len(chunk)
        for i, token in enumerate(chunk):
            batch.token[i] = token
            batch.pos[i] = start + i
            batch.n_seq_id[i] = 1
            batch.seq_id[i][0] = SEQ
            batch.logits[i] = start + i >= first_scored
        rc = self._lib.llama_decode(self._ctx, batch)
        if rc != 0:
            self._reset()
            raise RuntimeError(f"llama_decode returned {rc} for {len(chunk)} tokens at position {start}")
        self._state += chunk
        self.tokens_run += len(chunk)
        scores = []
        for i in range(max(0, first_scored - start), len(chunk)):
            logits = np.ctypeslib.as_array(self._lib.llama_get_logits_ith(self._ctx, i), shape=(self._n_vocab,))
            scores.append(_score_row(logits, targets[start + i - first_scored]))
        if scores:  # position start + len(chunk) - 1 was scored: keep its logits for the next sequence
            self._last_logits = logits.copy()
        else:
            self._last_logits = None
        return scores

    def _reset(self) -> None:
        self._lib.llama_memory_clear(self._memory, True)
        self._state, self._last_logits = [], None

    # ----------------------------------------------------------------------------------------------- generation
    def generate(self, requests: Sequence[GenRequest]) -> list[str]:
        return [self._generate_one(r) for r in requests]

    def _generate_one(self, request: GenRequest) -> str:
        """Greedy decoding (temperature 0) through the same prefix-reusing cache as scoring."""
        if request.temperature > 0:
            raise IclkitError("the llamacpp back-end decodes greedily only; sampling (temperature > 0, "
                              "self-consistency) needs the hf, vllm or openai back-end")
        tokens = self._encode(request.context) or [self._prefix_token]
        if len(tokens) >= self.llama.n_ctx():
            raise IclkitError(f"context of {len(tokens)} tokens leaves no room to generate in the llama.cpp "
                              f"context of {self.llama.n_ctx()}")
        new: list[int] = []
        text = ""
        while len(new) < request.max_new_tokens and len(tokens) + len(new) < self.llama.n_ctx():
            seq = tokens + new
            (step,) = self._evaluate(seq, len(seq) - 1, [None])
            if self._lib.llama_vocab_is_eog(self._vocab, step.argmax):
                break
            new.append(step.argmax)
            text = self.llama.detokenize(new, prev_tokens=tokens).decode("utf-8", errors="ignore")
            if any(s and s in text for s in request.stop):
                break
        return cut_at_stop(text, request.stop)

    def naive_loglikelihood(self, requests: Sequence[LLRequest]) -> list[LLResult]:
        """Reference path: every request evaluated from an empty cache. Used by tests and benchmarks."""
        results = []
        for r in requests:
            self._reset()
            results.append(self._score(_Encoded(*self.encode_pair(r.context, r.continuation, r.keep_space))))
        self._reset()
        return results


@contextlib.contextmanager
def _model_params(llama_cpp: Any, **fields: Any) -> Iterator[None]:
    """Set ``llama_model_params`` fields that ``llama_cpp.Llama`` has no argument for, while it loads a model.

    ``Llama.__init__`` starts from ``llama_model_default_params()`` of the low-level module; wrapping that function
    for the duration of the call is the only hook it offers.
    """
    low_level = llama_cpp.llama_cpp
    original = low_level.llama_model_default_params

    def with_fields():
        params = original()
        for name, value in fields.items():
            setattr(params, name, value)
        return params

    low_level.llama_model_default_params = with_fields
    try:
        yield
    finally:
        low_level.llama_model_default_params = original


def _check_llama_options(llama_class: type, options: dict[str, Any]) -> None:
    """``llama_cpp.Llama`` swallows unknown keyword arguments; name a misspelt backend option instead."""
    known = set(inspect.signature(llama_class.__init__).parameters) - {"self", "kwargs", "model_path"}
    for key in options:
        if key not in known:
            raise IclkitError(f"llamacpp backend: unknown option '{key}'{did_you_mean(key, known)}")
