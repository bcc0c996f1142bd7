"""SG-ICL, self-generated in-context learning (Kim et al. 2022): the model writes the demonstrations.

For each query and each label, the LM continues ``instruction`` (filled with the query's input and the label's
verbalizer word) up to the first newline; each continuation becomes a demonstration input with that label, so the
demonstrations are label-balanced and on the query's topic. No pool labels are needed (the pool is not used at
all). ``per_label`` generations per label (k is ignored beyond that: ``per_label × |Y|`` demonstrations).
Generation is greedy (the LM contract has no sampling yet), so ``per_label`` > 1 repeats itself; empty generations
are dropped and counted. As the paper notes, nothing checks that a generated input really has its label.
Cost: ``|Y| × per_label`` generations per query. Single-input-field tasks only.
"""

from __future__ import annotations

from collections.abc import Sequence

from iclkit.errors import IclkitError
from iclkit.retrieve.base import LMProbe, require_probe
from iclkit.types import Demo, Example

DEFAULT_INSTRUCTION = 'Input: {input}\nWrite another input whose label is "{label}".\nInput:'


class SelfGeneratedDemos:
    def __init__(self, *, instruction: str = DEFAULT_INSTRUCTION, per_label: int = 1, max_new_tokens: int = 48,
                 probe: LMProbe | None = None) -> None:
        self.probe = require_probe(probe, "sgicl")
        if "{input}" not in instruction or "{label}" not in instruction:
            raise IclkitError("retriever 'sgicl': instruction must contain {input} and {label}")
        self.instruction, self.per_label, self.max_new_tokens = instruction, int(per_label), int(max_new_tokens)
        self._details: dict[str, dict] = {}

    def fit(self, pool: Sequence[Example]) -> None:
        pass  # the demonstrations come from the model, not the pool

    def select(self, query: Example, k: int) -> list[Demo]:
        if k == 0:
            return []
        if len(query.fields) != 1:
            raise IclkitError(f"retriever 'sgicl' supports tasks with one input field; example {query.id} has "
                              f"{sorted(query.fields)}")
        field = next(iter(query.fields))
        items = [(query, label) for label in self.probe.labels for _ in range(self.per_label)]
        texts = self.probe.generate_for_labels(items, instruction=self.instruction,
                                               max_new_tokens=self.max_new_tokens)
        demos = [Demo(Example(f"sg-{query.id}-{label}-{i}", {field: text}, label))
                 for i, ((_, label), text) in enumerate(zip(items, texts)) if text]
        self._details[query.id] = {"sgicl_generated": {d.example.id: d.example.fields[field] for d in demos},
                                   "sgicl_empty": len(texts) - len(demos)}
        return demos

    def details(self, query: Example) -> dict | None:
        return self._details.pop(query.id, None)
