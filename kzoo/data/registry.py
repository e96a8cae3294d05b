"""Every data set kzoo knows, one entry each: how it loads, its shape and classes, its published
split, its licence and description (on cards), the feature network of its generator metrics
and whether its density is known exactly. Cards, metrics, the paper-scale code and the docs
read this table; a new data set is one new entry.

Examples:
    >>> from kzoo.data import registry
    >>> registry.get("fashion_mnist").splits
    (60000, 10000)
"""

import dataclasses
from collections.abc import Callable

from kzoo import validate
from kzoo.data import embedded, idx, tfds


@dataclasses.dataclass(frozen=True)
class DataSet:
    """One data set.

    Attributes:
        name: the name ``kzoo.data.load`` and recipes take.
        load: ``load(seed, **kwargs)`` -> ``Dataset``.
        input_shape: one example's shape (images: height, width, channels).
        classes: the number of classes (a mixture's: its components).
        description: what it is, in words (cards say "trained and tested only on ...").
        licence: its terms, for cards.
        splits: ``(train, test)`` examples of its published split, or None (an embedded set
            split by kzoo).
        features: the classifier preset whose features measure a generator of it, or None.
        exact: whether its density is known (generator metrics need no features).
    """

    name: str
    load: Callable
    input_shape: tuple
    classes: int
    description: str
    licence: str
    splits: tuple = None
    features: str = None
    exact: bool = False


# Loaders look their function up when called (not bound here), so that a test's or a user's
# replacement of kzoo.data.tfds.load_tfds / kzoo.data.idx.load_or_tfds is the one used.
def _idx_or_tfds(name):
    return lambda seed=0, **kwargs: idx.load_or_tfds(name, seed=seed, **kwargs)


def _tfds(name):
    return lambda seed=0, **kwargs: tfds.load_tfds(name, seed=seed, **kwargs)


_MIXTURE = "synthetic (a 2-D Gaussian mixture kzoo draws): no terms"
_TFDS_TERMS = "via tensorflow-datasets: see its catalogue entry"
REGISTRY = {entry.name: entry for entry in (
    DataSet("digits", embedded.digits, (8, 8, 1), 10,
            "8x8 grey-scale hand-written digits (1,797 images in all)",
            "UCI ML hand-written digits (Alpaydin and Kaynak, 1998), as shipped by "
            "scikit-learn's load_digits: CC BY 4.0", features="digits-cnn-ce"),
    DataSet("ring8", embedded.ring8, (2,), 8, "2-D points from a ring of 8 Gaussians",
            _MIXTURE, exact=True),
    DataSet("grid25", embedded.grid25, (2,), 25, "2-D points from a 5x5 grid of Gaussians",
            _MIXTURE, exact=True),
    DataSet("mnist", _idx_or_tfds("mnist"), (28, 28, 1), 10,
            "MNIST, 28x28 grey-scale hand-written digits (60,000 training and 10,000 test "
            "images)", "MNIST (LeCun, Cortes and Burges): CC BY-SA 3.0", splits=(60000, 10000)),
    DataSet("fashion_mnist", _idx_or_tfds("fashion_mnist"), (28, 28, 1), 10,
            "Fashion-MNIST, 28x28 grey-scale images of clothing (60,000 training and 10,000 "
            "test images, the published files)",
            "Fashion-MNIST (Xiao, Rasul and Vollgraf, 2017; Zalando Research): MIT",
            splits=(60000, 10000), features="fashion_mnist-cnn-ce"),
    DataSet("cifar10", _tfds("cifar10"), (32, 32, 3), 10,
            "CIFAR-10, 32x32 colour images of 10 classes", f"CIFAR-10 {_TFDS_TERMS}",
            splits=(50000, 10000)),
    DataSet("cifar100", _tfds("cifar100"), (32, 32, 3), 100,
            "CIFAR-100, 32x32 colour images of 100 classes", f"CIFAR-100 {_TFDS_TERMS}",
            splits=(50000, 10000)),
    DataSet("svhn_cropped", _tfds("svhn_cropped"), (32, 32, 3), 10,
            "SVHN, 32x32 colour crops of house-number digits", f"SVHN {_TFDS_TERMS}",
            splits=(73257, 26032)),
)}
NAMES = tuple(REGISTRY)


def get(name):
    """The entry of ``name``, or ``ValueError`` listing the names."""
    return REGISTRY[validate.choice("name", name, NAMES)]
