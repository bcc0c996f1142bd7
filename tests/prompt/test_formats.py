"""Prompt formats driven by a scripted model: rendering, answer parsing and multi-stage control flow."""

import pytest

from iclkit.data.reasoning import make_task
from iclkit.generation import Sampling, drive
from iclkit.prompt.autocot import passes_heuristics
from iclkit.prompt.chat import Layout
from iclkit.prompt.formats import ChainOfThought, Direct, ZeroShotCoT, answer_after_trigger, first_answer, majority_vote
from iclkit.prompt.reasoning import FINAL, LeastToMost, SelfAsk
from iclkit.testing import ScriptedLM

TASK = make_task("arithmetic", options={"n_pool": 4, "n_eval": 2})
HOP = make_task("two_hop", options={"n_pool": 4, "n_eval": 2})


def solve(fmt, lm, query, demos=(), tool=None):
    return drive([fmt.solve(query, list(demos))], lm, sampling=Sampling(), seeds=[0], tool=tool)[0]


@pytest.mark.parametrize(("text", "kind", "want"), [
    ("16 + 2 = 18. The answer is 18.", "number", "18"),
    ("3 apples then 1,200 pears", "number", "1200"),  # no trigger: the last number
    ("The answer is 7, not 8. The answer is 9.", "number", "9"),  # the last trigger
    ("So no. The answer is yes.", "yesno", "yes"),
    ('... The answer is "kee".', "text", "kee"),
    ("no trigger at all", "text", None),
    ("nothing numeric", "number", None),
])
def test_answer_after_trigger(text, kind, want):
    assert answer_after_trigger(text, kind) == want


def test_first_answer_takes_the_first_match():
    assert first_answer(" 12, or maybe 13", "number") == "12"
    assert first_answer(" Yes, because ...", "yesno") == "yes"


def test_direct_and_cot_render_demos_and_parse():
    query, demos = TASK.eval[0], TASK.pool[:2]
    lm = ScriptedLM([" 42."])
    out = solve(Direct(layout=Layout(), answer_kind="number"), lm, query, demos)
    prompt = lm.requests[0].context
    assert prompt.endswith(f"Q: {query.fields['question']}\nA: The answer (arabic numerals) is")
    assert f"The answer (arabic numerals) is {demos[0].label}.\n\n" in prompt
    assert out["answer"] == "42"
    lm = ScriptedLM([" 1 + 1 = 2. The answer is 2.\n\nQ: next"])
    out = solve(ChainOfThought(layout=Layout(), answer_kind="number"), lm, query, demos)
    assert demos[1].fields["rationale"] in lm.requests[0].context and lm.requests[0].context.endswith("\nA:")
    assert out["answer"] == "2"


def test_zero_shot_cot_is_two_calls_with_kojima_triggers():
    lm = ScriptedLM([" First 2 + 2 = 4.", " 4."])
    out = solve(ZeroShotCoT(layout=Layout(), answer_kind="number"), lm, TASK.eval[0])
    first, second = (r.context for r in lm.requests)
    assert first.endswith("\nA: Let's think step by step.")
    assert second == first + " First 2 + 2 = 4." + " \nTherefore, the answer (arabic numerals) is"
    assert out["answer"] == "4" and [c["stage"] for c in out["calls"]] == ["reason", "answer"]


def test_self_ask_stops_at_final_answer_and_uses_the_tool():
    query = HOP.eval[0]
    first_q = __import__("json").loads(query.fields["steps"])[0][0]
    replies = iter([f" Yes.\nFollow up: {first_q}", f"\nSo the final answer is: {query.label}.", "unused"])
    lm = ScriptedLM(lambda r: next(replies))
    out = solve(SelfAsk(layout=Layout(), answer_kind="text", use_tool=True), lm, query, HOP.pool[:2],
                tool=HOP.kb.lookup)
    assert [c["stage"] for c in out["calls"]] == ["ask", "tool", "ask"]
    assert out["calls"][1]["output"] == HOP.kb.lookup(first_q)
    assert f"Intermediate answer: {HOP.kb.lookup(first_q)}." in lm.requests[1].context
    assert out["answer"] == query.label and out["notes"]["follow_ups"] == 1


def test_self_ask_lm_answers_follow_ups_without_a_tool():
    replies = iter([" Yes.\nFollow up: Who?", " Kalo.", "\nSo the final answer is: Kalo"])
    lm = ScriptedLM(lambda r: next(replies))
    out = solve(SelfAsk(layout=Layout(), answer_kind="text"), lm, HOP.eval[0], HOP.pool[:1])
    assert [c["stage"] for c in out["calls"]] == ["ask", "intermediate", "ask"]
    assert lm.requests[1].context.endswith("Follow up: Who?\nIntermediate answer:")
    assert out["answer"] == "Kalo"


def test_self_ask_never_ending_loop_hits_the_step_limit():
    lm = ScriptedLM(lambda r: "\nFollow up: again?" if not r.context.endswith(FINAL) else " Nobody")
    out = solve(SelfAsk(layout=Layout(), answer_kind="text", max_steps=3, use_tool=True), lm, HOP.eval[0],
                tool=lambda q: None)
    assert out["notes"] == {"step_limit": True, "follow_ups": 3}
    assert out["calls"][-1]["stage"] == "final" and out["answer"] == "Nobody"
    assert sum(c["stage"] == "tool" for c in out["calls"]) == 3


def test_self_ask_without_pool_steps_uses_the_paper_exemplars():
    from iclkit.types import Example

    lm = ScriptedLM(["\nSo the final answer is: 3"])
    user = Example("u", {"question": "q?"}, "3")
    solve(SelfAsk(layout=Layout(), answer_kind="number"), lm, user, [user])
    assert "Who lived longer, Muhammad Ali or Alan Turing?" in lm.requests[0].context


def test_least_to_most_solves_sub_questions_in_order_with_previous_answers():
    replies = iter(["1. What is 2 + 3?\n2. What is 5 * 2?", " 2 + 3 = 5. The answer is 5.",
                    " 5 * 2 = 10. The answer is 10."])
    lm = ScriptedLM(lambda r: next(replies))
    out = solve(LeastToMost(layout=Layout(), answer_kind="number"), lm, TASK.eval[0], TASK.pool[:2])
    assert [c["stage"] for c in out["calls"]] == ["decompose", "solve", "solve"]
    assert lm.requests[2].context.endswith("Q: What is 2 + 3?\nA: 2 + 3 = 5. The answer is 5.\nQ: What is 5 * 2?\nA:")
    assert out["answer"] == "10" and out["notes"] == {"subquestions": 2}


def test_least_to_most_unparseable_decomposition_is_recorded():
    lm = ScriptedLM(["I don't know", " The answer is 3."])
    out = solve(LeastToMost(layout=Layout(), answer_kind="number"), lm, TASK.eval[0], TASK.pool[:1])
    assert out["notes"]["decomposition_unparsed"] and out["answer"] == "3"


def test_majority_vote():
    assert majority_vote(["4", None, "5", "4.0", "5"], key=lambda a: str(float(a))) == "4"
    assert majority_vote([None, None]) is None


def test_autocot_heuristics():
    ok = "First 2 + 3 = 5.\nThen 5 * 2 = 10."
    assert passes_heuristics("short question", ok, "10", kind="number", max_lines=5)
    assert not passes_heuristics("short question", ok, "11", kind="number", max_lines=5)  # answer not at the end
    assert not passes_heuristics("short question", ok.rstrip("."), "10", kind="number", max_lines=5)
    assert not passes_heuristics("w " * 61, ok, "10", kind="number", max_lines=5)
    assert not passes_heuristics("q", "a.\n" * 6, "x", kind="text", max_lines=5)
    assert not passes_heuristics("q", ok, None, kind="text", max_lines=5)


def test_chat_layout_single_and_multiturn():
    seen = []
    layout = Layout(instruction="Be brief.", render_chat=lambda m: seen.append(m) or "<chat>", multiturn=True)
    text = layout.render([("Q: a", " The answer is 1.")], "Q: b", cue="\nA:", start=" The answer is")
    assert text == "<chat>The answer is"
    assert seen[0] == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Q: a\nA:"},
                       {"role": "assistant", "content": "The answer is 1."}, {"role": "user", "content": "Q: b\nA:"}]
    single = Layout(render_chat=lambda m: seen.append(m) or "").messages([("Q: a", " 1")], "Q: b", cue="\nA:")
    assert single == [{"role": "user", "content": "Q: a\nA: 1\n\nQ: b\nA:"}]


def test_self_ask_final_answer_is_its_own_line_only():
    lm = ScriptedLM(["\nSo the final answer is: Kalo.\n\nQuestion: another made-up question"])
    out = solve(SelfAsk(layout=Layout(), answer_kind="text"), lm, HOP.eval[0], HOP.pool[:1])
    assert out["answer"] == "Kalo"
    assert "\n\nQuestion:" in lm.requests[0].stop
