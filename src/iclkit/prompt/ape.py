"""APE (Zhou et al. 2022) prompt text: the instruction-induction ("forward") prompt and candidate cleaning. Spec §C1.2.

    I gave a friend an instruction. Based on the instruction they produced the following input-output pairs:

    Input: [INPUT]
    Output: [OUTPUT]
    ...

    The instruction was to [APE]

The completion after "The instruction was to" is the candidate instruction (kept as "The instruction was to ..."
would be odd as a prompt prefix, so the candidate is the completion, first sentence, capitalised).
"""

from __future__ import annotations

from collections.abc import Sequence

PROPOSAL_HEAD = ("I gave a friend an instruction. Based on the instruction they produced the following "
                 "input-output pairs:\n\n")
PROPOSAL_TAIL = "\n\nThe instruction was to"


def proposal_prompt(pairs: Sequence[tuple[str, str]]) -> str:
    """The forward-mode proposal prompt over (input, output) demonstration pairs."""
    demos = "\n\n".join(f"Input: {x}\nOutput: {y}" for x, y in pairs)
    return PROPOSAL_HEAD + demos + PROPOSAL_TAIL


def clean_candidate(completion: str) -> str | None:
    """The instruction in a proposal completion: its first line/sentence, capitalised; ``None`` if empty."""
    text = completion.strip().split("\n")[0].strip()
    if "." in text:
        text = text[: text.index(".") + 1]
    text = text.strip().rstrip(",;:")
    if len(text) < 3:
        return None
    text = text[0].upper() + text[1:]
    return text if text.endswith(".") else text + "."
