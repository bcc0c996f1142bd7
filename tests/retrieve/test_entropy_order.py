import math

import pytest

from iclkit.errors import IclkitError
from iclkit.retrieve.entropy_order import permutations
from iclkit.retrieve.order import ORDERINGS, build_ordering
from iclkit.testing import ScriptedProbe
from iclkit.types import Demo, Example

LABELS = ["negative", "positive"]
DEMOS = [Demo(Example("a", {"text": "good"}, "positive")), Demo(Example("b", {"text": "fine"}, "positive")),
         Demo(Example("c", {"text": "bad"}, "negative")), Demo(Example("d", {"text": "awful"}, "negative"))]


def generated_probe():
    """One new probing input per permutation, numbered in generation order."""
    counter = iter(range(10_000))
    return lambda demos: Example(f"p{next(counter)}", {"text": f"generated {demos[0].id}{demos[1].id} {id(demos)}"})


def positional_scorer(demos, query):
    """Scripted LM: probe number j predicts the label of the demonstration at position j % 2."""
    label = demos[int(query.id[1:]) % 2].label
    return (0.0, -3.0) if label == "negative" else (-3.0, 0.0)


def test_globale_picks_the_most_label_balanced_permutation():
    probe = ScriptedProbe(LABELS, score_fn=positional_scorer, generate_fn=generated_probe())
    order = build_ordering("globale", probe=probe)
    got = order(DEMOS, Example("q", {"text": "x"}), 0)
    assert sorted(d.example.id for d in got) == ["a", "b", "c", "d"]
    assert got[0].example.label != got[1].example.label  # a balanced predicted-label histogram
    info = order.details(Example("q", {}))
    assert info["globale"] == pytest.approx(math.log(2), abs=1e-6) and info["globale_min"] == 0.0
    assert info["permutations"] == 24 and info["probes"] == 24
    assert len(probe.scored) == 24 * 24


def test_the_ranking_is_computed_once_per_demonstration_set():
    probe = ScriptedProbe(LABELS, score_fn=positional_scorer, generate_fn=generated_probe())
    order = build_ordering("globale", probe=probe)
    first = order(DEMOS, Example("q1", {}), 0)
    calls = len(probe.scored)
    assert order(DEMOS, Example("q2", {}), 0) == first and len(probe.scored) == calls


def test_locale_prefers_permutations_with_uncertain_predictions():
    def scorer(demos, query):  # unsure only when the last demonstration is 'c'
        return (-0.7, -0.7) if demos[-1].id == "c" else (0.0, -4.0)

    probe = ScriptedProbe(LABELS, score_fn=scorer, generate_fn=generated_probe())
    got = build_ordering("locale", probe=probe)(DEMOS, Example("q", {}), 0)
    assert got[-1].example.id == "c"


def test_sampled_permutations_when_k_factorial_is_too_large():
    perms = permutations(6, 24, seed=0)
    assert len(perms) == 24 == len(set(perms)) and all(sorted(p) == list(range(6)) for p in perms)
    assert len(permutations(3, 24, seed=0)) == 6


def test_a_too_small_probing_set_is_an_error_and_orderings_are_registered():
    probe = ScriptedProbe(LABELS, score_fn=positional_scorer, generate_fn=lambda demos: None)
    with pytest.raises(IclkitError, match="probing set has 0 usable"):
        build_ordering("globale", probe=probe)(DEMOS, Example("q", {}), 0)
    with pytest.raises(IclkitError, match="needs the language model"):
        build_ordering("globale")
    assert {"globale", "locale"} <= set(ORDERINGS.names())
