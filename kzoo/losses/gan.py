"""GAN losses as pure ``keras.ops`` functions, and the four base losses of RobustGAN.

Critic outputs are raw scores (logits for the non-saturating loss). Each base loss
is a ``GANLoss``: ``critic(real_out, fake_out)`` and ``generator(fake_out)``,
plus a gradient ``penalty`` (weight 10 on interpolates) for the Wasserstein ones.
"""

import dataclasses

import numpy as np
from keras import ops

from kzoo import backend, validate


def ns_critic(real_out, fake_out):
    """Non-saturating (DCGAN) critic loss: -log D(x) - log(1 - D(G(z))) with D = sigmoid."""
    return ops.mean(ops.softplus(-real_out)) + ops.mean(ops.softplus(fake_out))


def ns_generator(fake_out):
    """Non-saturating generator loss: -log D(G(z))."""
    return ops.mean(ops.softplus(-fake_out))


def wasserstein_critic(real_out, fake_out):
    """Wasserstein critic loss: E D(G(z)) - E D(x)."""
    return ops.mean(fake_out) - ops.mean(real_out)


def wasserstein_generator(fake_out):
    """Wasserstein (and hinge) generator loss: -E D(G(z))."""
    return -ops.mean(fake_out)


def hinge_critic(real_out, fake_out):
    """Hinge critic loss: E relu(1 - D(x)) + E relu(1 + D(G(z)))."""
    return ops.mean(ops.relu(1.0 - real_out)) + ops.mean(ops.relu(1.0 + fake_out))


def sobolev_dual_norm(grad, s=0.0, p=2.0):
    """Per-example norm of ``grad`` in the dual of the Sobolev space W^{s,p} (BWGAN).

    The dual of W^{s,p} is W^{-s,p*} with 1/p + 1/p* = 1; its norm is the L^{p*}
    norm of ``IFFT((1 + |xi|^2)^{-s/2} FFT(grad))`` over the spatial axes (per
    channel, then pooled), with ``xi`` in radians per pixel. For ``s = 0`` it is
    the L^{p*} norm; ``s = 0, p = 2`` gives WGAN-GP's l2 norm.

    Args:
        grad: tensor (batch, height, width, channels), or (batch, d) when ``s == 0``.
        s: float. Smoothness. Default 0.
        p: float > 1. Default 2.
    """
    validate.number("p", p, low=1, low_open=True)
    dual = p / (p - 1.0)
    if s != 0:
        if len(grad.shape) != 4:
            raise ValueError(f"s != 0 needs image gradients (batch, h, w, c); got {grad.shape}.")
        height, width = grad.shape[1], grad.shape[2]
        xi = (2 * np.pi * np.fft.fftfreq(height))[:, None] ** 2 + \
            (2 * np.pi * np.fft.fftfreq(width))[None, :] ** 2
        weight = ops.convert_to_tensor(((1.0 + xi) ** (-s / 2.0)).astype("float32"))
        chw = ops.transpose(grad, (0, 3, 1, 2))
        real, imag = ops.fft2((chw, ops.zeros_like(chw)))
        grad, _ = ops.ifft2((real * weight, imag * weight))
    flat = ops.reshape(grad, (ops.shape(grad)[0], -1))
    if dual == 2.0:
        return ops.sqrt(ops.sum(flat**2, axis=-1) + 1e-12)
    return (ops.sum(ops.abs(flat) ** dual, axis=-1) + 1e-12) ** (1.0 / dual)


def gradient_penalty(critic, real, fake, seed, weight=10.0, s=0.0, p=2.0, gamma=1.0,
                     training=True):
    """``weight * E (||grad D(x_hat)||_* / gamma - 1)^2`` at random interpolates x_hat.

    The norm is ``sobolev_dual_norm`` (l2 by default: WGAN-GP). With ``training`` (the
    default) the critic runs in training mode and the penalty is differentiable in its
    weights (second order); ``training=False`` evaluates it in inference mode.
    """
    import keras

    ones = (1,) * (len(real.shape) - 1)
    t = backend.replica_rows(lambda n: keras.random.uniform((n, *ones), seed=seed),
                             ops.shape(real)[0])
    x_hat = t * real + (1.0 - t) * fake
    grad = backend.input_grad(lambda x: ops.sum(critic(x, training=training)), x_hat,
                              create_graph=training)
    norm = sobolev_dual_norm(grad, s, p)
    return weight * ops.mean((norm / gamma - 1.0) ** 2)


@dataclasses.dataclass(frozen=True)
class GANLoss:
    """A base GAN loss: the critic's and the generator's, and an optional gradient penalty.

    ``penalty`` holds ``gradient_penalty``'s keyword arguments (None: no penalty).
    With a penalty, the Wasserstein critic loss is divided by ``gamma`` (BWGAN).
    """

    name: str
    critic: callable
    generator: callable
    penalty: dict = None

    def critic_loss(self, critic, real, fake, real_out, fake_out, seed, training=True):
        """``(loss, (base, penalty))``: the critic's whole loss ``base / gamma + penalty``
        (``base`` itself without a penalty), its base loss ``critic(real_out, fake_out)``
        and its gradient penalty (None without one; needs the critic for it, in training
        mode unless ``training=False``)."""
        base = self.critic(real_out, fake_out)
        if self.penalty is None:
            return base, (base, None)
        penalty = gradient_penalty(critic, real, fake, seed, training=training, **self.penalty)
        return base / self.penalty.get("gamma", 1.0) + penalty, (base, penalty)


LOSSES = {
    "ns": GANLoss("ns", ns_critic, ns_generator),
    "hinge": GANLoss("hinge", hinge_critic, wasserstein_generator),
    "wgan_gp": GANLoss("wgan_gp", wasserstein_critic, wasserstein_generator, {"weight": 10.0}),
    # Adler & Lunz's best CIFAR-10 space, L^10 (s = 0, p = 10); s != 0 takes the FFT path.
    "bwgan": GANLoss("bwgan", wasserstein_critic, wasserstein_generator,
                     {"weight": 10.0, "s": 0.0, "p": 10.0, "gamma": 1.0}),
}


PENALTY_BOUNDS = {"weight": {"low": 0}, "s": {}, "p": {"low": 1, "low_open": True},
                  "gamma": {"low": 0, "low_open": True}}


def get(loss, **penalty):
    """The ``GANLoss`` named ``loss`` (one of ``LOSSES``), its penalty arguments overridden
    (each a finite number within ``PENALTY_BOUNDS``).

    Examples:
        >>> bwgan = kzoo.losses.gan.get("bwgan", s=-1.0, p=2.0)
    """
    base = LOSSES[validate.choice("loss", loss, tuple(LOSSES))]
    if penalty and base.penalty is None:
        raise ValueError(f"GAN loss {loss!r} has no gradient penalty to set {sorted(penalty)} on.")
    unknown = set(penalty) - set(base.penalty or {})
    if unknown:
        raise ValueError(f"unknown penalty argument(s) {sorted(unknown)} for {loss!r}; "
                         f"allowed: {', '.join(base.penalty)}.")
    for key, value in penalty.items():
        validate.number(key, value, **PENALTY_BOUNDS[key])
    return dataclasses.replace(base, penalty={**(base.penalty or {}), **penalty}) \
        if penalty else base
