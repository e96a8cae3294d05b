"""Callbacks kzoo's training uses."""

import time

import keras
import numpy as np


class StepTimer(keras.callbacks.Callback):
    """Measures milliseconds per training step, excluding the first epoch (compilation).

    After ``fit``, ``ms_per_step`` is the median over epochs 2+ of the time from
    the start of the epoch to its last training batch, divided by its steps
    (the first epoch when there is only one); ``history`` holds each epoch's figure.
    """

    def __init__(self):
        super().__init__()
        self.history = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()
        self._steps = 0

    def on_train_batch_end(self, batch, logs=None):
        self._steps += 1
        self._last = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if self._steps:
            self.history.append(1000 * (self._last - self._start) / self._steps)

    @property
    def ms_per_step(self):
        ms = self.history[1:] or self.history
        return float(np.median(ms)) if ms else float("nan")


class EpsilonShares(keras.callbacks.Callback):
    """Records, after each epoch, the share of a ``MetaIADA`` model's training samples whose
    last perturbation was adversarial (eps > 0): per class and, given ``noisy``, among
    noisy and clean labels (Meta-IADA's figures 3 and 4); ``save(path)`` plots them.

    Args:
        y: array. The training labels, in the order of the sample ids.
        noisy: bool array or None. Which labels are corrupted.

    Example:
        >>> shares = EpsilonShares(ds.y_train, ds.extras.get("noisy"))
        >>> model.fit(ds.x_train, ds.y_train, callbacks=[shares])
        >>> shares.history[-1]["per_class"]
        >>> shares.save("epsilon_shares.png")
    """

    def __init__(self, y, noisy=None):
        super().__init__()
        self.y, self.noisy = np.asarray(y), noisy
        self.history = []

    def on_epoch_end(self, epoch, logs=None):
        from kzoo.metrics.plots import epsilon_shares

        epsilon = keras.ops.convert_to_numpy(self.model.sample_epsilon)
        num_classes = int(self.model.num_classes)
        self.history.append(epsilon_shares(epsilon, self.y, num_classes, self.noisy))

    def save(self, path):
        from kzoo.metrics.plots import plot_epsilon_shares

        return plot_epsilon_shares(self.history, path)
