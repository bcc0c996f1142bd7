"""APE instruction search for classification tasks: propose instructions from demonstrations, score them on a
held-out slice of the pool, keep the best and save it as a task YAML. Wired here (it uses the LM, the prompt
formats of :mod:`iclkit.prompt.ape` and the classification ``pipeline.Runner``).

The pool is split (seeded): the first ``n_propose`` examples give the proposal demonstrations (random subsets of 5,
as the APE code) and the run's few-shot demonstrations; the next ``n_heldout`` are the scoring slice, so candidates
are never scored on the examples that suggested them. Each candidate, the hand-written instruction (if the task
has one) and no instruction are scored by execution accuracy on that slice with the run's scorer and shots.

The saved choice is the best of the candidates *and* the two baselines (:func:`choose`): a search whose best
proposal scores below no instruction saves no instruction, and a tie goes to the simpler prompt (no instruction,
then the hand-written one, then a candidate). ``ape.json`` keeps the best candidate under ``best`` and the saved
choice under ``chosen`` with ``chosen_from``: ``"candidate"``, ``"none"`` or ``"hand-written"``.
"""

from __future__ import annotations

import dataclasses
import json
import random
from pathlib import Path
from typing import Any

import yaml

from iclkit.config import RunConfig
from iclkit.data.loaders import load_split
from iclkit.errors import IclkitError
from iclkit.lm.base import GenRequest
from iclkit.pipeline import Runner, load_lm, resolve_task
from iclkit.prompt.ape import clean_candidate, proposal_prompt


@dataclasses.dataclass(frozen=True)
class ApeSettings:
    n_subsamples: int = 3  # demonstration subsets
    n_per_subsample: int = 4  # sampled proposals per subset
    n_propose: int = 100
    n_heldout: int = 50
    temperature: float = 0.9  # the APE defaults (temperature 0.9, top_p 0.9, 50 tokens)
    top_p: float = 0.9


def propose(lm, task, examples, settings: ApeSettings, seed: int) -> list[str]:
    rng = random.Random(seed)
    requests = []
    for s in range(settings.n_subsamples):
        subset = rng.sample(list(examples), min(5, len(examples)))
        pairs = [(" ".join(e.fields[f] for f in task.input_fields), task.verbalizer[e.label]) for e in subset]
        prompt = proposal_prompt(pairs)
        requests += [GenRequest(prompt, ("\n",), 50, temperature=settings.temperature, top_p=settings.top_p,
                                seed=seed * 1000 + s * 100 + j) for j in range(settings.n_per_subsample)]
    candidates = [clean_candidate(t) for t in lm.generate(requests)]
    return list(dict.fromkeys(c for c in candidates if c))


def execution_accuracy(config: RunConfig, task, lm, pool, heldout, instruction: str | None) -> float:
    scored = dataclasses.replace(task, template=dataclasses.replace(task.template, instruction=instruction))
    records = Runner(config, scored, lm, pool).score(heldout)
    return sum(r.prediction == r.gold for r in records) / len(records)


def search(config: RunConfig, settings: ApeSettings, out: Path, *, lm=None, log=print) -> dict[str, Any]:
    """Run APE for ``config``'s task; writes ``ape.json`` (every candidate's score) and ``<task>-ape.yaml``."""
    task = resolve_task(config)
    pool = load_split(task, "train")
    random.Random(config.seed).shuffle(pool := list(pool))
    if len(pool) < settings.n_propose + settings.n_heldout:
        raise IclkitError(f"APE needs n_propose + n_heldout = {settings.n_propose + settings.n_heldout} pool "
                          f"examples; task '{task.name}' has {len(pool)}")
    propose_part = pool[: settings.n_propose]
    heldout = pool[settings.n_propose : settings.n_propose + settings.n_heldout]
    lm = lm or load_lm(config)
    candidates = propose(lm, task, propose_part, settings, config.seed)
    log(f"APE: {len(candidates)} distinct candidate instructions; scoring on {len(heldout)} held-out examples")
    baselines = {"none": None, **({"hand-written": task.template.instruction} if task.template.instruction else {})}
    scores = {name: execution_accuracy(config, task, lm, propose_part, heldout, text)
              for name, text in baselines.items()}
    ranked = sorted(((execution_accuracy(config, task, lm, propose_part, heldout, c), i, c)
                     for i, c in enumerate(candidates)), key=lambda t: (-t[0], t[1]))
    if not ranked:
        raise IclkitError("APE: the model proposed no usable instruction (empty completions)")
    best_score, _, best = ranked[0]
    chosen_from, chosen, chosen_score = choose(baselines, scores, (best, best_score))
    out.mkdir(parents=True, exist_ok=True)
    result = {"task": task.name, "model": config.model, "settings": dataclasses.asdict(settings),
              "heldout_accuracy": {"baselines": scores, "candidates": [{"instruction": c, "accuracy": s}
                                                                        for s, _, c in ranked]},
              "best": {"instruction": best, "accuracy": best_score},
              "chosen_from": chosen_from, "chosen": {"instruction": chosen, "accuracy": chosen_score},
              "config": config.to_dict()}
    (out / "ape.json").write_text(json.dumps(result, indent=2) + "\n")
    yaml_path = out / f"{task.name}-ape.yaml"
    yaml_path.write_text(yaml.safe_dump(task_yaml(config, task.name, chosen), sort_keys=False))
    result["task_yaml"] = str(yaml_path)
    return result


# Tie order: the simpler prompt first (no instruction, the hand-written one, then a generated candidate).
CHOICE_ORDER = ("none", "hand-written", "candidate")


def choose(baselines: dict[str, str | None], scores: dict[str, float],
           best: tuple[str, float]) -> tuple[str, str | None, float]:
    """(chosen_from, instruction, held-out accuracy): the highest held-out accuracy among the baselines
    (``baselines`` name -> instruction, ``scores`` name -> accuracy) and the best candidate ``(text, accuracy)``;
    ties go to the earlier of :data:`CHOICE_ORDER`. APE itself only ranks its proposals, but saving a proposal that
    scored below no instruction would make the saved task worse by the search's own measure."""
    options = {name: (baselines[name], scores[name]) for name in baselines} | {"candidate": best}
    name = max(options, key=lambda n: (options[n][1], -CHOICE_ORDER.index(n)))
    return name, *options[name]


def task_yaml(config: RunConfig, name: str, instruction: str | None) -> dict[str, Any]:
    """The saved task: the original one with the chosen instruction. No instruction leaves ``template`` out,
    unless the original task file has an instruction of its own, which ``instruction: null`` then removes."""
    from iclkit.data.tasks import load_task

    data: dict[str, Any] = {"include": _task_file(config), "name": f"{name}-ape"}
    if instruction is not None:
        data["template"] = {"instruction": instruction}
    elif load_task(config.task).template.instruction:
        data["template"] = {"instruction": None}
    return data


def _task_file(config: RunConfig) -> str:
    from iclkit.data.tasks import task_names

    if config.data_file:
        raise IclkitError("APE saves a task YAML that includes the original task; use a task name or task YAML")
    return config.task if config.task in task_names() else str(Path(config.task).resolve())  # built-ins by name
