"""Rob-GAN's co-training: an AC-GAN whose critic learns from PGD-attacked real images
(Liu and Hsieh, CVPR 2019)."""

import keras

from kzoo import validate
from kzoo.attacks.pgd import check_attack, pgd
from kzoo.games.acgan import ACGAN, real_and_class


@keras.saving.register_keras_serializable(package="kzoo")
class RobGAN(ACGAN):
    """Co-training of a generator, a discriminator and an adversarial attacker: ``ACGAN``
    whose critic, at each of its steps, learns from the real batch attacked by l_inf
    PGD instead of the batch itself.

    The attack maximises what the critic minimises on real images, ``0.5 * BCE(score,
    real) + 0.5 * CE(logits, y)`` (``kzoo.games.acgan.real_and_class``), with ``steps``
    sign steps of ``step_size`` inside the ``epsilon`` ball, no random start, clipped to
    [0, 1], the critic in inference mode (its batch-norm statistics do not move); it is
    ``kzoo.attacks.pgd`` with that loss. The critic's update then runs in training mode.
    ``loss="split"`` (Eq. 9, the default) trains the class head on the attacked real
    images only; ``loss="acgan"`` (Eq. 8) also on the generated ones (the ablation of
    figure 6). Generated images are not attacked in co-training (``RobGANFineTune``
    attacks both).

    **Units**: radii in [0, 1] image units, the units of the game's data and served
    classifier. The paper's and its code's [-1, 1] radii halve: eps 0.03125 and step
    0.0078 there are 0.015625 and 0.0039 here (the defaults round them to 4/255 and a
    quarter of it); its evaluation radii 0.02, 0.04, 0.08 are 0.01, 0.02, 0.04.

    Logs: ``ACGAN``'s, where ``accuracy`` is the critic's class accuracy on the attacked
    real batch (in validation too: each validation batch is attacked the same way).

    Args:
        generator, critic, n_dis, seed: as ``ACGAN``.
        epsilon: float >= 0. Attack radius (l_inf, [0, 1] units). Default 4/255.
        step_size: float > 0 or None. Default ``epsilon / 4`` (the paper's ratio).
        steps: int >= 1. PGD steps. Default 5.
        loss: "split" or "acgan". Default "split".

    Examples:
        >>> ds = kzoo.data.load("digits")
        >>> game = kzoo.games.RobGAN(
        ...     kzoo.nets.dcgan_generator((8, 8, 1), 32, num_classes=10),
        ...     kzoo.nets.acgan_critic((8, 8, 1), 10, width=32, batch_norm=True),
        ...     epsilon=0.1, steps=5)
        >>> game.compile()
        >>> game.fit(ds.x_train, ds.y_train, epochs=50, batch_size=64)
        >>> kzoo.metrics.robust_accuracy(game.classifier, ds.x_test, ds.y_test, [0, 0.1])

    Reference:
        Liu and Hsieh, "Rob-GAN: Generator, Discriminator, and Adversarial Attacker",
        CVPR 2019.
    """

    paper = "Liu and Hsieh, Rob-GAN: Generator, Discriminator, and Adversarial Attacker, CVPR 2019"
    default_loss = "split"

    def __init__(self, generator, critic, *, epsilon=4 / 255, step_size=None, steps=5,
                 **kwargs):
        if step_size is None:
            step_size = validate.number("epsilon", epsilon, low=0) / 4.0
        check_attack(epsilon=epsilon, step_size=step_size, steps=steps, norm="linf")
        super().__init__(generator, critic, **kwargs)
        self.epsilon, self.step_size, self.steps = float(epsilon), float(step_size), int(steps)

    def critic_inputs(self, real, labels):
        """The real batch attacked by PGD on the critic's real-image loss."""
        return self.attack(real, labels)

    def attack(self, x, y):
        """``x`` attacked as in co-training (NumPy for NumPy ``x``)."""
        return pgd(self.critic, x, y, epsilon=self.epsilon, step_size=self.step_size,
                   steps=self.steps, loss=real_and_class, random_start=False)

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon, "step_size": self.step_size,
                "steps": self.steps}
