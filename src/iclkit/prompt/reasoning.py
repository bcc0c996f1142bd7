"""Multi-stage formats: Self-Ask (Press et al. 2022) and Least-to-Most (Zhou et al. 2022). See the spec §C3-C4.

Both are step functions driven by the run loop (see :mod:`iclkit.prompt.formats`). Demonstrations come from the
pool's worked sub-problems (the ``steps`` field of the built-in reasoning tasks); Self-Ask falls back on the paper's
exemplars for pools without them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from iclkit.errors import IclkitError
from iclkit.prompt.formats import (
    ANSWER_TRIGGER,
    REASONING_TOKENS,
    Call,
    Format,
    Solver,
    ToolCall,
    _gold,
    answer_after_trigger,
)
from iclkit.types import Example

FOLLOW = "Follow up:"
INTER = "\nIntermediate answer:"
FINAL = "\nSo the final answer is:"
NEXT_QUESTION = "\n\nQuestion:"  # the model starting another exemplar
# Models also write "Intermediate Answer"; stopping on either keeps the loop in step (spec §C3 pitfalls).
INTER_STOPS = (INTER, "\nIntermediate Answer:", NEXT_QUESTION)
PAPER_EXEMPLARS = (  # Press et al. 2022, the first two of the four exemplars
    ("Who lived longer, Muhammad Ali or Alan Turing?",
     (" Yes.\nFollow up: How old was Muhammad Ali when he died?\n"
     "Intermediate answer: Muhammad Ali was 74 years old when he died.\n"
     "Follow up: How old was Alan Turing when he died?\n"
     "Intermediate answer: Alan Turing was 41 years old when he died.\nSo the final answer is: Muhammad Ali")),
    ("When was the founder of craigslist born?",
     (" Yes.\nFollow up: Who was the founder of craigslist?\n"
     "Intermediate answer: Craigslist was founded by Craig Newmark.\n"
     "Follow up: When was Craig Newmark born?\n"
     "Intermediate answer: Craig Newmark was born on December 6, 1952.\nSo the final answer is: December 6, 1952")),
)


@dataclass
class Outcome:
    """A format's result with notes for the record (e.g. ``{"step_limit": True}``)."""

    answer: str | None
    notes: dict[str, Any] = field(default_factory=dict)


def _steps(example: Example) -> list[tuple[str, str, str]]:
    """The worked sub-problems ``[[sub_question, sub_answer, solution], ...]`` (JSON in the ``steps`` field)."""
    raw = example.fields.get("steps")
    if not raw:
        raise IclkitError(f"demonstration {example.id} has no 'steps' field: Self-Ask and Least-to-Most "
                          "demonstrations need worked sub-problems (the built-in reasoning tasks have them)")
    return [tuple(step) for step in json.loads(raw)]  # type: ignore[misc]


def last_line(text: str) -> str:
    return text.rstrip("\n").split("\n")[-1]


def after_last_colon(line: str) -> str:
    """Self-Ask's extraction: the text after the last ':' of a line, without the leading space or final '.'."""
    return line.split(":")[-1].strip().rstrip(".").strip()


class SelfAsk(Format):
    """Follow-up questions answered by the lookup tool (when it knows) or by the LM, then the final answer.

    Args:
        max_steps: follow-up questions allowed before the final answer is forced (the record notes it).
        use_tool: send follow-up questions to the task's lookup tool first.
    """

    name = "self-ask"
    cue = "\nAre follow up questions needed here:"

    def __init__(self, *, max_steps: int = 5, use_tool: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if max_steps < 1:
            raise IclkitError(f"self-ask: max_steps must be >= 1, not {max_steps}")
        self.max_steps, self.use_tool = max_steps, use_tool

    def question(self, example: Example) -> str:
        return "Question: " + example.fields["question"]

    def demo(self, example: Example) -> tuple[str, str]:
        chain = "".join(f"{FOLLOW} {q}\nIntermediate answer: {solution}\n" for q, _, solution in _steps(example))
        return self.question(example), f" Yes.\n{chain}So the final answer is: {_gold(example)}"

    def prompt(self, query: Example, demos: Sequence[Example], start: str = "") -> str:
        rendered = [self.demo(d) for d in demos if d.fields.get("steps")]
        if not rendered:
            rendered = [("Question: " + q, chain) for q, chain in PAPER_EXEMPLARS]
        return self.layout.render(rendered, self.question(query), cue=self.cue, start=start)

    def solve(self, query: Example, demos: Sequence[Example]) -> Solver:
        budget = self.max_new_tokens or REASONING_TOKENS
        cur = self.prompt(query, demos)
        ret = (yield Call("ask", cur, INTER_STOPS, budget)) or ""
        steps, notes = 0, {}
        while FOLLOW.lower() in last_line(ret).lower():
            if steps == self.max_steps:
                notes["step_limit"] = True
                break
            steps += 1
            cur += ret
            sub_question = after_last_colon(last_line(ret)) if ":" in last_line(ret) else last_line(ret)
            answer = (yield ToolCall("tool", sub_question)) if self.use_tool else None
            if answer is not None:
                cur += f"{INTER} {answer}."
            else:
                cur += INTER
                cur += (yield Call("intermediate", cur, ("\n" + FOLLOW, FINAL, NEXT_QUESTION), budget)) or ""
            ret = (yield Call("ask", cur, INTER_STOPS, budget)) or ""
        notes["follow_ups"] = steps
        marker = FINAL.strip()
        if marker in ret:
            final_line = ret[ret.index(marker) + len(marker):].split("\n")[0]
        else:
            cur += ret + FINAL
            final_line = (yield Call("final", cur, ("\n",), budget)) or ""
        answer = final_line.strip().rstrip(".").strip()  # the text after "So the final answer is:" on its line
        return Outcome(answer or None, notes)


_NUMBERED = re.compile(r"^\s*\d+[.)]\s*(.+?)\s*$")


class LeastToMost(Format):
    """Decompose into sub-questions, then solve them in order, each answer appended to the context.

    Args:
        max_subquestions: sub-questions kept from the decomposition (errors compound; spec §C4 pitfalls).
    """

    name = "least-to-most"

    def __init__(self, *, max_subquestions: int = 8, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_subquestions = max_subquestions

    def decomposition_demo(self, example: Example) -> tuple[str, str]:
        listed = "\n".join(f"{i}. {q}" for i, (q, _, _) in enumerate(_steps(example), 1))
        return "Q: " + example.fields["question"], " Sub-questions:\n" + listed

    def solving_demo(self, example: Example) -> tuple[str, str]:
        return example.fields["question"], "".join(
            f"Q: {q}\nA: {solution} {ANSWER_TRIGGER} {answer}.\n" for q, answer, solution in _steps(example)).rstrip()

    def solve(self, query: Example, demos: Sequence[Example]) -> Solver:
        budget = self.max_new_tokens or REASONING_TOKENS
        question = query.fields["question"]
        prompt = self.layout.render([self.decomposition_demo(d) for d in demos], "Q: " + question, cue="\nA:",
                                    start=" Sub-questions:\n")
        listed = (yield Call("decompose", prompt, ("\n\n", "\nQ:"), budget)) or ""
        subs = [m.group(1) for line in listed.split("\n") if (m := _NUMBERED.match(line))][: self.max_subquestions]
        notes: dict[str, Any] = {"subquestions": len(subs)}
        if not subs:
            notes["decomposition_unparsed"] = True
            subs = [question]
        solving = [self.solving_demo(d) for d in demos]
        solved, answer = "", None
        for sub in subs:
            start = f"{solved}Q: {sub}\nA:"
            out = (yield Call("solve", self.layout.render(solving, question, cue="\n", start=start),
                              ("\nQ:", "\n\n"), budget)) or ""
            solved = f"{start}{out}\n"
            answer = answer_after_trigger(out, self.kind)
        return Outcome(answer, notes)
