"""Warmup data builders: formats, same-task demonstrations, no self-demonstration, determinism from the seed."""

from __future__ import annotations

import random

import pytest

from iclkit.data.tasks import load_task
from iclkit.errors import IclkitError
from iclkit.train.selfsup import build_selfsup, documents, read_corpus
from iclkit.train.warmup import (
    ICT_TEMPLATES,
    TASK_BUILDERS,
    TaskData,
    build_icl_tuning,
    build_metaicl,
    build_symbol,
    symbol_map,
)
from iclkit.types import Example


def sst2_data(n: int = 30) -> TaskData:
    pool = tuple(Example(str(i), {"text": f"review number {i}"}, "positive" if i % 2 else "negative")
                 for i in range(n))
    return TaskData(load_task("sst2"), pool)


def rte_data(n: int = 20) -> TaskData:
    pool = tuple(Example(str(i), {"premise": f"premise {i}", "hypothesis": f"hypothesis {i}"},
                         "entailment" if i % 3 else "not_entailment") for i in range(n))
    return TaskData(load_task("rte"), pool)


@pytest.mark.parametrize("method", sorted(TASK_BUILDERS))
def test_builders_are_deterministic_from_the_seed(method):
    build = TASK_BUILDERS[method]
    a = build([sst2_data(), rte_data()], shots=3, per_task=10, seed=1)
    assert a == build([sst2_data(), rte_data()], shots=3, per_task=10, seed=1)
    assert a != build([sst2_data(), rte_data()], shots=3, per_task=10, seed=2)
    assert len(a) == 20 and {e.task for e in a} == {"sst2", "rte"}


def test_metaicl_direct_format_and_same_task_demos():
    examples = build_metaicl([sst2_data()], shots=2, per_task=5, seed=0)
    for ex in examples:
        parts = ex.context.split("\n\n\n")
        assert len(parts) == 3
        query = parts[-1]
        assert ex.target in ("\nPositive", "\nNegative") and query.startswith("review number")
        for demo in parts[:-1]:
            x, y = demo.split("\n")
            assert x.startswith("review number") and x != query and y in ("Positive", "Negative")


def test_metaicl_channel_puts_the_input_in_the_target():
    examples = build_metaicl([sst2_data()], shots=2, per_task=5, seed=0, channel=True)
    for ex in examples:
        assert ex.target.startswith("\nreview number")
        assert ex.context.split("\n\n\n")[-1] in ("Positive", "Negative")


def test_zero_shots_is_the_no_demonstration_control():
    with_demos = build_metaicl([sst2_data()], shots=4, per_task=5, seed=0)
    control = build_metaicl([sst2_data()], shots=0, per_task=5, seed=0)
    assert [e.target for e in control] == [e.target for e in with_demos]
    assert all("\n\n\n" not in e.context for e in control)


def test_icl_tuning_uses_the_task_template():
    (ex, *_) = TASK_BUILDERS["icl-tuning"]([sst2_data()], shots=2, per_task=3, seed=0)
    assert ex.context.count("Sentence: ") == 3 and ex.context.endswith("\nLabel:")
    assert ex.target in (" Positive", " Negative")


def test_icl_tuning_restricted_loss_lists_every_label_and_one_template_keeps_old_data():
    plain = build_icl_tuning([sst2_data(), rte_data()], shots=2, per_task=5, seed=0)
    restricted = build_icl_tuning([sst2_data(), rte_data()], shots=2, per_task=5, seed=0, label_loss="restricted")
    assert [(e.context, e.target) for e in restricted] == [(e.context, e.target) for e in plain]
    assert all(e.choices == () for e in plain)
    for ex in restricted:
        assert ex.target in ex.choices
        assert set(ex.choices) == ({" Positive", " Negative"} if ex.task == "sst2" else {" True", " False"})


def test_icl_tuning_several_templates_are_drawn_per_query_and_stay_consistent_inside_a_prompt():
    examples = build_icl_tuning([sst2_data(60)], shots=2, per_task=40, seed=0, templates=1 + len(ICT_TEMPLATES))
    queries = {ex.context.rsplit("\n\n", 1)[-1].split("review number")[0] for ex in examples}
    # the task's own ("Sentence: ") and the four generic openings all occur
    assert {"Sentence: ", "Input: ", "", "Text: "} <= queries
    for ex in examples:
        if ex.context.endswith("\nLabel:") and "Input: " in ex.context:  # demonstrations use the query's template
            assert "Sentence: " not in ex.context
    with pytest.raises(IclkitError, match="--templates must be between 1 and 5"):
        build_icl_tuning([sst2_data()], shots=2, per_task=5, seed=0, templates=9)


def test_symbol_tuning_mixes_in_instruction_prompts_at_the_given_share():
    tasks = [sst2_data(200)]
    pure = build_symbol(tasks, shots=2, per_task=200, seed=0)
    mixed = build_symbol(tasks, shots=2, per_task=200, seed=0, instruct_share=0.3)
    instruct = TASK_BUILDERS["instruct"](tasks, shots=2, per_task=200, seed=0)
    replaced = [i for i, (a, b) in enumerate(zip(pure, mixed)) if a != b]
    assert all(mixed[i] == instruct[i] for i in replaced)  # the rest stays symbol tuning, unchanged
    assert 0.2 < len(replaced) / len(pure) < 0.4
    assert all(" Positive" == mixed[i].target or " Negative" == mixed[i].target for i in replaced)
    with pytest.raises(IclkitError, match="--instruct-share must be between 0 and 1"):
        build_symbol(tasks, shots=2, per_task=5, seed=0, instruct_share=1.5)


def test_icl_tuning_channel_refuses_the_restricted_loss():
    with pytest.raises(IclkitError, match="channel in-context tuning"):
        build_icl_tuning([sst2_data()], shots=2, per_task=5, seed=0, channel=True, label_loss="restricted")


def test_instruct_lists_the_options_and_varies_templates():
    examples = TASK_BUILDERS["instruct"]([sst2_data(60)], shots=2, per_task=40, seed=0)
    assert all("Positive" in e.context and "Negative" in e.context for e in examples)
    assert len({e.context.split("review number")[0][:20] for e in examples}) > 1


def test_symbol_tuning_remaps_labels_consistently_and_covers_them():
    examples = build_symbol([sst2_data()], shots=4, per_task=10, seed=0)
    for ex in examples:
        assert "Positive" not in ex.context and "Negative" not in ex.context
        shown = [block.split("\nOutput: ")[1] for block in ex.context.split("\n\n")[:-1]]
        assert len(set(shown)) == 2 and ex.target.strip() in shown  # both symbols shown; the answer is one of them
    import random

    mapping = symbol_map(["a", "b", "c"], random.Random(0))
    assert len(set(mapping.values())) == 3


def test_symbol_tuning_with_fewer_shots_than_labels_still_shows_the_answer():
    """TREC has 6 labels: at 4 shots not every symbol can be shown, but the query's must be, or it is unguessable."""
    labels = load_task("trec").labels
    pool = tuple(Example(str(i), {"text": f"question {i} ?"}, labels[i % 6]) for i in range(60))
    examples = build_symbol([TaskData(load_task("trec"), pool)], shots=4, per_task=40, seed=0)
    for ex in examples:
        shown = [block.split("\nOutput: ")[1] for block in ex.context.split("\n\n")[:-1]]
        assert len(shown) == 4 and len(set(shown)) == 4 and ex.target.strip() in shown


def test_too_small_task_is_a_user_error():
    tiny = TaskData(load_task("sst2"), (Example("0", {"text": "x"}, "positive"),))
    with pytest.raises(IclkitError, match="fewer than 2"):
        build_metaicl([tiny], shots=1, per_task=5, seed=0)


def test_selfsup_from_shipped_wikitext_is_deterministic_and_leak_free():
    text = read_corpus()
    assert len(documents(text)) > 50
    a = build_selfsup(text, shots=2, n_examples=40, seed=0)
    assert a == build_selfsup(text, shots=2, n_examples=40, seed=0)
    assert {e.task for e in a} == {"selfsup-nsg", "selfsup-mwp", "selfsup-lpp", "selfsup-cls"}
    for ex in a:
        demos = ex.context.split("\n\n")[:-1]
        assert len(demos) == 2
        if ex.task == "selfsup-nsg":
            assert ex.target.strip() not in "\n\n".join(demos)  # the query's answer is never in a demonstration
        if ex.task == "selfsup-lpp":
            assert any(c.isalnum() for c in ex.target)
        if ex.task == "selfsup-cls":
            assert ex.target in (" True", " False")


def test_instruct_states_the_task_without_the_catalogue_split_note():
    """RTE's catalogue description ends in "; eval is the labelled validation split", a note about iclkit's data,
    not an instruction: the instruction templates must not train on it."""
    examples = TASK_BUILDERS["instruct"]([rte_data(40)], shots=2, per_task=30, seed=0)
    assert not any("validation split" in e.context for e in examples)
    assert any("Recognizing Textual Entailment (GLUE/SuperGLUE)." in e.context for e in examples)


def test_selfsup_masked_words_leave_context_in_short_sentences():
    from iclkit.train.selfsup import _mwp

    short = ["Paul Methodist Church ."]  # three maskable words: blanking all of them leaves nothing to go on
    for seed in range(30):
        masked, answer = _mwp(short, random.Random(seed), [])
        assert masked.count("___") == 1 and len(answer.split()) == 1
    long = ["The tall ancient church stood beside the quiet river in the small northern town ."]
    counts = {_mwp(long, random.Random(seed), [])[0].count("___") for seed in range(30)}
    assert counts == {1, 2, 3}


def test_selfsup_rejects_unknown_objectives_and_tiny_corpora():
    with pytest.raises(IclkitError, match="objective"):
        build_selfsup(read_corpus(), shots=1, n_examples=2, seed=0, objectives=("nope",))
    with pytest.raises(IclkitError, match="fewer than 2 documents"):
        build_selfsup("One short text. Nothing else here.", shots=1, n_examples=2, seed=0)
