import math

import numpy as np
import pytest

from iclkit.errors import IclkitError
from iclkit.score.calibration import calibrate, contextual_prior, label_distribution
from iclkit.score.scorers import build_scorer
from iclkit.types import LLResult, Prompt

PROMPT = Prompt(labels=("neg", "pos"), contexts=("D\n\nSentence: x\nLabel:",) * 2,
                continuations=(" Negative", " Positive"), demo_ids=("1",), n_demos_requested=1, prefix="D\n\n")


def test_direct_requests_and_mean_reduce():
    s = build_scorer("direct")
    reqs = s.requests(PROMPT, group="q")
    assert [(r.context, r.continuation, r.group) for r in reqs] == [
        (PROMPT.contexts[0], " Negative", "q"), (PROMPT.contexts[1], " Positive", "q")]
    assert s.reduce(PROMPT, [LLResult(-4.0, 2, False), LLResult(-3.0, 1, True)]) == (-2.0, -3.0)
    assert build_scorer("direct", reduce="sum").reduce(PROMPT, [LLResult(-4.0, 2, False)] * 2) == (-4.0, -4.0)


def test_ppl_scores_whole_candidate_given_demonstrations():
    s = build_scorer("ppl", normalization="per_char")
    reqs = s.requests(PROMPT, group="q")
    assert reqs[0].context == "D\n\n" and reqs[0].continuation == "Sentence: x\nLabel: Negative"
    scores = s.reduce(PROMPT, [LLResult(-26.0, 5, False), LLResult(-26.0, 5, False)])
    assert scores[0] == pytest.approx(-26.0 / len("Sentence: x\nLabel: Negative"))
    assert scores[1] == pytest.approx(-26.0 / len("Sentence: x\nLabel: Positive"))


def test_ppl_pmi_subtracts_unconditional_answer_likelihood():
    s = build_scorer("ppl", normalization="pmi")
    reqs = s.requests(PROMPT, group="q")
    assert len(reqs) == 4 and reqs[2].context == "" and reqs[2].continuation == " Negative"
    res = [LLResult(-1.0, 1, False), LLResult(-2.0, 1, False), LLResult(-3.0, 1, False), LLResult(-0.5, 1, False)]
    assert s.reduce(PROMPT, res) == (2.0, -1.5)


def test_bad_scorer_options_are_clear():
    with pytest.raises(IclkitError, match="did you mean 'per_char'"):
        build_scorer("ppl", normalization="per_chr")
    with pytest.raises(IclkitError, match="bad option"):
        build_scorer("channel", reduce="mean")


def test_calibration_divides_by_content_free_prior():
    prior = contextual_prior([[math.log(0.9), math.log(0.1)], [math.log(0.7), math.log(0.3)]])
    assert np.allclose(prior, [0.8, 0.2])
    raw = [math.log(0.6), math.log(0.4)]  # raw argmax: first label
    cal = calibrate(raw, prior)
    assert cal[1] > cal[0]  # 0.4/0.2 > 0.6/0.8
    assert np.allclose(np.exp(cal), label_distribution(raw) / prior)


def test_batch_calibration_removes_a_bias_shared_by_all_inputs():
    from iclkit.score.calibration import batch_calibrate

    # every input leans to label 1; the second input leans less than the others, so it is really label 0
    rows = [[math.log(0.2), math.log(0.8)], [math.log(0.4), math.log(0.6)], [math.log(0.1), math.log(0.9)]]
    preds = [int(np.argmax(s)) for s in batch_calibrate(rows)]
    assert [int(np.argmax(r)) for r in rows] == [1, 1, 1] and preds[1] == 0 and preds[2] == 1
