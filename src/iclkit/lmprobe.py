"""The language model as LM-guided selection methods see it (:class:`iclkit.retrieve.base.LMProbe`).

Built by :mod:`iclkit.pipeline` from the run's model, scorer and task template, so selection and ordering methods
(MDL, MI, EPR, Vote-k two-stage, active selection, entropy ordering) use exactly the prompts and scoring of the final
predictions, and ``retrieve/`` never imports ``score/`` or ``prompt/``.
"""

from __future__ import annotations

from collections.abc import Sequence

from iclkit.data.spec import TaskSpec
from iclkit.lm.base import GenRequest, LanguageModel
from iclkit.prompt.render import PromptBuilder, opening_literal, parse_input, render_demo, render_prefix
from iclkit.score.scorers import Scorer
from iclkit.types import Example, LLRequest

CHUNK = 256  # requests per loglikelihood call


class PipelineProbe:
    def __init__(self, lm: LanguageModel, scorer: Scorer, builder: PromptBuilder, task: TaskSpec) -> None:
        self.lm, self.scorer, self.builder, self.task = lm, scorer, builder, task
        self.labels = tuple(task.labels)
        self.name = f"{lm.name}/{scorer.name}"
        self.direct = PromptBuilder(task.template, task.labels, task.verbalizer, count_tokens=lm.count_tokens,
                                    max_tokens=lm.max_length)

    def label_scores(self, items: Sequence[tuple[Sequence[Example], Example]]) -> list[tuple[float, ...]]:
        prompts = [self.builder.build(q, list(demos)) for demos, q in items]
        requests, spans = [], []
        for p in prompts:
            start = len(requests)
            requests += self.scorer.requests(p, ("probe", p.prefix))
            spans.append((start, len(requests)))
        results = self._loglikelihood(requests)
        return [self.scorer.reduce(p, results[a:b]) for p, (a, b) in zip(prompts, spans)]

    def gold_logprob(self, items: Sequence[tuple[Sequence[Example], Example]]) -> list[float]:
        requests = []
        for demos, q in items:
            p = self.direct.build(q, list(demos))
            i = p.labels.index(q.label)
            requests.append(LLRequest(p.contexts[i], p.continuations[i], ("gold", p.prefix)))
        return [r.logprob / r.n_tokens for r in self._loglikelihood(requests)]

    def generate_inputs(self, demo_sets: Sequence[Sequence[Example]], *, max_new_tokens: int = 64,
                        temperature: float = 0.0, seed: int = 0) -> list[Example | None]:
        """One new input per demonstration sequence, written by the LM after the demonstrations. The context ends
        with the input template's opening literal (``Sentence:``) so that the model writes an input rather than
        whatever follows a blank line for it (an instruction-tuned model starts a chat question there). With
        ``temperature`` > 0 the i-th sequence is sampled with seed ``seed + i``."""
        template = self.task.template
        lead = opening_literal(template.input)
        contexts = [render_prefix(template, [render_demo(template, d, self.task.verbalizer) for d in demos]) + lead
                    for demos in demo_sets]
        texts = self.lm.generate([GenRequest(c, stop=(template.separator,), max_new_tokens=max_new_tokens,
                                             temperature=temperature, seed=seed + i) for i, c in enumerate(contexts)])
        out: list[Example | None] = []
        for i, text in enumerate(texts):
            fields = parse_input(template, lead + text, self.task.input_fields)
            full = fields is not None and set(fields) == set(self.task.input_fields)
            out.append(Example(f"probe{i}", fields, None) if full else None)
        return out

    def generate_for_labels(self, items: Sequence[tuple[Example, str]], *, instruction: str,
                            max_new_tokens: int = 48) -> list[str]:
        contexts = [instruction.format(input=" ".join(q.fields[f] for f in self.task.input_fields),
                                       label=self.task.verbalizer[label]) for q, label in items]
        texts = self.lm.generate([GenRequest(c, stop=("\n",), max_new_tokens=max_new_tokens) for c in contexts])
        return [t.strip() for t in texts]

    def _loglikelihood(self, requests: list[LLRequest]):
        results = []
        for start in range(0, len(requests), CHUNK):
            results += self.lm.loglikelihood(requests[start : start + CHUNK])
        return results
