"""Callbacks kzoo's training uses."""

import time

import keras
import numpy as np


class StepTimer(keras.callbacks.Callback):
    """Measures milliseconds per training step, excluding the first epoch (compilation).

    After ``fit``, ``ms_per_step`` is the median over epochs 2+ of the time from
    the start of the epoch to its last training batch, divided by its steps
    (the first epoch when there is only one).
    """

    def __init__(self):
        super().__init__()
        self.epoch_ms = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()
        self._steps = 0

    def on_train_batch_end(self, batch, logs=None):
        self._steps += 1
        self._last = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if self._steps:
            self.epoch_ms.append(1000 * (self._last - self._start) / self._steps)

    @property
    def ms_per_step(self):
        ms = self.epoch_ms[1:] or self.epoch_ms
        return float(np.median(ms)) if ms else float("nan")
