"""Data sets and bias transforms, NumPy in, NumPy out.

Example:
    >>> ds = kzoo.data.load("digits")
    >>> lt = kzoo.data.long_tail(ds, imbalance=10)
    >>> noisy = kzoo.data.label_noise(lt, rate=0.2, kind="flip")
"""

from kzoo import validate
from kzoo.data import embedded, tfds
from kzoo.data.bias import (
    check_dataset,
    corrupt_test,
    label_noise,
    long_tail,
    meta_split,
    reduce,
    spurious_colour,
)
from kzoo.data.dataset import Dataset
from kzoo.data.scaling import from_signed, signed, to_signed, to_unit

LOADERS = {"digits": embedded.digits, "ring8": embedded.ring8, "grid25": embedded.grid25}
NAMES = (*LOADERS, *tfds.NAMES)
TRANSFORMS = {
    "long_tail": long_tail,
    "label_noise": label_noise,
    "reduce": reduce,
    "corrupt_test": corrupt_test,
    "spurious_colour": spurious_colour,
    "meta_split": meta_split,
}


def load(name, seed=0, **kwargs):
    """Loads the data set ``name`` (one of ``NAMES``) as a ``Dataset``.

    Args:
        name: str. "digits" (embedded), "ring8", "grid25", or a
            tensorflow-datasets name in ``kzoo.data.tfds.NAMES``.
        seed: int in [0, 2**32 - 1]. Seed of the splits. Default 0.
        **kwargs: for tensorflow-datasets names, ``data_dir`` (folder of
            prepared data sets) and ``download`` (bool); see
            ``kzoo.data.tfds.load_tfds``.

    Example:
        >>> ds = kzoo.data.load("mnist", data_dir="/data/tfds", download=False)
    """
    validate.choice("name", name, NAMES)
    seed = validate.seed("seed", seed)
    if name in LOADERS:
        return LOADERS[name](seed=seed, **kwargs)
    return tfds.load_tfds(name, seed=seed, **kwargs)


__all__ = ["Dataset", "LOADERS", "NAMES", "TRANSFORMS", "check_dataset", "load",
           "from_signed", "signed", "to_signed", "to_unit", *TRANSFORMS]
