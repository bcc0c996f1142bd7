"""Auto-CoT (Zhang et al. 2022): demonstrations built from the model's own zero-shot-CoT chains. Spec §C2.3.

1. the pool's questions are embedded (the packaged sentence encoder, passed in by the pipeline) and clustered with
   k-means, k = the number of demonstrations, ``random_state=seed``;
2. in each cluster, the questions nearest the centroid are answered with zero-shot CoT (the run loop batches them);
3. each cluster keeps its nearest question whose chain passes the paper's heuristics: question of at most 60 words,
   at most 5 reasoning lines (7 for last-letter tasks), rationale ending with ".", a non-empty answer and, for
   numbers, the answer in the last sentence or the last 10 words of the rationale.

The test prompt is the demonstrations (``Q: {q}\\nA: Let's think step by step. {rationale} The answer is {a}.``)
then ``Q: {q}\\nA: Let's think step by step.``; the answer is parsed as for few-shot CoT. Gold labels are never used.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from iclkit.prompt.formats import (
    ANSWER_TRIGGER,
    QUERY_STOPS,
    REASONING_TOKENS,
    ZERO_SHOT_COT_TRIGGER,
    Call,
    Format,
    Solver,
    answer_after_trigger,
)
from iclkit.types import Example

MAX_QUESTION_WORDS = 60


@dataclass(frozen=True)
class ChainDemo:
    """A demonstration built by Auto-CoT: the pool question, the model's rationale and its predicted answer."""

    example_id: str
    question: str
    rationale: str
    answer: str


def cluster_candidates(pool: Sequence[Example], vectors: np.ndarray, k: int, *, seed: int,
                       per_cluster: int = 4) -> list[list[Example]]:
    """Per k-means cluster, its ``per_cluster`` members nearest the centroid (nearest first)."""
    from sklearn.cluster import KMeans

    k = min(k, len(pool))
    km = KMeans(n_clusters=k, random_state=seed, n_init=10).fit(vectors)
    distance = np.linalg.norm(vectors - km.cluster_centers_[km.labels_], axis=1)
    clusters = []
    for c in range(k):
        members = sorted(np.flatnonzero(km.labels_ == c), key=lambda i: (distance[i], i))
        clusters.append([pool[i] for i in members[:per_cluster]])
    return clusters


def passes_heuristics(question: str, rationale: str, answer: str | None, *, kind: str, max_lines: int) -> bool:
    """The Auto-CoT selection rules (see the module docstring)."""
    rationale = rationale.strip()
    if not answer or len(question.split()) > MAX_QUESTION_WORDS or not rationale.endswith("."):
        return False
    if len([ln for ln in rationale.split("\n") if ln.strip()]) > max_lines:
        return False
    if kind == "number":
        sentences = [s for s in rationale.replace("\n", " ").split(". ") if s.strip()]
        last_words = " ".join(rationale.split()[-10:])
        return answer in (sentences[-1] if sentences else "") or answer in last_words
    return True


def select_demos(clusters: Sequence[Sequence[Example]], chains: dict[str, tuple[str, str | None]], *,
                 kind: str, max_lines: int) -> list[ChainDemo]:
    """Per cluster, the first candidate whose zero-shot chain ``(rationale, answer)`` passes the heuristics."""
    demos = []
    for members in clusters:
        for ex in members:
            rationale, answer = chains[ex.id]
            if passes_heuristics(ex.fields["question"], rationale, answer, kind=kind, max_lines=max_lines):
                demos.append(ChainDemo(ex.id, ex.fields["question"], " ".join(rationale.split()), answer or ""))
                break
    return demos


class AutoCoT(Format):
    """Few-shot CoT over :class:`ChainDemo` demonstrations (set ``chain_demos`` before solving)."""

    name = "auto-cot"
    uses_demos = False  # its demonstrations are built once per run, not retrieved per query

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.chain_demos: list[ChainDemo] = []

    def solve(self, query: Example, demos: Sequence[Example]) -> Solver:
        rendered = [("Q: " + d.question, f" {ZERO_SHOT_COT_TRIGGER} {d.rationale} {ANSWER_TRIGGER} {d.answer}.")
                    for d in self.chain_demos]
        prompt = self.layout.render(rendered, self.question(query), cue=self.cue, start=" " + ZERO_SHOT_COT_TRIGGER)
        out = yield Call("reason", prompt, QUERY_STOPS, self.max_new_tokens or REASONING_TOKENS)
        return answer_after_trigger(out or "", self.kind)


def max_reasoning_lines(task_name: str) -> int:
    return 7 if "letter" in task_name else 5


EmbedFn = Callable[[Sequence[str]], np.ndarray]
