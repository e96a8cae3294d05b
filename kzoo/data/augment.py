"""Random image augmentation for the input pipeline, with Keras core layers.

The papers' CIFAR recipe is a random crop of the image padded by 4 pixels, then a
horizontal flip. Keras' ``RandomCrop`` crops a whole batch at one place; the per-image
crop is ``RandomTranslation`` by at most 4 pixels with zero fill and nearest
interpolation (the shifts are drawn continuous and rounded, so shifts of exactly 4 pixels
come half as often as the others: 1/16 against 1/8 per axis). ``RandomFlip`` flips each
image with probability 1/2. The layers run on the current backend, so the same recipe
augments the same way on TensorFlow, PyTorch and JAX, without TensorFlow for the others.

Examples:
    >>> augment = Augment(["crop", "flip"], image_shape=(32, 32, 3))
    >>> batch = augment(x_train[:128], seed=7)      # NumPy in, NumPy out
"""

import keras
import numpy as np

from kzoo import validate

AUGMENTATIONS = ("crop", "flip")
PAD = 4  # pixels: the papers' CIFAR padding


class Augment:
    """Draws one random transformation per image of a batch, from an integer seed.

    Args:
        names: list of str, each in ``AUGMENTATIONS``, applied in that order: "crop" (a
            shift of up to 4 pixels with zero fill) and "flip" (horizontal).
        image_shape: (height, width, channels) of the images; "crop" needs both sides
            above 8 pixels.

    Calling it with ``(images, seed)`` (NHWC float NumPy array, int) returns the
    augmented images as a float32 NumPy array; the same seed gives the same images on
    every call (and each call is independent of any other, so batches may be made in
    any order, by several threads).
    """

    def __init__(self, names, image_shape):
        names = check_names("augment", names)
        if len(image_shape) != 3:
            raise ValueError(f"augment takes images (height, width, channels); the inputs "
                             f"have shape {tuple(image_shape)}.")
        height, width = image_shape[:2]
        if "crop" in names and min(height, width) <= 2 * PAD:
            raise ValueError(f"augment \"crop\" shifts by up to {PAD} pixels and needs images "
                             f"larger than {2 * PAD}x{2 * PAD}; got {height}x{width}.")
        self.names = names
        self.layers = [
            keras.layers.RandomTranslation(PAD / height, PAD / width, fill_mode="constant",
                                           interpolation="nearest", fill_value=0.0,
                                           dtype="float32")
            if name == "crop" else keras.layers.RandomFlip("horizontal", dtype="float32")
            for name in self.names
        ]

    def __call__(self, images, seed):
        images = keras.ops.convert_to_tensor(np.asarray(images, "float32"))
        generator = keras.random.SeedGenerator(int(seed))
        for layer in self.layers:
            change = layer.get_random_transformation(images, training=True, seed=generator)
            images = layer.transform_images(images, change, training=True)
        return keras.ops.convert_to_numpy(images).astype("float32", copy=False)


def check_names(argument, names):
    """``names`` as a list, each in ``AUGMENTATIONS`` and named once; ``ValueError``
    naming ``argument`` otherwise."""
    if not isinstance(names, (list, tuple)) or not names:
        raise ValueError(f"{argument} must be a non-empty list of names in "
                         f"{list(AUGMENTATIONS)}; got {names!r}.")
    for name in names:
        validate.choice(argument, name, AUGMENTATIONS)
    if len(set(names)) != len(names):
        raise ValueError(f"{argument} names each augmentation once; got {list(names)}.")
    return list(names)


def augment_images(inputs, augment, seed):
    """``inputs`` (an array or a tuple of arrays, as a game's ``training_inputs``) with
    ``augment`` applied to its images (the arrays of rank 4) under ``seed``."""
    return keras.tree.map_structure(
        lambda a: augment(a, seed) if np.ndim(a) == 4 else a, inputs)
