"""Frozen dataclasses that cross stage boundaries.

Stages (data, retrieve, prompt, score, evaluate) never pass their own objects to each other: only these records.
Everything here is plain data, cheap to build and easy to serialise into ``predictions.jsonl``.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Example:
    """One labelled (or unlabelled) item of a task.

    Args:
        id: stable identifier inside its split (the row number of the source file unless the file has an id field).
        fields: the input fields by name, e.g. ``{"text": ...}`` or ``{"premise": ..., "hypothesis": ...}``.
        label: the label *name* (never an id), or ``None`` for unlabelled items.
    """

    id: str
    fields: Mapping[str, str]
    label: str | None = None


@dataclass(frozen=True)
class Demo:
    """A demonstration chosen for one query: the pool example plus the similarity that ranked it (if any)."""

    example: Example
    score: float | None = None


@dataclass(frozen=True)
class Prompt:
    """A rendered query prompt with one continuation per candidate label.

    ``contexts[i] + continuations[i]`` is the full text whose continuation span is scored for label ``labels[i]``.
    Direct/PPL templates give the same context for every label; Channel templates put the label in the context.
    """

    labels: tuple[str, ...]
    contexts: tuple[str, ...]
    continuations: tuple[str, ...]
    demo_ids: tuple[str, ...]
    n_demos_requested: int
    prefix: str = ""  # instruction + demonstrations: the part every label's context starts with
    keep_space: bool = False  # chat prompts: score the label right after the context (see LLRequest)

    @property
    def n_demos_used(self) -> int:
        return len(self.demo_ids)


@dataclass(frozen=True)
class LLRequest:
    """One ``loglikelihood(context, continuation)`` request.

    Requests that share a ``group`` key are expected to share a long text prefix (the demonstrations); back-ends may
    run that prefix once for the whole group. ``None`` means "group by context".
    """

    context: str
    continuation: str
    group: Hashable | None = None
    # True: the context's trailing whitespace stays in the context instead of moving onto the continuation (a chat
    # template's generation prompt ends in a newline that is its own token; the label starts after it).
    keep_space: bool = False


@dataclass(frozen=True)
class LLResult:
    """Log-likelihood of a continuation: the sum over its tokens, its token count and whether it is the greedy one."""

    logprob: float
    n_tokens: int
    is_greedy: bool


def best_label(labels: tuple[str, ...], scores: tuple[float, ...]) -> str:
    """The highest-scoring label; ties go to the earlier label (as ``torch.argmax`` in Dai et al.'s code)."""
    return labels[max(range(len(scores)), key=lambda i: (scores[i], -i))]


@dataclass(frozen=True)
class LabelScores:
    """Per-label scores for one query (higher is better), with the raw log-likelihoods they came from."""

    labels: tuple[str, ...]
    scores: tuple[float, ...]
    raw: tuple[LLResult, ...] = field(default=())

    def argmax(self) -> str:
        return best_label(self.labels, self.scores)


@dataclass(frozen=True)
class PredictionRecord:
    """One line of ``predictions.jsonl``: everything needed to rebuild and audit one prediction."""

    example_id: str
    demo_ids: tuple[str, ...]
    n_demos_requested: int
    prompt: str
    labels: tuple[str, ...]
    scores: tuple[float, ...]
    prediction: str
    gold: str | None
    calibrated_scores: tuple[float, ...] | None = None
    calibrated_prediction: str | None = None
    selection: Mapping[str, Any] | None = None  # the selection/ordering method's own scores for this query
    generated: str | None = None  # scorer "generate": the model's answer text (prediction None: unparseable)

    def to_json(self) -> dict[str, Any]:
        out = {
            "example_id": self.example_id,
            "demo_ids": list(self.demo_ids),
            "n_demos_requested": self.n_demos_requested,
            "prompt": self.prompt,
            "scores": dict(zip(self.labels, self.scores)),
            "prediction": self.prediction,
            "gold": self.gold,
            "calibrated_scores": None
            if self.calibrated_scores is None
            else dict(zip(self.labels, self.calibrated_scores)),
            "calibrated_prediction": self.calibrated_prediction,
        }
        if self.selection is not None:
            out["selection"] = dict(self.selection)
        if self.generated is not None:
            out["generated"] = self.generated
        return out

    @classmethod
    def from_json(cls, row: Mapping[str, Any]) -> PredictionRecord:
        labels = tuple(row["scores"].keys())
        cal = row.get("calibrated_scores")
        return cls(
            example_id=str(row["example_id"]),
            demo_ids=tuple(row["demo_ids"]),
            n_demos_requested=int(row["n_demos_requested"]),
            prompt=row["prompt"],
            labels=labels,
            scores=tuple(float(row["scores"][lab]) for lab in labels),
            prediction=row["prediction"],
            gold=row.get("gold"),
            calibrated_scores=None if cal is None else tuple(float(cal[lab]) for lab in labels),
            calibrated_prediction=row.get("calibrated_prediction"),
            selection=row.get("selection"),
            generated=row.get("generated"),
        )


@dataclass(frozen=True)
class GenRecord:
    """One line of a generation run's ``predictions.jsonl``: every model call of every sample, and the answers.

    ``samples`` holds one entry per sampled chain (one unless self-consistency): ``{"answer": str | None,
    "calls": [{"stage", "prompt", "output"}, ...], "notes": {...}}``; tool lookups appear as calls with stage
    ``"tool"`` (``prompt`` is the question asked). ``prediction`` is the (majority) answer, ``None`` if unparseable.
    """

    example_id: str
    demo_ids: tuple[str, ...]
    question: str
    gold: str | None
    prediction: str | None
    samples: tuple[Mapping[str, Any], ...]

    def to_json(self) -> dict[str, Any]:
        return {"example_id": self.example_id, "demo_ids": list(self.demo_ids), "question": self.question,
                "gold": self.gold, "prediction": self.prediction, "samples": [dict(s) for s in self.samples]}

    @classmethod
    def from_json(cls, row: Mapping[str, Any]) -> GenRecord:
        return cls(example_id=str(row["example_id"]), demo_ids=tuple(row["demo_ids"]), question=row["question"],
                   gold=row.get("gold"), prediction=row.get("prediction"), samples=tuple(row["samples"]))
