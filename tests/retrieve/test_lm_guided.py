"""MDL, mutual-information and active selection, each against a scripted LM probe."""

import math

import numpy as np
import pytest

from iclkit.errors import IclkitError
from iclkit.retrieve.base import build_retriever
from iclkit.testing import ScriptedProbe
from iclkit.types import Example

LABELS = ["negative", "positive"]


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ICLKIT_CACHE", str(tmp_path))


def pool(n=40, good="good"):
    out = [Example(str(i), {"text": f"movie review number {i}"}, LABELS[i % 2]) for i in range(n)]
    return out + [Example(good, {"text": "movie review special"}, "positive")]


def confident_with_good(demos, query):
    """Confident (and input-dependent) only when the demonstrations include the example 'good'."""
    if any(d.id == "good" for d in demos):
        return (0.0, -6.0) if int(query.id) % 2 == 0 else (-6.0, 0.0)
    return (-0.7, -0.7)


def test_mdl_keeps_the_minimum_entropy_organisation():
    probe = ScriptedProbe(LABELS, score_fn=lambda demos, q: confident_with_good(demos, Example("0", {})))
    r = build_retriever("mdl", embedder="hashing-64", num_candidates=6, window=10, force_topk=False, seed=1,
                        probe=probe)
    r.fit(pool())
    got = r.select(Example("q", {"text": "special review"}), 4)
    info = r.details(Example("q", {}))
    assert len(info["mdl_entropy"]) == 10 and info["mdl_chosen"] == int(np.argmin(info["mdl_entropy"]))
    assert min(info["mdl_entropy"]) < 0.05 < math.log(2) - 1e-6 <= max(info["mdl_entropy"])
    assert "good" in {d.example.id for d in got}
    assert len(probe.scored) == 10  # window x one scoring per organisation


def test_mdl_scores_span_with_demos_in_prompt_order_and_needs_enough_candidates():
    probe = ScriptedProbe(LABELS, score_fn=lambda demos, q: (0.0, 0.0))
    r = build_retriever("mdl", embedder="hashing-64", num_candidates=6, window=3, probe=probe)
    r.fit(pool())
    q = Example("q", {"text": "movie review number 3"})
    got = r.select(q, 4)
    top = build_retriever("topk", embedder="hashing-64")
    top.fit(pool())
    assert probe.scored[0][0] == tuple(d.example.id for d in reversed(top.select(q, 4)))  # org 0 = top-k
    assert len(got) == 4
    with pytest.raises(IclkitError, match="num_candidates=2 is smaller than k=4"):
        build_retriever("mdl", embedder="hashing-64", num_candidates=2, probe=probe).select(q, 4)
    with pytest.raises(IclkitError, match="needs the language model"):
        build_retriever("mdl")


def test_mi_picks_the_set_that_makes_predictions_confident_and_varied():
    probe = ScriptedProbe(LABELS, score_fn=confident_with_good)
    big = pool(200)
    r = build_retriever("mi", n_sets=40, n_probe=16, seed=0, probe=probe)
    r.fit(big)
    got = r.select(Example("q", {"text": "x"}), 4)
    info = r.details(Example("q", {}))
    assert len(info["mi"]) == 40
    assert any(m > 0.5 for m in info["mi"])  # some candidate set held 'good'
    assert "good" in {d.example.id for d in got}
    assert max(info["mi"]) == pytest.approx(math.log(2), abs=0.05)


def test_mi_probe_inputs_may_be_unlabelled_and_a_tiny_probe_is_refused():
    probe = ScriptedProbe(LABELS, score_fn=lambda demos, q: (0.0, -1.0))
    with pytest.raises(IclkitError, match="too small"):
        build_retriever("mi", n_probe=2, probe=probe)
    r = build_retriever("mi", n_sets=2, n_probe=8, probe=probe)
    r.fit(pool(20))
    assert len(r.select(Example("q", {"text": "x"}), 2)) == 2


def test_active_policy_learns_to_pick_the_example_that_raises_probe_accuracy():
    def scores(demos, query):
        if query.id == "good":  # the LM is unsure about 'good' read as a query: a feature the policy can use
            return (-0.69, -0.7)
        if any(d.id == "good" for d in demos):
            return (0.0, -5.0) if query.label == "negative" else (-5.0, 0.0)
        return (0.0, -5.0)  # otherwise always 'negative': half the probe set wrong

    probe = ScriptedProbe(LABELS, score_fn=scores)
    r = build_retriever("active", n_candidates=8, n_probe=16, episodes=12, seed=10, probe=probe)
    examples = pool(60)
    r.fit(examples)
    assert "good" in {e.id for e in _candidates(r, examples)}  # the seed puts it among the candidates
    got = r.select(Example("q", {"text": "x"}), 2)
    info = r.details(Example("q", {}))
    assert got[0].example.id == "good"
    assert info["active_probe_accuracy"] == 1.0


def _candidates(r, examples):
    import random

    order = random.Random(r.seed).sample(range(len(examples)), r.n_candidates + r.n_probe)
    return [examples[i] for i in order[: r.n_candidates]]


def test_active_needs_labels_and_a_probe_set():
    probe = ScriptedProbe(LABELS, score_fn=lambda d, q: (0.0, 0.0))
    with pytest.raises(IclkitError, match="too small"):
        build_retriever("active", n_probe=4, probe=probe)
    r = build_retriever("active", probe=probe)
    with pytest.raises(IclkitError, match="needs labelled pool examples"):
        r.fit([Example("0", {"text": "x"}, None)])
