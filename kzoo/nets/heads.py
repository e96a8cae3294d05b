"""The classification head shared by every kzoo net."""

import keras

from kzoo.nets.layers import NormedDense

FEATURES = "features"
LOGITS = "logits"


def logits_head(features, num_classes, normed_head):
    """Dense (or cosine, ``normed_head=True``) logits named ``"logits"``."""
    if not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"num_classes must be an int >= 2; got {num_classes!r}.")
    if normed_head:
        return NormedDense(num_classes, name=LOGITS)(features)
    return keras.layers.Dense(num_classes, name=LOGITS)(features)


def features_model(net):
    """The sub-model mapping ``net``'s input to its penultimate features.

    Example:
        >>> net = kzoo.nets.small_cnn((8, 8, 1), 10)
        >>> kzoo.nets.features_model(net).output_shape
        (None, 64)
    """
    return keras.Model(net.inputs, net.get_layer(FEATURES).output, name=f"{net.name}_features")
