"""ResNet-32 in its CIFAR form (He et al., 2016)."""

import keras
from keras import layers

from kzoo import validate
from kzoo.nets.heads import FEATURES, logits_head

# PyTorch's default (0.1 there), as in the CIFAR ResNet-32 of the long-tail papers.
BN_MOMENTUM = 0.9


def resnet32(input_shape=(32, 32, 3), num_classes=10, *, normed_head=False, name="resnet32"):
    """ResNet-32 for 32x32 images: three stages of five basic blocks (16, 32, 64 channels).

    Args:
        input_shape: tuple. Any (h, w, c) with h and w divisible by 4. Default (32, 32, 3).
        num_classes: int. Default 10.
        normed_head: bool. Cosine head (for LDAM). Default False.
        name: str. Default "resnet32".

    Examples:
        >>> resnet32((32, 32, 3), 10).count_params() > 400_000
        True
    """
    input_shape = validate.int_tuple("input_shape", input_shape)
    if len(input_shape) != 3 or input_shape[0] % 4 or input_shape[1] % 4:
        raise ValueError(
            f"resnet32 takes input_shape (h, w, c) with h and w divisible by 4; got {input_shape}."
        )
    inputs = keras.Input(input_shape, name="image")
    x = _conv_bn(inputs, 16, 1)
    x = layers.ReLU()(x)
    for stage, filters in enumerate((16, 32, 64)):
        for block in range(5):
            x = _basic_block(x, filters, 2 if stage > 0 and block == 0 else 1)
    features = layers.GlobalAveragePooling2D(name=FEATURES)(x)
    return keras.Model(inputs, logits_head(features, num_classes, normed_head), name=name)


def _conv_bn(x, filters, stride):
    x = layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False,
                      kernel_initializer="he_normal")(x)
    return layers.BatchNormalization(momentum=BN_MOMENTUM)(x)


def _basic_block(x, filters, stride):
    shortcut = x
    y = layers.ReLU()(_conv_bn(x, filters, stride))
    y = _conv_bn(y, filters, 1)
    if stride != 1 or x.shape[-1] != filters:
        shortcut = layers.Conv2D(filters, 1, strides=stride, use_bias=False)(x)
        shortcut = layers.BatchNormalization(momentum=BN_MOMENTUM)(shortcut)
    return layers.ReLU()(layers.Add()([y, shortcut]))
