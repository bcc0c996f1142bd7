"""EPR, Efficient Prompt Retriever (Rubin et al. 2021): a dense retriever trained on the LM's own preferences.

1. Mining: for ``n_train`` pool examples ``(x, y)``, ``n_candidates`` other pool examples are retrieved (here by
   the packaged MiniLM over inputs; EPR uses BM25 over the *output* side, which for classification is just the label
   word) and each is scored by the LM as a one-shot prompt: mean per-token log P(y | ē, x).
2. Labels: the top ``n_pos`` (5) are positives, the bottom ``n_pos`` hard negatives.
3. Training: (x, ē⁺, ē⁻) triplets, candidates encoded as input + label (EPR's ``setup_type=qa``), with
   sentence-transformers' ``SentenceTransformerTrainer`` and ``MultipleNegativesRankingLoss`` — exactly EPR's
   objective: every other positive and negative in the batch is a negative (2B − 1 of them). One encoder is shared
   by queries and candidates (as CEIL's EPR checkpoint), starting from ``encoder`` (MiniLM).
4. Retrieval: cosine kNN with the trained encoder, most similar first (the ``similarity`` ordering puts it last).

The trained model is saved to ``save_path`` (default: the cache, keyed by the pool, the LM and the options) and
reloaded with ``model_path``; a missing or unreadable ``model_path`` is an error, never a silent retrain.
CPU budget (defaults): 200 × 20 one-shot scorings and 1,000 triplets, one epoch of batch 32 (32 steps).
"""

from __future__ import annotations

import hashlib
import json
import random
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from iclkit.errors import IclkitError
from iclkit.paths import cache_dir
from iclkit.retrieve.base import LMProbe, input_text, require_labels, require_pool_size, require_probe
from iclkit.retrieve.embed import DEFAULT_EMBEDDER, _normalise, _resolve_embedder, get_embedder
from iclkit.types import Demo, Example

MARKER = "iclkit-epr.json"
MINED = "mined-triplets.json"


def candidate_text(example: Example) -> str:
    return f"{input_text(example)} {example.label}"


class EPRDemos:
    def __init__(self, *, model_path: str | None = None, save_path: str | None = None,
                 encoder: str = DEFAULT_EMBEDDER, n_train: int = 200, n_candidates: int = 20, n_pos: int = 5,
                 epochs: int = 1, batch_size: int = 32, learning_rate: float = 2e-5, seed: int = 0,
                 probe: LMProbe | None = None) -> None:
        if n_candidates < 2 * n_pos:
            raise IclkitError(f"retriever 'epr': n_candidates={n_candidates} must be >= 2 * n_pos={2 * n_pos}")
        self.model_path, self.save_path, self.encoder = model_path, save_path, encoder
        self.n_train, self.n_candidates, self.n_pos = int(n_train), int(n_candidates), int(n_pos)
        self.epochs, self.batch_size, self.learning_rate, self.seed = epochs, batch_size, learning_rate, seed
        self.probe = probe if model_path else require_probe(probe, "epr (training)")
        self.train_info: dict = {}

    @staticmethod
    def check_saved_options(options: dict) -> None:
        """Cheap checks run before any model is loaded (``iclkit eval/run/validate``)."""
        if options.get("model_path"):
            check_saved(Path(options["model_path"]))

    def fit(self, pool: Sequence[Example]) -> None:
        require_labels(pool, "epr")
        require_pool_size(pool, self.n_candidates + 1, "epr (n_candidates + 1)")
        self.pool = list(pool)
        if self.model_path:
            self.model = load_epr(self.model_path)
        else:
            path = Path(self.save_path) if self.save_path else self._default_path()
            self.model = load_epr(path) if (path / MARKER).exists() else self._train(path)
        self.matrix = self._encode([candidate_text(e) for e in self.pool])

    def _default_path(self) -> Path:
        key = json.dumps([[e.id, input_text(e), e.label] for e in self.pool] + [
            getattr(self.probe, "name", "lm"), self.encoder, self.n_train, self.n_candidates, self.n_pos,
            self.epochs, self.batch_size, self.learning_rate, self.seed])
        return cache_dir() / "epr" / hashlib.sha256(key.encode()).hexdigest()[:20]

    def mine(self) -> list[tuple[str, str, str]]:
        """(query input, positive candidate, hard negative candidate) triplets labelled by the LM."""
        base = get_embedder(self.encoder)
        emb = base.encode([input_text(e) for e in self.pool])
        rng = random.Random(self.seed)
        queries = rng.sample(range(len(self.pool)), min(self.n_train, len(self.pool)))
        items, spans = [], []
        for qi in queries:
            sims = emb @ emb[qi]
            sims[qi] = -np.inf  # never its own candidate
            cands = np.argsort(-sims, kind="stable")[: self.n_candidates]
            spans.append((qi, cands))
            items += [([self.pool[c]], self.pool[qi]) for c in cands]
        scores = np.array(self.probe.gold_logprob(items)).reshape(len(queries), self.n_candidates)
        triplets = []
        for (qi, cands), row in zip(spans, scores):
            ranked = cands[np.argsort(-row, kind="stable")]
            for pos, neg in zip(ranked[: self.n_pos], ranked[::-1][: self.n_pos]):
                triplets.append((input_text(self.pool[qi]), candidate_text(self.pool[pos]),
                                 candidate_text(self.pool[neg])))
        return triplets

    def _train(self, path: Path):
        from datasets import Dataset
        from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer
        from sentence_transformers import SentenceTransformerTrainingArguments as Args
        from sentence_transformers.base.sampler import BatchSamplers
        from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

        started = time.perf_counter()
        triplets = self._mined(path)
        mined = time.perf_counter() - started
        model = SentenceTransformer(_resolve_embedder(self.encoder), device="cpu")
        data = Dataset.from_dict({name: [t[i] for t in triplets]
                                  for i, name in enumerate(("anchor", "positive", "negative"))})
        with tempfile.TemporaryDirectory() as tmp:
            args = Args(output_dir=tmp, num_train_epochs=self.epochs, per_device_train_batch_size=self.batch_size,
                        learning_rate=self.learning_rate, warmup_steps=0.1, seed=self.seed, save_strategy="no",
                        report_to=[], disable_tqdm=True, logging_strategy="no", use_cpu=True,
                        batch_sampler=BatchSamplers.NO_DUPLICATES)
            SentenceTransformerTrainer(model=model, args=args, train_dataset=data,
                                       loss=MultipleNegativesRankingLoss(model)).train()
        self.train_info = {"triplets": len(triplets), "queries": len(triplets) // max(1, self.n_pos),
                           "mining_s": round(mined, 2), "training_s": round(time.perf_counter() - started - mined, 2),
                           "lm": getattr(self.probe, "name", None), "encoder": self.encoder}
        path.mkdir(parents=True, exist_ok=True)
        model.save(str(path))
        (path / MARKER).write_text(json.dumps(self.train_info, indent=2))
        return model

    def _mined(self, path: Path) -> list[tuple[str, str, str]]:
        """The LM-labelled triplets, kept in the retriever's folder before training starts: mining is most of EPR's
        cost (``mining_s`` against ``training_s`` in the saved marker), so a run stopped during training resumes
        without it. Written to a temporary name and renamed, so a half-written file is never read."""
        saved = path / MINED
        if saved.exists():
            return [tuple(t) for t in json.loads(saved.read_text())]
        triplets = self.mine()
        path.mkdir(parents=True, exist_ok=True)
        partial = path / (MINED + ".partial")
        partial.write_text(json.dumps(triplets))
        partial.replace(saved)
        return triplets

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        return _normalise(self.model.encode(list(texts), batch_size=64, show_progress_bar=False,
                                            convert_to_numpy=True))

    def select(self, query: Example, k: int) -> list[Demo]:
        sims = self.matrix @ self._encode([input_text(query)])[0]
        text = input_text(query)
        out = []
        for i in np.argsort(-sims, kind="stable"):
            if input_text(self.pool[i]) == text:
                continue
            out.append(Demo(self.pool[i], float(sims[i])))
            if len(out) == k:
                break
        return out


def load_epr(path: str | Path):
    """A retriever saved by :class:`EPRDemos`; a missing or corrupt folder is a user error."""
    path = Path(path)
    check_saved(path)
    try:
        from sentence_transformers import SentenceTransformer

        return SentenceTransformer(str(path), device="cpu")
    except Exception as exc:  # noqa: BLE001 - any failure to read the folder is reported as one line
        raise IclkitError(f"retriever 'epr': cannot load the saved retriever at {path}: "
                          f"{type(exc).__name__}: {str(exc)[:200]}") from None


def check_saved(path: Path) -> None:
    if not (path / MARKER).exists():
        raise IclkitError(f"retriever 'epr': {path} is not a saved EPR retriever (no {MARKER}); "
                          "train one with save_path=... first")
