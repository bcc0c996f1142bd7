"""APE search with a scripted model: proposals cleaned, held-out scoring disjoint from proposals, YAML saved; the
saved choice is the best of the candidates and the baselines (no instruction, hand-written)."""

import json

import pytest

import iclkit.ape
from iclkit.ape import ApeSettings, choose, search
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
    assert saved.template.instruction == result["chosen"]["instruction"] and saved.labels == load_task("sst2").labels
    saved_json = json.loads((tmp_path / "ape.json").read_text())
    assert saved_json["best"] == result["best"] and saved_json["chosen_from"] == result["chosen_from"]


HAND = "Classify the sentiment of the sentence as Positive or Negative."


def fake_scores(monkeypatch, table: dict) -> None:
    """Replace the LM scoring by a table: instruction (None = no instruction) -> held-out accuracy."""
    monkeypatch.setattr(iclkit.ape, "execution_accuracy", lambda config, task, lm, pool, heldout, text: table[text])


def run_search(tmp_path, instruction=HAND):
    replies = iter([" say positive.", " say negative."] * 3)
    config = RunConfig(task="sst2", model="scripted", shots=0, instruction=instruction)
    return search(config, ApeSettings(n_subsamples=2, n_per_subsample=3, n_propose=20, n_heldout=10), tmp_path,
                  lm=ScriptedLM(lambda r: next(replies)), log=lambda s: None)


def test_every_candidate_below_no_instruction_saves_no_instruction(tmp_path, monkeypatch):
    fake_scores(monkeypatch, {None: 0.6, HAND: 0.5, "Say positive.": 0.4, "Say negative.": 0.3})
    result = run_search(tmp_path)
    assert result["best"] == {"instruction": "Say positive.", "accuracy": 0.4}  # still recorded
    assert result["chosen_from"] == "none" and result["chosen"] == {"instruction": None, "accuracy": 0.6}
    assert "template" not in (tmp_path / "sst2-ape.yaml").read_text()
    assert load_task(result["task_yaml"]).template.instruction is None
    assert json.loads((tmp_path / "ape.json").read_text())["chosen_from"] == "none"


def test_hand_written_wins_and_is_saved(tmp_path, monkeypatch):
    fake_scores(monkeypatch, {None: 0.5, HAND: 0.7, "Say positive.": 0.6, "Say negative.": 0.3})
    result = run_search(tmp_path)
    assert result["chosen_from"] == "hand-written"
    assert load_task(result["task_yaml"]).template.instruction == HAND


def test_a_candidate_above_both_baselines_is_saved(tmp_path, monkeypatch):
    fake_scores(monkeypatch, {None: 0.5, "Say positive.": 0.6, "Say negative.": 0.8})
    result = run_search(tmp_path, instruction=None)  # no hand-written instruction: only "none" as a baseline
    assert result["heldout_accuracy"]["baselines"] == {"none": 0.5}
    assert result["chosen_from"] == "candidate" and result["chosen"]["instruction"] == "Say negative."
    assert load_task(result["task_yaml"]).template.instruction == "Say negative."


@pytest.mark.parametrize("scores, expected", [
    ({"none": 0.5, "hand-written": 0.5}, "none"),  # ties: the simpler prompt
    ({"none": 0.4, "hand-written": 0.5}, "hand-written"),
    ({"none": 0.4, "hand-written": 0.45}, "candidate"),
])
def test_choose_prefers_the_simpler_prompt_on_ties(scores, expected):
    baselines = {"none": None, "hand-written": HAND}
    assert choose(baselines, scores, ("Say it.", 0.5))[0] == expected


def test_cli_says_what_was_chosen(tmp_path, monkeypatch, capsys):
    from iclkit.cli.main import main

    fake_scores(monkeypatch, {None: 0.6, HAND: 0.5, "Say positive.": 0.4, "Say negative.": 0.3})
    replies = iter([" say positive.", " say negative."] * 6)
    monkeypatch.setattr(iclkit.ape, "load_lm", lambda config: ScriptedLM(lambda r: next(replies)))
    assert main(["ape", "--task", "sst2", "--model", "smollm2-135m", "--subsamples", "2", "--per-subsample", "3",
                 "--heldout", "10", "--out", str(tmp_path), "--set", f"instruction={HAND}"]) == 0
    assert "chosen: no instruction (held-out accuracy 0.600)" in capsys.readouterr().out
