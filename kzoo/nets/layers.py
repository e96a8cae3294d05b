"""Layers the kzoo nets need that Keras core does not have."""

import keras
from keras import ops

from kzoo import validate


@keras.saving.register_keras_serializable(package="kzoo")
class NormedDense(keras.layers.Layer):
    """Cosine-similarity head: ``normalize(x) @ normalize(W, axis=0)``.

    The logits lie in [-1, 1]; margin losses such as LDAM scale them (s = 30).

    Args:
        units: int >= 1. Number of outputs.

    Examples:
        >>> layer = NormedDense(10)
        >>> layer(keras.ops.ones((2, 4))).shape
        (2, 10)
    """

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = validate.integer("units", units, low=1)

    def build(self, input_shape):
        self.kernel = self.add_weight(
            shape=(input_shape[-1], self.units), initializer="glorot_uniform", name="kernel"
        )

    def call(self, x):
        x = x / (ops.norm(x, axis=-1, keepdims=True) + 1e-12)
        w = self.kernel / (ops.norm(self.kernel, axis=0, keepdims=True) + 1e-12)
        return ops.matmul(x, w)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def get_config(self):
        return {**super().get_config(), "units": self.units}
