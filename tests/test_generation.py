"""Generation runs end to end with a scripted model: records, resuming, self-consistency, counted failures."""

import dataclasses
import json

import pytest

from iclkit.cli.main import main
from iclkit.config import RunConfig
from iclkit.errors import IclkitError
from iclkit.generation import Sampling
from iclkit.pipeline import run
from iclkit.testing import ScriptedLM


def gold_replier(task_name="arithmetic", **options):
    """Replies with the right answer for every question of the generated task (found by its question text)."""
    from iclkit.data.reasoning import make_task

    task = make_task(task_name, options=options)
    answers = {e.fields["question"]: e.label for e in task.eval}

    def reply(request):
        question = request.context.rsplit("Q: ", 1)[-1].split("\nA:")[0]
        return f" work. The answer is {answers.get(question, 'unknown')}."

    return reply


def config(tmp_path, **kw):
    return RunConfig(**{"task": "arithmetic", "format": "cot", "shots": 2, "limit": 4, "model": "scripted",
                        "out": str(tmp_path / "run"), **kw})


def test_generation_run_records_every_call_and_scores(tmp_path):
    lm = ScriptedLM(gold_replier())
    result = run(config(tmp_path), lm=lm, log=lambda s: None)
    m = result.summary["metrics"]
    assert m["exact_match"]["value"] == 1.0 and m["unparseable"] == 0 and result.summary["n"] == 4
    rows = [json.loads(line) for line in (result.run_dir / "predictions.jsonl").read_text().splitlines()]
    assert len(rows) == 4 and all(len(r["demo_ids"]) == 2 for r in rows)
    call = rows[0]["samples"][0]["calls"][0]
    assert call["stage"] == "reason" and call["prompt"].endswith("\nA:") and "The answer is" in call["output"]
    assert len({r["samples"][0]["calls"][0]["prompt"].rsplit("Q: ", 1)[0] for r in rows}) == 1  # fixed demos


def test_generation_run_resumes_without_model_calls(tmp_path):
    run(config(tmp_path, limit=2), lm=ScriptedLM(gold_replier()), log=lambda s: None)
    lm = ScriptedLM(gold_replier())
    result = run(config(tmp_path, limit=4), lm=lm, log=lambda s: None)
    assert len(lm.requests) == 2 and result.summary["n"] == 4
    with pytest.raises(IclkitError, match="different configuration"):
        run(config(tmp_path, format="direct"), lm=lm, log=lambda s: None)


def test_unparseable_answers_are_counted_not_fatal(tmp_path):
    result = run(config(tmp_path), lm=ScriptedLM(lambda r: " I refuse to answer"), log=lambda s: None)
    assert result.summary["metrics"]["unparseable"] == 4 and result.summary["metrics"]["exact_match"]["value"] == 0


def test_self_consistency_votes_over_seeded_samples(tmp_path):
    replies = iter([" The answer is 5.", " The answer is 7.", " The answer is 7."] * 4)
    lm = ScriptedLM(lambda r: next(replies))
    result = run(config(tmp_path, generation={"n_samples": 3}), lm=lm, log=lambda s: None)
    assert {r.prediction for r in result.records} == {"7"}
    assert all(len(r.samples) == 3 for r in result.records)
    assert all(r.temperature == 0.7 for r in lm.requests)
    assert len({r.seed for r in lm.requests}) == len(lm.requests)  # every chain has its own seed


def test_self_ask_with_tool_on_two_hop(tmp_path):
    lm = ScriptedLM(lambda r: "\nSo the final answer is: Nowhere")
    result = run(config(tmp_path, task="two_hop", format="self-ask", format_options={"use_tool": True}), lm=lm,
                 log=lambda s: None)
    assert result.summary["model_calls_per_question"] == 1.0
    with pytest.raises(IclkitError, match="has no lookup tool"):
        run(config(tmp_path, format="self-ask", out=str(tmp_path / "b"), format_options={"use_tool": True}),
            lm=lm, log=lambda s: None)


def test_user_qa_file(tmp_path):
    f = tmp_path / "qa.jsonl"
    f.write_text("".join(json.dumps({"question": f"{i} plus 1?", "answer": str(i + 1)}) + "\n" for i in range(5)))
    lm = ScriptedLM(lambda r: " 2.")
    result = run(config(tmp_path, task="x", data_file=str(f), text_fields=("question",), label_field="answer",
                        format="direct", task_options={"answer_kind": "number"}, limit=None), lm=lm,
                 log=lambda s: None)
    assert result.summary["n"] == 5 and result.summary["metrics"]["exact_match"]["value"] == 0.2
    assert all(len(r.demo_ids) <= 2 and r.example_id not in r.demo_ids for r in result.records)


@pytest.mark.parametrize(("values", "message"), [
    ({"stop": [""]}, "non-empty"), ({"n_samples": 2, "temperature": 0}, "needs temperature"),
    ({"max_new_token": 3}, "did you mean 'max_new_tokens'"), ({"temperature": "hot"}, "wrong type"),
])
def test_bad_generation_options(values, message):
    with pytest.raises(IclkitError, match=message):
        Sampling.from_config(values)


def test_cli_bad_inputs_exit_2(tmp_path, capsys):
    out = str(tmp_path / "r")
    assert main(["eval", "--task", "last_letters", "--format", "cott", "--model", "smollm2-135m", "--out", out]) == 2
    assert "did you mean 'cot'" in capsys.readouterr().err
    assert main(["eval", "--task", "sst2", "--format", "cot", "--model", "smollm2-135m", "--out", out]) == 2
    assert "classification task" in capsys.readouterr().err
    assert main(["eval", "--task", "last_letters", "--model", "smollm2-135m", "--out", out,
                 "--set", "generation.stop=['']"]) == 2
    assert "non-empty" in capsys.readouterr().err
    assert main(["eval", "--task", "last_letters", "--model", "smollm2-135m", "--out", out,
                 "--set", "chat_template=maybe"]) == 2
    assert "key 'chat_template': expected true or false" in capsys.readouterr().err


def test_validate_checks_format_options(tmp_path, capsys):
    cfg = tmp_path / "r.yaml"
    cfg.write_text("task: last_letters\nformat: self-ask\nformat_options: {max_step: 3}\n")
    assert main(["validate", str(cfg)]) == 2
    assert "format 'self-ask': bad format_options" in capsys.readouterr().err
    cfg.write_text("task: last_letters\nformat: self-ask\nformat_options: {max_steps: 3}\n")
    assert main(["validate", str(cfg)]) == 0


def test_auto_cot_builds_demos_once_from_zero_shot_chains(tmp_path):
    def reply(request):
        if request.context.endswith("is"):  # zero-shot-CoT answer extraction
            return " 5."
        if request.context.count("Let's think step by step.") == 1:  # zero-shot-CoT reasoning on a pool question
            return " We add 2 and 3, so the result is 5."
        return " Work it out. The answer is 5."  # the test prompt, after the Auto-CoT demonstrations

    lm = ScriptedLM(reply)
    cfg = config(tmp_path, format="auto-cot", shots=3, limit=2, task_options={"n_pool": 12},
                 format_options={"embedder": "hashing", "candidates_per_cluster": 2})
    result = run(cfg, lm=lm, log=lambda s: None)
    saved = json.loads((result.run_dir / "autocot_demos.json").read_text())
    assert len(saved["demos"]) == 3 and len(saved["candidates"]) <= 6
    assert all(d["answer"] == "5" and d["rationale"].endswith("is 5.") for d in saved["demos"])
    prompt = lm.requests[-1].context
    assert prompt.count("Let's think step by step.") == 4 and prompt.endswith("\nA: Let's think step by step.")
    n_calls = len(lm.requests)
    run(dataclasses.replace(cfg, limit=3), lm=lm, log=lambda s: None)  # resumed: the saved demonstrations reused
    assert len(lm.requests) == n_calls + 1


def test_new_config_keys_are_left_out_at_their_defaults():
    plain = RunConfig().to_dict()
    assert not {"format", "format_options", "task_options", "generation", "chat_template", "multiturn"} & set(plain)
    assert RunConfig(format="cot", chat_template=True).to_dict()["format"] == "cot"
