"""EPR on a tiny random BERT encoder: the LM's preferences become the retriever's similarity."""

import numpy as np
import pytest

from iclkit.errors import IclkitError
from iclkit.retrieve.base import build_retriever
from iclkit.retrieve.epr import MARKER, candidate_text
from iclkit.testing import ScriptedProbe
from iclkit.types import Example

TOPICS = ["alpha", "beta", "gamma", "delta"]
FILLERS = [f"w{i}" for i in range(30)]
LABELS = ["negative", "positive"]


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ICLKIT_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def tiny_encoder(tmp_path_factory):
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    folder = tmp_path_factory.mktemp("tiny-bert")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *TOPICS, *FILLERS, *LABELS]
    words = Tokenizer(models.WordLevel({w: i for i, w in enumerate(vocab)}, unk_token="[UNK]"))
    words.pre_tokenizer = pre_tokenizers.Whitespace()
    words.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]",
                                                         special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    PreTrainedTokenizerFast(tokenizer_object=words, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                            sep_token="[SEP]", mask_token="[MASK]").save_pretrained(folder)

    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=32,
                        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    BertModel(config).save_pretrained(folder)
    return str(folder)


def example(i, topic, filler):
    return Example(str(i), {"text": f"{topic} {filler}"}, LABELS[i % 2])


def topic(e):
    return e.fields["text"].split()[0]


def pool():
    return [example(i, TOPICS[i % 4], FILLERS[i % 20]) for i in range(80)]


def filler(e):
    return int(e.fields["text"].split()[1][1:])


def helpful(query, cand):
    """Scripted preference: filler w(i+7) helps a query with filler wi; nothing lexical links the two."""
    return filler(cand) == (filler(query) + 7) % 20


def scripted_gold(demos, query):
    return -0.1 if helpful(query, demos[0]) else -3.0


def pair_accuracy(retriever, queries, cands):
    """Share of (helpful, unhelpful) candidate pairs the encoder orders correctly, over held-out queries."""
    q = retriever._encode([e.fields["text"] for e in queries])
    c = retriever._encode([candidate_text(e) for e in cands])
    sims = q @ c.T
    hits = []
    for i, query in enumerate(queries):
        pos = [j for j, e in enumerate(cands) if helpful(query, e)]
        neg = [j for j, e in enumerate(cands) if not helpful(query, e)]
        hits += [sims[i, a] > sims[i, b] for a in pos for b in neg]
    return float(np.mean(hits))


def held_out():
    """Topic/filler combinations that never occur in the pool (there filler i always comes with topic i % 4)."""
    queries = [example(100 + i, TOPICS[(i + 1) % 4], FILLERS[i]) for i in range(20)]
    cands = [example(200 + i, TOPICS[(i + 3) % 4], FILLERS[i]) for i in range(20)]  # helpful ones: other topic
    return queries, cands


def test_epr_trained_encoder_ranks_its_positives_above_its_negatives_on_held_out_pairs(tiny_encoder, tmp_path):
    probe = ScriptedProbe(LABELS, gold_fn=scripted_gold)
    options = {"encoder": tiny_encoder, "n_train": 40, "n_candidates": 79, "n_pos": 4, "epochs": 10,
               "batch_size": 16, "learning_rate": 1e-2}  # ~100 optimiser steps: the least that fits reliably
    from sentence_transformers import SentenceTransformer

    queries, cands = held_out()
    untrained = build_retriever("epr", **options, probe=probe)  # never fitted: only its encoder is used
    untrained.model = SentenceTransformer(tiny_encoder, device="cpu")
    before = pair_accuracy(untrained, queries, cands)
    trained = build_retriever("epr", **options, probe=probe, save_path=str(tmp_path / "epr"))
    trained.fit(pool())
    assert trained.train_info["triplets"] == 40 * 4
    after = pair_accuracy(trained, queries, cands)
    assert after >= 0.85 and after > before + 0.25, (before, after)
    got = trained.select(queries[0], 3)
    assert all(helpful(queries[0], d.example) for d in got)

    reloaded = build_retriever("epr", model_path=str(tmp_path / "epr"))  # no LM needed to reuse it
    reloaded.fit(pool())
    assert [d.example.id for d in reloaded.select(queries[0], 3)] == [d.example.id for d in got]
    assert (tmp_path / "epr" / MARKER).exists()


def test_missing_or_corrupt_saved_retriever_is_an_error(tmp_path):
    with pytest.raises(IclkitError, match="not a saved EPR retriever"):
        build_retriever("epr", model_path=str(tmp_path / "nowhere")).fit(pool())
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / MARKER).write_text("{}")
    with pytest.raises(IclkitError, match="cannot load the saved retriever"):
        build_retriever("epr", model_path=str(broken)).fit(pool())
    with pytest.raises(IclkitError, match="needs the language model"):
        build_retriever("epr")


def test_a_run_stopped_during_training_reuses_the_mined_triplets(tiny_encoder, tmp_path, monkeypatch):
    from sentence_transformers import SentenceTransformerTrainer

    from iclkit.retrieve.epr import MINED

    options = {"encoder": tiny_encoder, "n_train": 10, "n_candidates": 20, "n_pos": 2, "epochs": 1,
               "batch_size": 8, "save_path": str(tmp_path / "epr")}

    def crash(self, *args, **kwargs):
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(SentenceTransformerTrainer, "train", crash)
        with pytest.raises(KeyboardInterrupt):
            build_retriever("epr", **options, probe=ScriptedProbe(LABELS, gold_fn=scripted_gold)).fit(pool())
    assert (tmp_path / "epr" / MINED).exists() and not (tmp_path / "epr" / MARKER).exists()

    def no_lm(demos, query):
        raise AssertionError("the LM was asked again: the mined triplets were not reused")

    again = build_retriever("epr", **options, probe=ScriptedProbe(LABELS, gold_fn=no_lm))
    again.fit(pool())
    assert again.train_info["triplets"] == 10 * 2 and (tmp_path / "epr" / MARKER).exists()
