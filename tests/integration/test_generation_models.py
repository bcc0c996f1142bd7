"""Batched generation on the real embedded models equals ``model.generate`` one prompt at a time (greedy)."""

import pytest

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("model", ["smollm2-135m", "gemma3-270m"])
def test_batched_greedy_generation_equals_model_generate(model):
    import random

    from iclkit.data.reasoning import make_task
    from iclkit.lm.base import GenRequest
    from iclkit.lm.generate import generate_one_by_one
    from iclkit.lm.hf import HFLM
    from iclkit.prompt.chat import Layout
    from iclkit.prompt.formats import ChainOfThought

    lm = HFLM.load(model)
    task = make_task("arithmetic", options={"n_pool": 20, "n_eval": 3})
    demos = random.Random(0).sample(list(task.pool), 4)
    fmt = ChainOfThought(layout=Layout(), answer_kind="number")
    requests = [GenRequest(fmt.prompt(q, demos), ("\nQ:",), 12) for q in task.eval]
    assert lm.generate(requests) == generate_one_by_one(lm, requests)
