"""The classification head shared by every kzoo net, and views of a net (its features; its
channels-first form)."""

import keras

from kzoo import validate
from kzoo.nets.layers import NormedDense

FEATURES = "features"
LOGITS = "logits"


def logits_head(features, num_classes, normed_head):
    """Dense (or cosine, ``normed_head=True``) logits named ``"logits"``, computed in
    float32 under a mixed-precision policy (the losses' softmax needs its range)."""
    num_classes = validate.integer("num_classes", num_classes, low=2)
    if validate.boolean("normed_head", normed_head):
        return NormedDense(num_classes, name=LOGITS, dtype="float32")(features)
    return keras.layers.Dense(num_classes, name=LOGITS, dtype="float32")(features)


def features_model(net):
    """The sub-model mapping ``net``'s input to its penultimate features.

    Examples:
        >>> net = kzoo.nets.small_cnn((8, 8, 1), 10)
        >>> kzoo.nets.features_model(net).output_shape
        (None, 64)
    """
    return keras.Model(net.inputs, net.get_layer(FEATURES).output, name=f"{net.name}_features")


def dense_head(net, who):
    """The dense ``"logits"`` layer (bias, no activation) sitting on ``"features"``; the
    closed forms of ``who`` (a game's name, for the errors) need it."""
    try:
        head = net.get_layer(LOGITS)
    except ValueError as err:
        raise ValueError(f"{who} needs a net with a {FEATURES!r} layer and a dense "
                         f"{LOGITS!r} layer on it (kzoo's nets); {net.name!r} has none.") from err
    linear = getattr(head, "activation", None) is keras.activations.linear
    if not isinstance(head, keras.layers.Dense) or not head.use_bias or not linear:
        raise ValueError(f"{who}'s closed form needs a dense {LOGITS!r} layer with a bias "
                         f"and no activation; {net.name!r} has {type(head).__name__}. "
                         f"Build kzoo nets with normed_head=False.")
    if net.outputs[0] is not head.output or head.input is not net.get_layer(FEATURES).output:
        raise ValueError(f"the {LOGITS!r} layer must take the {FEATURES!r} layer's output "
                         f"and give {net.name!r}'s output.")
    return head


def feature_dim(net, who):
    """The width of ``net``'s flat ``"features"`` layer (batch, d)."""
    try:
        shape = tuple(net.get_layer(FEATURES).output.shape)
    except ValueError as err:
        raise ValueError(f"{who} needs a net with a {FEATURES!r} layer and a dense "
                         f"{LOGITS!r} layer on it (kzoo's nets); {net.name!r} has none.") from err
    if len(shape) != 2 or shape[-1] is None:
        raise ValueError(f"{who}'s class covariances need flat features (batch, d); "
                         f"{net.name!r}'s {FEATURES!r} layer gives {shape}.")
    return int(shape[-1])
