import json

import pytest

from iclkit.data.reasoning import KnowledgeBase, make_task, qa_task
from iclkit.errors import IclkitError


@pytest.mark.parametrize("name", ["last_letters", "coin_flip", "arithmetic", "two_hop"])
def test_generators_are_deterministic_and_seed_dependent(name):
    a = make_task(name, seed=3, options={"n_pool": 5, "n_eval": 5})
    b = make_task(name, seed=3, options={"n_pool": 5, "n_eval": 5})
    c = make_task(name, seed=4, options={"n_pool": 5, "n_eval": 5})
    assert a.eval == b.eval and a.pool == b.pool
    assert a.eval != c.eval
    assert {e.fields["question"] for e in a.pool}.isdisjoint({e.fields["question"] for e in a.eval}) or name == "coin_flip"


def test_last_letters_answers_and_length_option():
    task = make_task("last_letters", options={"n_words": 6, "pool_n_words": 2, "n_pool": 20, "n_eval": 20})
    for e in task.eval:
        words = e.fields["words"].split(", ")
        assert len(words) == 6 and e.label == "".join(w[-1] for w in words).lower()
    assert all(len(e.fields["words"].split(", ")) == 2 for e in task.pool)
    steps = json.loads(task.eval[0].fields["steps"])
    assert [s[1] for s in steps][-1] == task.eval[0].label and len(steps) == 6


def test_coin_flip_answer_is_parity_of_flips():
    for e in make_task("coin_flip", options={"n_flips": 5, "n_eval": 50, "n_pool": 1}).eval:
        flips = e.fields["question"].count(" flips the coin")
        assert e.label == ("yes" if flips % 2 == 0 else "no")


def test_arithmetic_answer_follows_the_instructions():
    ops = {"Add": lambda a, b: a + b, "Subtract": lambda a, b: a - b, "Multiply": lambda a, b: a * b}
    for e in make_task("arithmetic", options={"n_steps": 4, "n_eval": 50, "n_pool": 1}).eval:
        sentences = e.fields["question"].split(". ")
        value = int(sentences[0].split()[-1])
        for s in sentences[1:-1]:
            word, b = s.split()[0], int(s.rstrip(".").split()[-1])
            value = ops[word](value, b)
        assert str(value) == e.label


def test_two_hop_answers_from_the_knowledge_base_and_tool():
    task = make_task("two_hop", seed=1, options={"n_eval": 30, "n_pool": 1})
    kb = task.kb
    for e in task.eval:
        (q1, a1, _), (q2, a2, _) = json.loads(e.fields["steps"])
        assert kb.lookup(q1) == a1 and kb.lookup(q2) == a2 == e.label
    assert kb.lookup("What is the capital of nowhere?") is None
    assert KnowledgeBase.generate(1) == kb


def test_unknown_task_and_option_are_clear_errors():
    with pytest.raises(IclkitError, match="did you mean 'last_letters'"):
        make_task("last_leters")
    with pytest.raises(IclkitError, match="unknown option 'n_word'"):
        make_task("last_letters", options={"n_word": 3})


def test_qa_jsonl_loads_and_missing_answer_is_named(tmp_path):
    good = tmp_path / "qa.jsonl"
    good.write_text('{"question": "2+2?", "answer": 4}\n{"question": "Capital of France?", "answer": "Paris"}\n')
    task = qa_task(good)
    assert [e.label for e in task.eval] == ["4", "Paris"] and task.pool is task.eval
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "2+2?", "answer": 4}\n{"question": "no answer here", "answr": 1}\n')
    with pytest.raises(IclkitError, match=r"bad.jsonl: line 2 has no 'answer' field.*did you mean 'answr'"):
        qa_task(bad)
