"""Settings, records and measures of the ICL-vs-FT study, at the level of token rows and an ``nn.Module``.

A *setting* (ZSL, ICL, FT, or a control's variant) is one pass over the evaluation rows: predictions plus the
records at p*. Records are saved as float16 ``.npz`` files, one per setting, and the measures are always computed
from the saved (float16) arrays, so a resumed run gives exactly the numbers of an uninterrupted one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from iclkit.analyze import measures as M
from iclkit.analyze.passes import PassOutput

PAPER_GRID = tuple(float(f"{m}e-{e}") for e in range(1, 5) for m in range(1, 10))  # {1..9} x {1e-1..1e-4}
COARSE_GRID = tuple(float(f"{m}e-{e}") for e in range(1, 5) for m in (1, 3))


def lr_grid(spec: str) -> tuple[float, ...]:
    """``paper`` (36 values, spec §2), ``coarse`` ({1,3} x decades, 8 values) or comma-separated numbers."""
    from iclkit.errors import IclkitError

    if spec == "paper":
        return PAPER_GRID
    if spec == "coarse":
        return COARSE_GRID
    try:
        values = tuple(float(v) for v in spec.split(","))
    except ValueError:
        raise IclkitError(f"--lr-grid: expected 'paper', 'coarse' or comma-separated numbers, not {spec!r}") from None
    if not values or any(v <= 0 for v in values):
        raise IclkitError(f"--lr-grid: learning rates must be positive, got {spec!r}")
    return values


def pack(out: PassOutput, preds: Sequence[int], label_scores: Sequence[Sequence[float]]) -> dict[str, np.ndarray]:
    """One setting's arrays, float16 for the records (maps zero-padded at the end, with their lengths)."""
    lengths = np.array([s.shape[-1] for s in out.scores], dtype=np.int32)
    arrays = {"pred": np.asarray(preds, dtype=np.int16), "label_scores": np.asarray(label_scores, np.float32),
              "out": np.stack(out.out).astype(np.float16), "q": np.stack(out.q).astype(np.float16),
              "map_len": lengths}
    n, (layers, heads, _) = len(out.scores), out.scores[0].shape
    maps = np.zeros((n, layers, heads, int(lengths.max())), dtype=np.float16)
    for i, s in enumerate(out.scores):
        maps[i, ..., : s.shape[-1]] = s
    arrays["maps"] = maps
    if out.ctx:
        arrays["ctx"] = np.stack(out.ctx).astype(np.float16)
    return arrays


def save(path: Path, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Write atomically (a killed run never leaves half a file) and return what a resumed run would read."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".tmp.npz")
    np.savez(tmp, **arrays)  # uncompressed: float16 records, written once per setting, read back at once
    tmp.replace(path)
    return load(path)


def load(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as data:
        return {k: data[k] for k in data.files}


def cached(path: Path, compute: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return load(path) if path.exists() else save(path, compute())


def maps(rec: dict[str, np.ndarray]) -> list[np.ndarray]:
    return [m[..., :n].astype(np.float32) for m, n in zip(rec["maps"], rec["map_len"])]


def accuracy(rec: dict[str, np.ndarray], gold: np.ndarray) -> dict[str, float | int]:
    from iclkit.evaluate.metrics import wilson_interval

    k, n = int((rec["pred"] == gold).sum()), len(gold)
    low, high = wilson_interval(k, n)
    return {"value": k / n, "low": low, "high": high, "correct": k, "n": n}


def kendall_inputs(icl: dict, ft: dict, train_q: np.ndarray | None, icl_index: np.ndarray | None,
                   n: int) -> tuple[list[np.ndarray], list[np.ndarray]] | None:
    """(ICL head-summed scores to the training tokens, FT query-query products), first ``n`` examples, each
    (L, N). None when there are no aligned training tokens or no context scores."""
    if train_q is None or icl_index is None or len(icl_index) < 2 or "ctx" not in icl:
        return None
    m = min(n, len(icl["ctx"]))
    a_icl = [icl["ctx"][e][:, icl_index].astype(np.float64) for e in range(m)]
    tq = train_q.astype(np.float64)  # (L, N, H*hd)
    a_ft = [np.einsum("lnd,ld->ln", tq, ft["q"][e].astype(np.float64)) for e in range(m)]
    return a_icl, a_ft


def compare(zsl: dict, icl: dict, ft: dict, gold: np.ndarray, *, seed: int,
            kendall: tuple[list[np.ndarray], list[np.ndarray]] | None) -> dict:
    """All measures for one (ZSL, ICL, FT) triple: per-layer arrays and their layer means."""
    rng = np.random.default_rng(seed)
    m_zsl, m_icl, m_ft = maps(zsl), maps(icl), maps(ft)
    h = [r["out"].astype(np.float32) for r in (zsl, icl, ft)]
    per_layer = {
        "simaou": M.simaou(*h),
        "simaou_random_uniform": M.simaou_random(h[0], h[1], rng, "uniform"),
        "simaou_random_gaussian": M.simaou_random(h[0], h[1], rng, "gaussian"),
        "simam_after_ft": M.simam(m_icl, m_ft),
        "simam_before_ft": M.simam(m_icl, m_zsl),
        "simam_ft_diff": M.simam_diff(m_icl, m_ft, m_zsl),
    }
    if kendall is not None:
        per_layer["kendall"] = M.kendall(*kendall)
        per_layer["kendall_random"] = M.kendall_random(kendall[0], rng)
    result: dict = {"accuracy": {name: accuracy(r, gold) for name, r in (("zsl", zsl), ("icl", icl), ("ft", ft))},
                    "rec2ftp": M.rec2ftp(gold, zsl["pred"], icl["pred"], ft["pred"])}
    result["mean"] = {k: M.layer_mean(v) for k, v in per_layer.items()}
    result["per_layer"] = {k: [None if np.isnan(x) else float(x) for x in v] for k, v in per_layer.items()}
    return result


def select_lr(grid: Sequence[float], evaluate: Callable[[float, Callable[[int, int], bool]], tuple[int, int] | None],
              done: dict[str, dict], save: Callable[[dict], None] | None = None) -> dict:
    """Pick the learning rate with the most correct selection examples (ties: the earlier in ``grid``).

    ``evaluate(lr, keep_going)`` fine-tunes and scores the selection set chunk by chunk, calling
    ``keep_going(correct, remaining)``; it returns (correct, scored) or None when fine-tuning diverged. Scoring
    stops as soon as ``correct + remaining`` cannot beat the best so far (safe: it can no longer be selected).
    ``done`` holds results of a previous (interrupted) run and is updated in place; ``save(done)`` after each LR.
    """
    best_lr, best = None, [-1]  # a cell, so keep_going always sees the current best

    def keep_going(correct: int, remaining: int) -> bool:
        return correct + remaining > best[0]

    for lr in grid:
        key = repr(lr)
        if key not in done:
            res = evaluate(lr, keep_going)
            done[key] = {"diverged": True} if res is None else {"correct": res[0], "scored": res[1]}
            if save is not None:
                save(done)
        entry = done[key]
        if not entry.get("diverged") and entry["correct"] > best[0]:
            best_lr, best[0] = lr, entry["correct"]
    scored = sum(e.get("scored", 0) for e in done.values())
    return {"lr": best_lr, "correct": best[0], "grid": list(grid), "results": done, "examples_scored": scored}
