"""Generate-then-extract classification: text → label mapping and unparseable answers counted in a real run."""

import json

import pytest

from iclkit.config import RunConfig
from iclkit.errors import IclkitError
from iclkit.pipeline import run
from iclkit.score.extract import GenerateScorer
from iclkit.testing import ScriptedLM
from iclkit.types import Prompt

PROMPT = Prompt(labels=("negative", "positive", "very negative"), contexts=("x",) * 3,
                continuations=(" Negative", " Positive", " Very negative"), demo_ids=(), n_demos_requested=0)


@pytest.mark.parametrize(("text", "label"), [
    (" Positive.", "positive"), ("very negative!", "very negative"), (" I think it is negative", "negative"),
    (" It is positive, not negative", "positive"), (" neutral", None), ("", None),
])
def test_label_from_text(text, label):
    assert GenerateScorer.label_from_text(PROMPT, text) == label


def test_classification_by_generation_counts_unparseable(tmp_path):
    replies = iter([" Positive", " no idea", " negative.", " Positive"])
    lm = ScriptedLM(lambda r: next(replies))
    result = run(RunConfig(task="sst2", scorer="generate", shots=2, limit=4, eval_seed=None, model="scripted",
                           out=str(tmp_path / "r")), lm=lm, log=lambda s: None)
    assert result.summary["unparseable"] == 1 and "metrics_batch_calibrated" not in result.summary
    assert lm.requests[0].context.endswith("Label:") and lm.requests[0].stop == ("\n",)
    rows = [json.loads(line) for line in (result.run_dir / "predictions.jsonl").read_text().splitlines()]
    assert [r["generated"] for r in rows] == [" Positive", " no idea", " negative.", " Positive"]
    assert [r["prediction"] for r in rows] == ["positive", None, "negative", "positive"]


def test_generate_scorer_rejects_calibration(tmp_path):
    with pytest.raises(IclkitError, match="calibration needs label log-probabilities"):
        run(RunConfig(task="sst2", scorer="generate", calibration="contextual", limit=2, model="scripted",
                      out=str(tmp_path / "r")), lm=ScriptedLM(lambda r: ""), log=lambda s: None)
