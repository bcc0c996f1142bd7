import json

import pytest

from iclkit.config import RunConfig
from iclkit.pipeline import run
from iclkit.testing import DummyLM
from iclkit.timing import STAGES, StageTimer


def test_stage_timer_accumulates_and_rounds_down():
    timer = StageTimer()
    with timer.stage("prompt"):
        pass
    timer.add("score", 0.0019)
    timer.add("score", 0.0019)
    stages = timer.to_dict()
    assert list(stages) == list(STAGES)
    assert stages["score"] == 0.003 and stages["load"] == 0.0 and stages["prompt"] >= 0.0


@pytest.mark.parametrize("retriever", ["random", "bm25"])
def test_summary_records_time_per_stage(tmp_path, monkeypatch, retriever):
    pairs = [("good", "pos"), ("bad", "neg")] * 12
    rows = [{"text": f"{w} film {i}", "label": lab} for i, (w, lab) in enumerate(pairs)]
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    from iclkit import pipeline

    monkeypatch.setattr(pipeline, "load_lm", lambda config: DummyLM())  # exercise the "load" stage
    config = RunConfig(data_file=str(data), model="smollm2-135m", retriever=retriever, shots=2, calibration="contextual",
                       out=str(tmp_path / "run"))
    result = run(config, log=lambda _: None)
    timing = json.loads((result.run_dir / "summary.json").read_text())["timing"]
    stages = timing["stages"]
    assert set(stages) == set(STAGES)
    assert all(isinstance(s, float) and s >= 0.0 for s in stages.values())
    assert sum(stages.values()) <= timing["seconds"]
    assert timing["examples_scored"] == 24
    # a fully resumed run loads, indexes, prompts and scores nothing
    again = run(config, log=lambda _: None).summary["timing"]
    assert again["examples_scored"] == 0
    assert again["stages"]["load"] == again["stages"]["index"] == again["stages"]["score"] == 0.0
    assert sum(again["stages"].values()) <= again["seconds"]
