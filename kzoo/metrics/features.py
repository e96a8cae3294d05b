"""Feature extractors for the generative metrics: a kzoo classifier, or Keras' InceptionV3.

Both take images in [0, 1] (NHWC, NumPy) and return ``(features, class probabilities)`` as
NumPy arrays. The Frechet distance on a kzoo classifier's features is reported as
"Frechet classifier distance". ``InceptionFeatures`` is Keras' ImageNet InceptionV3
(``keras.applications``), not the reference FID/IS network (TensorFlow's
``inception-2015-12-05`` graph, ``pt_inception-2015-12-05`` in pytorch-fid): its Frechet
distance and inception score are not comparable with published FIDs and ISs.
"""

from pathlib import Path

import keras
import numpy as np

from kzoo import validate


class ClassifierFeatures:
    """Penultimate features and softmax probabilities of a kzoo classifier.

    Args:
        model: Game. A loaded game that serves a classifier, e.g. the digits feature
            network ``kzoo.load("digits-cnn-ce")`` (``kzoo.metrics.feature_preset``).
        batch_size: int. Default 500.

    Examples:
        >>> features = ClassifierFeatures(kzoo.load("digits-cnn-ce"))
        >>> features, probs = features(kzoo.data.load("digits").x_test)
        >>> features.shape, probs.shape
        ((540, 64), (540, 10))
    """

    def __init__(self, model, batch_size=500):
        from kzoo.nets import features_model

        if isinstance(model, (str, Path)):
            raise ValueError(f"ClassifierFeatures takes a loaded game; for a preset or run "
                             f"directory: ClassifierFeatures(kzoo.load({str(model)!r})).")
        self.name = model.name
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
    """Keras' InceptionV3 (``keras.applications``): 2048 pool features and class probabilities.

    Images in [0, 1] of any size and 1 or 3 channels are resized to ``size``
    (bilinear), grey ones repeated to RGB, and scaled to [-1, 1] as InceptionV3 expects.

    None of the choices of ``weights`` is the reference network of published FIDs and ISs
    (TensorFlow's 2015 Inception graph, ``pt_inception-2015-12-05`` in pytorch-fid). Keras'
    ImageNet weights are another training of a slightly different graph: their Frechet
    distance is not comparable with published FIDs, so do not call it FID. The reference
    weights can be converted to this architecture (``classes=1008``, variable by variable),
    but Keras' InceptionV3 still differs from the graph in one place (its last block,
    ``mixed10``, average-pools its pool branch where the graph max-pools) and in the
    resizing, so even then the numbers approximate the reference and do not reproduce it.
    For numbers to set beside published ones, run the reference code on saved samples.

    Args:
        weights: str, Path or None. A weights file of
            ``keras.applications.InceptionV3(include_top=True, classes=classes)``, loaded
            with ``model.load_weights``: Keras' ImageNet file
            (``inception_v3_weights_tf_dim_ordering_tf_kernels.h5``), or a ``.weights.h5``
            saved from that architecture (e.g. converted from the FID network, with
            ``classes=1008``). None builds random weights (for tests: the numbers then
            mean nothing). A missing file, another suffix, or a file that does not match
            the architecture raises ``ValueError``.
        size: int >= 75. Input side. Default 299.
        batch_size: int >= 1. Default 64.
        classes: int >= 1. Width of the weights' classifier layer: 1000 for Keras'
            ImageNet weights, 1008 for weights converted from the FID network. Default 1000.

    Examples:
        >>> inception = InceptionFeatures("~/inception_v3_weights_tf_dim_ordering_tf_kernels.h5")
        >>> real_features, _ = inception(real)
        >>> fake_features, fake_probs = inception(fake)
        >>> kzoo.metrics.frechet_distance_of(real_features, fake_features)  # not a published FID
        >>> kzoo.metrics.inception_score(fake_probs)  # (mean, std) over 10 splits
    """

    def __init__(self, weights, size=299, batch_size=64, classes=1000):
        if int(size) < 75:
            raise ValueError(f"size must be >= 75 (InceptionV3's smallest input); got {size}.")
        self.size = int(size)
        self.batch_size = validate.integer("batch_size", batch_size, low=1)
        classes = validate.integer("classes", classes, low=1)
        path = _weights_path(weights)
        net = _inception_v3(self.size, classes)
        if path is not None:
            try:
                net.load_weights(str(path))
            except (ValueError, OSError, KeyError) as error:
                raise ValueError(
                    f"weights must be a weights file of keras.applications.InceptionV3("
                    f"include_top=True, classes={classes}); got {str(weights)!r}, which does "
                    f"not load into it: {error}") from error
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


def _weights_path(weights):
    """``weights`` as an existing ``.h5`` path, or None; ``ValueError`` otherwise."""
    if weights is None:
        return None
    if not isinstance(weights, (str, Path)):
        raise ValueError(f"weights must be a path to an InceptionV3 weights file (.h5) or "
                         f"None; got {weights!r}.")
    path = Path(weights).expanduser()
    if not path.name.endswith(".h5"):
        raise ValueError(f"weights must be a Keras weights file ending in .h5 or "
                         f".weights.h5; got {str(weights)!r}.")
    if not path.is_file():
        raise ValueError(f"weights must be an existing InceptionV3 weights file; got "
                         f"{str(weights)!r}: no such file.")
    return path


def _inception_v3(size, classes):
    return keras.applications.InceptionV3(include_top=True, weights=None,
                                          input_shape=(size, size, 3), classes=classes)


def _features_and_probs(model, x, batch_size):
    features, probs = [], []
    for i in range(0, len(x), batch_size):
        f, p = model(x[i:i + batch_size])
        features.append(keras.ops.convert_to_numpy(f))
        probs.append(keras.ops.convert_to_numpy(p))
    return np.concatenate(features), np.concatenate(probs)
