"""Losses against NumPy/SciPy references written from the papers' formulas."""

import keras
import numpy as np
import pytest
from scipy.special import log_softmax

from kzoo import losses

COUNTS = [50, 20, 8, 3]


def _np_ce(y, logits):
    return -log_softmax(logits, axis=1)[np.arange(len(y)), y]


def _weighted_mean(per, y, w):
    return per.mean() if w is None else (w[y] * per).sum() / w[y].sum()


@pytest.fixture
def batch(rng):
    return rng.integers(0, 4, 16), rng.normal(size=(16, 4)).astype("float32") * 3


def _np(x):
    return float(keras.ops.convert_to_numpy(x))


@pytest.mark.parametrize("weighted", [False, True])
def test_cross_entropy(batch, weighted):
    y, logits = batch
    w = np.array([0.5, 1.0, 2.0, 4.0], "float32") if weighted else None
    expected = _weighted_mean(_np_ce(y, logits), y, w)
    assert _np(losses.cross_entropy(y, logits, class_weight=w)) == pytest.approx(expected, 1e-5)


def test_cross_entropy_matches_keras(batch):
    y, logits = batch
    keras_ce = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(y, logits)
    assert _np(losses.cross_entropy(y, logits)) == pytest.approx(_np(keras_ce), 1e-5)


@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0])
def test_focal(batch, gamma):
    y, logits = batch
    ce = _np_ce(y, logits)
    p = np.exp(-ce)
    expected = np.mean((1 - p) ** gamma * ce)
    assert _np(losses.focal(y, logits, gamma)) == pytest.approx(expected, 1e-5)


def test_class_balanced_weights():
    beta = 0.9999
    n = np.array(COUNTS, float)
    raw = (1 - beta) / (1 - beta**n)
    expected = raw / raw.sum() * len(n)
    np.testing.assert_allclose(losses.class_balanced_weights(COUNTS, beta), expected, rtol=1e-5)
    # beta = 0 gives equal weights; weights fall with the count.
    np.testing.assert_allclose(losses.class_balanced_weights(COUNTS, 0.0), np.ones(4))
    assert np.all(np.diff(losses.class_balanced_weights(COUNTS)) > 0)


def test_ldam(batch):
    y, logits = batch
    m = 1 / np.array(COUNTS, float) ** 0.25
    m = m * 0.5 / m.max()
    adjusted = logits.astype(float).copy()
    adjusted[np.arange(len(y)), y] -= m[y]
    expected = _np_ce(y, 30 * adjusted).mean()
    got = _np(losses.ldam(y, logits, COUNTS, max_margin=0.5, scale=30.0))
    assert got == pytest.approx(expected, rel=1e-4)
    assert losses.ldam_margins(COUNTS).max() == pytest.approx(0.5)


def test_logit_adjusted(batch):
    y, logits = batch
    prior = np.array(COUNTS, float) / sum(COUNTS)
    expected = _np_ce(y, logits + np.log(prior)).mean()
    assert _np(losses.logit_adjusted(y, logits, COUNTS, tau=1.0)) == pytest.approx(expected, 1e-5)


@pytest.mark.parametrize("counts", [[5], [3, 0], [[1, 2]]])
def test_bad_counts(counts):
    with pytest.raises(ValueError, match="class_counts"):
        losses.ldam_margins(counts)


def test_sample_weight_masks_and_combines(batch):
    y, logits = batch
    mask = (np.arange(16) % 3 == 0).astype("float32")
    w = np.array([0.5, 1.0, 2.0, 4.0], "float32")
    per = _np_ce(y, logits)
    expected = (mask * w[y] * per).sum() / (mask * w[y]).sum()
    got = _np(losses.cross_entropy(y, logits, class_weight=w, sample_weight=mask))
    assert got == pytest.approx(expected, rel=1e-5)
    assert _np(losses.cross_entropy(y, logits, sample_weight=np.zeros(16))) == 0.0
