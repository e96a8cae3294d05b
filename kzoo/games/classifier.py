"""Empirical risk minimisation with the long-tail losses."""

import keras
import numpy as np

from kzoo import backend, losses
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
        class_counts: list of int or None. Training count per class; needed by
            "class_balanced", "ldam", "logit_adjusted" and by ``DRW``. Default None.
        focal_gamma: float. Focal exponent. Default 2.0.
        ldam_max_margin: float. Largest LDAM margin. Default 0.5.
        ldam_scale: float. LDAM logit scale. Default 30.0.
        la_tau: float. Logit-adjustment temperature. Default 1.0.
        cb_beta: float. Effective-number beta for class-balanced weights. Default 0.9999.

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
        if loss not in LOSSES:
            raise ValueError(f"Unknown loss {loss!r}; allowed: {', '.join(LOSSES)}.")
        self.net = net
        self.num_classes = int(net.output_shape[-1])
        if class_counts is not None:
            class_counts = [int(c) for c in class_counts]
            if len(class_counts) != self.num_classes or min(class_counts) < 1:
                raise ValueError(
                    f"class_counts must hold {self.num_classes} positive counts, one per "
                    f"class; got {class_counts}."
                )
        elif loss in _NEEDS_COUNTS:
            raise ValueError(f"loss={loss!r} needs class_counts (training count per class).")
        self.loss_name = loss
        self.class_counts = class_counts
        self.focal_gamma = float(focal_gamma)
        self.ldam_max_margin = float(ldam_max_margin)
        self.ldam_scale = float(ldam_scale)
        self.la_tau = float(la_tau)
        self.cb_beta = float(cb_beta)
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
