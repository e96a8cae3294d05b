"""Madry et al.'s PGD adversarial training."""

import keras
from keras import ops

from kzoo import backend, validate
from kzoo.attacks.pgd import check_attack, pgd
from kzoo.games.classifier import Classifier, hits


@keras.saving.register_keras_serializable(package="kzoo")
class PGDAdversarialTraining(Classifier):
    """Trains a classifier on PGD adversarial examples of each batch (Madry et al., 2018).

    Each step attacks the batch with ``steps`` of PGD inside an ``epsilon``
    ball (model in inference mode), then takes a gradient step on the
    classifier's loss at the adversarial inputs; with ``clean_weight > 0``
    the loss is ``(1 - clean_weight) * L(x_adv) + clean_weight * L(x)``, both
    in one pass over the concatenated batch. Logs the loss and the clean and
    adversarial accuracy, in training and (attacking each validation batch the
    same way) in validation.

    Args:
        net: keras.Model. Maps [0, 1] inputs to logits.
        epsilon: float >= 0. Attack radius in input units. Default 0.1.
        step_size: float > 0 or None. Default ``2.5 * epsilon / steps``.
        steps: int >= 1. PGD steps. Default 7.
        norm: str. "linf" or "l2". Default "linf".
        random_start: bool. Default True.
        clean_weight: float in [0, 1]. Share of the clean loss. Default 0.0.
        seed: int in [0, 2**32 - 1] or None. Seed of the random starts. Default None.
        **kwargs: the ``Classifier`` arguments (``loss``, ``class_counts``, ...).

    Examples:
        >>> net = kzoo.nets.small_cnn((8, 8, 1), 10)
        >>> model = kzoo.games.PGDAdversarialTraining(net, epsilon=0.1, steps=5)
        >>> model.compile(keras.optimizers.Adam(1e-3))
        >>> model.fit(ds.x_train, ds.y_train, epochs=30)

    Reference:
        Madry et al., "Towards Deep Learning Models Resistant to Adversarial
        Attacks", ICLR 2018.
    """

    log_names = ("loss", "clean_accuracy", "adv_accuracy")
    paper = "Madry et al., ICLR 2018"

    def __init__(self, net, *, epsilon=0.1, step_size=None, steps=7, norm="linf",
                 random_start=True, clean_weight=0.0, seed=None, **kwargs):
        super().__init__(net, **kwargs)
        if step_size is None:  # Madry et al.'s rule, once epsilon and steps are known good
            step_size = (2.5 * validate.number("epsilon", epsilon, low=0)
                         / validate.integer("steps", steps, low=1))
        check_attack(epsilon=epsilon, step_size=step_size, steps=steps, norm=norm)
        self.epsilon, self.step_size, self.steps = float(epsilon), float(step_size), int(steps)
        self.norm = norm
        self.random_start = validate.boolean("random_start", random_start)
        self.clean_weight = validate.number("clean_weight", clean_weight, low=0, high=1)
        self.seed = validate.seed("seed", seed, optional=True)
        self.seed_generator = keras.random.SeedGenerator(self.seed)

    def attack(self, x, y):
        """The PGD adversarial examples of the batch (the net in inference mode)."""
        return pgd(self.net, x, y, epsilon=self.epsilon, step_size=self.step_size,
                   steps=self.steps, norm=self.norm, random_start=self.random_start,
                   seed=self.seed_generator)

    def train_step(self, data):
        x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
        x_adv = self.attack(x, y)
        variables = self.net.trainable_variables
        n = ops.shape(x)[0]

        def loss_fn():
            if self.clean_weight == 0.0:
                adv_logits = self.net(x_adv, training=True)
                return self.criterion(y, adv_logits), (adv_logits, None)
            logits = self.net(ops.concatenate([x_adv, x]), training=True)
            adv_logits, clean_logits = logits[:n], logits[n:]
            loss = ((1.0 - self.clean_weight) * self.criterion(y, adv_logits)
                    + self.clean_weight * self.criterion(y, clean_logits))
            return loss, (adv_logits, clean_logits)

        loss, (adv_logits, clean_logits) = backend.descend(self.optimizer, loss_fn, variables)
        if clean_logits is None:
            clean_logits = self.net(x, training=False)
        return self.record({"loss": loss, "clean_accuracy": hits(y, clean_logits),
                            "adv_accuracy": hits(y, adv_logits)})

    def test_step(self, data):
        x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
        logits = self.net(ops.concatenate([self.attack(x, y), x]), training=False)
        adv_logits, clean_logits = logits[:ops.shape(x)[0]], logits[ops.shape(x)[0]:]
        loss = ((1.0 - self.clean_weight) * self.criterion(y, adv_logits)
                + self.clean_weight * self.criterion(y, clean_logits))
        return self.record({"loss": loss, "clean_accuracy": hits(y, clean_logits),
                            "adv_accuracy": hits(y, adv_logits)})

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon, "step_size": self.step_size,
                "steps": self.steps, "norm": self.norm, "random_start": self.random_start,
                "clean_weight": self.clean_weight, "seed": self.seed}
