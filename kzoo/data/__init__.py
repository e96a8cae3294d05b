"""Data sets and bias transforms, NumPy in, NumPy out.

Examples:
    >>> ds = kzoo.data.load("digits")
    >>> lt = kzoo.data.long_tail(ds, imbalance=10)
    >>> noisy = kzoo.data.label_noise(lt, rate=0.2, kind="flip")
"""

from kzoo import validate
from kzoo.data import registry
from kzoo.data.arrays import from_arrays
from kzoo.data.bias import (
    check_dataset,
    corrupt_test,
    label_noise,
    long_tail,
    meta_merge,
    meta_split,
    reduce,
    spurious_colour,
)
from kzoo.data.dataset import Dataset
from kzoo.data.image_folder import from_image_folder
from kzoo.data.npz import from_npz
from kzoo.data.registry import NAMES
from kzoo.data.scaling import from_signed, signed, to_signed, to_unit

TRANSFORMS = {
    "long_tail": long_tail,
    "label_noise": label_noise,
    "reduce": reduce,
    "corrupt_test": corrupt_test,
    "spurious_colour": spurious_colour,
    "meta_split": meta_split,
    "meta_merge": meta_merge,
}


def load(name, seed=0, **kwargs):
    """Loads the data set ``name`` (one of ``NAMES``, ``kzoo.data.registry``) as a
    ``Dataset``.

    Args:
        name: str. "digits" (embedded), "ring8", "grid25" (2-D mixtures), "mnist",
            "fashion_mnist" (their published IDX files, ``kzoo.data.idx``, else
            tensorflow-datasets), "cifar10", "cifar100", "svhn_cropped"
            (tensorflow-datasets).
        seed: int in [0, 2**32 - 1]. Seed of the splits. Default 0.
        **kwargs: ``data_dir`` (a folder of the published IDX files for "mnist" and
            "fashion_mnist"; else of prepared tensorflow-datasets data sets) and, for
            tensorflow-datasets, ``download`` (bool); see ``kzoo.data.tfds.load_tfds``.

    "mnist" and "fashion_mnist" are read from their published IDX files with no
    network when ``data_dir``, ``$KZOO_DATA/<name>/`` or Debian's package folder
    holds them, else through tensorflow-datasets.

    Examples:
        >>> ds = kzoo.data.load("fashion_mnist")  # apt install dataset-fashion-mnist
        >>> ds = kzoo.data.load("cifar10", data_dir="/data/tfds", download=False)
    """
    entry = registry.get(name)
    return entry.load(seed=validate.seed("seed", seed), **kwargs)


__all__ = ["Dataset", "NAMES", "TRANSFORMS", "check_dataset", "from_arrays",
           "from_image_folder", "from_npz", "load",
           "from_signed", "signed", "to_signed", "to_unit", *TRANSFORMS]
