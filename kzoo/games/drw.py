"""Deferred re-weighting (DRW) as a callback."""

import keras

from kzoo import validate


class DRW(keras.callbacks.Callback):
    """Switches a ``Classifier``'s class weights to class-balanced ones at ``start_epoch``.

    Before ``start_epoch`` (0-based) every class weighs 1; from it on, the
    effective-number weights of the model's ``class_counts`` (beta
    ``cb_beta``, 0.9999 by default) apply.

    Args:
        start_epoch: int >= 0. First epoch (0-based) with re-weighting.

    Example:
        >>> model.fit(x, y, epochs=30, callbacks=[kzoo.games.DRW(start_epoch=20)])
    """

    def __init__(self, start_epoch):
        super().__init__()
        self.start_epoch = validate.integer("start_epoch", start_epoch, low=0)

    def on_epoch_begin(self, epoch, logs=None):
        if epoch >= self.start_epoch:
            self.model.class_weights.assign(self.model.balanced_weights())
