"""Online per-class feature mean and covariance (ISDA's estimator)."""

import keras
from keras import ops

from kzoo import validate


@keras.saving.register_keras_serializable(package="kzoo")
class ClassCovariance(keras.layers.Layer):
    """Running per-class mean, covariance and count of features, updated batch by batch.

    After any sequence of ``update(features, labels)`` calls, ``mean``,
    ``covariance`` and ``count`` equal the mean, the population (1/N)
    covariance and the number of every feature vector seen so far in each
    class. The state is non-trainable and saves with the model.

    Args:
        num_classes: int >= 2.
        dim: int >= 1. Feature dimension.
        diagonal: bool. Keep only the variances, shape (classes, dim); for wide
            features. Default False: full matrices (classes, dim, dim).

    Examples:
        >>> cov = ClassCovariance(10, 64)
        >>> cov.update(features, labels)     # inside train_step, once per batch
        >>> cov.covariance.shape
        (10, 64, 64)
    """

    def __init__(self, num_classes, dim, diagonal=False, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = validate.integer("num_classes", num_classes, low=2)
        self.dim = validate.integer("dim", dim, low=1)
        self.diagonal = validate.boolean("diagonal", diagonal)
        cov_shape = (self.num_classes, self.dim) if diagonal else (self.num_classes,) + (dim,) * 2
        self.mean = self.add_weight(shape=(self.num_classes, self.dim), initializer="zeros",
                                    trainable=False, name="mean")
        self.covariance = self.add_weight(shape=cov_shape, initializer="zeros", trainable=False,
                                          name="covariance")
        self.count = self.add_weight(shape=(self.num_classes,), initializer="zeros",
                                     trainable=False, name="count")
        self.built = True

    def update(self, features, labels):
        """Folds a batch of ``features`` (batch, dim) with integer ``labels`` into the state."""
        h = ops.convert_to_tensor(features)
        if len(h.shape) != 2 or h.shape[-1] != self.dim:
            raise ValueError(f"features must have shape (batch, {self.dim}); "
                             f"got {tuple(h.shape)}.")
        h = ops.cast(h, self.mean.dtype)
        onehot = ops.one_hot(ops.reshape(ops.cast(labels, "int32"), (-1,)), self.num_classes,
                             dtype=h.dtype)
        n = ops.sum(onehot, axis=0)                                       # (C,)
        mu_b = ops.matmul(ops.transpose(onehot), h) / ops.maximum(n, 1.0)[:, None]
        centred = h - ops.matmul(onehot, mu_b)
        if self.diagonal:
            s_b = ops.matmul(ops.transpose(onehot), centred**2) / ops.maximum(n, 1.0)[:, None]
        else:
            s_b = ops.einsum("bc,bd,be->cde", onehot, centred, centred)
            s_b = s_b / ops.maximum(n, 1.0)[:, None, None]
        total = self.count + n
        w_old = self.count / ops.maximum(total, 1.0)
        w_new = n / ops.maximum(total, 1.0)
        diff = self.mean - mu_b
        spread = diff**2 if self.diagonal else diff[:, :, None] * diff[:, None, :]
        shape = (-1, 1) if self.diagonal else (-1, 1, 1)
        self.covariance.assign(ops.reshape(w_old, shape) * self.covariance
                               + ops.reshape(w_new, shape) * s_b
                               + ops.reshape(w_old * w_new, shape) * spread)
        self.mean.assign(w_old[:, None] * self.mean + w_new[:, None] * mu_b)
        self.count.assign(total)

    def call(self, labels):
        """The covariance of each label's class: (batch, dim, dim) or (batch, dim)."""
        return ops.take(self.covariance, ops.cast(labels, "int32"), axis=0)

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes, "dim": self.dim,
                "diagonal": self.diagonal}
