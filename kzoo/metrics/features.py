"""Feature extractors for the generative metrics: a kzoo classifier, or Keras' InceptionV3.

Both take images in [0, 1] (NHWC) and return ``(features, class probabilities)`` as
NumPy arrays. The Frechet distance on a kzoo classifier's features is reported as
"Frechet classifier distance"; only InceptionV3 with its ImageNet weights gives FID.
"""

from pathlib import Path

import keras
import numpy as np


class ClassifierFeatures:
    """Penultimate features and softmax probabilities of a kzoo classifier.

    Args:
        model: str or Game. A preset name or run directory (e.g. the digits feature
            network, ``"digits-cnn-ce"``), or a loaded game that serves a classifier.
        batch_size: int. Default 500.

    Example:
        >>> features, probs = ClassifierFeatures("digits-cnn-ce")(kzoo.data.load("digits").x_test)
        >>> features.shape, probs.shape
        ((540, 64), (540, 10))
    """

    def __init__(self, model, batch_size=500):
        from kzoo import zoo
        from kzoo.nets import features_model

        self.name = str(model) if isinstance(model, (str, Path)) else model.name
        if isinstance(model, (str, Path)):
            model = zoo.load(model)
        if "classifier" not in getattr(model, "serves", ()):
            raise ValueError(f"{self.name} is a {type(model).__name__}, which serves no "
                             f"classifier to take features from; choose a classifier preset.")
        net = model.classifier
        self.input_shape = tuple(net.input_shape[1:])
        probs = keras.layers.Softmax()(net.output)
        self.model = keras.Model(net.input, [features_model(net).output, probs])
        self.batch_size = int(batch_size)

    def __call__(self, images):
        x = np.asarray(images, "float32")
        if tuple(x.shape[1:]) != self.input_shape:
            raise ValueError(f"{self.name} takes images of shape {self.input_shape} in [0, 1]; "
                             f"got {tuple(x.shape[1:])}.")
        return _features_and_probs(self.model, x, self.batch_size)


class InceptionFeatures:
    """InceptionV3's 2048 pool features and 1000-way probabilities (FID, IS, KID).

    Images in [0, 1] of any size and 1 or 3 channels are resized to ``size``
    (bilinear), grey ones repeated to RGB, and scaled to [-1, 1] as InceptionV3
    expects. FID and IS as published need the ImageNet weights and ``size=299``.

    Args:
        weights: str, Path or None. Path to InceptionV3's weights (the
            ``inception_v3_weights_tf_dim_ordering_tf_kernels.h5`` file Keras
            downloads, or a ``.weights.h5``); None builds random weights (for tests:
            the numbers then mean nothing).
        size: int >= 75. Input side. Default 299.
        batch_size: int. Default 64.

    Example:
        >>> inception = InceptionFeatures("~/inception_v3_weights.h5")
        >>> fid = kzoo.metrics.frechet_distance_of(inception(real)[0], inception(fake)[0])
    """

    def __init__(self, weights, size=299, batch_size=64):
        if weights is not None:
            weights = Path(weights).expanduser()
            if not weights.is_file():
                raise ValueError(f"weights: no InceptionV3 weights file at {weights}.")
        if int(size) < 75:
            raise ValueError(f"size must be >= 75 (InceptionV3's smallest input); got {size}.")
        self.size, self.batch_size = int(size), int(batch_size)
        net = keras.applications.InceptionV3(
            include_top=True, weights=None, input_shape=(self.size, self.size, 3))
        if weights is not None:
            net.load_weights(str(weights))
        self.model = keras.Model(net.input, [net.get_layer("avg_pool").output, net.output])

    def __call__(self, images):
        x = np.asarray(images, "float32")
        if x.ndim != 4 or x.shape[-1] not in (1, 3):
            raise ValueError(f"InceptionFeatures takes images (n, h, w, 1 or 3) in [0, 1]; "
                             f"got shape {x.shape}.")
        return _features_and_probs(self._prepare, x, self.batch_size)

    def _prepare(self, x):
        x = keras.ops.image.resize(x, (self.size, self.size), interpolation="bilinear")
        if x.shape[-1] == 1:
            x = keras.ops.repeat(x, 3, axis=-1)
        return self.model(2.0 * x - 1.0, training=False)


def _features_and_probs(model, x, batch_size):
    features, probs = [], []
    for i in range(0, len(x), batch_size):
        f, p = model(x[i:i + batch_size])
        features.append(keras.ops.convert_to_numpy(f))
        probs.append(keras.ops.convert_to_numpy(p))
    return np.concatenate(features), np.concatenate(probs)
