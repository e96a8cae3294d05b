"""RobustGAN: worst-case input noise for the generator, worst-case images for the critic."""

import keras
from keras import ops

from kzoo import backend, validate
from kzoo.games.gan import GAN
from kzoo.ops import numpy_if_host, unit_rows

PERTURB = ("latent", "image")
MIX = ("convex", "additive")


@keras.saving.register_keras_serializable(package="kzoo")
class RobustGAN(GAN):
    """Any base GAN trained against the worst distribution in a small Wasserstein ball.

    Each perturbation is one normalised-gradient (l2) step, per sample:

    - worst input noise: ``z_adv = z + eps1 * normalize(grad_z L_G(G(z)))``
      (``perturb="latent"``; ``"image"`` moves ``G(z)`` by ``eps1`` instead);
    - worst real and worst fake: ``x + eps2 * normalize(grad_x L_D)`` and
      ``G(z) + eps2 * normalize(grad_G(z) L_D)``, raising the critic's loss.

    Generator loss ``(1 - lam) L_G(z) + lam L_G(z_adv)``, critic loss ``(1 - lam)
    L_D(x, G(z)) + lam L_D(x_adv, G(z)_adv)`` (``mix="convex"``, Eq. 11;
    ``"additive"`` drops the ``1 - lam``, as Algorithm 1). ``robust_g`` and
    ``robust_d`` turn either side off (the paper's table 2). Attack passes leave
    batch-norm statistics and spectral-norm vectors as they are.

    Logs, each with one meaning in training and validation (``val_`` prefix; validation
    runs in inference mode, its worst cases from input gradients only):

    - ``d_loss``, ``g_loss``, ``d_penalty``: as ``GAN`` (the base losses at the clean
      pair and at ``z``, and the gradient penalty);
    - ``g_loss_z_adv``: the base generator loss at the worst noise, ``L_G(z_adv)`` (the
      gap to ``g_loss`` is what a robust generator keeps small); with either flag;
    - ``d_loss_adv``: the base critic loss on the worst images ``(x_adv, G(z)_adv)``,
      without penalty; when ``robust_d``.

    Training only (validation makes no step to report them):

    - ``g_objective``: the generator's mixed loss ``(1 - lam) g_loss + lam
      g_loss_z_adv`` (or additive), what its step minimises; when ``robust_g``
      (otherwise it minimises ``g_loss``);
    - ``d_objective``: the critic's mixed loss, each side with its penalty, what its
      step minimises; when ``robust_d`` (otherwise as ``GAN``).

    Args:
        generator, critic, loss, penalty, n_critic, signed, seed: as ``GAN`` (images:
            trains on [-1, 1], samples in [0, 1]).
        lam: float in [0, 1]. Weight of the worst case. Default 0.1.
        eps1: float >= 0. Radius of the input-noise perturbation. Default 0.01.
        eps2: float >= 0. Radius of the image perturbations (l2; images in
            [-1, 1]). Default 4.
        perturb: "latent" or "image". Default "latent".
        mix: "convex" or "additive". Default "convex".
        robust_g: bool. Default True.
        robust_d: bool. Default True.

    Examples:
        >>> rgan = kzoo.games.RobustGAN(kzoo.nets.dcgan_generator((8, 8, 1), 64),
        ...                             kzoo.nets.dcgan_critic((8, 8, 1)), loss="wgan_gp",
        ...                             n_critic=5, lam=0.1, eps1=0.01, eps2=4.0)
        >>> rgan.compile()
        >>> rgan.fit(2 * kzoo.data.load("digits").x_train - 1, epochs=50, batch_size=64)
        >>> images = rgan.sample(64)      # in [0, 1], the data's range

    Reference:
        Liu et al., "Robust Generative Adversarial Network", 2019.
    """

    log_names = ("d_loss", "g_loss", "d_penalty", "g_loss_z_adv", "d_loss_adv",
                 "g_objective", "d_objective")
    paper = "Liu et al., Robust Generative Adversarial Network, 2019"

    def __init__(self, generator, critic, *, lam=0.1, eps1=0.01, eps2=4.0, perturb="latent",
                 mix="convex", robust_g=True, robust_d=True, **kwargs):
        super().__init__(generator, critic, **kwargs)
        self.lam = validate.number("lam", lam, low=0, high=1)
        self.eps1 = validate.number("eps1", eps1, low=0)
        self.eps2 = validate.number("eps2", eps2, low=0)
        self.perturb = validate.choice("perturb", perturb, PERTURB)
        self.mix = validate.choice("mix", mix, MIX)
        self.robust_g = validate.boolean("robust_g", robust_g)
        self.robust_d = validate.boolean("robust_d", robust_d)

    def _mix(self, clean, worst):
        keep = 1.0 - self.lam if self.mix == "convex" else 1.0
        return keep * clean + self.lam * worst

    def worst_noise(self, z, labels, training=True):
        """``z_adv`` (``perturb="latent"``) or the offset added to ``G(z)`` ("image");
        ``training=False`` for evaluation. NumPy for NumPy ``z``."""
        if self.perturb == "latent":
            return self.worst_latent(z, self.eps1, labels, training=training)
        z_in, z = z, ops.convert_to_tensor(z)
        fake = ops.stop_gradient(self.fake(z, labels, training=training, keep_state=False))
        grad = backend.input_grad(lambda f: self.generator_loss(f, labels), fake)
        return numpy_if_host(z_in, ops.stop_gradient(self.eps1 * unit_rows(grad)))

    def worst_noise_loss(self, worst, fake, labels, training=True):
        """The base generator loss at the worst noise ``worst`` (``worst_noise``), given the
        samples ``fake`` of the clean noise."""
        if self.perturb == "latent":
            return self.generator_loss(
                self.fake(worst, labels, training=training, keep_state=False), labels)
        return self.generator_loss(fake + worst, labels)

    def generator_objective(self, z, labels):
        worst = self.worst_noise(z, labels)
        fake = self.fake(z, labels)
        loss_z = self.generator_loss(fake, labels)
        loss_adv = self.worst_noise_loss(worst, fake, labels)
        if not self.robust_g:
            return loss_z, {"g_loss": loss_z, "g_loss_z_adv": ops.stop_gradient(loss_adv)}
        loss = self._mix(loss_z, loss_adv)
        return loss, {"g_loss": loss_z, "g_loss_z_adv": loss_adv, "g_objective": loss}

    def worst_images(self, real, fake, labels):
        """``(x_adv, fake_adv)``: each moved by ``eps2`` to raise the critic's base loss."""
        real, fake = ops.convert_to_tensor(real), ops.convert_to_tensor(fake)

        def raise_on_real(x):
            return self.base_loss.critic(self.score(x, labels, False),
                                         self.score(fake, labels, False))

        def raise_on_fake(f):
            return self.base_loss.critic(self.score(real, labels, False),
                                         self.score(f, labels, False))

        r1 = unit_rows(backend.input_grad(raise_on_real, real))
        r2 = unit_rows(backend.input_grad(raise_on_fake, fake))
        return (ops.stop_gradient(real + self.eps2 * r1),
                ops.stop_gradient(fake + self.eps2 * r2))

    def critic_objective(self, real, fake, labels):
        loss, logs = self.critic_loss(real, fake, labels)
        if not self.robust_d:
            return loss, logs
        real_adv, fake_adv = self.worst_images(real, fake, labels)
        loss_adv, adv_logs = self.critic_loss(real_adv, fake_adv, labels)
        loss = self._mix(loss, loss_adv)
        return loss, {**logs, "d_loss_adv": adv_logs["d_loss"], "d_objective": loss}

    def test_logs(self, real, z, fake, labels):
        logs = super().test_logs(real, z, fake, labels)
        worst = self.worst_noise(z, labels, training=False)
        logs["g_loss_z_adv"] = self.worst_noise_loss(worst, fake, labels, training=False)
        if self.robust_d:
            real_adv, fake_adv = self.worst_images(real, fake, labels)
            logs["d_loss_adv"] = self.base_loss.critic(self.score(real_adv, labels, False),
                                                       self.score(fake_adv, labels, False))
        return logs

    def get_config(self):
        return {**super().get_config(), "lam": self.lam, "eps1": self.eps1, "eps2": self.eps2,
                "perturb": self.perturb, "mix": self.mix, "robust_g": self.robust_g,
                "robust_d": self.robust_d}

