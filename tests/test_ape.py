"""APE search with a scripted model: proposals cleaned, held-out scoring disjoint from proposals, YAML saved."""

import json

from iclkit.ape import ApeSettings, search
from iclkit.config import RunConfig
from iclkit.data.tasks import load_task
from iclkit.prompt.ape import clean_candidate, proposal_prompt
from iclkit.testing import ScriptedLM


def test_proposal_prompt_and_cleaning():
    prompt = proposal_prompt([("good film", "Positive"), ("bad film", "Negative")])
    assert prompt.startswith("I gave a friend an instruction.") and prompt.endswith("\n\nThe instruction was to")
    assert "Input: good film\nOutput: Positive\n\nInput: bad film" in prompt
    assert clean_candidate(" label the review as positive or negative. Then stop\nmore") == \
        "Label the review as positive or negative."
    assert clean_candidate("  \n") is None


def test_search_scores_candidates_and_saves_a_task_yaml(tmp_path):
    replies = iter([" classify the sentiment.", " say positive or negative", " classify the sentiment."] * 2)
    lm = ScriptedLM(lambda r: next(replies), bias={"Positive": 0.5})
    config = RunConfig(task="sst2", model="scripted", shots=0)
    result = search(config, ApeSettings(n_subsamples=2, n_per_subsample=3, n_propose=20, n_heldout=10), tmp_path,
                    lm=lm, log=lambda s: None)
    assert [c["instruction"] for c in result["heldout_accuracy"]["candidates"]] != []
    assert {c["instruction"] for c in result["heldout_accuracy"]["candidates"]} == {
        "Classify the sentiment.", "Say positive or negative."}
    assert all(r.temperature == 0.9 and r.top_p == 0.9 for r in lm.requests)
    saved = load_task(result["task_yaml"])
    assert saved.template.instruction == result["best"]["instruction"] and saved.labels == load_task("sst2").labels
    assert json.loads((tmp_path / "ape.json").read_text())["best"] == result["best"]
