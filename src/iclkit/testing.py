"""Test doubles shipped with the library: tiny random models, a deterministic dummy LM, and a contract check.

Plugin authors can call :func:`assert_lm_contract` on their own back-end.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from functools import lru_cache

from iclkit.lm.base import GenRequest, cut_at_stop, split_trailing_space
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
    """An :class:`~iclkit.lm.hf.HFLM` over a tiny random model and the tiny tokenizer."""
    from iclkit.lm.hf import HFLM

    model = tiny_llama() if kind == "llama" else tiny_gemma3()
    return HFLM(model, tiny_tokenizer(), name=f"tiny-{kind}", **kwargs)


class DummyLM:
    """Deterministic fake LM: a continuation's log-probability is a hash of (context, continuation).

    ``bias`` adds a fixed amount to continuations containing a given substring, to script a preferred answer.
    """

    name = "dummy"

    def __init__(self, bias: dict[str, float] | None = None, max_length: int = 10_000,
                 generate_fn: Callable[[GenRequest], str] | None = None) -> None:
        self.bias = bias or {}
        self.generate_fn = generate_fn
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
        """``generate_fn(request)`` cut at the stop strings, or "" without one."""
        return [cut_at_stop(self.generate_fn(r), r.stop) if self.generate_fn else "" for r in requests]


class ScriptedProbe:
    """An :class:`~iclkit.retrieve.base.LMProbe` whose answers are plain functions, for testing selection methods.

    Args:
        labels: the task's labels.
        score_fn: ``(demos, query) -> scores per label``.
        gold_fn: ``(demos, query) -> mean log-probability of the gold answer``.
        generate_fn: ``(demos) -> Example | None`` (one probing input per demonstration sequence).
    """

    name = "scripted"

    def __init__(self, labels: Sequence[str], score_fn=None, gold_fn=None, generate_fn=None,
                 label_generate_fn=None) -> None:
        self.labels = tuple(labels)
        self.score_fn, self.gold_fn, self.generate_fn = score_fn, gold_fn, generate_fn
        self.label_generate_fn = label_generate_fn  # (query, label) -> text, for SG-ICL
        self.scored: list[tuple[tuple[str, ...], str]] = []  # (demo ids, query id) of every label_scores item

    def label_scores(self, items):
        self.scored += [(tuple(d.id for d in demos), q.id) for demos, q in items]
        return [tuple(self.score_fn(list(demos), q)) for demos, q in items]

    def gold_logprob(self, items):
        return [float(self.gold_fn(list(demos), q)) for demos, q in items]

    def generate_inputs(self, demo_sets, *, max_new_tokens: int = 64, temperature: float = 0.0, seed: int = 0):
        return [self.generate_fn(list(demos)) for demos in demo_sets]

    def generate_for_labels(self, items, *, instruction: str, max_new_tokens: int = 48):
        return [self.label_generate_fn(q, label) for q, label in items]


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


def tiny_experiment(folder, *, n: int = 30):
    """An experiment folder as ``iclkit run`` writes it, scored by :class:`DummyLM` in about a second: ``zero-shot``
    (biased towards "positive": label collapse), ``random-4/seed{0,1,2}`` and ``bm25-2``, contextual calibration on,
    over a generated two-label data file. Returns the folder (a :class:`pathlib.Path`)."""
    import json
    from pathlib import Path

    from iclkit.config import RunConfig
    from iclkit.pipeline import run

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    data = folder / "reviews.jsonl"
    rows = [{"text": f"{w} movie number {i}", "label": lab}
            for i, (w, lab) in enumerate([("great", "positive"), ("awful", "negative")] * (n // 2))]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    base = {"data_file": str(data), "model": "dummy", "calibration": "contextual"}
    runs = [("zero-shot", {"retriever": "zero", "shots": 0}, DummyLM(bias={"positive": 3.0}), None),
            *[("random-4", {"retriever": "random", "shots": 4, "seed": s}, DummyLM(), f"seed{s}") for s in (0, 1, 2)],
            ("bm25-2", {"retriever": "bm25", "shots": 2}, DummyLM(), None)]
    for name, options, lm, sub in runs:
        out = folder / name / sub if sub else folder / name
        run(RunConfig(**base, **options, name=name, out=str(out)), lm=lm, log=lambda _: None)
    return folder


class TableEmbedder:
    """An embedder that looks texts up in a table of vectors (rows L2-normalised), to script geometry in tests."""

    def __init__(self, table, name: str = "table") -> None:
        import numpy as np

        self.table = {t: np.asarray(v, dtype=np.float32) for t, v in table.items()}
        self.name = f"{name}-{hashlib.sha256(repr(sorted((t, v.tobytes()) for t, v in self.table.items())).encode()).hexdigest()[:12]}"

    def encode(self, texts):
        import numpy as np

        x = np.stack([self.table[t] for t in texts])
        return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


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
