"""The IADA surrogate loss and the class-covariance estimator against NumPy oracles."""

import keras
import numpy as np
import pytest
from scipy.special import log_softmax, logsumexp

from kzoo import backend, losses
from kzoo.nets import ClassCovariance

B, D, C = 12, 5, 4
PRIOR = np.array([40.0, 20.0, 10.0, 5.0])


def _np(x):
    return keras.ops.convert_to_numpy(x)


@pytest.fixture
def head(rng):
    h = rng.normal(size=(B, D)).astype("float32")
    w = rng.normal(size=(D, C)).astype("float32")
    b = rng.normal(size=(C,)).astype("float32")
    y = rng.integers(0, C, B)
    a = rng.normal(size=(C, D, D))
    cov = (a @ a.transpose(0, 2, 1) / D).astype("float32")  # positive semi-definite
    eps = rng.uniform(-0.5, 0.5, B).astype("float32")
    return h, w, b, y, eps, cov


def test_reduces_to_logit_adjusted_ce(head):
    h, w, b, y, _, cov = head
    got = losses.iada_loss(h, w, b, y, np.zeros(B), np.zeros_like(cov), PRIOR, alpha=0.5,
                           beta=1.0)
    expected = losses.logit_adjusted(y, h @ w + b, PRIOR, tau=1.0)
    assert float(_np(got)) == pytest.approx(float(_np(expected)), rel=1e-5)


def _explicit(h, w, b, y, eps, cov, alpha, rng, samples=20000):
    """Monte-Carlo mean CE of features drawn from N(h + delta, alpha Sigma_y), beta = 0."""
    p = np.exp(log_softmax(h @ w + b, axis=1))
    delta = eps[:, None] * np.sign((p - np.eye(C)[y]) @ w.T)
    total = 0.0
    for i in range(B):
        chol = np.linalg.cholesky(alpha * cov[y[i]] + 1e-9 * np.eye(D))
        ht = h[i] + delta[i] + rng.standard_normal((samples, D)) @ chol.T
        z = ht @ w + b
        total += np.mean(logsumexp(z, axis=1) - z[:, y[i]])
    return total / B


def test_upper_bounds_explicit_augmentation_and_is_tight(head, rng):
    h, w, b, y, eps, cov = head
    for scale, slack in ((1.0, None), (1e-4, 2e-3)):
        surrogate = float(_np(losses.iada_loss(h, w, b, y, eps, scale * cov, PRIOR, alpha=0.5,
                                               beta=0.0)))
        mc = _explicit(h, w, b, y, eps, scale * cov, 0.5, rng)
        assert mc <= surrogate + 1e-3  # Jensen
        if slack is not None:
            assert surrogate - mc < slack  # tight as Sigma -> 0


def test_delta_follows_the_autodiff_gradient_sign(head):
    """With Sigma = 0 and beta = 0 the loss is CE at h + eps * sign(grad_h CE)."""
    h, w, b, y, eps, cov = head
    grad = _np(backend.input_grad(  # the mean CE: the sign per row is that of each CE_i
        lambda t: losses.cross_entropy(y, keras.ops.add(keras.ops.matmul(t, w), b)),
        keras.ops.convert_to_tensor(h)))
    shifted = h + eps[:, None] * np.sign(grad)
    expected = np.mean(-log_softmax(shifted @ w + b, axis=1)[np.arange(B), y])
    got = losses.iada_loss(h, w, b, y, eps, np.zeros_like(cov), PRIOR, beta=0.0)
    assert float(_np(got)) == pytest.approx(expected, rel=1e-5)


def test_diagonal_covariance_matches_full_diagonal(head):
    h, w, b, y, eps, cov = head
    diag = np.stack([np.diag(c) for c in cov])
    full = losses.iada_loss(h, w, b, y, eps, np.stack([np.diag(d) for d in diag]), PRIOR)
    assert float(_np(losses.iada_loss(h, w, b, y, eps, diag, PRIOR))) == pytest.approx(
        float(_np(full)), rel=1e-5)


def test_epsilon_receives_gradient(head):
    h, w, b, y, eps, cov = head
    e = keras.Variable(eps)
    _, (g,) = backend.value_and_grad(
        lambda: losses.iada_loss(h, w, b, y, e, cov, PRIOR), [e])
    assert np.abs(_np(g)).max() > 0


@pytest.mark.parametrize("kwargs, match", [
    ({"alpha": -0.1}, "alpha must be"),
    ({"beta": -1.0}, "beta must be"),
    ({"covariance": np.zeros((C, D + 1, D + 1))}, "covariance must have shape"),
    ({"features": np.zeros((B, D + 1))}, "features must have shape"),
    ({"class_prior": [1.0, 2.0]}, "class_prior must hold 4"),
])
def test_iada_errors(head, kwargs, match):
    h, w, b, y, eps, cov = head
    args = {"features": h, "kernel": w, "bias": b, "y_true": y, "epsilon": eps,
            "covariance": cov, "class_prior": PRIOR, **kwargs}
    with pytest.raises(ValueError, match=match):
        losses.iada_loss(**args)


@pytest.mark.parametrize("diagonal", [False, True])
def test_covariance_estimator_matches_numpy(rng, diagonal):
    est = ClassCovariance(C, D, diagonal=diagonal)
    hs, ys = [], []
    for size in (7, 16, 3, 30, 1):  # uneven batches; some miss classes
        h = rng.normal(size=(size, D)).astype("float32") * 2 + 1
        y = rng.integers(0, C - 1 if size == 3 else C, size)
        est.update(h, y)
        hs.append(h)
        ys.append(y)
    h, y = np.concatenate(hs), np.concatenate(ys)
    for c in range(C):
        rows = h[y == c].astype("float64")
        np.testing.assert_allclose(_np(est.count)[c], len(rows))
        np.testing.assert_allclose(_np(est.mean)[c], rows.mean(0), atol=1e-5)
        cov = np.cov(rows, rowvar=False, bias=True)
        expected = np.diag(cov) if diagonal else cov
        np.testing.assert_allclose(_np(est.covariance)[c], expected, atol=1e-4)
    assert _np(est(np.array([2, 0]))).shape == ((2, D) if diagonal else (2, D, D))


def test_covariance_state_saves_and_loads(rng):
    est = ClassCovariance(C, D)
    est.update(rng.normal(size=(20, D)).astype("float32"), rng.integers(0, C, 20))
    store = {}
    est.save_own_variables(store)
    clone = ClassCovariance.from_config(est.get_config())
    clone.load_own_variables(store)
    for a, b in zip(est.weights, clone.weights):
        np.testing.assert_array_equal(_np(a), _np(b))
    with pytest.raises(ValueError, match=r"features must have shape \(batch, 5\)"):
        est.update(np.zeros((3, 4), "float32"), np.zeros(3))
