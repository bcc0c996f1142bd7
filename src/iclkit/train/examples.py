"""Training records and their tokenisation with a loss mask. Knows tokenizers, nothing about models or tasks.

A :class:`TrainExample` is ``context`` (instruction, demonstrations, the query's input) plus ``target`` (the output
the loss is on). The pair is tokenised the way the scorers tokenise a ``loglikelihood`` request
(:func:`iclkit.lm.base.split_trailing_space`, then ``context + target`` as one text), so a model is trained on
exactly the token spans it is later scored on. Too-long sequences lose tokens from the left, right after BOS, as in
MetaICL: the earliest demonstrations go first and the target is never cut.

An example with ``choices`` (in-context tuning's verbalizer-restricted loss, Chen et al. 2022) keeps only the first
target token: its loss is the cross-entropy over the choices' first tokens at the position that predicts it, so the
choices' first tokens must differ (for single-token verbalizers, the paper's case, this is the paper's loss).
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
        choices: every candidate output, ``target`` among them, for the restricted loss; empty for the LM loss.
    """

    context: str
    target: str
    task: str = ""
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class EncodedExample:
    """Token ids of ``context + target``; the last ``n_target`` ids are the target. With a restricted loss,
    ``choice_ids`` are the candidates' first tokens and ``gold`` the target's index among them."""

    input_ids: tuple[int, ...]
    n_target: int
    choice_ids: tuple[int, ...] = ()
    gold: int = -1


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
    choice_ids, gold = (), -1
    if example.choices:
        choice_ids, gold = _first_tokens(tokenizer, example, n_context)
        whole, n_target = whole[:n_context + 1], 1  # the restricted loss reads one position
    if len(whole) > max_length:
        keep_first = 1 if whole[0] == tokenizer.bos_token_id else 0
        whole = whole[:keep_first] + whole[len(whole) - (max_length - keep_first):]
    return EncodedExample(tuple(whole), n_target, choice_ids, gold)


def _first_tokens(tokenizer, example: TrainExample, n_context: int) -> tuple[tuple[int, ...], int]:
    """The first token of every choice after ``example.context``, and the target's index among the choices."""
    if example.target not in example.choices:
        raise IclkitError(f"training example from '{example.task}': its target {example.target!r} is not one of its "
                          f"choices {list(example.choices)}")
    firsts = []
    for choice in example.choices:
        context, target = split_trailing_space(example.context, choice)
        ids = tokenizer(context + target, add_special_tokens=True)["input_ids"]
        firsts.append(ids[n_context] if n_context < len(ids) else None)
    if None in firsts or len(set(firsts)) != len(firsts):
        shown = {c: tokenizer.convert_ids_to_tokens(t) if t is not None else None for c, t in zip(example.choices, firsts)}
        raise IclkitError(f"task '{example.task}': the restricted label loss needs verbalizers whose first tokens "
                          f"differ, got {shown}; use the LM loss (--label-loss lm) or change the verbalizer")
    return tuple(firsts), example.choices.index(example.target)


def encode_examples(tokenizer, examples: Sequence[TrainExample], max_length: int) -> list[EncodedExample]:
    if not examples:
        raise IclkitError("no training examples were built (check --tasks / --corpus and --examples-per-task)")
    return [encode_example(tokenizer, ex, max_length) for ex in examples]


def fingerprint(examples: Sequence[TrainExample]) -> str:
    """A short hash of the training data, stored in checkpoints so a resume on different data is refused."""
    digest = hashlib.sha256()
    for ex in examples:
        record = asdict(ex)
        if not record["choices"]:  # LM-loss data hashes as it did before choices existed (old runs still resume)
            del record["choices"]
        digest.update(json.dumps(record, sort_keys=True).encode())
    return digest.hexdigest()[:16]
