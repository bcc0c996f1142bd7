"""Text → token rows for the ICL-vs-FT study (Dai et al. 2023): the data, prompt and score stages' side.

The one place where the analyze stage meets the others: tasks and splits come from ``data``, the text of
demonstrations and queries from ``prompt``, tokenisation (the score stage's span rule), the model and the label
scoring (the ``direct`` scorer, mean log-probability, argmax) from ``score``, intervals from ``evaluate``. The
analyze stage sees only token rows and an ``nn.Module`` (``iclkit.analyze``).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from iclkit.data.loaders import load_split, subsample
from iclkit.data.tasks import load_task
from iclkit.errors import IclkitError
from iclkit.lm.base import encode_pair
from iclkit.prompt.render import PromptBuilder, render_demo, render_prefix
from iclkit.types import Example, LLResult, Prompt

RECORD_POSITIONS = ("label0", "prompt_last")
LR_SELECTIONS = ("heldout", "eval")
CONTROLS = ("random-init", "shuffled-labels", "other-demos")
EVAL_CAP = 2000  # Dai et al. evaluate at most 2000 examples (seed-1 shuffle), spec §1.1


@dataclass(frozen=True)
class AnalysisConfig:
    task: str = "sst2"
    model: str = "smollm2-135m"
    shots: int = 32
    seeds: tuple[int, ...] = (0, 1, 2)
    limit: int | None = None  # evaluation examples (seed-1 shuffle, at most 2000)
    record_pos: str = "label0"  # label0: released code; prompt_last: the paper's text
    lr_selection: tuple[str, ...] = ("heldout", "eval")  # the first selects the LR used; the others are reported
    lr_grid: str = "paper"
    lr: float | None = None  # a fixed learning rate: no grid search
    heldout_n: int = 100
    kendall_n: int = 100  # Kendall uses the first 100 evaluation examples, as the released code
    controls: tuple[str, ...] = ()
    max_length: int | None = None
    batch_size: int = 8
    device: str | None = None
    out: str | None = None

    def __post_init__(self) -> None:
        if self.record_pos not in RECORD_POSITIONS:
            raise IclkitError(f"--record-pos must be one of {RECORD_POSITIONS}, not {self.record_pos!r}")
        bad = [s for s in self.lr_selection if s not in LR_SELECTIONS]
        if bad or not self.lr_selection:
            raise IclkitError(f"--lr-selection: expected a comma-separated subset of {LR_SELECTIONS}, got {bad}")
        bad = [c for c in self.controls if c not in CONTROLS]
        if bad:
            raise IclkitError(f"--controls: unknown control(s) {bad}; known: {', '.join(CONTROLS)}")
        if self.lr is None:
            from iclkit.analyze.study import lr_grid

            lr_grid(self.lr_grid)  # a malformed grid fails now, not after the first passes
        elif self.lr <= 0:
            raise IclkitError(f"--lr must be positive, not {self.lr}")
        if self.shots < 1:
            raise IclkitError(f"--shots must be >= 1 (ICL needs demonstrations), not {self.shots}")
        if self.limit is not None and self.limit < 2:
            raise IclkitError(f"--limit must be >= 2, not {self.limit}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass
class Materials:
    """Token-level inputs of one seed: evaluation rows per setting and the FT sequences, built from text by the
    prompt and score stages."""

    gold: np.ndarray
    zsl_rows: list
    icl_rows: list
    icl_prefix: tuple[int, ...]
    ft_sequences: list[list[int]]
    icl_index: np.ndarray | None  # positions (in the ICL prefix) of the FT training tokens, for Kendall
    aligned: list[int]  # demonstrations whose tokens were found in the ICL prefix (Kendall uses only these)
    info: dict = field(default_factory=dict)


class Workbench:
    """The task, the evaluation set, the model and the text → token rules shared by every seed and setting."""

    def __init__(self, config: AnalysisConfig, lm, log: Callable[[str], None] = print) -> None:
        from iclkit.score.scorers import build_scorer

        self.config, self.lm, self.log = config, lm, log
        self.task = load_task(config.task)
        self.pool = load_split(self.task, "train")
        full_eval = load_split(self.task, "eval")
        self.eval_set = subsample(full_eval, min(config.limit or EVAL_CAP, EVAL_CAP), 1)
        self.labels = tuple(self.task.labels)
        self.builder = PromptBuilder(self.task.template, self.labels, self.task.verbalizer)
        self.scorer = build_scorer("direct", reduce="mean")
        self.gold = np.array([self.labels.index(e.label) for e in self.eval_set])
        self.bos = lm.tokenizer.bos_token_id
        # every label's sequence of an example shares its context: tokenise that (1000+ tokens with 32 shots) once
        self._tokens = functools.lru_cache(maxsize=4096)(lambda text: tuple(lm._encode(text)))
        self.zsl = self.rows(self.eval_set, "")
        self.max_query = max(len(r.tokens) for r in self.zsl)  # L_max of spec §1.4 (with BOS when added)
        log(f"{self.task.name}: {len(self.eval_set)} of {len(full_eval)} evaluation examples (seed-1 shuffle); "
            f"pool of {len(self.pool)}; labels {'single' if self.single_token else 'multi'}-token")

    # ------------------------------------------------------------------------------------------ demonstrations
    def demos(self, seed: int, exclude: set[str] = frozenset()) -> list[Example]:
        """The first ``shots`` of ``default_rng(seed).permutation(pool)`` (spec §1.5), skipping ``exclude``."""
        # n = len - 1: subsample returns the seeded permutation's prefix (n = len would keep the file order)
        order = subsample(self.pool, len(self.pool) - 1, seed) if len(self.pool) > 1 else list(self.pool)
        picked = [e for e in order if e.id not in exclude and e.label is not None]
        return picked[: self.config.shots]

    def fitting(self, demos: Sequence[Example]) -> list[Example]:
        """Spec §1.4: the longest prefix of ``demos`` with ``len(context) + L_max < budget``."""
        kept: list[Example] = []
        for demo in demos:
            text = render_prefix(self.task.template, [render_demo(self.task.template, d, self.task.verbalizer)
                                                      for d in [*kept, demo]])
            if self.lm.count_tokens(text) + self.max_query >= self.lm.max_length:
                break
            kept.append(demo)
        if not kept:
            raise IclkitError(f"not even one demonstration fits the model's {self.lm.max_length} tokens next to the "
                              f"longest query ({self.max_query} tokens); raise --max-length or use shorter inputs")
        return kept

    def heldout(self, exclude: set[str]) -> list[Example]:
        """The LR-selection slice: pool examples that are neither demonstrations nor evaluation examples."""
        eval_ids = {e.id for e in self.eval_set} if self._pool_is_eval() else set()
        order = subsample(self.pool, len(self.pool) - 1, 10_007) if len(self.pool) > 1 else list(self.pool)
        slice_ = [e for e in order if e.id not in exclude and e.id not in eval_ids][: self.config.heldout_n]
        if len(slice_) < 2:
            raise IclkitError(f"task '{self.task.name}': the pool has no examples left for held-out LR selection "
                              "(use --lr-selection eval or a fixed --lr)")
        return slice_

    def _pool_is_eval(self) -> bool:
        return self.task.source.splits.get("train") == self.task.source.splits.get("eval")

    # ------------------------------------------------------------------------------------------ token rows
    @property
    def single_token(self) -> bool:
        return all(len(r.alternatives) == len(self.labels) for r in self.zsl)

    def rows(self, examples: Sequence[Example], prefix: str) -> list:
        from iclkit.analyze.passes import Row

        rows = []
        for ex in examples:
            inputs, conts = self.builder.query_parts(ex)
            encoded = [self.encode_pair(prefix + i, c) for i, c in zip(inputs, conts)]
            tokens, n_ctx = encoded[0]
            n_query = len(self.encode_pair(inputs[0], conts[0])[0]) - self._n_special(inputs[0], conts[0])
            position = len(tokens) - 1 if self.config.record_pos == "label0" else n_ctx - 1
            key_start = len(tokens) - n_query
            single = all(len(t) - n == 1 and t[:n] == tokens[:n_ctx] for t, n in encoded)
            if single:
                rows.append(Row(tuple(tokens), n_ctx, position, key_start, tuple(t[-1] for t, _ in encoded)))
            else:  # one row per label; records only from option 0's row
                rows.extend(Row(tuple(t), n, position if j == 0 else len(t) - 1, key_start, (), record=j == 0)
                            for j, (t, n) in enumerate(encoded))
        return rows

    def encode_pair(self, context: str, continuation: str) -> tuple[list[int], int]:
        """The score stage's span rule (``lm.base.encode_pair``) over a memoised tokenizer."""
        return encode_pair(lambda text: list(self._tokens(text)), context, continuation,
                           prefix_token=self.lm._prefix_token, max_length=self.lm.max_length)

    def _n_special(self, context: str, continuation: str) -> int:
        """Tokens before the query text in a zero-shot sequence: BOS, or the prefix token of an empty context."""
        tokens, _ = self.encode_pair(context, continuation)
        return 1 if self.bos is not None and tokens[0] == self.bos else 0

    def materials(self, demos: Sequence[Example]) -> Materials:
        rendered = [render_demo(self.task.template, d, self.task.verbalizer) for d in demos]
        prefix_text = render_prefix(self.task.template, rendered)
        icl = self.rows(self.eval_set, prefix_text)
        shared = _common_prefix([r.tokens for r in icl])
        shared = shared[: min(r.key_start for r in icl)]  # never past the query segment
        ft = [self.encode_pair("", text)[0] for text in rendered]  # [BOS or EOS] + demo, spec §2
        index, aligned = _training_token_index(shared, ft)
        return Materials(self.gold, self.zsl, icl, tuple(shared), ft, index, aligned,
                         {"n_demos": len(demos), "demo_ids": [d.id for d in demos], "icl_prefix_tokens": len(shared),
                          "kendall_demos_aligned": len(aligned)})

    # ------------------------------------------------------------------------------------------ scoring
    def predictions(self, out, rows: Sequence) -> tuple[list[int], list[list[float]]]:
        """Label scores through the score stage's ``direct`` scorer (mean log-probability) and its argmax rule."""
        from iclkit.types import best_label

        preds, scores, i = [], [], 0
        dummy = Prompt(self.labels, ("",) * len(self.labels), ("",) * len(self.labels), (), 0)
        n_labels = len(self.labels)
        while i < len(rows):
            if rows[i].alternatives:
                results = [LLResult(lp, 1, False) for lp in out.alternatives[i]]
                i += 1
            else:
                results = [LLResult(out.logprob[i + j], out.n_tokens[i + j], False) for j in range(n_labels)]
                i += n_labels
            s = self.scorer.reduce(dummy, results)
            scores.append(list(s))
            preds.append(self.labels.index(best_label(self.labels, s)))
        return preds, scores


def _common_prefix(seqs: Sequence[Sequence[int]]) -> list[int]:
    first = list(seqs[0])
    n = len(first)
    for s in seqs[1:]:
        n = min(n, len(s))
        for j in range(n):
            if s[j] != first[j]:
                n = j
                break
    return first[:n]


def _training_token_index(prefix: Sequence[int],
                          ft: Sequence[Sequence[int]]) -> tuple[np.ndarray | None, list[int]]:
    """Positions in the ICL prefix of each FT sequence's training tokens (all but the first), found in order.

    A demonstration whose tokens differ inside the concatenated context (a BPE merge across a separator) is left
    out of Kendall; the aligned demonstrations are returned with the index.
    """
    index: list[int] = []
    cursor, aligned = 0, []
    prefix = list(prefix)
    for i, seq in enumerate(ft):
        target = list(seq[1:])
        for start in range(cursor, len(prefix) - len(target) + 1):
            if prefix[start : start + len(target)] == target:
                index.extend(range(start, start + len(target)))
                cursor = start + len(target)
                aligned.append(i)
                break
    return (np.array(index) if index else None), aligned
