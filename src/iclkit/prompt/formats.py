"""Generation prompt formats: each a render/parse pair, written as a step function the run loop drives.

A format's ``solve(query, demos)`` is a Python generator: it yields :class:`Call` (an LM call: prompt, stop strings,
token budget, stage name) or :class:`ToolCall` (a lookup), is sent back the text produced, and returns the parsed
answer (``None`` when no answer can be read: counted as unparseable, never a crash). Multi-stage formats yield
several calls; the loop batches the pending calls of many queries into one ``generate`` request, so a format never
waits on a single prompt. Every call and its output is recorded by the loop.

Formats here (Kojima et al. 2022 and Wei et al. 2022 prompts and answer rules, see the spec §C2):

* ``direct``: ``Q: {q}\\nA: The answer is {a}.`` demonstrations; the query ends ``A: The answer is`` and the
  answer is the first match in the short continuation;
* ``cot``: demonstrations with rationales (``A: {rationale} The answer is {a}.``); the answer is the first match
  after "The answer is", else the last match in the whole output;
* ``zero-shot-cot``: "Let's think step by step." then, in a second call, the task's answer trigger.

Multi-stage formats (Self-Ask, Least-to-Most) are in :mod:`iclkit.prompt.reasoning`, Auto-CoT in
:mod:`iclkit.prompt.autocot`.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass

from iclkit.errors import IclkitError
from iclkit.prompt.chat import Layout
from iclkit.types import Example

ANSWER_TRIGGER = "The answer is"
ZERO_SHOT_COT_TRIGGER = "Let's think step by step."
# Kojima et al.'s answer-extraction triggers by answer kind (coin flip: "(Yes or No)"; last letters: none).
EXTRACTION_TRIGGERS = {"number": "\nTherefore, the answer (arabic numerals) is",
                       "yesno": "\nTherefore, the answer (Yes or No) is", "text": "\nTherefore, the answer is"}
DIRECT_TRIGGERS = {"number": "The answer (arabic numerals) is", "yesno": "The answer (Yes or No) is",
                   "text": ANSWER_TRIGGER}
REASONING_TOKENS = 256  # max_length_cot in the Auto-CoT code
ANSWER_TOKENS = 32  # max_length_direct
QUERY_STOPS = ("\n\nQ:", "\nQ:")  # the model starting the next demonstration


@dataclass(frozen=True)
class Call:
    """One LM call a format asks for. ``stage`` names it in the records (``"reason"``, ``"answer"``, ...)."""

    stage: str
    prompt: str
    stop: tuple[str, ...]
    max_new_tokens: int


@dataclass(frozen=True)
class ToolCall:
    """A lookup a format asks for; the loop sends back the tool's answer, or ``None`` if it has none."""

    stage: str
    question: str


Step = Call | ToolCall
Solver = Generator[Step, "str | None", "str | None"]

# --------------------------------------------------------------------------------------------- answer parsing
_NUMBER = re.compile(r"-?\d+\.?\d*")
_YESNO = re.compile(r"\b(yes|no)\b", re.IGNORECASE)


def _matches(text: str, kind: str) -> list[str]:
    if kind == "number":
        return [m.rstrip(".") for m in _NUMBER.findall(text.replace(",", ""))]
    if kind == "yesno":
        return [m.lower() for m in _YESNO.findall(text)]
    line = text.strip().split("\n")[0].strip()
    line = re.split(r"\.(\s|$)", line)[0]  # the sentence the answer is in
    line = line.strip().strip("\"'“”`*").strip()
    return [line] if line else []


def first_answer(text: str, kind: str) -> str | None:
    """Zero-shot answer cleansing: the first match of the answer kind's pattern (``None`` if there is none)."""
    found = _matches(text, kind)
    return found[0] if found else None


def answer_after_trigger(text: str, kind: str, trigger: str = ANSWER_TRIGGER) -> str | None:
    """Few-shot answer cleansing: the first match after the *last* ``trigger`` if it occurs, else the last match
    in the whole text (text answers need the trigger: there is nothing to match without it)."""
    lower = text.lower()
    at = lower.rfind(trigger.lower())
    if at != -1:
        return first_answer(text[at + len(trigger):].lstrip(" :"), kind)
    if kind == "text":
        return None
    found = _matches(text, kind)
    return found[-1] if found else None


def majority_vote(answers: Sequence[str | None], key: Callable[[str], str] = str.lower) -> str | None:
    """Self-consistency: the most frequent parsed answer, compared by ``key`` (unparseable samples do not vote;
    ties go to the answer seen first)."""
    votes = Counter(key(a) for a in answers if a is not None)
    if not votes:
        return None
    best = max(votes.values())
    return next(a for a in answers if a is not None and votes[key(a)] == best)


# --------------------------------------------------------------------------------------------- formats
class Format:
    """Base of the single-prompt formats: render demonstrations as Q/A pairs in ``layout``."""

    name = "format"
    cue = "\nA:"
    uses_demos = True

    def __init__(self, *, layout: Layout, answer_kind: str, max_new_tokens: int | None = None) -> None:
        self.layout = layout
        self.kind = answer_kind
        self.max_new_tokens = max_new_tokens

    def demo(self, example: Example) -> tuple[str, str]:
        raise NotImplementedError

    def question(self, example: Example) -> str:
        return "Q: " + example.fields["question"]

    def prompt(self, query: Example, demos: Sequence[Example], start: str = "") -> str:
        return self.layout.render([self.demo(d) for d in demos], self.question(query), cue=self.cue, start=start)

    def solve(self, query: Example, demos: Sequence[Example]) -> Solver:
        raise NotImplementedError


class Direct(Format):
    """Answer at once: ``Q: {q}\\nA: The answer is {a}.``"""

    name = "direct"

    def demo(self, example: Example) -> tuple[str, str]:
        return self.question(example), f" {DIRECT_TRIGGERS[self.kind]} {_gold(example)}."

    def solve(self, query: Example, demos: Sequence[Example]) -> Solver:
        start = " " + DIRECT_TRIGGERS[self.kind]
        out = yield Call("answer", self.prompt(query, demos, start), ("\n",), self.max_new_tokens or ANSWER_TOKENS)
        return first_answer(out or "", self.kind)


class ChainOfThought(Format):
    """Few-shot CoT (Wei et al. 2022) with the examples' hand-written rationales."""

    name = "cot"

    def demo(self, example: Example) -> tuple[str, str]:
        rationale = example.fields.get("rationale")
        if not rationale:
            raise IclkitError(f"demonstration {example.id} has no 'rationale' field: few-shot CoT needs one "
                              "(built-in reasoning tasks have them; or use --format auto-cot)")
        return self.question(example), f" {rationale} {ANSWER_TRIGGER} {_gold(example)}."

    def solve(self, query: Example, demos: Sequence[Example]) -> Solver:
        out = yield Call("reason", self.prompt(query, demos), QUERY_STOPS, self.max_new_tokens or REASONING_TOKENS)
        return answer_after_trigger(out or "", self.kind)


class ZeroShotCoT(Format):
    """Kojima et al. 2022, two stages: reasoning after "Let's think step by step.", then the answer trigger."""

    name = "zero-shot-cot"
    uses_demos = False

    def solve(self, query: Example, demos: Sequence[Example]) -> Solver:
        first = self.prompt(query, (), " " + ZERO_SHOT_COT_TRIGGER)
        reasoning = yield Call("reason", first, QUERY_STOPS, self.max_new_tokens or REASONING_TOKENS)
        second = first + (reasoning or "") + " " + EXTRACTION_TRIGGERS[self.kind]  # " \nTherefore": as Kojima
        out = yield Call("answer", second, ("\n",), ANSWER_TOKENS)
        return first_answer(out or "", self.kind)


def _gold(example: Example) -> str:
    if example.label is None:
        raise IclkitError(f"demonstration {example.id} has no answer")
    return example.label


def _registry():
    from iclkit.registry import Registry

    formats: Registry[type] = Registry("format")
    formats.register("direct", "iclkit.prompt.formats:Direct")
    formats.register("cot", "iclkit.prompt.formats:ChainOfThought")
    formats.register("zero-shot-cot", "iclkit.prompt.formats:ZeroShotCoT")
    formats.register("auto-cot", "iclkit.prompt.autocot:AutoCoT")
    formats.register("self-ask", "iclkit.prompt.reasoning:SelfAsk")
    formats.register("least-to-most", "iclkit.prompt.reasoning:LeastToMost")
    return formats


FORMATS = _registry()
