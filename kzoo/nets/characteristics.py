"""Per-sample training characteristics for Meta-IADA's perturbation network.

The paper uses K = 15 characteristics; its appendix listing them is not public.
kzoo's fifteen, in order (``NAMES``): cross-entropy, margin (true logit minus
the best other), true-class probability, largest probability, entropy, norm of
the feature gradient of the CE, feature norm, log prior of the label, class
rank by training frequency (0 for the most frequent, scaled to [0, 1]),
running mean and variance of the sample's loss over the times it was seen,
its number of forgetting events (correct, then wrong), training progress in
[0, 1], the loss minus the batch mean loss of its class, and the cosine
between the features and their class's running mean (``ClassCovariance.mean``).
Each column is standardised over the batch before it reaches the network.

The three history columns come from a ``SampleHistory`` (indexed by sample id);
``NoHistory``, with the same methods, feeds zeros and keeps nothing.
"""

import keras
import numpy as np
from keras import ops

from kzoo import backend, validate
from kzoo.callbacks import EpsilonShares
from kzoo.losses import per_example_cross_entropy

NAMES = ("ce", "margin", "true_prob", "max_prob", "entropy", "grad_norm", "feature_norm",
         "log_prior", "class_rank", "loss_mean", "loss_var", "forgetting", "progress",
         "loss_minus_class_mean", "cosine_to_class_mean")
STATISTICS = ("seen", "loss_mean", "loss_m2", "last_correct", "forgetting")


def characteristics(features, logits, kernel, y, class_counts, class_means, history, progress):
    """The raw (batch, 15) characteristics. ``history`` is ``SampleHistory.read``'s
    ``(loss_mean, loss_var, forgetting)``; these and ``progress`` are (batch,) tensors or
    scalars shared by the batch."""
    counts = np.asarray(class_counts, dtype="float64")
    classes = len(counts)
    y = ops.reshape(ops.cast(y, "int32"), (-1,))
    onehot = ops.one_hot(y, classes, dtype=logits.dtype)
    log_p = ops.log_softmax(logits, axis=-1)
    p = ops.exp(log_p)
    ce = per_example_cross_entropy(y, logits)
    true_logit = ops.sum(onehot * logits, axis=-1)
    margin = true_logit - ops.max(logits - 1e9 * onehot, axis=-1)
    grad_h = ops.matmul(p - onehot, ops.transpose(kernel))
    log_prior = np.log(counts / counts.sum()).astype("float32")
    rank = np.argsort(np.argsort(-counts, kind="stable"), kind="stable") / max(classes - 1, 1)
    # the global batch's class means over several replicas, as on one device
    per_class = backend.replica_sum(ops.matmul(ops.transpose(onehot), ce[:, None])[:, 0])
    class_mean_loss = per_class / ops.maximum(backend.replica_sum(ops.sum(onehot, axis=0)),
                                              1.0)
    centre = ops.take(class_means, y, axis=0)
    cosine = ops.sum(features * centre, axis=-1) / (
        ops.norm(features, axis=-1) * ops.norm(centre, axis=-1) + 1e-12)
    loss_mean, loss_var, forgetting = (ops.zeros_like(ce) + value for value in history)
    columns = [
        ce, margin, ops.exp(-ce), ops.max(p, axis=-1), -ops.sum(p * log_p, axis=-1),
        ops.norm(grad_h, axis=-1), ops.norm(features, axis=-1),
        ops.take(ops.convert_to_tensor(log_prior), y),
        ops.take(ops.convert_to_tensor(rank.astype("float32")), y),
        loss_mean, loss_var, forgetting, ops.zeros_like(ce) + progress,
        ce - ops.take(class_mean_loss, y), cosine,
    ]
    return ops.stack([ops.cast(c, logits.dtype) for c in columns], axis=-1)


def standardize(values):
    """Zero mean, unit variance per column over the batch (the global batch over several
    replicas; constant columns become 0)."""
    rows = backend.replica_sum(ops.cast(ops.shape(values)[0], values.dtype))
    mean = backend.replica_sum(ops.sum(values, axis=0, keepdims=True)) / rows
    variance = backend.replica_sum(ops.sum((values - mean) ** 2, axis=0, keepdims=True)) / rows
    return (values - mean) / (ops.sqrt(variance) + 1e-6)


@keras.saving.register_keras_serializable(package="kzoo")
class SampleHistory(keras.layers.Layer):
    """What training saw of each sample, indexed by sample id (0 .. num_samples - 1).

    ``update(ids, loss, correct, epsilon)`` folds the loss and correctness of each
    sample in the batch into its running loss mean and variance (Welford), counts
    its forgetting events (correct when last seen, wrong now) and keeps its
    perturbation strength in ``epsilon`` (each sample's last). ``read(ids)`` returns
    ``(loss_mean, loss_var, forgetting)`` for the batch.

    For the game that holds it: ``training_inputs(x)`` numbers the rows of a
    training array (``(x, ids)``), ``check_ids(ids, rows)`` refuses ids that are not one
    integer per row, or out of range, and
    ``training_monitors(ds)`` plots the epsilons (``kzoo.callbacks.EpsilonShares``).

    The five statistics (``STATISTICS``) are the layer's variables and save with
    it. ``epsilon`` is not one of them: the game that holds the history tracks and
    saves it among its own variables (``MetaIADA.sample_epsilon``).

    Args:
        num_samples: int >= 1. Size of the training set.
    """

    def __init__(self, num_samples, **kwargs):
        super().__init__(**kwargs)
        if num_samples is None:
            raise ValueError("a sample history needs num_samples, the training set size (an "
                             "int >= 1); got None. Or pass history=False.")
        self.num_samples = validate.integer("num_samples", num_samples, low=1)
        for name in STATISTICS:
            setattr(self, name, self.add_weight(shape=(self.num_samples,), initializer="zeros",
                                                trainable=False, name=name))
        # Set past the layer's tracking: the variable is the holder's (see above).
        object.__setattr__(self, "epsilon", keras.Variable(
            "zeros", shape=(self.num_samples,), dtype=self.variable_dtype, trainable=False,
            name="sample_epsilon"))
        self.built = True

    def read(self, ids):
        flat = _flat_ids(ids)
        seen = ops.maximum(ops.take(self.seen.value, flat), 1.0)
        return (ops.take(self.loss_mean.value, flat), ops.take(self.loss_m2.value, flat) / seen,
                ops.take(self.forgetting.value, flat))

    def update(self, ids, loss, correct, epsilon):
        idx = ops.reshape(_flat_ids(ids), (-1, 1))
        flat = idx[:, 0]
        loss = ops.cast(ops.stop_gradient(ops.convert_to_tensor(loss)), "float32")
        correct = ops.cast(correct, "float32")
        seen = ops.take(self.seen.value, flat) + 1.0
        mean_old = ops.take(self.loss_mean.value, flat)
        mean = mean_old + (loss - mean_old) / seen
        m2 = ops.take(self.loss_m2.value, flat) + (loss - mean_old) * (loss - mean)
        was_correct = ops.take(self.last_correct.value, flat)
        forgetting = ops.take(self.forgetting.value, flat) + was_correct * (1.0 - correct)
        epsilon = ops.stop_gradient(ops.convert_to_tensor(epsilon))
        for var, new in ((self.seen, seen), (self.loss_mean, mean), (self.loss_m2, m2),
                         (self.last_correct, correct), (self.forgetting, forgetting),
                         (self.epsilon, epsilon)):
            var.assign(ops.scatter_update(var.value, idx, new))

    def training_inputs(self, x):
        return x, np.arange(len(x))

    def check_ids(self, ids, rows):
        ids = _check_shape(ids, rows)
        if ids.size and (ids.min() < 0 or ids.max() >= self.num_samples):
            raise ValueError(f"sample ids must lie in [0, num_samples={self.num_samples}); "
                             f"got [{ids.min()}, {ids.max()}].")

    def training_monitors(self, ds):
        return {"epsilon_shares.png": EpsilonShares(ds.y_train, ds.extras.get("noisy"))}

    def get_config(self):
        return {**super().get_config(), "num_samples": self.num_samples}


class NoHistory:
    """``SampleHistory``'s methods for a game that keeps no history: ``read`` gives
    zeros, ids are optional and unchecked, and nothing is kept (``epsilon`` is None)."""

    epsilon = None

    def read(self, ids):
        return 0.0, 0.0, 0.0

    def update(self, ids, loss, correct, epsilon):
        pass

    def training_inputs(self, x):
        return x

    def check_ids(self, ids, rows):
        _check_shape(ids, rows)

    def training_monitors(self, ds):
        return {}


def split_ids(x):
    """``(x, ids)`` of a training input: a pair ``(x, ids)`` as given, else ``(x, None)``."""
    if isinstance(x, (tuple, list)) and len(x) == 2:
        return x[0], x[1]
    return x, None


def _check_shape(ids, rows):
    ids = np.asarray(ids)
    if ids.shape != (rows,) or not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f"sample ids must be {rows} integers, one per row of x; got shape "
                         f"{ids.shape}, dtype {ids.dtype}.")
    return ids


def _flat_ids(ids):
    if ids is None:
        raise ValueError("the sample history needs each batch's sample ids: pass arrays to "
                         "fit (their rows are numbered), or (x, ids) as x; or pass "
                         "history=False.")
    return ops.reshape(ops.cast(ids, "int32"), (-1,))
