"""Generation runs: data → prompt format → model calls → answers → metrics. Wired here, as ``pipeline`` does for
classification (``pipeline.run`` hands a generation config to :func:`run_generation`).

A format is a step function (:mod:`iclkit.prompt.formats`); :func:`drive` runs many of them in lockstep, sending
all their pending model calls as one ``generate`` request (batched, over the shared demonstration prefix on the
``hf`` back-end) and answering lookup-tool calls directly. Every call's prompt and output goes to
``predictions.jsonl`` (one :class:`~iclkit.types.GenRecord` per example, written as soon as it is done), so an
interrupted run resumes where it stopped. Self-consistency (``n_samples > 1``) samples that many chains per question
with per-chain seeds and majority-votes their answers.
"""

from __future__ import annotations

import random
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from iclkit.config import NON_RESULT_KEYS, RunConfig
from iclkit.data.loaders import subsample
from iclkit.data.reasoning import GenTask, is_reasoning_task, make_task, qa_task
from iclkit.errors import IclkitError
from iclkit.evaluate.metrics import normalize_answer, summarize_generation
from iclkit.evaluate.records import PredictionWriter, RunDir, environment_info, write_summary
from iclkit.lm.base import GenRequest, LanguageModel
from iclkit.prompt.chat import Layout
from iclkit.prompt.formats import FORMATS, Call, Format, Solver, ToolCall, majority_vote
from iclkit.prompt.reasoning import Outcome
from iclkit.types import Example, GenRecord

CHUNK = 32  # questions per lockstep batch: large enough to batch, small enough to save often
SELF_CONSISTENCY_TEMPERATURE = 0.7  # Wang et al. 2022
AUTOCOT_OPTIONS = ("candidates_per_cluster", "embedder")  # format_options used to build Auto-CoT demonstrations


@dataclass(frozen=True)
class Sampling:
    """The ``generation:`` config block."""

    max_new_tokens: int | None = None  # per call; None: the format's defaults (256 reasoning, 32 answer)
    temperature: float = 0.0
    top_p: float = 1.0
    n_samples: int = 1
    stop: tuple[str, ...] = ()  # added to every call's own stop strings

    @classmethod
    def from_config(cls, values: Mapping[str, Any]) -> Sampling:
        allowed = {"max_new_tokens": int, "temperature": (int, float), "top_p": (int, float), "n_samples": int,
                   "stop": (list, tuple, str)}
        out: dict[str, Any] = {}
        for key, value in values.items():
            if key not in allowed:
                from iclkit.errors import did_you_mean

                raise IclkitError(f"generation: unknown key '{key}'{did_you_mean(key, allowed)}")
            if isinstance(value, bool) or not isinstance(value, allowed[key]):
                raise IclkitError(f"generation.{key}: wrong type {type(value).__name__} ({value!r})")
            out[key] = value
        stop = out.pop("stop", ())
        stop = (stop,) if isinstance(stop, str) else tuple(stop)
        if any(not isinstance(s, str) or s == "" for s in stop):
            raise IclkitError(f"generation.stop: stop strings must be non-empty strings, got {list(stop)!r}")
        if out.get("n_samples", 1) > 1 and "temperature" not in out:
            out["temperature"] = SELF_CONSISTENCY_TEMPERATURE
        sampling = cls(stop=stop, **out)
        if sampling.n_samples < 1 or (sampling.max_new_tokens is not None and sampling.max_new_tokens < 1):
            raise IclkitError("generation: n_samples and max_new_tokens must be >= 1")
        if sampling.temperature < 0 or not 0 < sampling.top_p <= 1:
            raise IclkitError("generation: temperature must be >= 0 and 0 < top_p <= 1")
        if sampling.n_samples > 1 and sampling.temperature == 0:
            raise IclkitError("generation: n_samples > 1 (self-consistency) needs temperature > 0")
        return sampling


def is_generation(config: RunConfig) -> bool:
    return config.format is not None or (not config.data_file and is_reasoning_task(config.task))


def resolve_gen_task(config: RunConfig) -> GenTask:
    options = dict(config.task_options)
    if config.data_file:
        kind = options.pop("answer_kind", "text")
        if options:
            raise IclkitError(f"task_options for a --data-file: only answer_kind, not {sorted(options)}")
        return qa_task(config.data_file, question_field=config.text_fields[0], answer_field=config.label_field,
                       eval_path=config.eval_file, answer_kind=kind)
    if not is_reasoning_task(config.task):
        raise IclkitError(f"task '{config.task}' is a classification task; --format needs a generation task "
                          "(last_letters, coin_flip, arithmetic, two_hop) or a question/answer --data-file")
    return make_task(config.task, seed=int(options.pop("seed", 0)), options=options)


def drive(solvers: Sequence[Solver], lm: LanguageModel, *, sampling: Sampling, seeds: Sequence[int],
          tool: Callable[[str], str | None] | None = None) -> list[dict[str, Any]]:
    """Run step-function solvers to completion, batching their model calls; one sample record per solver."""
    records: list[dict[str, Any]] = [{"answer": None, "calls": [], "notes": {}} for _ in solvers]
    pending: dict[int, Call] = {}
    for i, solver in enumerate(solvers):
        _advance(i, solver, None, records, pending, tool, first=True)
    while pending:
        order = sorted(pending)
        requests = [GenRequest(pending[i].prompt, stop=pending[i].stop + sampling.stop,
                               max_new_tokens=pending[i].max_new_tokens, temperature=sampling.temperature,
                               top_p=sampling.top_p, seed=zlib.crc32(f"{seeds[i]}-{len(records[i]['calls'])}".encode()))
                    for i in order]
        outputs = lm.generate(requests)
        calls = {i: pending.pop(i) for i in order}
        for i, out in zip(order, outputs):
            records[i]["calls"].append({"stage": calls[i].stage, "prompt": calls[i].prompt, "output": out})
            _advance(i, solvers[i], out, records, pending, tool)
    return records


def _advance(i: int, solver: Solver, value: str | None, records: list[dict[str, Any]], pending: dict[int, Call],
             tool: Callable[[str], str | None] | None, *, first: bool = False) -> None:
    """Step solver ``i`` until it asks for a model call (queued in ``pending``) or returns."""
    try:
        step = next(solver) if first else solver.send(value)
        while isinstance(step, ToolCall):
            answer = tool(step.question) if tool else None
            records[i]["calls"].append({"stage": step.stage, "prompt": step.question, "output": answer})
            step = solver.send(answer)
        pending[i] = step
    except StopIteration as done:
        result = done.value
        if isinstance(result, Outcome):
            records[i]["answer"], records[i]["notes"] = result.answer, result.notes
        else:
            records[i]["answer"] = result


def build_format(config: RunConfig, task: GenTask, lm: LanguageModel | None, sampling: Sampling) -> Format:
    """The run's format; with ``lm=None`` (``iclkit validate``) a plain layout, to check the options only."""
    from iclkit.lm.chat import chat_renderer

    render_chat = chat_renderer(lm) if config.chat_template and lm is not None else None
    layout = Layout(instruction=config.instruction, render_chat=render_chat, multiturn=config.multiturn)
    cls = FORMATS.get(config.format or "direct")
    options = {k: v for k, v in config.format_options.items() if k not in AUTOCOT_OPTIONS}
    try:
        return cls(layout=layout, answer_kind=task.answer_kind, max_new_tokens=sampling.max_new_tokens, **options)
    except TypeError as exc:
        raise IclkitError(f"format '{config.format}': bad format_options ({exc})") from None


def fixed_demos(config: RunConfig, pool: Sequence[Example], *, spare: bool = False) -> list[Example]:
    """One seeded demonstration set for the whole run (so its KV cache is computed once); ``spare``: one more,
    to replace a demonstration that is the query itself."""
    if config.retriever not in ("random", "zero"):
        raise IclkitError(f"generation runs use one fixed random demonstration set; retriever "
                          f"'{config.retriever}' is not supported here yet (use random)")
    if config.shots > len(pool):
        raise IclkitError(f"shots={config.shots} but the pool has only {len(pool)} examples")
    return random.Random(config.seed).sample(list(pool), min(len(pool), config.shots + spare))


def run_generation(config: RunConfig, *, lm: LanguageModel | None = None,
                   on_progress: Callable[[int, int], None] | None = None, log: Callable[[str], None] = print):
    """Evaluate a generation ``config``; resumes from ``predictions.jsonl``. Returns a ``pipeline.RunResult``."""
    from iclkit.pipeline import RunResult, default_run_dir, load_lm

    started = time.perf_counter()
    sampling = Sampling.from_config(config.generation)
    FORMATS.get(config.format or "direct")
    run_dir = Path(config.out) if config.out else default_run_dir(config).with_name(
        f"{Path(config.data_file or config.task).stem}-{Path(config.model).name}-{config.format or 'direct'}"
        f"{config.shots}-seed{config.seed}")
    if not (run_dir / "predictions.jsonl").exists():
        (run_dir / "config.json").unlink(missing_ok=True)
    RunDir(run_dir).check_config(config.to_dict(), ignore=NON_RESULT_KEYS)
    task = resolve_gen_task(config)
    eval_set = subsample(list(task.eval), config.limit, config.eval_seed)
    log(f"{task.name}: {len(eval_set)} of {len(task.eval)} questions; pool of {len(task.pool)}")
    with PredictionWriter(run_dir, GenRecord) as writer:
        todo = [e for e in eval_set if e.id not in writer.done_ids]
        if todo:
            lm = lm or load_lm(config)
            _solve_all(config, task, lm, sampling, todo, writer, run_dir, log, on_progress)
        wanted = {e.id for e in eval_set}
        records = [r for r in writer.records if r.example_id in wanted]
    summary = _summary(config, task, records, sampling, time.perf_counter() - started, len(todo))
    write_summary(run_dir, summary)
    return RunResult(config, run_dir, summary, records, lm)  # type: ignore[arg-type]


def _solve_all(config, task, lm, sampling, todo, writer, run_dir, log, on_progress) -> None:
    fmt = build_format(config, task, lm, sampling)
    same_file = task.pool is task.eval  # a query must never be its own demonstration: draw one spare
    demos = fixed_demos(config, task.pool, spare=same_file) if fmt.uses_demos else []
    if config.format == "auto-cot":
        fmt.chain_demos = build_autocot_demos(config, task, lm, run_dir, log)  # type: ignore[attr-defined]
    use_tool = bool(config.format_options.get("use_tool"))
    if use_tool and task.kb is None:
        raise IclkitError(f"format_options.use_tool: task '{task.name}' has no lookup tool (two_hop has one)")
    tool = task.kb.lookup if use_tool and task.kb else None
    for start in range(0, len(todo), CHUNK):
        chunk = todo[start : start + CHUNK]
        solvers, seeds, used = [], [], []
        for q in chunk:
            q_demos = [d for d in demos if d.id != q.id][: config.shots]
            used.append(tuple(d.id for d in q_demos))
            for j in range(sampling.n_samples):
                solvers.append(fmt.solve(q, q_demos))
                seeds.append(zlib.crc32(f"{config.seed}-{q.id}-{j}".encode()))
        samples = drive(solvers, lm, sampling=sampling, seeds=seeds, tool=tool)
        for k, q in enumerate(chunk):
            mine = samples[k * sampling.n_samples : (k + 1) * sampling.n_samples]
            prediction = majority_vote([s["answer"] for s in mine], key=normalize_answer)
            writer.write(GenRecord(q.id, used[k], q.fields["question"], q.label, prediction, tuple(mine)))
        if on_progress:
            on_progress(min(start + CHUNK, len(todo)), len(todo))


def build_autocot_demos(config: RunConfig, task: GenTask, lm: LanguageModel, run_dir: Path,
                        log: Callable[[str], None]) -> list:
    """Auto-CoT demonstrations (:mod:`iclkit.prompt.autocot`), built once and kept in ``autocot_demos.json``
    with every candidate chain, so a resumed run uses the same demonstrations."""
    import json

    from iclkit.prompt.autocot import ChainDemo, cluster_candidates, max_reasoning_lines, select_demos
    from iclkit.prompt.formats import ZeroShotCoT
    from iclkit.retrieve.embed import DEFAULT_EMBEDDER, cached_encode, get_embedder

    path = run_dir / "autocot_demos.json"
    if path.exists():
        return [ChainDemo(**d) for d in json.loads(path.read_text())["demos"]]
    pool = list(task.pool)
    opts = config.format_options
    k = config.shots or (4 if "letter" in task.name else 8)  # the paper's defaults
    log(f"auto-cot: clustering {len(pool)} pool questions into {k}, zero-shot CoT on the nearest candidates")
    vectors = cached_encode(get_embedder(str(opts.get("embedder", DEFAULT_EMBEDDER))),
                            [e.fields["question"] for e in pool])
    clusters = cluster_candidates(pool, vectors, k, seed=config.seed,
                                  per_cluster=int(opts.get("candidates_per_cluster", 4)))
    candidates = [e for members in clusters for e in members]
    zero_shot = ZeroShotCoT(layout=Layout(), answer_kind=task.answer_kind, max_new_tokens=config.generation.get(
        "max_new_tokens"))
    samples = drive([zero_shot.solve(e, []) for e in candidates], lm, sampling=Sampling(), seeds=[0] * len(candidates))
    chains = {e.id: (s["calls"][0]["output"], s["answer"]) for e, s in zip(candidates, samples)}
    demos = select_demos(clusters, chains, kind=task.answer_kind, max_lines=max_reasoning_lines(task.name))
    log(f"auto-cot: {len(demos)} of {len(clusters)} clusters gave a demonstration passing the heuristics")
    path.write_text(json.dumps({"demos": [d.__dict__ for d in demos],
                                "candidates": [{"id": e.id, "rationale": chains[e.id][0], "answer": chains[e.id][1]}
                                               for e in candidates]}, indent=1))
    return demos


def _summary(config: RunConfig, task: GenTask, records: Sequence[GenRecord], sampling: Sampling, seconds: float,
             n_done: int) -> dict[str, Any]:
    calls = [sum(c["stage"] != "tool" for s in r.samples for c in s["calls"]) for r in records]
    notes: dict[str, int] = {}
    for r in records:
        for s in r.samples:
            for key, value in s.get("notes", {}).items():
                if value is True:
                    notes[key] = notes.get(key, 0) + 1
    return {
        "name": config.name, "task": task.name, "model": config.model, "format": config.format or "direct",
        "kind": "generation", "n": len(records),
        "metrics": summarize_generation([r.gold for r in records], [r.prediction for r in records],
                                        seed=config.eval_seed or 0),
        "model_calls_per_question": sum(calls) / max(1, len(calls)),
        "notes_counted": notes,
        "sampling": {"temperature": sampling.temperature, "top_p": sampling.top_p, "n_samples": sampling.n_samples},
        "task_options": dict(task.options),
        "timing": {"seconds": round(seconds, 2), "questions_solved": n_done},
        "config": config.to_dict(), "environment": environment_info(),
    }
