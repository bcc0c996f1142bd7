"""Test doubles shipped with the library: tiny random models, a deterministic dummy LM, and a contract check.

Plugin authors can call :func:`assert_lm_contract` on their own back-end.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from functools import lru_cache

from iclkit.score.base import GenRequest, split_trailing_space
from iclkit.types import LLRequest, LLResult

TINY_CORPUS = (
    "a great movie , truly great fun . a terrible film , awful and boring . it was positive . it was negative . "
    "Sentence: the plot is good\nLabel: Positive\n\nSentence: the acting is bad\nLabel: Negative\n\n"
    "Review: wonderful and moving . Sentiment: Positive . Question: who is it ? Answer: a person . "
    "news world sports business technology entailment contradiction neutral true false neither N/A [MASK]"
)


@lru_cache(maxsize=1)
def tiny_tokenizer():
    """A byte-level BPE tokenizer trained in memory (no download), with merges so leading spaces matter."""
    from tokenizers import ByteLevelBPETokenizer
    from transformers import PreTrainedTokenizerFast

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator([TINY_CORPUS] * 20, vocab_size=400, min_frequency=2,
                            special_tokens=["<bos>", "<eos>", "<pad>"])
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe._tokenizer, bos_token="<bos>", eos_token="<eos>",
                                  pad_token="<pad>")
    return tok


def tiny_llama(seed: int = 0):
    """A 2-layer random Llama with grouped-query attention (like SmolLM2), fp32."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=len(tiny_tokenizer()), hidden_size=64, intermediate_size=128,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=512, tie_word_embeddings=True)
    return LlamaForCausalLM(config).eval()


def tiny_gemma3(seed: int = 0, sliding_window: int = 8):
    """A 2-layer random Gemma-3 text model with a short sliding window, so cache reuse crosses the window."""
    import torch
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    torch.manual_seed(seed)
    config = Gemma3TextConfig(vocab_size=len(tiny_tokenizer()), hidden_size=64, intermediate_size=128,
                              num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=1, head_dim=16,
                              max_position_embeddings=512, sliding_window=sliding_window,
                              layer_types=["sliding_attention", "full_attention"])
    return Gemma3ForCausalLM(config).eval()


def tiny_hflm(kind: str = "llama", **kwargs):
    """An :class:`~iclkit.score.hf.HFLM` over a tiny random model and the tiny tokenizer."""
    from iclkit.score.hf import HFLM

    model = tiny_llama() if kind == "llama" else tiny_gemma3()
    return HFLM(model, tiny_tokenizer(), name=f"tiny-{kind}", **kwargs)


class DummyLM:
    """Deterministic fake LM: a continuation's log-probability is a hash of (context, continuation).

    ``bias`` adds a fixed amount to continuations containing a given substring, to script a preferred answer.
    """

    name = "dummy"

    def __init__(self, bias: dict[str, float] | None = None, max_length: int = 10_000) -> None:
        self.bias = bias or {}
        self._max_length = max_length
        self.calls: list[LLRequest] = []

    @property
    def max_length(self) -> int:
        return self._max_length

    def count_tokens(self, text: str) -> int:
        return len(text.split()) + 1

    def loglikelihood(self, requests: Sequence[LLRequest]) -> list[LLResult]:
        self.calls.extend(requests)
        out = []
        for r in requests:
            ctx, cont = split_trailing_space(r.context, r.continuation)
            h = int(hashlib.sha256(f"{ctx}\x00{cont}".encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
            lp = -1.0 - h + sum(v for k, v in self.bias.items() if k in cont)
            out.append(LLResult(lp, max(1, len(cont.split())), False))
        return out

    def generate(self, requests: Sequence[GenRequest]) -> list[str]:
        return ["" for _ in requests]


def assert_lm_contract(lm, *, atol: float = 1e-4) -> None:
    """Check the invariants every back-end must keep (order, grouping-independence, determinism)."""
    reqs = [
        LLRequest("Review: good\nSentiment:", " Positive", group=0),
        LLRequest("Review: good\nSentiment:", " Negative", group=0),
        LLRequest("Review: bad\nSentiment: ", "Negative", group=1),
    ]
    grouped = lm.loglikelihood(reqs)
    single = [lm.loglikelihood([r])[0] for r in reqs]
    assert len(grouped) == len(reqs)
    for a, b in zip(grouped, single):
        assert abs(a.logprob - b.logprob) <= atol, (a, b)
        assert a.n_tokens == b.n_tokens and a.logprob <= 0.0
    # trailing context whitespace belongs to the continuation
    moved = lm.loglikelihood([LLRequest("Review: bad\nSentiment:", " Negative")])[0]
    assert abs(moved.logprob - grouped[2].logprob) <= atol


def sst2_requests(lm, shots: int, select, seed: int = 0) -> list[LLRequest]:
    """Direct-scoring requests for SST-2 validation queries ``select(evalset)`` with ``shots`` fixed random
    demonstrations from the training pool (the integration tests' real-model prompts)."""
    import random

    from iclkit.data.loaders import load_split
    from iclkit.data.tasks import load_task
    from iclkit.prompt.render import PromptBuilder

    task = load_task("sst2")
    pool, evalset = load_split(task, "train"), load_split(task, "eval")
    builder = PromptBuilder(task.template, task.labels, task.verbalizer, count_tokens=lm.count_tokens,
                            max_tokens=lm.max_length)
    demos = random.Random(seed).sample(pool, shots)
    reqs = []
    for q in select(evalset):
        p = builder.build(q, demos)
        reqs += [LLRequest(c, k, q.id) for c, k in zip(p.contexts, p.continuations)]
    return reqs


class ScriptedLM(DummyLM):
    """A fake LM whose generations are scripted: ``reply(request) -> str`` (or a list of replies, in call order).

    Every request is kept in ``requests``, so tests can check what a prompt format asked for.
    """

    name = "scripted"

    def __init__(self, reply, **kwargs) -> None:
        super().__init__(**kwargs)
        self._reply = reply if callable(reply) else iter(reply).__next__
        self._takes_request = callable(reply)
        self.requests: list[GenRequest] = []

    def generate(self, requests: Sequence[GenRequest]) -> list[str]:
        self.requests.extend(requests)
        return [self._reply(r) if self._takes_request else self._reply() for r in requests]
