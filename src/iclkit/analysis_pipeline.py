"""Runs the ICL-vs-FT study of Dai et al. (2023): ZSL, ICL and FT on the same examples and demonstrations, the
learning-rate selection, the controls, the measures, ``analysis.json`` and the plots.

With ``analysis_materials`` this is the only code where the analyze stage meets data/prompt/score/evaluate (the
analysis counterpart of ``pipeline.py``). Every setting's records are an ``.npz`` file under
``<out>/seed<s>/``; a re-run loads what exists and computes the rest, so a killed run resumes with the same numbers.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from iclkit.analysis_materials import AnalysisConfig, Materials, Workbench
from iclkit.analyze import study
from iclkit.types import Example

# Keys a resumed run may change: they add seeds/controls or only affect speed, never a stored record.
DUAL_FORM_DEMOS = 4
FREE_KEYS = ("seeds", "out", "controls", "batch_size", "device")
Progress = Callable[[str, int], Callable[[int], None]]


class SeedStudy:
    """One demonstration seed: settings (cached on disk), LR selection, controls and measures."""

    def __init__(self, bench: Workbench, seed: int, folder: Path, progress: Progress) -> None:
        self.bench, self.seed, self.folder, self.progress = bench, seed, folder, progress
        self.config = bench.config
        self.model = bench.lm.model
        # K/V weights after fine-tuning at each grid LR (None: diverged), so that a second selection mode (held-out
        # and evaluation-set) scores the same tuned model instead of fine-tuning again
        self._tuned: dict[float, dict | None] = {}
        folder.mkdir(parents=True, exist_ok=True)

    # ------------------------------------------------------------------------------------------ settings
    def setting(self, name: str, rows: Sequence, *, model=None, prefix: tuple[int, ...] = ()) -> dict:
        def compute() -> dict:
            from iclkit.analyze.passes import run_prefix, run_rows
            from iclkit.lm.kv_cache import fork_cache

            m = model or self.model
            pre = run_prefix(m, prefix, fork_cache) if prefix else None
            out = run_rows(m, rows, prefix=pre, batch_size=self.config.batch_size,
                           pad_id=self.bench.lm._prefix_token, progress=self.progress(name, len(rows)))
            return study.pack(out, *self.bench.predictions(out, rows))

        return study.cached(self.folder / f"{name}.npz", compute)

    def ft_setting(self, name: str, mats: Materials, lr: float, *, model=None) -> tuple[dict, np.ndarray | None]:
        """Fine-tune the key/value projections on ``mats``' demonstrations, evaluate zero-shot, restore."""
        from iclkit.analyze.finetune import finetune_kv, kv_state, restore_kv
        from iclkit.analyze.hooks import Recorder

        m = model or self.model
        path = self.folder / f"{name}_train.npz"
        if (self.folder / f"{name}.npz").exists() and path.exists():
            return study.load(self.folder / f"{name}.npz"), study.load(path).get("train_q")
        state = kv_state(m)
        steps: list[np.ndarray] = []
        with Recorder(m, keep_queries=True) as rec:
            losses = finetune_kv(m, mats.ft_sequences, lr,
                                 before_step=lambda i: steps.append(np.stack([x[1:] for x in rec.queries])))
        (self.folder / f"{name}.npz").unlink(missing_ok=True)
        try:
            rec_ft = self.setting(name, mats.zsl_rows, model=m)
        finally:
            restore_kv(m, state)
        train = {"losses": np.asarray(losses, np.float32)}
        if mats.aligned:
            train["train_q"] = np.concatenate([steps[i] for i in mats.aligned], axis=1).astype(np.float16)
        return rec_ft, study.save(path, train).get("train_q")

    # ------------------------------------------------------------------------------------------ learning rate
    def learning_rate(self, mats: Materials, exclude: set[str]) -> tuple[float, dict]:
        if self.config.lr is not None:
            return self.config.lr, {"fixed": self.config.lr}
        grid = study.lr_grid(self.config.lr_grid)
        report = {}
        for mode in self.config.lr_selection:
            examples = self.bench.heldout(exclude) if mode == "heldout" else self.bench.eval_set
            rows = self.bench.rows(examples, "") if mode == "heldout" else mats.zsl_rows
            gold = np.array([self.bench.labels.index(e.label) for e in examples])
            path = self.folder / f"lr_{mode}.json"
            done = json.loads(path.read_text()) if path.exists() else {}
            evaluate = self._lr_evaluator(mats, rows, gold, mode)
            report[mode] = study.select_lr(grid, evaluate, done, lambda d, p=path: p.write_text(json.dumps(d)))
            report[mode].update({"n_selection": len(examples), "full_cost_examples": len(grid) * len(examples)})
        chosen = report[self.config.lr_selection[0]]["lr"]
        if chosen is None:
            from iclkit.errors import IclkitError

            raise IclkitError("fine-tuning diverged at every learning rate of the grid; pass a smaller --lr-grid")
        return chosen, report

    def _lr_evaluator(self, mats: Materials, rows: Sequence, gold: np.ndarray, mode: str):
        from iclkit.analyze.finetune import finetune_kv, is_finite, kv_state, restore_kv
        from iclkit.analyze.passes import run_rows

        per_example = len(rows) // len(gold)  # 1 row per example, or one per label for multi-token labels
        chunk = self.config.batch_size  # the early stop is checked after each batch: no cost, finer stops

        def evaluate(lr: float, keep_going: Callable[[int, int], bool]) -> tuple[int, int] | None:
            state = kv_state(self.model)
            try:
                if lr in self._tuned:
                    if self._tuned[lr] is None:
                        return None
                    restore_kv(self.model, self._tuned[lr])
                else:
                    finetune_kv(self.model, mats.ft_sequences, lr)
                    tuned = kv_state(self.model) if is_finite(self.model) else None
                    if len(self.config.lr_selection) > 1:  # only a second mode reuses it
                        self._tuned[lr] = tuned
                    if tuned is None:
                        return None
                correct = scored = 0
                tick = self.progress(f"lr {lr:g} ({mode})", len(gold))
                for start in range(0, len(gold), chunk):
                    part = rows[start * per_example : (start + chunk) * per_example]
                    out = run_rows(self.model, part, record=False, batch_size=self.config.batch_size,
                                   pad_id=self.bench.lm._prefix_token)
                    preds, _ = self.bench.predictions(out, part)
                    correct += int((np.asarray(preds) == gold[scored : scored + len(preds)]).sum())
                    scored += len(preds)
                    tick(len(preds))
                    if not keep_going(correct, len(gold) - scored):
                        break
                return correct, scored
            finally:
                restore_kv(self.model, state)

        return evaluate

    # ------------------------------------------------------------------------------------------ the study
    def run(self) -> dict:
        cfg, bench = self.config, self.bench
        demos = bench.fitting(bench.demos(self.seed))
        mats = bench.materials(demos)
        exclude = {d.id for d in demos}
        # The other-demos control's set is drawn (and kept out of the held-out LR slice) whether or not that control
        # runs, so that asking for a control never changes the main study's learning rate.
        other = bench.fitting(bench.demos(self.seed + 7919, exclude))[: len(demos)]
        lr, lr_report = self.learning_rate(mats, exclude | {d.id for d in other})
        other = other if "other-demos" in cfg.controls else []
        zsl = self.setting("zsl", mats.zsl_rows)
        icl = self.setting("icl", mats.icl_rows, prefix=mats.icl_prefix)
        ft, train_q = self.ft_setting("ft", mats, lr)
        result = {"seed": self.seed, "lr": lr, "lr_selection": lr_report, "demos": {
            "requested": cfg.shots, "used": len(demos), **mats.info}}
        result["main"] = self.compare(zsl, icl, ft, train_q, mats)
        result["controls"] = self.controls(mats, demos, other, lr, zsl, icl)
        return result

    def compare(self, zsl: dict, icl: dict, ft: dict, train_q, mats: Materials) -> dict:
        kendall = study.kendall_inputs(icl, ft, train_q, mats.icl_index, self.config.kendall_n)
        return study.compare(zsl, icl, ft, self.bench.gold, seed=self.seed, kendall=kendall)

    def controls(self, mats: Materials, demos: list[Example], other: list[Example], lr: float, zsl: dict,
                 icl: dict) -> dict:
        out: dict = {}
        if "shuffled-labels" in self.config.controls:
            labels = shuffled_labels([d.label for d in demos], self.seed + 1)
            shuffled = self.bench.materials([Example(d.id, d.fields, lab) for d, lab in zip(demos, labels)])
            icl_s = self.setting("icl_shuffled", shuffled.icl_rows, prefix=shuffled.icl_prefix)
            ft_s, tq = self.ft_setting("ft_shuffled", shuffled, lr)
            out["shuffled-labels"] = self.compare(zsl, icl_s, ft_s, tq, shuffled)
        if other:
            ft_o, _ = self.ft_setting("ft_other", self.bench.materials(other), lr)
            out["other-demos"] = self.compare(zsl, icl, ft_o, None, mats)
            out["other-demos"]["n_demos"] = len(other)
        if "random-init" in self.config.controls:
            model = random_copy(self.model, self.seed)
            r_zsl = self.setting("rand_zsl", mats.zsl_rows, model=model)
            r_icl = self.setting("rand_icl", mats.icl_rows, model=model, prefix=mats.icl_prefix)
            r_ft, tq = self.ft_setting("rand_ft", mats, lr, model=model)
            out["random-init"] = self.compare(r_zsl, r_icl, r_ft, tq, mats)
        return out


def shuffled_labels(labels: Sequence[str], seed: int, tries: int = 100) -> list[str]:
    """A permutation of the demonstrations' labels (same label counts) that moves at least one label when the
    labels are not all equal."""
    rng = np.random.default_rng(seed)
    for _ in range(tries):
        out = [labels[i] for i in rng.permutation(len(labels))]
        if out != list(labels):
            return out
    return list(labels)


def random_copy(model, seed: int):
    """A randomly initialised model of the same class and config (``torch.manual_seed(seed)``), fp32, eval mode."""
    import torch

    torch.manual_seed(seed)
    fresh = type(model)(model.config).to(device=next(model.parameters()).device, dtype=torch.float32)
    return fresh.eval()


def tqdm_progress(enabled: bool = True) -> Progress:
    def factory(name: str, total: int) -> Callable[[int], None]:
        if not enabled:
            return lambda n: None
        from tqdm import tqdm

        bar = tqdm(total=total, desc=name, unit="ex", leave=False)

        def tick(n: int) -> None:
            bar.update(n)
            if bar.n >= total:
                bar.close()

        return tick

    return factory


def run_analysis(config: AnalysisConfig, *, lm=None, log: Callable[[str], None] = print,
                 progress: Progress | None = None) -> dict:
    """Run (or resume) the study and write ``analysis.json``, the plots and the dual-form check."""
    from iclkit.analyze.report import write_outputs

    started = time.perf_counter()
    out = Path(config.out or f"runs/analysis-{config.task}-{config.model.replace('/', '_')}")
    _check_config(out, config)
    if lm is None:
        from iclkit.lm.hf import HFLM

        log(f"loading {config.model}")
        lm = HFLM.load(config.model, device=config.device, max_length=config.max_length)
    bench = Workbench(config, lm, log)
    progress = progress or tqdm_progress()
    seeds: list[dict] = []
    dual: list[dict] = []
    analysis: dict = {}
    for seed in config.seeds:
        log(f"seed {seed}")
        seeds.append(SeedStudy(bench, seed, out / f"seed{seed}", progress).run())
        dual = dual or dual_form_report(bench, seeds[0])
        # written after every seed, so an interrupted multi-seed run still leaves its finished seeds' numbers
        analysis = write_outputs(out, config, seeds, dual, time.perf_counter() - started, log)
    return analysis


def dual_form_report(bench: Workbench, first: dict) -> list[dict]:
    """The dual-form identity and the softmax gap per layer, on the first evaluation example's ICL sequence with the
    first seed's first ``DUAL_FORM_DEMOS`` demonstrations (a short sequence: one extra forward, cheap on CPU)."""
    from iclkit.analyze.dual_form import check_layers

    ids = first["demos"]["demo_ids"][:DUAL_FORM_DEMOS]
    by_id = {e.id: e for e in bench.pool}
    mats = bench.materials([by_id[i] for i in ids])
    row = mats.icl_rows[0]
    return check_layers(bench.lm.model, row.tokens[: row.position + 1], row.key_start)


def _check_config(out: Path, config: AnalysisConfig) -> None:
    """A re-run must use the same settings as the records it resumes (the seeds may differ)."""
    from iclkit.errors import IclkitError

    path = out / "config.json"
    wanted = {k: v for k, v in json.loads(json.dumps(config.to_dict())).items() if k not in FREE_KEYS}
    if path.exists():
        stored = {k: v for k, v in json.loads(path.read_text()).items() if k not in FREE_KEYS}
        changed = sorted(k for k in wanted if stored.get(k) != wanted[k])
        if changed:
            raise IclkitError(f"{out} holds a run with different settings ({', '.join(changed)}); "
                              "use another --out or delete it")
    out.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config.to_dict(), indent=2))
