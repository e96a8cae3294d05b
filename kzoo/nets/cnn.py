"""A small convolutional classifier for 8x8, 28x28 and 32x32 images."""

import keras
from keras import layers

from kzoo import validate
from kzoo.nets.heads import FEATURES, logits_head

_BLOCKS = {8: 2, 28: 3, 32: 3}


def small_cnn(input_shape=(8, 8, 1), num_classes=10, *, width=32, batch_norm=True,
              bn_momentum=0.9, normed_head=False, name="small_cnn"):
    """A small CNN: conv blocks (3x3 conv, optional batch norm, ReLU, 2x2 pool).

    Two blocks for 8x8 inputs, three for 28x28 and 32x32, widths doubling
    from ``width``; global average pooling gives the ``"features"`` layer,
    then a dense (or cosine) ``"logits"`` layer.

    Args:
        input_shape: tuple (height, width, channels). (8, 8, c), (28, 28, c)
            or (32, 32, c). Default (8, 8, 1).
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
    """
    input_shape = validate.int_tuple("input_shape", input_shape)
    width = validate.integer("width", width, low=1)
    validate.boolean("batch_norm", batch_norm)
    validate.number("bn_momentum", bn_momentum, low=0, high=1, low_open=True, high_open=True)
    if len(input_shape) != 3 or input_shape[0] != input_shape[1] or input_shape[0] not in _BLOCKS:
        raise ValueError(
            f"small_cnn takes input_shape (8, 8, c), (28, 28, c) or (32, 32, c); "
            f"got {input_shape}."
        )
    inputs = keras.Input(input_shape, name="image")
    x = inputs
    for i in range(_BLOCKS[input_shape[0]]):
        x = layers.Conv2D(width * 2**i, 3, padding="same", use_bias=not batch_norm)(x)
        if batch_norm:
            x = layers.BatchNormalization(momentum=bn_momentum)(x)
        x = layers.ReLU()(x)
        x = layers.MaxPooling2D(2)(x)
    features = layers.GlobalAveragePooling2D(name=FEATURES)(x)
    return keras.Model(inputs, logits_head(features, num_classes, normed_head), name=name)
