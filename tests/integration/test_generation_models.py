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


def test_entropy_ordering_probes_parse_from_the_real_instruct_model():
    """Left at the blank line after SST-2 demonstrations, SmolLM2-Instruct writes chat questions; primed with the
    template's opening literal it writes sentences, which the probing set of GlobalE / LocalE needs."""
    import random
    import types

    from iclkit.config import RunConfig
    from iclkit.lm.hf import HFLM
    from iclkit.lmprobe import PipelineProbe
    from iclkit.pipeline import load_split, resolve_task
    from iclkit.prompt.render import PromptBuilder

    task = resolve_task(RunConfig(task="sst2"))
    demos = random.Random(0).sample(load_split(task, "train"), 8)
    probe = PipelineProbe(HFLM.load("smollm2-135m"), types.SimpleNamespace(name="direct"),
                          PromptBuilder(task.template, task.labels, task.verbalizer), task)
    probes = probe.generate_inputs([demos[i:] + demos[:i] for i in range(4)], max_new_tokens=32, temperature=1.0)
    parsed = [p for p in probes if p is not None]
    assert len(parsed) >= 3
    assert all("?" not in p.fields["text"][-3:] and "Label:" not in p.fields["text"] for p in parsed)
