"""AEGL: adversarial examples guided imbalanced learning."""

import keras
import numpy as np
from keras import ops

from kzoo import backend, validate
from kzoo.attacks.pgd import check_attack, pgd_with_predictions
from kzoo.games.classifier import Classifier, hits

CROSSINGS = ("head", "any")


@keras.saving.register_keras_serializable(package="kzoo")
class AEGL(Classifier):
    """Guiding adversarial examples move a long-tailed classifier's boundary (Zhang et al.).

    Classes with at most ``tail_threshold`` training examples are tail, the
    rest head. Each step attacks the batch's tail examples with ``steps`` of
    l_inf PGD (model in inference mode); the guiding adversarial examples
    (GAEs) are the attacked tail examples now predicted as a head class
    (``crossing="head"``, the paper) or misclassified at any step
    (``crossing="any"``, the official code). The loss is the base criterion
    (the ``Classifier`` loss: CE, LDAM, ..., with optional deferred re-weighting,
    ``reweight_epoch``) on the
    batch plus ``cross_weight`` times the base criterion on the GAEs with
    their original labels. Attack passes run the net in inference mode; the
    clean and the GAE passes of the update run it in training mode, one after
    the other (batch norm sees each batch as it is: a GAE pass in inference
    mode, or one pass over both batches concatenated, trained much worse on
    long-tailed digits). A batch with no GAE (or no tail example) takes the
    base step alone. Logs ``loss`` (the base criterion on the batch, as in
    validation), ``accuracy``, ``gae_loss`` (the criterion on the GAEs; the step
    minimises ``loss + cross_weight * gae_loss``) and ``gae_per_batch``.

    Start from a trained classifier, e.g. ``kzoo.load("digits-lt10-cnn-ce").classifier``.

    Args:
        net: keras.Model. Maps [0, 1] inputs to logits.
        class_counts: list of int. Training count per class (required).
        tail_threshold: int >= 1. Classes with count <= this are tail. Required.
        steps: int >= 1. PGD steps k (the paper keeps k <= 3). Default 3.
        epsilon: float >= 0. l_inf radius in input units. Default 8/255.
        step_size: float > 0 or None. Default ``epsilon / 8`` (the official code), so
            ``steps`` sets how far into the ball the attack reaches.
        random_start: bool. Default True (the official code).
        crossing: str. "head" or "any". Default "head".
        cross_weight: float >= 0. Weight of the GAE loss. Default 1.0.
        seed: int in [0, 2**32 - 1] or None. Default None.
        **kwargs: the other ``Classifier`` arguments (``loss``, ``loss_args``,
            ``reweight_epoch``, ...).

    Examples:
        >>> ds = kzoo.data.long_tail(kzoo.data.load("digits"), 10)
        >>> model = kzoo.games.AEGL(kzoo.load("digits-lt10-cnn-ce").classifier,
        ...                         class_counts=ds.class_counts(), tail_threshold=41)
        >>> model.compile(keras.optimizers.SGD(0.01, momentum=0.9))
        >>> model.fit(ds.x_train, ds.y_train, epochs=10)

    Reference:
        Zhang et al., "Adversarial Examples for Good: Adversarial Examples
        Guided Imbalanced Learning", ICIP 2022.
    """

    log_names = ("loss", "accuracy", "gae_loss", "gae_per_batch")
    paper = "Zhang et al., Adversarial Examples for Good (AEGL), ICIP 2022"

    def __init__(self, net, *, class_counts, tail_threshold, steps=3, epsilon=8 / 255,
                 step_size=None, random_start=True, crossing="head", cross_weight=1.0,
                 seed=None, **kwargs):
        if class_counts is None:
            raise ValueError("class_counts must be the training count of every class (AEGL "
                             "splits head from tail by it); got None.")
        super().__init__(net, class_counts=class_counts, **kwargs)
        if step_size is None:  # the official code's rule, once epsilon is known good
            step_size = validate.number("epsilon", epsilon, low=0) / 8
        check_attack(epsilon=epsilon, step_size=step_size, steps=steps, norm="linf")
        validate.choice("crossing", crossing, CROSSINGS)
        validate.number("cross_weight", cross_weight, low=0)
        validate.boolean("random_start", random_start)
        tail_threshold = validate.integer("tail_threshold", tail_threshold, low=1)
        counts = np.asarray(self.class_counts)
        tail = counts <= tail_threshold
        if tail.all() or not tail.any():
            raise ValueError(
                f"tail_threshold={tail_threshold} leaves {'no head' if tail.all() else 'no tail'} "
                f"class; training counts range from {counts.min()} to {counts.max()}."
            )
        self.tail_threshold = tail_threshold
        self._tail = tail.astype("float32")
        self.steps, self.epsilon, self.step_size = int(steps), float(epsilon), float(step_size)
        self.random_start, self.crossing = random_start, crossing
        self.cross_weight = float(cross_weight)
        self.seed = validate.seed("seed", seed, optional=True)
        self.seed_generator = keras.random.SeedGenerator(self.seed)

    def guiding_examples(self, x, y):
        """``(x_adv, gae_mask)``: attacked batch (non-tail rows unchanged) and the GAE mask."""
        y = ops.reshape(ops.cast(y, "int32"), (-1,))
        is_tail = ops.take(ops.convert_to_tensor(self._tail), y)
        x_adv, preds = pgd_with_predictions(
            self.net, x, y, epsilon=self.epsilon, step_size=self.step_size, steps=self.steps,
            random_start=self.random_start, seed=self.seed_generator)
        keep = ops.reshape(is_tail, (-1,) + (1,) * (len(x.shape) - 1))
        x_adv = keep * x_adv + (1.0 - keep) * x
        final = ops.cast(ops.argmax(self.net(x_adv, training=False), axis=-1), "int32")
        if self.crossing == "head":
            crossed = 1.0 - ops.take(ops.convert_to_tensor(self._tail), final)
        else:
            wrong = ops.concatenate([preds[1:], final[None]], axis=0) != y[None]
            crossed = ops.cast(ops.any(wrong, axis=0), "float32")
        return ops.stop_gradient(x_adv), is_tail * crossed

    def train_step(self, data):
        x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
        x_adv, gae = self.guiding_examples(x, y)
        variables = self.net.trainable_variables

        def loss_fn():
            logits = self.net(x, training=True)
            gae_logits = self.net(x_adv, training=True)
            loss = self.criterion(y, logits)
            gae_loss = self.criterion(y, gae_logits, sample_weight=gae)
            return loss + self.cross_weight * gae_loss, (loss, gae_loss, logits)

        _, (loss, gae_loss, logits) = backend.descend(self.optimizer, loss_fn, variables)
        return self.record({"loss": loss, "accuracy": hits(y, logits), "gae_loss": gae_loss,
                            "gae_per_batch": backend.replica_sum(ops.sum(gae))})

    def get_config(self):
        return {**super().get_config(), "tail_threshold": self.tail_threshold,
                "steps": self.steps, "epsilon": self.epsilon, "step_size": self.step_size,
                "random_start": self.random_start, "crossing": self.crossing,
                "cross_weight": self.cross_weight, "seed": self.seed}
