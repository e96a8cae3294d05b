"""Classification losses for long-tailed data, as pure ``keras.ops`` functions.

Every loss takes integer labels ``y_true`` of shape ``(batch,)`` and
``logits`` of shape ``(batch, classes)``, and returns a scalar. With
``class_weight`` (a vector over classes) and/or ``sample_weight`` (a vector over
the batch) the per-example losses are averaged with weights
``class_weight[y] * sample_weight``, normalised by their sum (as PyTorch's
weighted cross-entropy does); a batch whose weights are all zero gives 0.
"""

import numpy as np
from keras import ops

from kzoo import validate


def class_balanced_weights(class_counts, beta=0.9999):
    """Class-balanced weights from the effective number of samples.

    ``w_c = (1 - beta) / (1 - beta ** n_c)``, rescaled to sum to the number of
    classes (Cui et al., 2019).

    Example:
        >>> class_balanced_weights([100, 10], beta=0.9).round(3)
        array([0.186, 1.814], dtype=float32)
    """
    counts = _counts(class_counts)
    beta = validate.number("beta", beta, low=0, high=1, high_open=True)
    weights = (1.0 - beta) / (1.0 - np.power(beta, counts))
    return (weights / weights.sum() * len(counts)).astype("float32")


def ldam_margins(class_counts, max_margin=0.5):
    """Per-class LDAM margins ``C / n_c ** (1/4)``, the largest equal to ``max_margin`` (> 0)."""
    validate.number("max_margin", max_margin, low=0, low_open=True)
    m = 1.0 / np.power(_counts(class_counts), 0.25)
    return (m * (max_margin / m.max())).astype("float32")


def cross_entropy(y_true, logits, class_weight=None, sample_weight=None):
    """Softmax cross-entropy on logits."""
    return _reduce(_per_example_ce(y_true, logits), y_true, class_weight, sample_weight)


def focal(y_true, logits, gamma=2.0, class_weight=None, sample_weight=None):
    """Focal loss ``(1 - p_y) ** gamma * CE`` (Lin et al., 2017), ``gamma`` >= 0."""
    gamma = validate.number("gamma", gamma, low=0)
    ce = _per_example_ce(y_true, logits)
    p_true = ops.exp(-ce)
    return _reduce(ops.power(1.0 - p_true, gamma) * ce, y_true, class_weight, sample_weight)


def ldam(y_true, logits, class_counts, max_margin=0.5, scale=30.0, class_weight=None,
         sample_weight=None):
    """Label-distribution-aware margin loss (Cao et al., 2019).

    The true-class logit is lowered by its class margin, then the logits are
    multiplied by ``scale`` (> 0). Use it with a normalised (cosine) head, e.g.
    ``kzoo.nets.small_cnn(..., normed_head=True)``, as the paper does.
    """
    scale = validate.number("scale", scale, low=0, low_open=True)
    margins = ops.convert_to_tensor(ldam_margins(class_counts, max_margin))
    logits = ops.convert_to_tensor(logits)
    labels = _labels(y_true)
    onehot = ops.one_hot(labels, ops.shape(logits)[-1], dtype=logits.dtype)
    shifted = logits - onehot * ops.take(margins, labels)[:, None]
    return _reduce(_per_example_ce(labels, scale * shifted), labels, class_weight, sample_weight)


def logit_adjusted(y_true, logits, class_counts, tau=1.0, class_weight=None,
                   sample_weight=None):
    """Logit-adjusted cross-entropy: CE of ``logits + tau * log(prior)``, ``tau`` >= 0
    (Menon et al., 2021)."""
    tau = validate.number("tau", tau, low=0)
    counts = _counts(class_counts)
    log_prior = ops.convert_to_tensor(np.log(counts / counts.sum()).astype("float32"))
    logits = ops.convert_to_tensor(logits) + tau * log_prior
    return _reduce(_per_example_ce(y_true, logits), y_true, class_weight, sample_weight)


def _counts(class_counts):
    counts = np.asarray(class_counts, dtype="float64")
    if counts.ndim != 1 or counts.size < 2 or not (np.isfinite(counts) & (counts > 0)).all():
        raise ValueError(
            "class_counts must be a vector of positive counts, one per class; "
            f"got {class_counts!r}."
        )
    return counts


def _labels(y_true):
    return ops.reshape(ops.cast(y_true, "int32"), (-1,))


def _per_example_ce(y_true, logits):
    labels = _labels(y_true)
    log_p = ops.log_softmax(logits, axis=-1)
    return -ops.take_along_axis(log_p, labels[:, None], axis=-1)[:, 0]


def _reduce(per_example, y_true, class_weight, sample_weight):
    if class_weight is None and sample_weight is None:
        return ops.mean(per_example)
    w = ops.ones_like(per_example)
    if class_weight is not None:
        w = w * ops.take(ops.cast(class_weight, per_example.dtype), _labels(y_true))
    if sample_weight is not None:
        w = w * ops.reshape(ops.cast(sample_weight, per_example.dtype), (-1,))
    return ops.sum(w * per_example) / ops.maximum(ops.sum(w), 1e-12)
