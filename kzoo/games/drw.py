"""Deferred re-weighting (DRW) as a callback."""

import keras


class DRW(keras.callbacks.Callback):
    """Switches a ``Classifier``'s class weights to class-balanced ones at ``start_epoch``.

    Before ``start_epoch`` (0-based) every class weighs 1; from it on, the
    effective-number weights of the model's ``class_counts`` (beta
    ``cb_beta``, 0.9999 by default) apply.

    Args:
        start_epoch: int. First epoch (0-based) with re-weighting.

    Example:
        >>> model.fit(x, y, epochs=30, callbacks=[kzoo.games.DRW(start_epoch=20)])
    """

    def __init__(self, start_epoch):
        super().__init__()
        if int(start_epoch) != start_epoch or start_epoch < 0:
            raise ValueError(f"start_epoch must be an int >= 0; got {start_epoch!r}.")
        self.start_epoch = int(start_epoch)

    def on_epoch_begin(self, epoch, logs=None):
        if epoch >= self.start_epoch:
            self.model.class_weights.assign(self.model.balanced_weights())
