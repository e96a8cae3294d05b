"""A multi-layer perceptron, for 2-D mixtures and flat features."""

import keras
from keras import layers

from kzoo import validate
from kzoo.nets.heads import FEATURES, logits_head


def mlp(input_shape=(2,), num_classes=8, *, hidden=(128, 128), normed_head=False, name="mlp"):
    """Dense ReLU layers; the last hidden layer is ``"features"``.

    Args:
        input_shape: tuple. Any shape; it is flattened. Default (2,).
        num_classes: int. Default 8.
        hidden: tuple of int >= 1. Hidden widths, at least one. Default (128, 128).
        normed_head: bool. Cosine head. Default False.
        name: str. Default "mlp".

    Examples:
        >>> mlp((2,), 8).output_shape
        (None, 8)
    """
    hidden = validate.int_tuple("hidden", hidden)
    inputs = keras.Input(validate.int_tuple("input_shape", input_shape), name="input")
    x = layers.Flatten()(inputs)
    for i, units in enumerate(hidden):
        last = i == len(hidden) - 1
        x = layers.Dense(units, activation="relu", name=FEATURES if last else None)(x)
    return keras.Model(inputs, logits_head(x, num_classes, normed_head), name=name)
