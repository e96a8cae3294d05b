"""Per-sample training characteristics for Meta-IADA's perturbation network.

The paper uses K = 15 characteristics; its appendix listing them is not public.
kzoo's fifteen, in order (``NAMES``): cross-entropy, margin (true logit minus
the best other), true-class probability, largest probability, entropy, norm of
the feature gradient of the CE, feature norm, log prior of the label, class
rank by training frequency (0 for the most frequent, scaled to [0, 1]),
running mean and variance of the sample's loss over the times it was seen,
its number of forgetting events (correct, then wrong), training progress in
[0, 1], the loss minus the batch mean loss of its class, and the cosine
between the features and their class's running mean. Each column is
standardised over the batch before it reaches the network.
"""

import keras
import numpy as np
from keras import ops

from kzoo import validate

NAMES = ("ce", "margin", "true_prob", "max_prob", "entropy", "grad_norm", "feature_norm",
         "log_prior", "class_rank", "loss_mean", "loss_var", "forgetting", "progress",
         "loss_minus_class_mean", "cosine_to_class_mean")


def characteristics(features, logits, kernel, y, class_counts, class_means, history, progress):
    """The raw (batch, 15) characteristics; ``history`` is ``SampleHistory.update``'s output."""
    counts = np.asarray(class_counts, dtype="float64")
    classes = len(counts)
    y = ops.reshape(ops.cast(y, "int32"), (-1,))
    onehot = ops.one_hot(y, classes, dtype=logits.dtype)
    log_p = ops.log_softmax(logits, axis=-1)
    p = ops.exp(log_p)
    ce = -ops.sum(onehot * log_p, axis=-1)
    true_logit = ops.sum(onehot * logits, axis=-1)
    margin = true_logit - ops.max(logits - 1e9 * onehot, axis=-1)
    grad_h = ops.matmul(p - onehot, ops.transpose(kernel))
    log_prior = np.log(counts / counts.sum()).astype("float32")
    rank = np.argsort(np.argsort(-counts, kind="stable"), kind="stable") / max(classes - 1, 1)
    per_class = ops.matmul(ops.transpose(onehot), ce[:, None])[:, 0]
    class_mean_loss = per_class / ops.maximum(ops.sum(onehot, axis=0), 1.0)
    centre = ops.take(class_means, y, axis=0)
    cosine = ops.sum(features * centre, axis=-1) / (
        ops.norm(features, axis=-1) * ops.norm(centre, axis=-1) + 1e-12)
    loss_mean, loss_var, forgetting = history
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
    """Zero mean, unit variance per column over the batch (constant columns become 0)."""
    mean = ops.mean(values, axis=0, keepdims=True)
    std = ops.std(values, axis=0, keepdims=True)
    return (values - mean) / (std + 1e-6)


@keras.saving.register_keras_serializable(package="kzoo")
class SampleHistory(keras.layers.Layer):
    """Per-sample loss history, indexed by sample id (0 .. num_samples - 1).

    ``update(ids, loss, correct)`` folds the current loss and correctness of
    each sample in the batch into its running loss mean and variance (Welford)
    and counts forgetting events (correct when last seen, wrong now); it
    returns ``(loss_mean, loss_var, forgetting)`` for the batch, after the update.
    ``read(ids)`` returns the same triple without updating.

    Args:
        num_samples: int >= 1. Size of the training set.
    """

    def __init__(self, num_samples, **kwargs):
        super().__init__(**kwargs)
        self.num_samples = validate.integer("num_samples", num_samples, low=1)
        for name in ("seen", "loss_mean", "loss_m2", "last_correct", "forgetting"):
            setattr(self, name, self.add_weight(shape=(self.num_samples,), initializer="zeros",
                                                trainable=False, name=name))
        self.built = True

    def read(self, ids):
        flat = _flat_ids(ids)
        seen = ops.maximum(ops.take(self.seen.value, flat), 1.0)
        return (ops.take(self.loss_mean.value, flat), ops.take(self.loss_m2.value, flat) / seen,
                ops.take(self.forgetting.value, flat))

    def update(self, ids, loss, correct):
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
        for var, new in ((self.seen, seen), (self.loss_mean, mean), (self.loss_m2, m2),
                         (self.last_correct, correct), (self.forgetting, forgetting)):
            var.assign(ops.scatter_update(var.value, idx, new))
        return mean, m2 / seen, forgetting

    def get_config(self):
        return {**super().get_config(), "num_samples": self.num_samples}


def _flat_ids(ids):
    if ids is None:
        raise ValueError("SampleHistory needs the batch's sample ids; pass them with the data, "
                         "fit((x, ids), y), or turn the history characteristics off.")
    return ops.reshape(ops.cast(ids, "int32"), (-1,))
