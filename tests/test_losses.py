"""Losses against NumPy/SciPy references written from the papers' formulas, and the
registry of loss objects."""

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


@pytest.mark.parametrize("counts", [[], 5, [3, 0], [[1, 2]], [5, float("nan")]])
def test_bad_counts(counts):
    with pytest.raises(ValueError, match="class_counts"):
        losses.ldam_margins(counts)
    with pytest.raises(ValueError, match="class_counts"):
        losses.get("ldam", class_counts=counts)


def test_sample_weight_masks_and_combines(batch):
    y, logits = batch
    mask = (np.arange(16) % 3 == 0).astype("float32")
    w = np.array([0.5, 1.0, 2.0, 4.0], "float32")
    per = _np_ce(y, logits)
    expected = (mask * w[y] * per).sum() / (mask * w[y]).sum()
    got = _np(losses.cross_entropy(y, logits, class_weight=w, sample_weight=mask))
    assert got == pytest.approx(expected, rel=1e-5)
    assert _np(losses.cross_entropy(y, logits, sample_weight=np.zeros(16))) == 0.0


def _oracles(y, logits):
    """Each registered loss with arguments other than its defaults, and its NumPy value."""
    ce = _np_ce(y, logits)
    n = np.array(COUNTS, float)
    cb = (1 - 0.99) / (1 - 0.99**n)
    cb = cb / cb.sum() * len(n)
    m = 1 / n**0.25
    m = m * 0.3 / m.max()
    adjusted = logits.astype(float).copy()
    adjusted[np.arange(len(y)), y] -= m[y]
    return {
        "ce": ({}, ce.mean()),
        "class_balanced": ({"beta": 0.99}, (cb[y] * ce).sum() / cb[y].sum()),
        "focal": ({"gamma": 1.5}, np.mean((1 - np.exp(-ce)) ** 1.5 * ce)),
        "ldam": ({"max_margin": 0.3, "scale": 10.0}, _np_ce(y, 10 * adjusted).mean()),
        "logit_adjusted": ({"tau": 0.5}, _np_ce(y, logits + 0.5 * np.log(n / n.sum())).mean()),
    }


@pytest.mark.parametrize("name", sorted(losses.LOSSES))
def test_registry_losses_equal_their_oracles(batch, name):
    y, logits = batch
    args, expected = _oracles(y, logits)[name]
    loss = losses.get(name, class_counts=COUNTS, **args)
    assert loss.name == name
    config = loss.get_config()
    assert set(config) == set(losses.LOSSES[name].arguments)
    assert {key: config[key] for key in args} == args
    assert _np(loss(y, logits)) == pytest.approx(expected, rel=1e-4)


def test_registry_objects_equal_the_pure_functions(batch):
    y, logits = batch
    w = np.array([0.5, 1.0, 2.0, 4.0], "float32")
    mask = (np.arange(16) % 3 == 0).astype("float32")
    pure = {
        "ce": losses.cross_entropy(y, logits, w, mask),
        "class_balanced": losses.cross_entropy(y, logits, w, mask),
        "focal": losses.focal(y, logits, 1.5, w, mask),
        "ldam": losses.ldam(y, logits, COUNTS, 0.3, 10.0, w, mask),
        "logit_adjusted": losses.logit_adjusted(y, logits, COUNTS, 0.5, w, mask),
    }
    for name, expected in pure.items():
        args = _oracles(y, logits)[name][0]
        got = losses.get(name, class_counts=COUNTS, **args)(y, logits, class_weight=w,
                                                             sample_weight=mask)
        assert _np(got) == pytest.approx(_np(expected), rel=1e-6), name


def test_class_balanced_object_carries_its_weights(batch):
    y, logits = batch
    loss = losses.get("class_balanced", class_counts=COUNTS, beta=0.99)
    np.testing.assert_allclose(loss.class_weight, losses.class_balanced_weights(COUNTS, 0.99))
    expected = losses.cross_entropy(y, logits, class_weight=loss.class_weight)
    assert _np(loss(y, logits)) == pytest.approx(_np(expected), rel=1e-6)
    for name in ("ce", "focal", "ldam", "logit_adjusted"):
        assert losses.get(name, class_counts=COUNTS).class_weight is None


@pytest.mark.parametrize("call, match", [
    (lambda: losses.get("hinge"), "loss must be one of 'ce', 'class_balanced', 'focal', "
                                  "'ldam', 'logit_adjusted'; got 'hinge'"),
    (lambda: losses.get(None), "loss must be one of .*; got None"),
    (lambda: losses.get("focal", gama=2.0),
     r"loss 'focal' takes no argument 'gama' \(got gama=2.0\); allowed: gamma\."),
    (lambda: losses.get("ce", tau=1.0),
     r"loss 'ce' takes no argument 'tau' \(got tau=1.0\); allowed: no argument\."),
    (lambda: losses.get("ldam", COUNTS, gamma=1),
     r"takes no argument 'gamma' \(got gamma=1\); allowed: max_margin, scale\."),
    (lambda: losses.get("ldam"), "loss='ldam' needs class_counts"),
    (lambda: losses.get("logit_adjusted"), "loss='logit_adjusted' needs class_counts"),
    (lambda: losses.get("class_balanced"), "loss='class_balanced' needs class_counts"),
    (lambda: losses.get("focal", gamma=-1.0), "gamma must be a finite number >= 0; got -1.0"),
    (lambda: losses.get("ldam", COUNTS, scale=0), "scale must be a finite number > 0; got 0"),
    (lambda: losses.get("class_balanced", COUNTS, beta=1.0), r"beta must .* \[0, 1\); got 1.0"),
    (lambda: losses.get("logit_adjusted", COUNTS, tau=True), "tau must be .* got True"),
])
def test_registry_refuses(call, match):
    with pytest.raises(ValueError, match=match):
        call()
