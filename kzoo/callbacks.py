"""Callbacks kzoo's training uses."""

import signal
import threading
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


class NonFiniteError(ValueError):
    """Training diverged: a logged value or a weight is NaN or infinite."""


def nonfinite_variables(model):
    """The paths of ``model``'s variables holding a NaN or an infinity."""
    return [v.path for v in model.variables
            if not np.isfinite(keras.ops.convert_to_numpy(v)).all()]


class KeepInterrupts(keras.callbacks.Callback):
    """Ctrl-C (SIGINT) stops ``fit`` even where Python drops its ``KeyboardInterrupt``.

    Python raises it wherever the main thread is when the signal comes; raised inside a
    garbage collector's callback or a ``__del__`` (JAX frees its buffers in one), it is
    printed as "Exception ignored" and lost, and training goes on to its last epoch. Entered,
    this callback's handler also sets ``interrupted``, and the end of the next batch (or
    leaving the ``with`` block) raises ``KeyboardInterrupt`` again. It takes SIGINT only
    from Python's own handler, in the main thread, and gives it back on leaving.

    Examples:
        >>> with KeepInterrupts() as keep:
        ...     model.fit(x, y, epochs=5, callbacks=[keep])
    """

    def __init__(self):
        super().__init__()
        self.interrupted = False
        self._previous = None

    def __enter__(self):
        self.interrupted = False  # entered again, for another fit, it starts afresh
        if threading.current_thread() is threading.main_thread() and \
                signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, kind, value, traceback):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None
        if self.interrupted and kind is None:  # dropped in the last batches or the validation
            raise KeyboardInterrupt

    def _handle(self, signum, frame):
        self.interrupted = True
        raise KeyboardInterrupt

    def _raise_if_interrupted(self, batch, logs=None):
        if self.interrupted:
            raise KeyboardInterrupt

    on_train_batch_end = on_test_batch_end = _raise_if_interrupted


class StopOnNonFinite(keras.callbacks.Callback):
    """Stops ``fit`` at the first non-finite logged value (after each batch) or weight (after
    each epoch, before a later callback such as a checkpoint saves them), raising
    ``NonFiniteError`` naming the epoch, the step and the value; ``hint`` ends the message
    (e.g. the learning rate to lower). Keras' ``TerminateOnNaN`` stops silently and only on
    the loss.

    Reading the logs every batch costs a host round trip a step where nothing else reads
    them (``kzoo train``'s ``StepTimer`` reads them anyway).

    Examples:
        >>> model.fit(x, y, epochs=5, callbacks=[StopOnNonFinite("lower the learning rate")])
    """

    def __init__(self, hint=""):
        super().__init__()
        self.hint = hint
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        for key, value in (logs or {}).items():
            try:
                finite = np.isfinite(np.asarray(value, dtype="float64")).all()
            except (TypeError, ValueError):
                continue  # not a number
            if not finite:
                self._stop(f"{key} is {value} at epoch {self._epoch + 1}, step {batch + 1}")

    def on_epoch_end(self, epoch, logs=None):
        bad = nonfinite_variables(self.model)
        if bad:
            self._stop(f"{len(bad)} weight(s) hold NaN or infinity after epoch {epoch + 1} "
                       f"(first: {bad[0]})")

    def _stop(self, what):
        self.model.stop_training = True
        raise NonFiniteError(f"training diverged: {what}"
                             + (f"; {self.hint}" if self.hint else "") + ".")


class EpsilonShares(keras.callbacks.Callback):
    """Records, after each epoch, the share of a ``MetaIADA`` model's training samples whose
    last perturbation was adversarial (eps > 0): per class and, given ``noisy``, among
    noisy and clean labels (Meta-IADA's figures 3 and 4); ``save(path)`` plots them.

    Args:
        y: array. The training labels, in the order of the sample ids.
        noisy: bool array or None. Which labels are corrupted.

    Examples:
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
