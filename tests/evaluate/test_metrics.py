import time

import numpy as np
import pytest
from sklearn.metrics import confusion_matrix, f1_score

from iclkit.errors import IclkitError
from iclkit.evaluate.metrics import (
    MetricResult,
    accuracy,
    bootstrap_interval,
    label_distribution,
    macro_f1,
    macro_f1_metric,
    mean_std,
    summarize,
    wilson_interval,
)

LABELS = ["neg", "neu", "pos"]


def _random_pairs(n: int, seed: int, p_correct: float = 0.7) -> tuple[list[str], list[str]]:
    rng = np.random.default_rng(seed)
    gold = [LABELS[i] for i in rng.integers(0, 3, n)]
    pred = [g if rng.random() < p_correct else LABELS[rng.integers(0, 3)] for g in gold]
    return gold, pred


def test_accuracy_and_length_checks():
    assert accuracy(["a", "b", "c", "d"], ["a", "b", "x", "d"]) == 0.75
    with pytest.raises(ValueError):
        accuracy(["a"], ["a", "b"])
    with pytest.raises(IclkitError):
        accuracy([], [])


def test_wilson_known_values():
    low, high = wilson_interval(8, 10)
    assert low == pytest.approx(0.4902, abs=1e-3)
    assert high == pytest.approx(0.9433, abs=1e-3)
    assert wilson_interval(0, 10)[0] == 0.0 and wilson_interval(0, 10)[1] > 0.2  # not collapsed at the edge
    assert wilson_interval(10, 10)[1] == pytest.approx(1.0)
    with pytest.raises(IclkitError):
        wilson_interval(0, 0)
    with pytest.raises(ValueError):
        wilson_interval(11, 10)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_macro_f1_matches_sklearn_and_counts_unpredicted_labels(seed):
    gold, pred = _random_pairs(300, seed)
    expected = f1_score(gold, pred, average="macro", labels=LABELS, zero_division=0)
    assert macro_f1(gold, pred, LABELS) == pytest.approx(expected)
    # the confusion-matrix formula the bootstrap vectorises must agree with sklearn too
    metric = macro_f1_metric(LABELS)
    assert metric(gold, pred) == pytest.approx(expected)
    conf = confusion_matrix(gold, pred, labels=LABELS)[None]
    assert metric.from_confusion(conf)[0] == pytest.approx(expected)
    # a model that never predicts "neu" gets 0 F1 for it: the mean is over all three labels
    collapsed = ["pos" if p == "neu" else p for p in pred]
    assert macro_f1(gold, collapsed, LABELS) == pytest.approx(
        f1_score(gold, collapsed, average=None, labels=LABELS, zero_division=0).sum() / 3)


def test_bootstrap_confusion_path_matches_generic_path():
    gold, pred = _random_pairs(120, 3)
    pred[0] = None  # an unparseable prediction counts as wrong for every label
    fast = bootstrap_interval(macro_f1_metric(LABELS), gold, pred, n_resamples=60, seed=5)
    slow = bootstrap_interval(lambda g, p: f1_score([str(x) for x in g], [str(x) for x in p], average="macro",
                                                    labels=LABELS, zero_division=0),
                              gold, pred, n_resamples=60, seed=5)
    assert fast == pytest.approx(slow)
    acc_fast = bootstrap_interval(accuracy, gold, pred, n_resamples=60, seed=5)
    acc_slow = bootstrap_interval(lambda g, p: accuracy(g, p), gold, pred, n_resamples=60, seed=5)
    assert acc_fast == pytest.approx(acc_slow)


def test_bootstrap_contains_estimate_narrows_with_n_and_is_seeded():
    widths = []
    for n in (100, 2000):
        gold, pred = _random_pairs(n, 0)
        point = macro_f1(gold, pred, LABELS)
        low, high = bootstrap_interval(macro_f1_metric(LABELS), gold, pred, seed=0)
        assert low < point < high
        widths.append(high - low)
    assert widths[1] < widths[0] / 2  # ~1/sqrt(n): 20x the data, ~4.5x narrower
    gold, pred = _random_pairs(100, 0)
    assert bootstrap_interval(accuracy, gold, pred, seed=1) == bootstrap_interval(accuracy, gold, pred, seed=1)


def test_bootstrap_is_fast_for_2000_examples():
    gold, pred = _random_pairs(2000, 0)
    start = time.perf_counter()
    bootstrap_interval(macro_f1_metric(LABELS), gold, pred, n_resamples=1000)
    assert time.perf_counter() - start < 2.0


def test_label_distribution_sums_to_one_and_flags_bias():
    dist = label_distribution(["pos", "pos", "pos", "neg"], LABELS)
    assert dist == {"neg": 0.25, "neu": 0.0, "pos": 0.75}
    assert sum(dist.values()) == pytest.approx(1.0)
    other = label_distribution(["pos", None], LABELS)
    assert other["<other>"] == 0.5 and sum(other.values()) == pytest.approx(1.0)


def test_mean_std():
    assert mean_std([0.5]) == (0.5, 0.0)
    mean, std = mean_std([0.6, 0.7, 0.8])
    assert mean == pytest.approx(0.7) and std == pytest.approx(0.1)
    with pytest.raises(IclkitError):
        mean_std([])


def test_summarize_structure_and_unlabelled():
    gold, pred = _random_pairs(200, 4)
    s = summarize(gold + [None], pred + ["pos"], LABELS, seed=0)
    assert s["n"] == 200 and s["n_unlabelled"] == 1
    acc = s["accuracy"]
    assert acc["value"] == pytest.approx(accuracy(gold, pred))
    assert acc["low"] <= acc["value"] <= acc["high"]
    f1 = s["macro_f1"]
    assert f1["value"] == pytest.approx(macro_f1(gold, pred, LABELS))
    assert f1["low"] <= f1["value"] <= f1["high"]
    assert set(s["predicted_distribution"]) == set(LABELS)
    assert sum(s["predicted_distribution"].values()) == pytest.approx(1.0)
    assert summarize(gold, pred, LABELS, seed=0)["macro_f1"] == f1  # deterministic given the seed
    assert MetricResult("accuracy", 0.5, 0.4, 0.6).to_dict() == {"value": 0.5, "low": 0.4, "high": 0.6}


def test_summarize_empty_is_a_clear_error():
    with pytest.raises(IclkitError, match="no labelled examples"):
        summarize([], [], LABELS)
    with pytest.raises(IclkitError, match="no labelled examples"):
        summarize([None, None], ["pos", "neg"], LABELS)


def test_largest_share_and_collapse_threshold():
    from iclkit.evaluate.metrics import COLLAPSE_SHARE, is_collapsed, largest_share

    assert largest_share({"a": 0.3, "b": 0.7}) == ("b", 0.7)
    assert largest_share({}) == ("", 0.0)
    assert COLLAPSE_SHARE == 0.9
    assert is_collapsed({"a": 0.1, "b": 0.9}) and not is_collapsed({"a": 0.11, "b": 0.89})


def test_per_label_f1_and_confusion_counts_agree_with_macro_f1():
    from iclkit.evaluate.metrics import confusion_counts, macro_f1, per_label_f1

    gold = ["a", "a", "b", "b", "c"]
    pred = ["a", "b", "b", "b", "a"]
    f1 = per_label_f1(gold, pred, ["a", "b", "c"])
    assert f1 == pytest.approx({"a": 0.5, "b": 0.8, "c": 0.0})
    assert sum(f1.values()) / 3 == pytest.approx(macro_f1(gold, pred, ["a", "b", "c"]))
    assert confusion_counts(gold, pred, ["a", "b", "c"]) == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]


def test_paired_difference_is_the_mean_gap_with_a_stratified_interval():
    from iclkit.evaluate.metrics import paired_difference

    better = paired_difference([([1.0] * 40, [1.0] * 20 + [0.0] * 20)])
    assert better.value == 0.5 and 0.3 < better.low < 0.5 < better.high < 0.7
    same = paired_difference([([1.0, 0.0] * 20, [1.0, 0.0] * 20)])
    assert same.value == same.low == same.high == 0.0  # paired: identical outcomes leave no spread
    pooled = paired_difference([([1.0] * 10, [0.0] * 10), ([0.0] * 100, [0.0] * 100)])
    assert pooled.value == 0.5  # unweighted over groups, not over examples
    with pytest.raises(ValueError):
        paired_difference([([1.0], [1.0, 0.0])])
