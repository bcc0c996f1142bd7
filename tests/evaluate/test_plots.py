import math

import pytest

from iclkit.evaluate import plots

PNG = b"\x89PNG\r\n\x1a\n"
ONE = {"value": 0.7, "low": 0.6, "high": 0.8}
SEEDS = {"mean": 0.65, "std": 0.05, "n_seeds": 3, "values": [0.6, 0.65, 0.7]}


@pytest.mark.parametrize("name,call", [
    ("bars", lambda p: plots.metric_bars(["a", "b"], [ONE, SEEDS], [ONE, None], path=p)),
    ("calibration", lambda p: plots.calibration_bars(["a", "b"], {"raw": [ONE, SEEDS], "batch": [None, ONE]}, path=p)),
    ("shots", lambda p: plots.accuracy_vs_shots({"random": [(0, ONE), (8, SEEDS)], "topk": [(0, ONE), (8, ONE)]},
                                                path=p)),
    ("labels", lambda p: plots.label_distribution(["neg", "pos"], {"gold": {"neg": 0.5, "pos": 0.5},
                                                                   "raw": {"pos": 0.95, "neg": 0.05}},
                                                  path=p, collapsed=True)),
    ("confusion", lambda p: plots.confusion_matrix(["neg", "pos"], [[3, 1], [0, 4]], path=p)),
    ("confusion-empty-row", lambda p: plots.confusion_matrix(["a", "b", "c"], [[1, 0, 0], [0, 0, 0], [2, 0, 1]],
                                                             path=p)),
    ("f1", lambda p: plots.per_label_f1(["neg", "pos"], {"raw": {"neg": 0.2, "pos": 0.8}}, path=p)),
])
def test_each_plot_writes_a_png(tmp_path, name, call):
    path = call(tmp_path / "sub" / f"{name}.png")
    assert path == tmp_path / "sub" / f"{name}.png"
    data = path.read_bytes()
    assert data.startswith(PNG) and len(data) > 2000


def test_centre_and_error():
    assert plots.centre_and_error(ONE) == pytest.approx((0.7, 0.1, 0.1))
    assert plots.centre_and_error(SEEDS) == pytest.approx((0.65, 0.05, 0.05))
    value, down, up = plots.centre_and_error(None)
    assert math.isnan(value) and down == up == 0.0  # no bar


def test_plots_do_not_need_a_display(monkeypatch, tmp_path):
    monkeypatch.delenv("DISPLAY", raising=False)
    plots.metric_bars(["a"], [ONE], [ONE], path=tmp_path / "x.png")
    import matplotlib

    assert matplotlib.get_backend().lower() == "agg"
