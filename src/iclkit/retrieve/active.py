"""Active example selection as a sequential decision (Zhang, Feng & Tan 2022), CPU-sized.

MDP: the state is the prompt built so far; an action appends one candidate from ``n_candidates`` pool examples;
the reward is the change in the LM's accuracy on a labelled probe set of ``n_probe`` other pool examples, so an
episode's return is acc(k-shot prompt) − acc(zero-shot). Features, as the authors' ``action_repr``: the LM reads the
candidate *as a query* under the current prompt, giving the normalised entropy, min, max and std of its label
distribution, plus the step. The policy is a Q-function Q(s, a) = ridge regression on those features, learned
offline by fitted Q-iteration (γ = 1) on transitions of ``episodes`` random-agent episodes, then rolled out greedily
once to give one k-shot set for every query. Differences from the paper, for CPU: a linear Q instead of the 16-unit
MLP with a CQL regulariser, no exit action (always k steps), tens of episodes instead of thousands.

Cost: ``episodes × k × (n_candidates + n_probe) × |Y|`` scorings to collect transitions, plus ``k × n_candidates ×
|Y|`` for the rollout; with the defaults (8 episodes, 16 candidates, 32 probes, k = 4, 2 labels): ~3,300.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import numpy as np

from iclkit.errors import IclkitError
from iclkit.retrieve.base import CorpusChoice, LMProbe, require_labels, require_pool_size, require_probe
from iclkit.retrieve.entropy import entropy, label_probs
from iclkit.types import Demo, Example

MIN_PROBE = 8


class ActiveDemos(CorpusChoice):
    def __init__(self, *, n_candidates: int = 16, n_probe: int = 32, episodes: int = 8, fqi_iterations: int = 4,
                 seed: int = 0, probe: LMProbe | None = None) -> None:
        self.probe = require_probe(probe, "active")
        if n_probe < MIN_PROBE:
            raise IclkitError(f"retriever 'active': n_probe={n_probe} is too small for an accuracy reward "
                              f"(at least {MIN_PROBE})")
        self.n_candidates, self.n_probe, self.episodes = n_candidates, n_probe, episodes
        self.fqi_iterations, self.seed = fqi_iterations, seed
        self._chosen: dict[int, tuple[list[Demo], dict]] = {}

    def fit(self, pool: Sequence[Example]) -> None:
        require_labels(pool, "active")
        self.pool = list(pool)
        self._chosen = {}

    def features(self, prompt: Sequence[Example], candidates: Sequence[Example], step: int, k: int) -> np.ndarray:
        probs = label_probs(self.probe.label_scores([(prompt, c) for c in candidates]))
        n_labels = probs.shape[1]
        return np.column_stack([
            np.full(len(candidates), step / k), entropy(probs) / np.log(n_labels),
            probs.min(axis=1), probs.max(axis=1), probs.std(axis=1), np.ones(len(candidates)),
        ])

    def accuracy(self, prompt: Sequence[Example], probes: Sequence[Example]) -> float:
        scores = np.asarray(self.probe.label_scores([(prompt, p) for p in probes]))
        labels = self.probe.labels
        return float(np.mean([labels[int(np.argmax(s))] == p.label for s, p in zip(scores, probes)]))

    def collect(self, cands: Sequence[Example], probes: Sequence[Example], k: int, rng: random.Random) -> list:
        """Random-agent transitions: (features of the action taken, reward, features of every next action | None)."""
        transitions = []
        for _ in range(self.episodes):
            prompt: list[Example] = []
            acc = self.accuracy(prompt, probes)
            feats = self.features(prompt, cands, 0, k)
            for step in range(k):
                free = [i for i, c in enumerate(cands) if c not in prompt]
                a = rng.choice(free)
                prompt.append(cands[a])
                new_acc = self.accuracy(prompt, probes)
                nxt = self.features(prompt, cands, step + 1, k) if step + 1 < k else None
                mask = [i for i, c in enumerate(cands) if c not in prompt]
                transitions.append((feats[a], new_acc - acc, None if nxt is None else nxt[mask]))
                acc, feats = new_acc, nxt
        return transitions

    def fit_q(self, transitions: list) -> np.ndarray:
        """Fitted Q-iteration with a ridge-regression Q (undiscounted, finite horizon)."""
        from sklearn.linear_model import Ridge

        x = np.array([t[0] for t in transitions])
        q = Ridge(alpha=1.0, fit_intercept=False)
        y = np.array([t[1] for t in transitions])
        for _ in range(self.fqi_iterations):
            q.fit(x, y)
            y = np.array([r + (0.0 if nxt is None else float(q.predict(nxt).max())) for _, r, nxt in transitions])
        q.fit(x, y)
        return q

    def choose(self, k: int) -> tuple[list[Demo], dict]:
        require_pool_size(self.pool, self.n_candidates + self.n_probe, "active (n_candidates + n_probe)")
        if k > self.n_candidates:
            raise IclkitError(f"retriever 'active': k={k} is larger than n_candidates={self.n_candidates}")
        rng = random.Random(self.seed)
        order = rng.sample(range(len(self.pool)), self.n_candidates + self.n_probe)
        cands = [self.pool[i] for i in order[: self.n_candidates]]
        probes = [self.pool[i] for i in order[self.n_candidates :]]
        q = self.fit_q(self.collect(cands, probes, k, rng))
        prompt: list[Example] = []
        values = []
        for step in range(k):
            free = [i for i, c in enumerate(cands) if c not in prompt]
            qv = q.predict(self.features(prompt, [cands[i] for i in free], step, k))
            best = int(np.argmax(qv))
            prompt.append(cands[free[best]])
            values.append(round(float(qv[best]), 6))
        info = {"active_q": values, "active_probe_accuracy": self.accuracy(prompt, probes)}
        return [Demo(e, v) for e, v in zip(prompt, values)], info
