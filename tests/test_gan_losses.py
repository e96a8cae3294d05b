"""GAN losses against NumPy formulas and closed forms."""

import keras
import numpy as np
import pytest
from keras import ops

from kzoo import backend
from kzoo.losses import gan


def _np(x):
    return ops.convert_to_numpy(x)


@pytest.fixture
def outs(rng):
    return rng.normal(size=16).astype("float32"), rng.normal(size=16).astype("float32")


def test_critic_and_generator_losses(outs):
    r, f = outs
    sig = lambda v: 1 / (1 + np.exp(-v.astype("float64")))  # noqa: E731
    np.testing.assert_allclose(_np(gan.ns_critic(r, f)),
                               np.mean(-np.log(sig(r))) + np.mean(-np.log(1 - sig(f))), rtol=1e-5)
    np.testing.assert_allclose(_np(gan.ns_generator(f)), np.mean(-np.log(sig(f))), rtol=1e-5)
    np.testing.assert_allclose(_np(gan.wasserstein_critic(r, f)), f.mean() - r.mean(), atol=1e-6)
    np.testing.assert_allclose(_np(gan.wasserstein_generator(f)), -f.mean(), atol=1e-6)
    np.testing.assert_allclose(_np(gan.hinge_critic(r, f)),
                               np.maximum(0, 1 - r).mean() + np.maximum(0, 1 + f).mean(),
                               rtol=1e-5)


def _sobolev_numpy(g, s, p):
    """The dual W^{-s, p*} norm by numpy's FFT, per example."""
    h, w = g.shape[1:3]
    xi = (2 * np.pi * np.fft.fftfreq(h))[:, None] ** 2 + (2 * np.pi * np.fft.fftfreq(w)) ** 2
    spectrum = np.fft.fft2(g.astype("float64"), axes=(1, 2)) * ((1 + xi) ** (-s / 2))[..., None]
    filtered = np.real(np.fft.ifft2(spectrum, axes=(1, 2)))
    dual = p / (p - 1)
    return (np.abs(filtered.reshape(len(g), -1)) ** dual).sum(1) ** (1 / dual)


@pytest.mark.parametrize("s, p", [(0.0, 2.0), (0.0, 10.0), (-1.0, 2.0), (1.0, 3.0)])
def test_sobolev_dual_norm_matches_numpy(rng, s, p):
    g = rng.normal(size=(3, 8, 8, 2)).astype("float32")
    np.testing.assert_allclose(_np(gan.sobolev_dual_norm(g, s, p)), _sobolev_numpy(g, s, p),
                               rtol=1e-4)


def test_sobolev_norm_by_parseval(rng):
    """For p = 2 the norm is also sqrt(sum (1 + |xi|^2)^-s |FFT g|^2 / N) (Parseval)."""
    g = rng.normal(size=(2, 8, 8, 1)).astype("float32")
    s = -1.5
    xi = (2 * np.pi * np.fft.fftfreq(8))[:, None] ** 2 + (2 * np.pi * np.fft.fftfreq(8)) ** 2
    power = np.abs(np.fft.fft2(g[..., 0].astype("float64"))) ** 2
    expected = np.sqrt(((1 + xi) ** (-s) * power).sum((1, 2)) / 64)
    np.testing.assert_allclose(_np(gan.sobolev_dual_norm(g, s, 2.0)), expected, rtol=1e-4)
    np.testing.assert_allclose(_np(gan.sobolev_dual_norm(g, 0.0, 2.0)),
                               np.sqrt((g**2).reshape(2, -1).sum(1)), rtol=1e-5)


def _linear_critic(rng):
    """D(x) = w . x on 5-D samples, with a real and a fake batch of 8."""
    inputs = keras.Input((5,))
    critic = keras.Model(inputs, keras.layers.Dense(1, use_bias=False)(inputs))
    w = rng.normal(size=(5, 1)).astype("float32")
    critic.set_weights([w])
    real = rng.normal(size=(8, 5)).astype("float32")
    fake = rng.normal(size=(8, 5)).astype("float32")
    return critic, w, real, fake


def test_gradient_penalty_of_a_linear_critic(rng):
    """D(x) = w . x has gradient w everywhere: penalty 10 (||w|| - 1)^2, and its gradient
    in w is 20 (||w|| - 1) w / ||w|| (second order through the input gradient)."""
    critic, w, real, fake = _linear_critic(rng)
    seed = keras.random.SeedGenerator(0)
    (value, _), (grad,) = backend.value_and_grad(
        lambda: gan.gradient_penalty(critic, real, fake, seed), critic.trainable_variables)
    norm = np.linalg.norm(w)
    assert float(_np(value)) == pytest.approx(10 * (norm - 1) ** 2, rel=1e-4)
    np.testing.assert_allclose(_np(grad), 20 * (norm - 1) * w / norm, rtol=1e-3, atol=1e-5)


def test_critic_loss_returns_its_base_and_penalty_apart(rng):
    """``base / gamma + penalty``, with both parts; in inference mode the penalty of a linear
    critic is the same 10 (||w|| / gamma - 1)^2."""
    critic, w, real, fake = _linear_critic(rng)
    real_out, fake_out = critic(real)[:, 0], critic(fake)[:, 0]
    base = float(np.mean(fake @ w) - np.mean(real @ w))
    loss = gan.get("bwgan", p=2.0, gamma=2.0)
    expected = 10 * (np.linalg.norm(w) / 2.0 - 1) ** 2
    for training in (True, False):
        total, (got_base, penalty) = loss.critic_loss(critic, real, fake, real_out, fake_out,
                                                      0, training=training)
        assert float(_np(got_base)) == pytest.approx(base, rel=1e-5, abs=1e-6)
        assert float(_np(penalty)) == pytest.approx(expected, rel=1e-4)
        assert float(_np(total)) == pytest.approx(base / 2.0 + expected, rel=1e-4)
    total, (got_base, penalty) = gan.LOSSES["hinge"].critic_loss(critic, real, fake, real_out,
                                                                 fake_out, 0)
    assert penalty is None and total is got_base


def test_get_and_refusals():
    assert gan.get("bwgan", s=-1.0).penalty["s"] == -1.0
    assert gan.get("wgan_gp").penalty == {"weight": 10.0}
    with pytest.raises(ValueError, match="loss must be one of 'ns', 'hinge', 'wgan_gp', 'bwgan'; "
                                         "got 'lsgan'"):
        gan.get("lsgan")
    with pytest.raises(ValueError, match="has no gradient penalty"):
        gan.get("ns", weight=5.0)
    with pytest.raises(ValueError, match=r"unknown penalty argument\(s\) \['q'\]"):
        gan.get("bwgan", q=2.0)
    with pytest.raises(ValueError, match="p must be a finite number > 1"):
        gan.sobolev_dual_norm(np.zeros((1, 4), "float32"), 0.0, 1.0)
