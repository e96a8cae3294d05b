"""Classification losses for long-tailed data: pure ``keras.ops`` functions, and a registry
of loss objects that carry their own arguments (``get``).

Every loss takes integer labels ``y_true`` of shape ``(batch,)`` and
``logits`` of shape ``(batch, classes)``, and returns a scalar. With
``class_weight`` (a vector over classes) and/or ``sample_weight`` (a vector over
the batch) the per-example losses are averaged with weights
``class_weight[y] * sample_weight``, normalised by their sum (as PyTorch's
weighted cross-entropy does); a batch whose weights are all zero gives 0.
``class_counts`` is a vector of positive counts (or shares), one per class.
"""

import numpy as np
from keras import ops

from kzoo import backend, validate


def class_balanced_weights(class_counts, beta=0.9999):
    """Class-balanced weights from the effective number of samples.

    ``w_c = (1 - beta) / (1 - beta ** n_c)``, rescaled to sum to the number of
    classes (Cui et al., 2019).

    Examples:
        >>> class_balanced_weights([100, 10], beta=0.9).round(3)
        array([0.186, 1.814], dtype=float32)
    """
    counts = np.array(validate.numbers_list("class_counts", class_counts, low=0, low_open=True))
    beta = validate.number("beta", beta, low=0, high=1, high_open=True)
    weights = (1.0 - beta) / (1.0 - np.power(beta, counts))
    return (weights / weights.sum() * len(counts)).astype("float32")


def ldam_margins(class_counts, max_margin=0.5):
    """Per-class LDAM margins ``C / n_c ** (1/4)``, the largest equal to ``max_margin`` (> 0)."""
    validate.number("max_margin", max_margin, low=0, low_open=True)
    counts = validate.numbers_list("class_counts", class_counts, low=0, low_open=True)
    m = 1.0 / np.power(counts, 0.25)
    return (m * (max_margin / m.max())).astype("float32")


def cross_entropy(y_true, logits, class_weight=None, sample_weight=None):
    """Softmax cross-entropy on logits."""
    return _reduce(per_example_cross_entropy(y_true, logits), y_true, class_weight, sample_weight)


def focal(y_true, logits, gamma=2.0, class_weight=None, sample_weight=None):
    """Focal loss ``(1 - p_y) ** gamma * CE`` (Lin et al., 2017), ``gamma`` >= 0."""
    gamma = validate.number("gamma", gamma, low=0)
    ce = per_example_cross_entropy(y_true, logits)
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
    return _reduce(per_example_cross_entropy(labels, scale * shifted), labels, class_weight,
                   sample_weight)


def logit_adjusted(y_true, logits, class_counts, tau=1.0, class_weight=None,
                   sample_weight=None):
    """Logit-adjusted cross-entropy: CE of ``logits + tau * log(prior)``, ``tau`` >= 0
    (Menon et al., 2021)."""
    tau = validate.number("tau", tau, low=0)
    counts = np.array(validate.numbers_list("class_counts", class_counts, low=0, low_open=True))
    log_prior = ops.convert_to_tensor(np.log(counts / counts.sum()).astype("float32"))
    logits = ops.convert_to_tensor(logits) + tau * log_prior
    return _reduce(per_example_cross_entropy(y_true, logits), y_true, class_weight, sample_weight)


def _labels(y_true):
    return ops.reshape(ops.cast(y_true, "int32"), (-1,))


def per_example_cross_entropy(y_true, logits):
    """Softmax cross-entropy of each example, shape (batch,): ``-log softmax(logits)[y]``."""
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
    # Normalised by the replicas' mean weight sum (its own sum on one device): the mean
    # of the replicas' losses is then the global batch's weighted mean, as on one device.
    return ops.sum(w * per_example) / ops.maximum(backend.replica_mean(ops.sum(w)), 1e-12)


class Loss:
    """A classification loss holding its own arguments; ``get`` makes one by name.

    ``loss(y, logits, class_weight=None, sample_weight=None)`` is the loss of a batch, a
    ``class_weight`` given replacing the loss's own ``loss.class_weight`` (None, but for
    "class_balanced"); ``get_config()`` returns the loss's arguments. A subclass declares
    ``name``, ``arguments`` (``{argument: (default, bounds for validate.number)}``) and
    ``needs_counts``, and writes ``__call__``.
    """

    name = ""
    arguments = {}
    needs_counts = False

    def __init__(self, class_counts=None, **args):
        for key, value in args.items():
            if key not in self.arguments:
                allowed = ", ".join(self.arguments) or "no argument"
                raise ValueError(f"loss {self.name!r} takes no argument {key!r} (got "
                                 f"{key}={value!r}); allowed: {allowed}.")
        if class_counts is None and self.needs_counts:
            raise ValueError(f"loss={self.name!r} needs class_counts (training count per "
                             f"class).")
        if class_counts is not None:
            class_counts = validate.numbers_list("class_counts", class_counts, low=0,
                                                 low_open=True)
        self.class_counts = class_counts
        for key, (default, bounds) in self.arguments.items():
            setattr(self, key, validate.number(key, args.get(key, default), **bounds))
        self.class_weight = None

    def get_config(self):
        return {key: getattr(self, key) for key in self.arguments}


class CrossEntropy(Loss):
    """Softmax cross-entropy (``cross_entropy``)."""

    name = "ce"

    def __call__(self, y, logits, class_weight=None, sample_weight=None):
        return cross_entropy(y, logits, class_weight, sample_weight)


class ClassBalanced(Loss):
    """Cross-entropy weighted by ``class_balanced_weights(class_counts, beta)``."""

    name = "class_balanced"
    arguments = {"beta": (0.9999, {"low": 0, "high": 1, "high_open": True})}
    needs_counts = True

    def __init__(self, class_counts=None, **args):
        super().__init__(class_counts, **args)
        self.class_weight = class_balanced_weights(self.class_counts, self.beta)

    def __call__(self, y, logits, class_weight=None, sample_weight=None):
        weight = self.class_weight if class_weight is None else class_weight
        return cross_entropy(y, logits, weight, sample_weight)


class Focal(Loss):
    """The focal loss (``focal``)."""

    name = "focal"
    arguments = {"gamma": (2.0, {"low": 0})}

    def __call__(self, y, logits, class_weight=None, sample_weight=None):
        return focal(y, logits, self.gamma, class_weight, sample_weight)


class LDAM(Loss):
    """The label-distribution-aware margin loss (``ldam``)."""

    name = "ldam"
    arguments = {"max_margin": (0.5, {"low": 0, "low_open": True}),
                 "scale": (30.0, {"low": 0, "low_open": True})}
    needs_counts = True

    def __call__(self, y, logits, class_weight=None, sample_weight=None):
        return ldam(y, logits, self.class_counts, self.max_margin, self.scale, class_weight,
                    sample_weight)


class LogitAdjusted(Loss):
    """Logit-adjusted cross-entropy (``logit_adjusted``)."""

    name = "logit_adjusted"
    arguments = {"tau": (1.0, {"low": 0})}
    needs_counts = True

    def __call__(self, y, logits, class_weight=None, sample_weight=None):
        return logit_adjusted(y, logits, self.class_counts, self.tau, class_weight,
                              sample_weight)


LOSSES = {cls.name: cls for cls in (CrossEntropy, ClassBalanced, Focal, LDAM, LogitAdjusted)}


def get(name, class_counts=None, **args):
    """The loss named ``name`` (one of ``LOSSES``) with its arguments ``args`` (each checked;
    the others take their defaults), for the training counts ``class_counts`` ("class_balanced",
    "ldam" and "logit_adjusted" need them).

    Examples:
        >>> loss = kzoo.losses.get("ldam", class_counts=[100, 10], scale=16.0)
        >>> loss.get_config()
        {'max_margin': 0.5, 'scale': 16.0}
        >>> value = loss(y, logits)
    """
    return LOSSES[validate.choice("loss", name, tuple(LOSSES))](class_counts, **args)
