"""The one module that wires the stages: data → retrieve → prompt → score → evaluate.

``run(config)`` evaluates one configuration, writing ``predictions.jsonl`` as it goes (a re-run resumes where it
stopped) and ``summary.json`` at the end. Stages never import each other; they meet only here.
"""

from __future__ import annotations

import dataclasses
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from iclkit.config import NON_RESULT_KEYS, RunConfig
from iclkit.data.loaders import load_split, subsample
from iclkit.data.spec import TaskSpec
from iclkit.data.tasks import load_task, task_from_file
from iclkit.errors import IclkitError
from iclkit.evaluate.metrics import summarize
from iclkit.evaluate.records import PredictionWriter, RunDir, environment_info, file_sha256, write_summary
from iclkit.lm.base import LanguageModel
from iclkit.lm.counting import CountingLM
from iclkit.lmprobe import PipelineProbe
from iclkit.prompt.render import PromptBuilder, content_free_query
from iclkit.retrieve.base import build_retriever
from iclkit.retrieve.order import ORDERINGS, build_ordering
from iclkit.score.calibration import batch_calibrate, calibrate, contextual_prior
from iclkit.score.scorers import build_scorer
from iclkit.timing import StageTimer
from iclkit.types import Demo, Example, LLRequest, PredictionRecord, Prompt, best_label

CHUNK = 16  # queries per loglikelihood call: enough to batch, small enough that results are saved often


@dataclass
class RunResult:
    config: RunConfig
    run_dir: Path
    summary: dict[str, Any]
    records: list[PredictionRecord]
    lm: LanguageModel | None = None  # the model used (None when everything was resumed), for reuse by callers


def default_run_dir(config: RunConfig) -> Path:
    task = Path(config.data_file).stem if config.data_file else Path(config.task).stem
    return Path("runs") / (f"{task}-{Path(config.model).name}-{config.retriever}{config.shots}-{config.scorer}"
                           f"-cal{config.calibration}-seed{config.seed}")


def resolve_task(config: RunConfig) -> TaskSpec:
    if config.data_file:
        task = task_from_file(config.data_file, text_fields=config.text_fields, label_field=config.label_field,
                              eval_path=config.eval_file)
    else:
        task = load_task(config.task)
    if config.instruction is not None:
        task = dataclasses.replace(task, template=dataclasses.replace(task.template, instruction=config.instruction))
    return task


def check_config(config: RunConfig, *, model: bool = True) -> None:
    """Check every component name and option of ``config`` without loading data or a model.

    Called before anything is created on disk, so a typo never costs a model load or leaves a run directory.
    """
    from iclkit.lm.backends import check_backend_options
    from iclkit.lm.models import check_model_name
    from iclkit.registry import check_options
    from iclkit.retrieve.base import INJECTED, RETRIEVERS
    from iclkit.score.scorers import SCORERS

    if model and config.backend in ("hf", "llamacpp"):  # a server's or vLLM's model name is checked by them
        check_model_name(config.model)
    retriever = RETRIEVERS.get(config.retriever)
    check_options(f"retriever '{config.retriever}' (retriever_options)", retriever.__init__,
                  config.retriever_options, exclude=INJECTED,
                  hint=" (per_query applies to random and balanced only)"
                  if "per_query" in config.retriever_options else "")
    if hasattr(retriever, "check_saved_options"):  # e.g. a saved retriever's path, before minutes of model loading
        retriever.check_saved_options(dict(config.retriever_options))
    ORDERINGS.get(config.resolved_ordering)
    check_options(f"scorer '{config.scorer}' (scorer_options)", SCORERS.get(config.scorer).__init__,
                  config.scorer_options)
    build_scorer(config.scorer, **config.scorer_options)  # cheap; checks option values (a normalization name)
    if config.format is not None:
        from iclkit.prompt.formats import FORMATS

        FORMATS.get(config.format)
    check_backend_options(config.backend, config.backend_options)


def load_lm(config: RunConfig) -> LanguageModel:
    from iclkit.lm.backends import load_backend

    if config.momentum_eta is not None and config.backend != "hf":
        raise IclkitError(f"momentum_eta needs the hf back-end (it rewires the model's attention), not "
                          f"'{config.backend}'")
    lm = load_backend(config.backend, config.model, device=config.device, max_length=config.max_length,
                      batch_size=config.batch_size, options=config.backend_options)
    if config.momentum_eta is not None:
        from iclkit.train.momentum import add_momentum

        add_momentum(lm.model, config.momentum_eta)
    return lm


class Runner:
    """Per-run state: the built stages and the calibration priors already computed."""

    prior_cache_size = 512

    def __init__(self, config: RunConfig, task: TaskSpec, lm: LanguageModel, pool: Sequence[Example], *,
                 pool_is_eval: bool = False, timer: StageTimer | None = None) -> None:
        self.config, self.task, self.lm = config, task, lm
        self.pool_is_eval = pool_is_eval
        self.timer = timer or StageTimer()  # prompt and score seconds, for summary.json
        self.scorer = build_scorer(config.scorer, **config.scorer_options)
        template = task.channel() if self.scorer.channel else task.template
        self.builder = PromptBuilder(template, task.labels, task.verbalizer, count_tokens=lm.count_tokens,
                                     max_tokens=lm.max_length)
        if config.chat_template:
            self.builder = _chat_builder(config, self.builder, lm)
        if getattr(self.scorer, "generates", False) and config.calibration != "none":
            raise IclkitError("calibration needs label log-probabilities; the generate scorer has none")
        available = len(pool) - (1 if pool_is_eval else 0)
        if config.retriever != "zero" and config.shots > available:
            raise IclkitError(f"{task.name}: the demonstration pool has {available} usable examples, fewer than "
                              f"shots={config.shots}")
        self.probe = PipelineProbe(lm, self.scorer, self.builder, task)  # for LM-guided selection and ordering
        self.retriever = build_retriever(config.retriever, seed=config.seed, probe=self.probe,
                                         **config.retriever_options)
        self.retriever.fit(pool)
        self.order = build_ordering(config.resolved_ordering, probe=self.probe, seed=config.seed)
        self.priors: OrderedDict[str, Any] = OrderedDict()  # contextual priors by prompt prefix, oldest first
        self.selection: dict[str, dict | None] = {}
        # "" cannot stand as the scored input of a channel template
        cf = [s for s in task.content_free if s or not self.scorer.channel]
        self.content_free = [content_free_query(task.input_fields, s, example_id=f"cf{i}") for i, s in enumerate(cf)]

    def prompt(self, query: Example) -> Prompt:
        k = self.config.shots
        if k == 0:
            return self.builder.build(query, [])
        demos = self.order(self.select(query, k), query, self.config.seed)
        self.selection[query.id] = selection_details(query, demos, (self.retriever, self.order))
        return self.builder.build(query, [d.example for d in demos])

    def select(self, query: Example, k: int) -> list[Demo]:
        """``k`` demonstrations for ``query``; with ``pool_is_eval`` the query is never its own demonstration."""
        if not self.pool_is_eval:
            return self.retriever.select(query, k)
        if getattr(self.retriever, "same_for_every_query", False):
            # A corpus-level set drawn for k + 1 is another set (balanced quotas, MI's or active selection's search),
            # so `tune` would rank one set and evaluate another: keep the k-set unless the query is in it.
            selected = self.retriever.select(query, k)
            if all(d.example.id != query.id for d in selected):
                return selected
        selected = self.retriever.select(query, k + 1)
        return [d for d in selected if d.example.id != query.id][:k]

    def score(self, queries: Sequence[Example]) -> list[PredictionRecord]:
        if getattr(self.scorer, "generates", False):
            return self._generate_and_extract(queries)
        started = time.perf_counter()
        prompts = [self.prompt(q) for q in queries]
        requests: list[LLRequest] = []
        spans: list[tuple[Prompt, int, int]] = []
        pending: dict[str, list[tuple[Prompt, int, int]]] = {}
        priors: dict[str, Any] = {}  # this chunk's priors: the bounded cache may evict them meanwhile
        for q, p in zip(queries, prompts):
            spans.append(self._add(requests, p, q.id))
            if self.config.calibration != "contextual" or p.prefix in priors or p.prefix in pending:
                continue
            if p.prefix in self.priors:
                self.priors.move_to_end(p.prefix)
                priors[p.prefix] = self.priors[p.prefix]
            else:
                pending[p.prefix] = [self._add(requests, self.builder.with_prefix(p, cf), q.id)
                                     for cf in self.content_free]
        scoring = time.perf_counter()
        self.timer.add("prompt", scoring - started)
        results = self.lm.loglikelihood(requests)
        for prefix, cf_spans in pending.items():
            priors[prefix] = contextual_prior([self.scorer.reduce(p, results[a:b]) for p, a, b in cf_spans])
            self._remember_prior(prefix, priors[prefix])
        records = [self._record(q, p, self.scorer.reduce(p, results[a:b]), priors.get(p.prefix))
                   for q, (p, a, b) in zip(queries, spans)]
        self.timer.add("score", time.perf_counter() - scoring)
        return records

    def _generate_and_extract(self, queries: Sequence[Example]) -> list[PredictionRecord]:
        """``scorer: generate``: a short greedy answer per query, mapped onto a label (None: unparseable)."""
        from iclkit.lm.base import GenRequest

        prompts = [self.prompt(q) for q in queries]
        texts = self.lm.generate([GenRequest(p.contexts[0], ("\n",), self.scorer.max_new_tokens) for p in prompts])
        records = []
        for q, p, text in zip(queries, prompts, texts):
            label = self.scorer.label_from_text(p, text)
            record = self._record(q, p, tuple(float(lab == label) for lab in p.labels), None)
            records.append(dataclasses.replace(record, prediction=label, generated=text))
        return records

    def _add(self, requests: list[LLRequest], prompt: Prompt, group: str) -> tuple[Prompt, int, int]:
        start = len(requests)
        requests.extend(self.scorer.requests(prompt, group))
        return prompt, start, len(requests)

    def _remember_prior(self, prefix: str, prior) -> None:
        """Keep the most recently used priors: fixed demonstrations reuse one for the whole run, while per-query
        demonstrations (TopK, BM25) rarely repeat a prefix, so an unbounded cache would only grow."""
        self.priors[prefix] = prior
        while len(self.priors) > self.prior_cache_size:
            self.priors.popitem(last=False)

    def _record(self, query: Example, prompt: Prompt, scores: tuple[float, ...], prior) -> PredictionRecord:
        cal_scores = cal_pred = None
        if self.config.calibration == "contextual":
            cal_scores = calibrate(scores, prior)
            cal_pred = best_label(prompt.labels, cal_scores)
        return PredictionRecord(
            example_id=query.id, demo_ids=prompt.demo_ids, n_demos_requested=prompt.n_demos_requested,
            prompt=prompt.contexts[0], labels=prompt.labels, scores=tuple(scores), prediction=best_label(prompt.labels, scores),
            gold=query.label, calibrated_scores=cal_scores, calibrated_prediction=cal_pred,
            selection=self.selection.pop(query.id, None))


def score_examples(config: RunConfig, task: TaskSpec, lm: LanguageModel, pool: Sequence[Example],
                   queries: Sequence[Example], *, pool_is_eval: bool = False
                   ) -> tuple[list[PredictionRecord], dict[str, int]]:
    """Score ``queries`` in memory (no run directory), with the LM usage it took; ``pool_is_eval`` keeps each query
    out of its own demonstrations (``iclkit tune`` scores a development slice drawn from the pool)."""
    counted = CountingLM(lm)
    runner = Runner(config, task, counted, pool, pool_is_eval=pool_is_eval)
    records: list[PredictionRecord] = []
    for start in range(0, len(queries), CHUNK):
        records += runner.score(queries[start : start + CHUNK])
    return records, counted.usage.to_dict()


def selection_details(query: Example, demos: Sequence, parts: Sequence[object]) -> dict | None:
    """The demonstrations' own scores and whatever the retriever/ordering report for ``query`` (additive fields)."""
    info: dict[str, Any] = {}
    for part in parts:
        details = getattr(part, "details", None)
        if details is not None:
            info.update(details(query) or {})
    scores = {d.example.id: round(d.score, 6) for d in demos if d.score is not None}
    if scores:
        info["demo_scores"] = scores
    return info or None


def _chat_builder(config: RunConfig, builder: PromptBuilder, lm: LanguageModel):
    """Classification prompts in the model's chat template (instruction as the system message)."""
    from iclkit.lm.chat import chat_renderer
    from iclkit.prompt.chat import ChatPromptBuilder, Layout

    if config.scorer not in ("direct", "generate"):
        raise IclkitError(f"chat_template: only the direct scorer reads the label where the assistant's reply "
                          f"starts; scorer '{config.scorer}' is not supported with a chat template")
    layout = Layout(instruction=builder.template.instruction, separator=builder.template.separator,
                    render_chat=chat_renderer(lm), multiturn=config.multiturn)
    return ChatPromptBuilder(builder, layout)


def run(config: RunConfig, *, lm: LanguageModel | None = None,
        on_progress: Callable[[int, int], None] | None = None, log: Callable[[str], None] = print) -> RunResult:
    """Evaluate ``config``; resumes from ``predictions.jsonl`` if the run directory already has one.

    Everything that can be checked without a model (names, options, the task and its data) is checked before the
    run directory is created; if the run then fails before its first prediction, the directory is removed again.
    """
    from iclkit.generation import is_generation, run_generation

    if is_generation(config):  # question -> answer tasks: prompt formats and model calls (iclkit.generation)
        return run_generation(config, lm=lm, on_progress=on_progress, log=log)
    started = time.perf_counter()
    timer = StageTimer()
    check_config(config, model=lm is None)
    run_dir = RunDir(Path(config.out) if config.out else default_run_dir(config))
    task = resolve_task(config)
    pool = load_split(task, "train")
    full_eval = load_split(task, "eval")
    eval_set = subsample(full_eval, config.limit, config.eval_seed)
    log(f"{task.name}: {len(eval_set)} of {len(full_eval)} evaluation examples{_slice_note(config)}; "
        f"pool of {len(pool)}")
    created = run_dir.create()
    try:
        records, lm, n_scored, cost = _predict(config, task, pool, eval_set, run_dir, lm, timer, on_progress, log)
    except BaseException:
        run_dir.discard(created)
        raise
    summarising = time.perf_counter()
    summary = _summary(config, task, lm, records, summarising - started, n_scored)
    timer.add("write", time.perf_counter() - summarising)  # metrics, intervals and the model file's hash
    summary["timing"].update(seconds=round(time.perf_counter() - started, 3), stages=timer.to_dict())
    if cost is not None:
        summary["cost"] = cost  # LM requests and tokens of this invocation (not of resumed examples)
    write_summary(run_dir.path, summary)
    return RunResult(config, run_dir.path, summary, records, lm)


def _predict(config: RunConfig, task: TaskSpec, pool: Sequence[Example], eval_set: Sequence[Example],
             run_dir: RunDir, lm: LanguageModel | None, timer: StageTimer,
             on_progress: Callable[[int, int], None] | None,
             log: Callable[[str], None]) -> tuple[list[PredictionRecord], LanguageModel | None, int, dict | None]:
    """Score the examples of ``eval_set`` not yet in ``predictions.jsonl``; return all its records, the model, the
    number scored now and the LM usage of this call (None when nothing was scored)."""
    if not run_dir.has_results():
        run_dir.config_path.unlink(missing_ok=True)  # nothing computed yet: a corrected command may start over
    run_dir.check_config(config.to_dict(), ignore=NON_RESULT_KEYS)
    with PredictionWriter(run_dir.path) as writer:
        todo = [e for e in eval_set if e.id not in writer.done_ids]
        if len(todo) < len(eval_set):
            log(f"resuming: {len(eval_set) - len(todo)} examples already in {writer.path}")
        if todo:
            if lm is None:
                log(f"loading {config.model} (the first use of an embedded model converts its GGUF: up to a minute)")
                with timer.stage("load"):
                    lm = load_lm(config)
            log(f"indexing the pool with retriever '{config.retriever}'"
                + (" (embeddings are cached after the first run)" if config.retriever == "topk" else ""))
            counted = CountingLM(lm)
            with timer.stage("index"):
                runner = Runner(config, task, counted, pool, pool_is_eval=_same_source(task), timer=timer)
            if on_progress:  # the bar's rate and ETA start counting here, after loading and indexing
                on_progress(0, len(todo))
            for start in range(0, len(todo), CHUNK):
                chunk = runner.score(todo[start : start + CHUNK])
                with timer.stage("write"):
                    for record in chunk:
                        writer.write(record)
                if on_progress:
                    on_progress(min(start + CHUNK, len(todo)), len(todo))
        wanted = {e.id for e in eval_set}
        records = [r for r in writer.records if r.example_id in wanted]
        return records, lm, len(todo), (counted.usage.to_dict() if todo else None)


def _summary(config: RunConfig, task: TaskSpec, lm: LanguageModel | None, records: Sequence[PredictionRecord],
             seconds: float, n_scored: int) -> dict[str, Any]:
    gold = [r.gold for r in records]
    used = [len(r.demo_ids) for r in records]
    summary: dict[str, Any] = {
        "name": config.name,
        "task": task.name,
        "model": config.model,
        "n": len(records),
        "metrics": summarize(gold, [r.prediction for r in records], list(task.labels), seed=config.eval_seed or 0),
        "demos": {"requested": config.shots, "used_mean": sum(used) / max(1, len(used)),
                  "used_min": min(used, default=0)},
        "timing": {"seconds": round(seconds, 2), "examples_scored": n_scored,
                   "examples_per_s": round(n_scored / seconds, 3) if seconds > 0 else None},
        "config": config.to_dict(),
        # how the stored prompt is laid out, so a report can show each demonstration's text
        "prompt_format": {"separator": task.template.separator, "instruction": task.template.instruction},
        "environment": environment_info(),
    }
    if config.calibration == "contextual":
        summary["metrics_calibrated"] = summarize(gold, [r.calibrated_prediction for r in records],
                                                  list(task.labels), seed=config.eval_seed or 0)
    if config.scorer == "generate":
        summary["unparseable"] = sum(r.prediction is None for r in records)
    elif records:
        batch = batch_calibrate([r.scores for r in records])
        labels = records[0].labels
        summary["metrics_batch_calibrated"] = summarize(
            gold, [best_label(labels, s) for s in batch], list(task.labels),
            seed=config.eval_seed or 0)
    source = getattr(lm, "source_file", None) if lm is not None else _model_source(config.model)
    if source is not None:
        summary["model_file"] = {"path": str(source), "sha256": file_sha256(source)}
    return summary


def _model_source(model: str) -> Path | None:
    """The weights file behind ``model`` without loading it (for the summary of a fully resumed run)."""
    from iclkit.lm.models import resolve_model

    try:
        return resolve_model(model).source_file
    except Exception:  # noqa: BLE001 - the hash is informative; a missing model must not fail a finished run
        return None


def _same_source(task: TaskSpec) -> bool:
    """Whether the demonstration pool and the evaluation set are the same file/split."""
    return task.source.splits.get("train") == task.source.splits.get("eval")


def _slice_note(config: RunConfig) -> str:
    if not config.limit:
        return ""
    return " (first in file order)" if config.eval_seed is None else f" (seeded slice, eval_seed={config.eval_seed})"
