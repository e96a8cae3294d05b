"""A small convolutional classifier for images of any size from 4x4 up."""

import keras
from keras import layers

from kzoo import validate
from kzoo.nets.heads import FEATURES, logits_head

MAX_BLOCKS = 3


def small_cnn(input_shape=(8, 8, 1), num_classes=10, *, width=32, batch_norm=True,
              bn_momentum=0.9, normed_head=False, name="small_cnn"):
    """A small CNN: conv blocks (3x3 conv, optional batch norm, ReLU, 2x2 pool).

    One block per halving of the image that leaves a map of at least 2x2, up to three
    (``blocks``): one for 4x4 to 7x7 inputs, two for 8x8 to 15x15, three from 16x16 up
    (8x8 digits: two; 28x28 and 32x32: three), widths doubling from ``width``; global
    average pooling gives the ``"features"`` layer, then a dense (or cosine)
    ``"logits"`` layer.

    Args:
        input_shape: tuple (height, width, channels), height and width >= 4 (need not
            be equal). Default (8, 8, 1).
        num_classes: int. Default 10.
        width: int >= 1. Channels of the first block. Default 32.
        batch_norm: bool. Batch norm after each conv. Default True.
        bn_momentum: float in (0, 1). Moving-average momentum of batch norm. Default 0.9
            (PyTorch's 0.1), not Keras' 0.99: on small data sets (a few steps
            per epoch) the slower average lags the weights.
        normed_head: bool. Cosine head (for LDAM). Default False.
        name: str. Model name. Default "small_cnn".

    Examples:
        >>> net = small_cnn((8, 8, 1), 10)
        >>> net.output_shape
        (None, 10)
        >>> small_cnn((20, 20, 3), 4).output_shape
        (None, 4)
    """
    input_shape = validate.int_tuple("input_shape", input_shape)
    width = validate.integer("width", width, low=1)
    validate.boolean("batch_norm", batch_norm)
    validate.number("bn_momentum", bn_momentum, low=0, high=1, low_open=True, high_open=True)
    count = blocks(input_shape)
    inputs = keras.Input(input_shape, name="image")
    x = inputs
    for i in range(count):
        x = layers.Conv2D(width * 2**i, 3, padding="same", use_bias=not batch_norm)(x)
        if batch_norm:
            x = layers.BatchNormalization(momentum=bn_momentum)(x)
        x = layers.ReLU()(x)
        x = layers.MaxPooling2D(2)(x)
    features = layers.GlobalAveragePooling2D(name=FEATURES)(x)
    return keras.Model(inputs, logits_head(features, num_classes, normed_head), name=name)


def blocks(input_shape):
    """The conv blocks of ``small_cnn`` for images of ``input_shape`` (h, w, c): each halves
    the map (2x2 max pooling), as many as leave at least 2x2, at most ``MAX_BLOCKS``.

    Examples:
        >>> blocks((8, 8, 1)), blocks((20, 20, 3)), blocks((32, 32, 3))
        (2, 3, 3)
    """
    side = min(input_shape[:2]) if len(input_shape) == 3 else 0
    if side < 4:
        raise ValueError(
            f"small_cnn takes images (height, width, channels) of at least 4x4: each conv "
            f"block halves the map, and one block needs 4x4 to leave 2x2; got input_shape "
            f"{input_shape}. For flat inputs (d,) or smaller images use kzoo.nets.mlp (arch "
            f"\"mlp\", which flattens any shape).")
    return min(MAX_BLOCKS, side.bit_length() - 2)
