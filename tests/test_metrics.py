"""Classification metrics against scikit-learn."""

from types import SimpleNamespace

import numpy as np
import pytest
from sklearn import metrics as skm

from kzoo import metrics


@pytest.fixture
def preds(rng):
    y = rng.integers(0, 5, 300)
    pred = np.where(rng.random(300) < 0.7, y, rng.integers(0, 5, 300))
    return y, pred


def test_against_sklearn(preds):
    y, pred = preds
    assert metrics.accuracy(y, pred) == pytest.approx(skm.accuracy_score(y, pred))
    assert metrics.balanced_accuracy(y, pred, 5) == pytest.approx(
        skm.balanced_accuracy_score(y, pred))
    np.testing.assert_array_equal(metrics.confusion_matrix(y, pred, 5),
                                  skm.confusion_matrix(y, pred, labels=range(5)))
    np.testing.assert_allclose(metrics.per_class_accuracy(y, pred, 5),
                               skm.recall_score(y, pred, average=None))


def test_shot_groups_and_accuracy(preds):
    y, pred = preds
    counts = [100, 50, 20, 10, 1]
    groups = metrics.shot_groups(counts)
    # log-range thirds of [1, 100]: head >= 21.5, tail <= 4.6
    assert groups.tolist() == ["head", "head", "medium", "medium", "tail"]
    shots = metrics.shot_accuracy(y, pred, counts)
    tail = y == 4
    assert shots["tail"] == pytest.approx(np.mean(pred[tail] == 4))
    explicit = metrics.shot_groups(counts, head_min=50, tail_max=10)
    assert explicit.tolist() == ["head", "head", "medium", "tail", "tail"]


def test_a_report_leaves_out_what_the_test_split_cannot_measure():
    """Two class sizes (100 and 10) make head and tail classes and no medium one, and class
    2 has no test example: the report has neither a medium nor a class 2 accuracy, rather
    than NaNs that no card could hold (a card refuses them)."""
    ds = SimpleNamespace(y_test=np.array([0, 0, 1, 1]), num_classes=3, extras={},
                         class_counts=lambda: [100, 10, 10])
    report = metrics.classification_report(ds, np.array([0, 1, 1, 1]))
    assert report == {"accuracy": 0.75, "balanced_accuracy": 0.75, "head_accuracy": 0.5,
                      "tail_accuracy": 1.0, "class_0_accuracy": 0.5, "class_1_accuracy": 1.0}


def test_worst_group(preds):
    y, pred = preds
    groups = y % 2
    accs = [np.mean(pred[groups == g] == y[groups == g]) for g in (0, 1)]
    assert metrics.worst_group_accuracy(y, pred, groups) == pytest.approx(min(accs))


def test_epsilon_shares_by_hand(tmp_path):
    from kzoo.metrics.plots import epsilon_shares, plot_epsilon_shares

    eps = np.array([0.5, -0.2, 0.1, -0.9, 0.0, 0.3])
    y = np.array([0, 0, 1, 1, 1, 2])
    noisy = np.array([True, False, False, True, True, False])
    shares = epsilon_shares(eps, y, 4, noisy)
    assert shares["per_class"][:3] == [0.5, pytest.approx(1 / 3), 1.0]
    assert np.isnan(shares["per_class"][3])  # no sample of class 3
    assert shares["noisy"] == pytest.approx(1 / 3) and shares["clean"] == pytest.approx(2 / 3)
    path = plot_epsilon_shares([shares, shares], tmp_path / "eps.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plots_write_png(tmp_path, preds):
    y, pred = preds
    cm = metrics.confusion_matrix(y, pred, 5)
    path = metrics.plot_confusion_matrix(cm, list("abcde"), tmp_path / "cm.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    hist = {"loss": [1.0, 0.5], "val_loss": [1.2, 0.8], "accuracy": [0.3, 0.6]}
    curves = metrics.plot_history(hist, tmp_path / "curves.png")
    assert curves.stat().st_size > 1000
