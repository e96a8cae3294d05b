"""Empirical risk minimisation with the long-tail losses."""

import keras
import numpy as np

from kzoo import backend, losses, validate
from kzoo.games.game import Game, check_labels

LOSSES = ("ce", "class_balanced", "focal", "ldam", "logit_adjusted")
_NEEDS_COUNTS = ("class_balanced", "ldam", "logit_adjusted")


@keras.saving.register_keras_serializable(package="kzoo")
class Classifier(Game):
    """A classifier trained by empirical risk minimisation with one of kzoo's losses.

    The served model returns logits. Per-class loss weights live in a
    non-trainable variable: all ones, except with ``loss="class_balanced"``
    (effective-number weights from the start); the ``DRW`` callback switches
    them to class-balanced weights from a given epoch (deferred re-weighting).

    Args:
        net: keras.Model. Maps inputs to logits (e.g. ``kzoo.nets.small_cnn``).
        loss: str. One of "ce", "class_balanced", "focal", "ldam",
            "logit_adjusted". Default "ce".
        class_counts: list of int >= 1 or None. Training count per class; needed by
            "class_balanced", "ldam", "logit_adjusted" and by ``DRW``. Default None.
        focal_gamma: float >= 0. Focal exponent. Default 2.0.
        ldam_max_margin: float > 0. Largest LDAM margin. Default 0.5.
        ldam_scale: float > 0. LDAM logit scale. Default 30.0.
        la_tau: float >= 0. Logit-adjustment temperature. Default 1.0.
        cb_beta: float in [0, 1). Effective-number beta for class-balanced weights.
            Default 0.9999.

    Every argument is checked here, whatever the loss: a bad one is refused before
    any training step.

    Example:
        >>> ds = kzoo.data.long_tail(kzoo.data.load("digits"), imbalance=10)
        >>> net = kzoo.nets.small_cnn(ds.input_shape, ds.num_classes, normed_head=True)
        >>> model = kzoo.games.Classifier(net, loss="ldam", class_counts=ds.class_counts())
        >>> model.compile(keras.optimizers.SGD(0.05, momentum=0.9))
        >>> model.fit(ds.x_train, ds.y_train, epochs=30,
        ...           callbacks=[kzoo.games.DRW(start_epoch=20)])

    Reference:
        Cao et al., "Learning Imbalanced Datasets with Label-Distribution-Aware
        Margin Loss", NeurIPS 2019 (LDAM, DRW).
    """

    players = ("net",)

    def __init__(self, net, *, loss="ce", class_counts=None, focal_gamma=2.0,
                 ldam_max_margin=0.5, ldam_scale=30.0, la_tau=1.0, cb_beta=0.9999, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(net, keras.Model):
            raise ValueError(f"net must be a keras.Model mapping inputs to logits; got {net!r}.")
        self.loss_name = validate.choice("loss", loss, LOSSES)
        self.net = net
        self.num_classes = int(net.output_shape[-1])
        if class_counts is not None:
            class_counts = check_counts("class_counts", class_counts, self.num_classes)
        elif loss in _NEEDS_COUNTS:
            raise ValueError(f"loss={loss!r} needs class_counts (training count per class).")
        self.class_counts = class_counts
        self.focal_gamma = validate.number("focal_gamma", focal_gamma, low=0)
        self.ldam_max_margin = validate.number("ldam_max_margin", ldam_max_margin, low=0,
                                               low_open=True)
        self.ldam_scale = validate.number("ldam_scale", ldam_scale, low=0, low_open=True)
        self.la_tau = validate.number("la_tau", la_tau, low=0)
        self.cb_beta = validate.number("cb_beta", cb_beta, low=0, high=1, high_open=True)
        initial = self.balanced_weights() if loss == "class_balanced" else np.ones(self.num_classes)
        self.class_weights = self.add_weight(
            shape=(self.num_classes,), initializer=keras.initializers.Constant(initial),
            trainable=False, name="class_weights",
        )
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.accuracy = keras.metrics.SparseCategoricalAccuracy(name="accuracy")
        self.built = True

    def balanced_weights(self):
        """Class-balanced (effective number) weights from ``class_counts``."""
        if self.class_counts is None:
            raise ValueError("class-balanced weights need class_counts.")
        return losses.class_balanced_weights(self.class_counts, self.cb_beta)

    def criterion(self, y, logits, sample_weight=None):
        """The training loss of a batch, with the current class weights.

        ``sample_weight`` (batch,) restricts or reweights the average, e.g. to a
        masked subset of the batch; an all-zero mask gives 0.
        """
        w = {"class_weight": self.class_weights, "sample_weight": sample_weight}
        if self.loss_name == "focal":
            return losses.focal(y, logits, self.focal_gamma, **w)
        if self.loss_name == "ldam":
            return losses.ldam(y, logits, self.class_counts, self.ldam_max_margin,
                               self.ldam_scale, **w)
        if self.loss_name == "logit_adjusted":
            return losses.logit_adjusted(y, logits, self.class_counts, self.la_tau, **w)
        return losses.cross_entropy(y, logits, **w)

    def call(self, x, training=False):
        return self.net(x, training=training)

    def train_step(self, data):
        x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
        variables = self.net.trainable_variables

        def loss_fn():
            logits = self.net(x, training=True)
            return self.criterion(y, logits), logits

        (loss, logits), grads = backend.value_and_grad(loss_fn, variables)
        backend.apply(self.optimizer, grads, variables)
        return self._log(loss, y, logits)

    def test_step(self, data):
        x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
        logits = self.net(x, training=False)
        return self._log(self.criterion(y, logits), y, logits)

    def _log(self, loss, y, logits):
        self.loss_tracker.update_state(loss)
        self.accuracy.update_state(y, logits)
        return {"loss": self.loss_tracker.result(), "accuracy": self.accuracy.result()}

    @property
    def metrics(self):
        return [self.loss_tracker, self.accuracy]

    def check_data(self, x, y=None):
        super().check_data(x, y)
        if y is not None and isinstance(y, np.ndarray):
            check_labels(y, self.num_classes)

    def get_config(self):
        return {
            **super().get_config(),
            "loss": self.loss_name,
            "class_counts": self.class_counts,
            "focal_gamma": self.focal_gamma,
            "ldam_max_margin": self.ldam_max_margin,
            "ldam_scale": self.ldam_scale,
            "la_tau": self.la_tau,
            "cb_beta": self.cb_beta,
        }


def check_counts(name, counts, num_classes=None):
    """``counts`` as a list of ints >= 1, one per class (``num_classes`` of them, when
    given), or ``ValueError``."""
    if np.ndim(counts) != 1 or not len(counts) or len(counts) != (num_classes or len(counts)):
        many = "" if num_classes is None else f"{num_classes} "
        raise ValueError(f"{name} must hold {many}positive counts (ints >= 1), one per "
                         f"class; got {counts!r}.")
    return [validate.integer(f"{name}[{i}]", c, low=1) for i, c in enumerate(counts)]
