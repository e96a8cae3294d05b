"""Loaders through tensorflow-datasets (install the ``data`` extra).

No download happens at import; ``tfds.load`` fetches on first use on a
machine with internet access. Tests run them under ``tfds.testing.mock_data``.
"""

import importlib

import numpy as np

from kzoo.data.splits import carve_validation

NAMES = ("mnist", "fashion_mnist", "cifar10", "cifar100", "svhn_cropped")


def load_tfds(name, seed=0, data_dir=None):
    """Loads ``name`` (one of ``NAMES``) as a Dataset; images scaled to [0, 1]."""
    try:
        tfds = importlib.import_module("tensorflow_datasets")
    except ImportError as err:
        raise ImportError(
            f"Loading {name!r} needs tensorflow-datasets: pip install 'kzoo[data]'."
        ) from err
    try:
        (train, test), info = tfds.load(
            name, split=["train", "test"], as_supervised=True, with_info=True,
            data_dir=data_dir,
        )
    except Exception as err:  # tfds raises many kinds; all mean "not available here"
        raise OSError(
            f"tensorflow-datasets could not load {name!r}: {type(err).__name__}: {err}. It "
            f"downloads a data set on first use, so it needs internet access once (or a "
            f"data_dir that already holds it); without either, use 'digits', 'ring8' or "
            f"'grid25'."
        ) from err
    x_tr, y_tr = _to_numpy(tfds, train)
    x_te, y_te = _to_numpy(tfds, test)
    names = info.features["label"].names
    return carve_validation(
        name, _scale(x_tr), y_tr.astype("int64"), _scale(x_te), y_te.astype("int64"),
        names, seed, {"source": f"tensorflow-datasets {info.version}"},
    )


def _to_numpy(tfds, split):
    # Batched iteration: `batch_size=-1` aborts on tfds' generator-backed datasets.
    batches = list(tfds.as_numpy(split.batch(4096)))
    return (np.concatenate([b[0] for b in batches]), np.concatenate([b[1] for b in batches]))


def _scale(x):
    return (np.asarray(x, dtype="float32") / 255.0).astype("float32")
