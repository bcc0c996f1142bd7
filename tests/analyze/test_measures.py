"""The metric functions on hand-made arrays with known answers."""

import numpy as np
import pytest

from iclkit.analyze import measures as M
from iclkit.analyze.study import select_lr


def test_cosine_guards_zero_vectors():
    assert M.cosine(np.array([1.0, 0]), np.array([0.0, 2])) == 0
    assert M.cosine(np.array([3.0, 4]), np.array([6.0, 8])) == pytest.approx(1)
    assert M.cosine(np.zeros(3), np.ones(3)) == 0


def test_rec2ftp_counts_and_zero_denominator():
    gold = ["a", "a", "b", "b", "a"]
    zsl = ["b", "b", "a", "b", "a"]  # wrong on 0,1,2
    ft = ["a", "a", "a", "b", "a"]  # fixes 0,1
    icl = ["a", "b", "b", "b", "b"]  # of those, right on 0
    assert M.rec2ftp(gold, zsl, icl, ft) == {"value": 50.0, "n_ft_over_zsl": 2, "n_both": 1}
    assert M.rec2ftp(gold, gold, icl, gold)["value"] is None


def test_simaou_known_directions():
    zsl = np.array([[[1.0, 0, 0]]])  # (N=1, L=1, d=3)
    icl = np.array([[[0.0, 1, 0]]])
    same = M.simaou(zsl, icl, icl * 5)  # same update direction (after normalisation): 1
    opposite = M.simaou(zsl, icl, np.array([[[1.0, -1, 0]]]) / np.sqrt(2) * 0 + np.array([[[1.0, 0, 0]]]))
    assert same == pytest.approx([1.0])
    assert opposite == pytest.approx([0.0])  # FT did not move: zero update, cosine guarded to 0


def test_simaou_mean_over_examples_per_layer():
    zsl = np.zeros((2, 2, 2)) + [1.0, 0]
    icl = np.zeros((2, 2, 2)) + [0.0, 1]
    ft = icl.copy()
    ft[1, 1] = [1.0, -1] / np.sqrt(2) * -1 + [0, 0]  # example 1, layer 1: opposite-ish update
    got = M.simaou(zsl, icl, ft)
    d_icl = np.array([-1.0, 1])
    d_ft = ft[1, 1] / np.linalg.norm(ft[1, 1]) - [1, 0]
    expected = (1 + d_icl @ d_ft / np.linalg.norm(d_icl) / np.linalg.norm(d_ft)) / 2
    assert got == pytest.approx([1.0, expected])


def test_simaou_random_baselines():
    rng = np.random.default_rng(0)
    zsl = np.zeros((400, 1, 64)) + 1
    icl = rng.standard_normal((400, 1, 64))
    assert abs(M.simaou_random(zsl, icl, rng, "gaussian")[0]) < 0.05
    positive = np.abs(icl)  # an update with positive mean correlates with the (non-zero-mean) uniform baseline
    assert M.simaou_random(zsl - 10, positive, np.random.default_rng(1), "uniform")[0] > 0.3


def test_simam_heads_then_examples_and_ragged_lengths():
    a = [np.array([[[1.0, 0], [1.0, 1]]]), np.array([[[1.0, 2, 3], [1.0, 0, 0]]])]  # (L=1, H=2, n)
    b = [np.array([[[1.0, 0], [1.0, -1]]]), np.array([[[1.0, 2, 3], [0.0, 1, 0]]])]
    # example 0: heads cos 1 and 0 -> 0.5; example 1: heads cos 1 and 0 -> 0.5
    assert M.simam(a, b) == pytest.approx([0.5])
    # ICL and FT made the same change from ZSL: 1 per head, except the unchanged heads (zero update -> 0)
    assert M.simam_diff(a, a, b) == pytest.approx([0.5])
    assert M.simam_diff([2 * x for x in b], [3 * x for x in b], b) == pytest.approx([1.0])


def test_kendall_known_ranks_and_masked_layers():
    icl = [np.array([[1.0, 2, 3, 4], [np.nan, 1, 2, 3]])]
    ft = [np.array([[10.0, 20, 30, 40], [1.0, 2, 3, 4]])]
    assert M.kendall(icl, ft)[0] == pytest.approx(1.0)
    assert np.isnan(M.kendall(icl, ft)[1])  # a sliding-window layer with a masked key
    rev = [np.array([[4.0, 3, 2, 1], [1, 2, 3, 4]])]
    assert M.kendall(rev, ft)[0] == pytest.approx(-1.0)
    assert M.layer_mean(np.array([np.nan, 0.5, 0.25])) == pytest.approx(0.375)
    rng = np.random.default_rng(0)
    big = [rng.standard_normal((1, 300)) for _ in range(30)]
    assert abs(M.kendall_random(big, rng)[0]) < 0.05


def test_seed_interval():
    got = M.seed_interval([1.0, 2.0, 3.0])
    assert got["mean"] == 2.0 and got["low"] == pytest.approx(2 - 4.302653 / np.sqrt(3)) and got["n"] == 3
    assert M.seed_interval([None])["mean"] is None


def test_select_lr_stops_early_and_keeps_the_earliest_best():
    truth = {0.1: [1, 1, 0, 0], 0.01: [1, 1, 1, 0], 0.001: [0, 0, 0, 0], 0.5: None}
    calls = []

    def evaluate(lr, keep_going):
        if truth[lr] is None:
            return None
        correct = scored = 0
        for x in truth[lr]:
            correct, scored = correct + x, scored + 1
            if not keep_going(correct, len(truth[lr]) - scored):
                break
        calls.append((lr, scored))
        return correct, scored

    done, saved = {}, []
    got = select_lr([0.1, 0.01, 0.001, 0.5], evaluate, done, lambda d: saved.append(dict(d)))
    assert [len(s) for s in saved] == [1, 2, 3, 4]  # persisted after every learning rate
    assert got["lr"] == 0.01 and got["correct"] == 3
    assert (0.001, 1) in calls  # after one miss it can no longer beat 3 of 4
    assert done["0.5"] == {"diverged": True}
    assert got["examples_scored"] == 4 + 4 + 1
    assert select_lr([0.1, 0.01], lambda lr, k: (2, 4), {})["lr"] == 0.1  # ties: the earlier learning rate


def test_kendall_vectorised_over_layers_equals_per_layer_scipy():
    """One call over all layers (with ties) gives scipy's tau-b of each layer on its own."""
    from scipy.stats import kendalltau

    rng = np.random.default_rng(3)
    a = rng.integers(0, 6, size=(4, 40)).astype(float)  # many ties
    b = rng.normal(size=(4, 40))
    expected = [kendalltau(M.softmax(a[i]), M.softmax(b[i])).statistic for i in range(4)]
    np.testing.assert_allclose(M.kendall([a], [b]), expected, atol=1e-12)
