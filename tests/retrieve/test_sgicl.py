import pytest

from iclkit.errors import IclkitError
from iclkit.retrieve.base import build_retriever
from iclkit.testing import ScriptedProbe
from iclkit.types import Example

LABELS = ["negative", "positive"]


def test_sgicl_writes_one_demonstration_per_label_conditioned_on_the_query():
    probe = ScriptedProbe(LABELS, label_generate_fn=lambda q, label: f"a {label} take on {q.fields['text']}")
    r = build_retriever("sgicl", probe=probe)
    r.fit([])
    got = r.select(Example("q1", {"text": "the film"}), 8)
    assert [d.example.label for d in got] == LABELS
    assert [d.example.fields["text"] for d in got] == ["a negative take on the film", "a positive take on the film"]
    assert r.details(Example("q1", {}))["sgicl_empty"] == 0


def test_sgicl_drops_empty_generations_and_rejects_bad_settings():
    probe = ScriptedProbe(LABELS, label_generate_fn=lambda q, label: "" if label == "negative" else "fine")
    r = build_retriever("sgicl", probe=probe)
    got = r.select(Example("q", {"text": "x"}), 2)
    assert [d.example.label for d in got] == ["positive"] and r.details(Example("q", {}))["sgicl_empty"] == 1
    with pytest.raises(IclkitError, match="one input field"):
        r.select(Example("q", {"premise": "a", "hypothesis": "b"}), 2)
    with pytest.raises(IclkitError, match="must contain"):
        build_retriever("sgicl", probe=probe, instruction="no placeholders")
