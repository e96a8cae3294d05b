"""Data sets and bias transforms, NumPy in, NumPy out.

Example:
    >>> ds = kzoo.data.load("digits")
    >>> lt = kzoo.data.long_tail(ds, imbalance=10)
    >>> noisy = kzoo.data.label_noise(lt, rate=0.2, kind="flip")
"""

from kzoo import validate
from kzoo.data import embedded, idx, tfds
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
        **kwargs: ``data_dir`` (a folder of the published IDX files for
            "mnist" and "fashion_mnist", ``kzoo.data.idx``; else of prepared
            tensorflow-datasets data sets) and, for tensorflow-datasets,
            ``download`` (bool); see ``kzoo.data.tfds.load_tfds``.

    "mnist" and "fashion_mnist" are read from their published IDX files with no
    network when ``data_dir``, ``$KZOO_DATA/<name>/`` or Debian's package folder
    holds them (``kzoo.data.idx``), else through tensorflow-datasets.

    Example:
        >>> ds = kzoo.data.load("fashion_mnist")  # apt install dataset-fashion-mnist
        >>> ds = kzoo.data.load("mnist", data_dir="/data/tfds", download=False)
    """
    validate.choice("name", name, NAMES)
    seed = validate.seed("seed", seed)
    if name in LOADERS:
        return LOADERS[name](seed=seed, **kwargs)
    if name in idx.NAMES:
        folder = idx.find(name, kwargs.get("data_dir"))
        if folder is not None:
            return idx.load_idx(name, folder, seed=seed)
        try:
            return tfds.load_tfds(name, seed=seed, **kwargs)
        except (ImportError, FileNotFoundError) as err:
            raise type(err)(f"No IDX files of {name!r} found ({idx.searched(name, kwargs)}); "
                            f"provide {idx.where_to_put(name)}. Through tensorflow-datasets: "
                            f"{err}") from err
    return tfds.load_tfds(name, seed=seed, **kwargs)


__all__ = ["Dataset", "LOADERS", "NAMES", "TRANSFORMS", "check_dataset", "load",
           "from_signed", "signed", "to_signed", "to_unit", *TRANSFORMS]
