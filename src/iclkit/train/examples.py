"""Training records and their tokenisation with a loss mask. Knows tokenizers, nothing about models or tasks.

A :class:`TrainExample` is ``context`` (instruction, demonstrations, the query's input) plus ``target`` (the output
the loss is on). The pair is tokenised the way the scorers tokenise a ``loglikelihood`` request
(:func:`iclkit.lm.base.split_trailing_space`, then ``context + target`` as one text), so a model is trained on
exactly the token spans it is later scored on. Too-long sequences lose tokens from the left, right after BOS, as in
MetaICL: the earliest demonstrations go first and the target is never cut.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from iclkit.errors import IclkitError
from iclkit.lm.base import split_trailing_space


@dataclass(frozen=True)
class TrainExample:
    """One training sequence.

    Args:
        context: everything before the scored output; may be empty.
        target: the scored output, with its leading whitespace (``" Positive"``, ``"\\nPositive"``).
        task: the task or objective it came from (for logs and per-task statistics).
    """

    context: str
    target: str
    task: str = ""


@dataclass(frozen=True)
class EncodedExample:
    """Token ids of ``context + target``; the last ``n_target`` ids are the target."""

    input_ids: tuple[int, ...]
    n_target: int


def encode_example(tokenizer, example: TrainExample, max_length: int) -> EncodedExample:
    """Tokenise one example (special tokens as the tokenizer adds them) and mark its target span.

    The target is the tokens after ``len(encode(context))``; when the context is empty and the tokenizer adds no
    BOS, BOS (else EOS) is prepended so the first target token has something to be predicted from.
    """
    context, target = split_trailing_space(example.context, example.target)
    whole = list(tokenizer(context + target, add_special_tokens=True)["input_ids"])
    n_context = len(tokenizer(context, add_special_tokens=True)["input_ids"])
    if n_context == 0:
        prefix = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
        whole, n_context = [prefix, *whole], 1
    n_target = len(whole) - n_context
    if n_target <= 0:
        raise IclkitError(f"training example from '{example.task}' has an empty target after context ending "
                          f"{example.context[-40:]!r}")
    if n_target >= max_length:
        # Channel variants put the whole input in the target (CB premises reach 268 SmolLM2 tokens): say what to do.
        raise IclkitError(f"training example from '{example.task}': its target alone is {n_target} tokens, more than "
                          f"--max-length {max_length}; raise --max-length (the target is never truncated)")
    if len(whole) > max_length:
        keep_first = 1 if whole[0] == tokenizer.bos_token_id else 0
        whole = whole[:keep_first] + whole[len(whole) - (max_length - keep_first):]
    return EncodedExample(tuple(whole), n_target)


def encode_examples(tokenizer, examples: Sequence[TrainExample], max_length: int) -> list[EncodedExample]:
    if not examples:
        raise IclkitError("no training examples were built (check --tasks / --corpus and --examples-per-task)")
    return [encode_example(tokenizer, ex, max_length) for ex in examples]


def fingerprint(examples: Sequence[TrainExample]) -> str:
    """A short hash of the training data, stored in checkpoints so a resume on different data is refused."""
    digest = hashlib.sha256()
    for ex in examples:
        digest.update(json.dumps(asdict(ex), sort_keys=True).encode())
    return digest.hexdigest()[:16]
