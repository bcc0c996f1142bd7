"""Generate-then-extract classification (``scorer: generate``), for chat-only servers with no prompt log-probabilities.

The model writes a short answer after the query prompt (greedy, up to ``max_new_tokens``, stopping at a newline) and
the text is mapped onto a label: the label whose verbalizer words start the answer (case-insensitive, longest
first), else the label whose words appear earliest as whole words. An answer naming no label is *unparseable*: its
prediction is ``None`` (never correct), it is counted in the run summary, and the generated text is kept in
``predictions.jsonl``. Scores are one-hot (1 for the extracted label), so calibration does not apply.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Sequence

from iclkit.errors import IclkitError
from iclkit.types import LLRequest, LLResult, Prompt


class GenerateScorer:
    name = "generate"
    channel = False
    generates = True  # the pipeline calls lm.generate instead of lm.loglikelihood

    def __init__(self, *, max_new_tokens: int = 8) -> None:
        if max_new_tokens < 1:
            raise IclkitError(f"generate scorer: max_new_tokens must be >= 1, not {max_new_tokens}")
        self.max_new_tokens = max_new_tokens

    def requests(self, prompt: Prompt, group: Hashable) -> list[LLRequest]:
        raise IclkitError("the generate scorer does not score labels; it generates (contextual calibration and "
                          "other log-likelihood features do not apply to it)")

    def reduce(self, prompt: Prompt, results: Sequence[LLResult]) -> tuple[float, ...]:
        raise IclkitError("the generate scorer has no log-likelihoods to reduce")

    @staticmethod
    def label_from_text(prompt: Prompt, text: str) -> str | None:
        """The label the generated ``text`` names (see the module docstring), or ``None``."""
        answer = text.strip().lower()
        words = [(label, cont.strip().lower()) for label, cont in zip(prompt.labels, prompt.continuations)]
        for label, word in sorted(words, key=lambda p: -len(p[1])):
            if word and answer.startswith(word):
                return label
        hits = [(m.start(), i) for i, (_, word) in enumerate(words)
                if word and (m := re.search(rf"\b{re.escape(word)}\b", answer))]
        return words[min(hits)[1]][0] if hits else None
