"""Meta-IADA's perturbation network: training characteristics -> epsilon in (-1, 1)."""

import keras
from keras import layers

from kzoo import validate


def perturbation_net(num_characteristics=15, hidden=100, name="perturbation_net"):
    """A two-layer MLP with a tanh output: one epsilon per sample, shape (batch,).

    Positive epsilon perturbs a sample's features adversarially, negative
    anti-adversarially (Meta-IADA).

    Args:
        num_characteristics: int >= 1. Length of each sample's characteristic vector. Default 15.
        hidden: int >= 1. Hidden units. Default 100.
        name: str. Default "perturbation_net".

    Examples:
        >>> perturbation_net(15)(keras.ops.zeros((4, 15))).shape
        (4,)
    """
    num_characteristics = validate.integer("num_characteristics", num_characteristics, low=1)
    hidden = validate.integer("hidden", hidden, low=1)
    inputs = keras.Input((num_characteristics,), name="characteristics")
    x = layers.Dense(hidden, activation="relu")(inputs)
    x = layers.Dense(1, activation="tanh")(x)
    return keras.Model(inputs, layers.Reshape(())(x), name=name)
