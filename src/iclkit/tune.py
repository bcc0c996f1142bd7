"""``iclkit tune``: choose retriever × ordering × k × calibration × scorer × instruction on the pool only.

Honest held-out selection:

1. A development slice of ``dev_size`` examples is drawn (seeded) from the demonstration **pool**; the evaluation
   split is never opened during the search. Each dev example is kept out of its own demonstrations (the pipeline's
   pool-is-eval rule), the rest of the pool serves as demonstrations.
2. Every candidate (at most ``budget``, a seeded sample of the grid) is scored once, with the content-free prompts of
   contextual calibration only when ``contextual`` is among the calibrations searched; the raw, contextually
   calibrated and batch-calibrated predictions all come from that one scoring, so the calibrations share every
   prompt (the content-free prompts cost up to 3 extra scorings per query for per-query retrievers).
3. Candidates are ranked by dev accuracy with Wilson 95% intervals (ties: fewer shots, then grid order).
4. Only then the best configuration, zero-shot and the default 8-shot random are evaluated on the evaluation set.
   The chosen configuration is saved as a YAML that ``iclkit run`` accepts.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from iclkit.config import RunConfig
from iclkit.data.loaders import load_split, subsample
from iclkit.data.spec import TaskSpec
from iclkit.errors import IclkitError
from iclkit.evaluate.metrics import wilson_interval
from iclkit.lm.base import LanguageModel
from iclkit.pipeline import load_lm, resolve_task, run, score_examples
from iclkit.score.calibration import batch_calibrate
from iclkit.types import PredictionRecord, best_label

MIN_DEV = 20
CALIBRATION_METRIC = {"none": "metrics", "contextual": "metrics_calibrated", "batch": "metrics_batch_calibrated"}


@dataclass(frozen=True)
class TuneSpace:
    """The grid searched; ``None`` in ``orderings`` is each retriever's default, in ``instructions`` the task's."""

    retrievers: tuple[str, ...] = ("random", "balanced", "bm25", "topk", "dpp")
    orderings: tuple[str | None, ...] = (None,)
    shots: tuple[int, ...] = (4, 8)
    scorers: tuple[str, ...] = ("direct",)
    instructions: tuple[str | None, ...] = (None,)
    calibrations: tuple[str, ...] = ("none", "contextual", "batch")

    def candidates(self, budget: int | None, seed: int) -> list[dict[str, Any]]:
        grid = [{"retriever": r, "ordering": o, "shots": k, "scorer": s, "instruction": i} for r, o, k, s, i in
                itertools.product(self.retrievers, self.orderings, self.shots, self.scorers, self.instructions)]
        if budget is not None and budget < len(grid):
            grid = [grid[i] for i in sorted(random.Random(seed).sample(range(len(grid)), budget))]
        return grid


@dataclass(frozen=True)
class Ranked:
    settings: dict[str, Any]   # retriever, ordering, shots, scorer, instruction, calibration
    accuracy: float
    low: float
    high: float
    n: int
    cost: dict[str, int]


def dev_slice(pool: Sequence, dev_size: int, seed: int) -> list:
    if dev_size < MIN_DEV:
        raise IclkitError(f"tune: dev_size={dev_size} is too small to rank configurations (at least {MIN_DEV})")
    if len(pool) < dev_size + 1:
        raise IclkitError(f"tune: the pool has {len(pool)} examples, too few for a dev slice of {dev_size}")
    return subsample(pool, dev_size, seed)


def predictions(records: Sequence[PredictionRecord], calibration: str) -> list[str]:
    if calibration == "contextual":
        return [r.calibrated_prediction for r in records]
    if calibration == "batch":
        return [best_label(r.labels, s) for r, s in zip(records, batch_calibrate([r.scores for r in records]))]
    return [r.prediction for r in records]


def search(base: RunConfig, task: TaskSpec, lm: LanguageModel, space: TuneSpace, *, budget: int | None = None,
           dev_size: int = 100, seed: int = 0, log: Callable[[str], None] = print) -> list[Ranked]:
    """Rank the candidates on a dev slice of the pool. Reads the ``train`` split only."""
    if task.source.splits.get("train") == task.source.splits.get("eval"):
        raise IclkitError(f"tune: task {task.name!r} draws its pool and its evaluation set from the same file; give "
                          "a separate evaluation file so the dev slice cannot overlap the evaluation set")
    pool = load_split(task, "train")
    dev = dev_slice(pool, dev_size, seed)
    ranked: list[tuple[tuple, Ranked]] = []
    scoring = "contextual" if "contextual" in space.calibrations else "none"
    for order, cand in enumerate(space.candidates(budget, seed)):
        config = dataclasses.replace(base, **cand, calibration=scoring, limit=None, out=None)
        records, cost = score_examples(config, task, lm, pool, dev, pool_is_eval=True)
        for calibration in space.calibrations:
            pred = predictions(records, calibration)
            hits = sum(p == r.gold for p, r in zip(pred, records))
            low, high = wilson_interval(hits, len(records))
            item = Ranked({**cand, "calibration": calibration}, hits / len(records), low, high, len(records), cost)
            ranked.append(((-item.accuracy, cand["shots"], order), item))
        log(f"  {_describe(cand)}: " + ", ".join(f"{r.settings['calibration']} {r.accuracy:.3f}"
                                                 for _, r in ranked[-len(space.calibrations):]))
    return [r for _, r in sorted(ranked, key=lambda t: t[0])]


def _describe(settings: dict[str, Any]) -> str:
    text = f"{settings['retriever']}/{settings['ordering'] or 'default'} k={settings['shots']} {settings['scorer']}"
    return text + (f" instruction={settings['instruction']!r}" if settings.get("instruction") else "")


def chosen_config(base: RunConfig, best: Ranked) -> RunConfig:
    return dataclasses.replace(base, name="tuned", **best.settings)


def save_yaml(config: RunConfig, path: Path, note: str) -> None:
    values = {k: v for k, v in config.to_dict().items() if k not in ("out",)}
    path.write_text(f"# {note}\n" + yaml.safe_dump(values, sort_keys=False))


@dataclass
class TuneResult:
    ranking: list[Ranked]
    best: RunConfig
    evaluation: list[dict[str, Any]]
    out: Path


def tune(base: RunConfig, space: TuneSpace, *, out: str | Path, budget: int | None = None, dev_size: int = 100,
         seed: int = 0, lm: LanguageModel | None = None, log: Callable[[str], None] = print) -> TuneResult:
    """Search on the pool, save the choice, then evaluate it next to zero-shot and the default 8-shot random."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    task = resolve_task(base)
    lm = lm or load_lm(base)
    log(f"searching {len(space.candidates(budget, seed))} configurations on a dev slice of {dev_size} pool examples")
    ranking = search(base, task, lm, space, budget=budget, dev_size=dev_size, seed=seed, log=log)
    (out / "ranking.json").write_text(json.dumps([dataclasses.asdict(r) for r in ranking], indent=2))
    best = chosen_config(base, ranking[0])
    save_yaml(best, out / "best.yaml", f"chosen by iclkit tune on {dev_size} pool examples (dev accuracy "
                                       f"{ranking[0].accuracy:.3f} [{ranking[0].low:.3f}, {ranking[0].high:.3f}])")
    references = [("tuned", best),
                  ("zero-shot", dataclasses.replace(base, name="zero-shot", retriever="zero", shots=0)),
                  ("8-shot random", dataclasses.replace(base, name="8-shot random", retriever="random", shots=8))]
    evaluation = []
    for name, config in references:
        result = run(dataclasses.replace(config, out=str(out / name.replace(" ", "-"))), lm=lm, log=log)
        metric = result.summary[CALIBRATION_METRIC[config.calibration]]["accuracy"]
        evaluation.append({"name": name, "calibration": config.calibration, "n": result.summary["n"], **metric})
    (out / "evaluation.json").write_text(json.dumps(evaluation, indent=2))
    return TuneResult(ranking, best, evaluation, out)
