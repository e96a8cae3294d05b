"""Meta-IADA's training characteristics, sample history and perturbation network."""

import keras
import numpy as np
import pytest
from scipy.special import log_softmax

from kzoo import backend
from kzoo.nets import perturbation_net
from kzoo.nets.characteristics import (
    NAMES,
    STATISTICS,
    NoHistory,
    SampleHistory,
    characteristics,
    standardize,
)

B, D, C = 16, 6, 4
COUNTS = [50, 5, 20, 10]


def _np(x):
    return keras.ops.convert_to_numpy(x)


def test_characteristics_match_numpy(rng):
    h = rng.normal(size=(B, D)).astype("float32")
    w = rng.normal(size=(D, C)).astype("float32")
    logits = h @ w
    y = rng.integers(0, C, B)
    means = rng.normal(size=(C, D)).astype("float32")
    history = tuple(rng.random(B).astype("float32") for _ in range(3))
    got = _np(characteristics(keras.ops.convert_to_tensor(h), keras.ops.convert_to_tensor(logits),
                              w, y, COUNTS, means, history, 0.25))
    assert got.shape == (B, len(NAMES)) == (B, 15)
    col = dict(zip(NAMES, got.T))
    lp = log_softmax(logits.astype("float64"), axis=1)
    p = np.exp(lp)
    ce = -lp[np.arange(B), y]
    others = np.where(np.eye(C)[y] == 1, -np.inf, logits)
    grad = _np(backend.input_grad(  # autodiff oracle for the feature gradient
        lambda t: keras.ops.sum(-keras.ops.take_along_axis(
            keras.ops.log_softmax(keras.ops.matmul(t, w), axis=-1), y[:, None], axis=-1)),
        keras.ops.convert_to_tensor(h)))
    class_mean_ce = np.array([ce[y == c].mean() if (y == c).any() else 0 for c in range(C)])
    expected = {
        "ce": ce, "margin": logits[np.arange(B), y] - others.max(1), "true_prob": np.exp(-ce),
        "max_prob": p.max(1), "entropy": -(p * lp).sum(1),
        "grad_norm": np.linalg.norm(grad, axis=1), "feature_norm": np.linalg.norm(h, axis=1),
        "log_prior": np.log(np.array(COUNTS) / sum(COUNTS))[y],
        "class_rank": np.array([0, 3, 1, 2])[y] / 3, "loss_mean": history[0],
        "loss_var": history[1], "forgetting": history[2], "progress": np.full(B, 0.25),
        "loss_minus_class_mean": ce - class_mean_ce[y],
        "cosine_to_class_mean": (h * means[y]).sum(1)
        / (np.linalg.norm(h, axis=1) * np.linalg.norm(means[y], axis=1)),
    }
    for name in NAMES:
        np.testing.assert_allclose(col[name], expected[name], rtol=1e-4, atol=1e-5,
                                   err_msg=name)
    z = _np(standardize(keras.ops.convert_to_tensor(got)))
    np.testing.assert_allclose(z[:, :-3].mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(z[:, 0].std(), 1, atol=1e-3)
    np.testing.assert_allclose(z[:, NAMES.index("progress")], 0)  # constant column -> 0
    # Without a history, its three columns are zeros and the others do not change.
    plain = _np(characteristics(keras.ops.convert_to_tensor(h),
                                keras.ops.convert_to_tensor(logits), w, y, COUNTS, means,
                                NoHistory().read(None), 0.25))
    history_columns = [NAMES.index(n) for n in ("loss_mean", "loss_var", "forgetting")]
    np.testing.assert_array_equal(plain[:, history_columns], 0)
    others = [i for i in range(len(NAMES)) if i not in history_columns]
    np.testing.assert_array_equal(plain[:, others], got[:, others])


def test_sample_history_matches_a_plain_loop(rng):
    n = 10
    hist = SampleHistory(n)
    losses = rng.random((3, n)).astype("float32")
    correct = rng.random((3, n)) < 0.6
    eps = rng.uniform(-1, 1, (3, n)).astype("float32")
    for epoch in range(3):
        order = rng.permutation(n)
        for part in np.array_split(order, 3):
            hist.update(part, losses[epoch, part], correct[epoch, part], eps[epoch, part])
    np.testing.assert_allclose(_np(hist.loss_mean), losses.mean(0), rtol=1e-5)
    np.testing.assert_allclose(_np(hist.loss_m2) / 3, losses.var(0), rtol=1e-4, atol=1e-6)
    forgets = (correct[:-1] & ~correct[1:]).sum(0)
    np.testing.assert_array_equal(_np(hist.forgetting), forgets)
    np.testing.assert_array_equal(_np(hist.epsilon), eps[-1])
    mean, var, forgetting = (_np(v) for v in hist.read(np.arange(n)[::-1]))
    np.testing.assert_allclose(mean, losses.mean(0)[::-1], rtol=1e-5)
    np.testing.assert_allclose(var, losses.var(0)[::-1], rtol=1e-4, atol=1e-6)
    np.testing.assert_array_equal(forgetting, forgets[::-1])
    # The five statistics save with the layer; epsilon is its holder's to save.
    assert [v.name for v in hist.weights] == list(STATISTICS)
    store = {}
    hist.save_own_variables(store)
    clone = SampleHistory.from_config(hist.get_config())
    clone.load_own_variables(store)
    np.testing.assert_array_equal(_np(clone.forgetting), forgets)
    with pytest.raises(ValueError, match="needs each batch's sample ids"):
        hist.update(None, losses[0], correct[0], eps[0])
    with pytest.raises(ValueError, match=r"sample ids must lie in \[0, num_samples=10\)"):
        hist.check_ids(np.array([3, 10]), 2)
    with pytest.raises(ValueError, match=r"sample ids must be 3 integers, one per row"):
        hist.check_ids(np.array([0.0, 1.0, 2.0]), 3)
    x = np.zeros((4, 2), "float32")
    inputs, ids = hist.training_inputs(x)
    assert inputs is x and ids.tolist() == [0, 1, 2, 3]


def test_no_history_keeps_nothing():
    """A game without history reads zeros for every sample, without ids."""
    none = NoHistory()
    assert none.read(None) == (0.0, 0.0, 0.0) and none.epsilon is None
    none.update(None, [1.0], [0.0], [0.5])
    none.check_ids(np.array([-1, 10**9]), 2)  # not checked against a range
    with pytest.raises(ValueError, match=r"sample ids must be 3 integers, one per row"):
        none.check_ids(np.array([1, 2]), 3)
    x = np.zeros((4, 2), "float32")
    assert none.training_inputs(x) is x and none.training_monitors(None) == {}


def test_perturbation_net_range():
    net = perturbation_net(15, hidden=8)
    out = _np(net(np.random.default_rng(0).normal(size=(5, 15)).astype("float32") * 100))
    assert out.shape == (5,) and np.all(np.abs(out) <= 1)
    with pytest.raises(ValueError, match="num_characteristics must be an int >= 1; got 0"):
        perturbation_net(0)
