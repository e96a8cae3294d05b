"""Your own data as a ``Dataset``: arrays in, a validation carve and a provenance out."""

import hashlib

import numpy as np

from kzoo import validate
from kzoo.data.splits import carve_validation


def from_arrays(name, x_train, y_train, x_test, y_test, class_names=None, seed=0,
                read_from=None):
    """A Dataset of your own arrays: a stratified tenth of train carved off as
    validation (``seed``), the test split as given; its provenance records the sha256
    of the arrays, so that a card or a comparison names exactly this data.

    Args:
        name: str. What the data is called (in summaries and provenance).
        x_train, x_test: arrays (n, ...) of float inputs; images in [0, 1], NHWC, for
            kzoo's classifiers and attacks.
        y_train, y_test: int arrays (n,) of class indices in [0, num_classes).
        class_names: list of str, one per class, or None for "0", "1", ...
        seed: int. Seeds the validation carve. Default 0.
        read_from: dict or None. What the arrays were read from (a file and its sha256:
            ``from_npz``, ``from_image_folder``), added to the provenance. Default None.

    Examples:
        >>> from sklearn.datasets import load_digits
        >>> x, y = load_digits(return_X_y=True)
        >>> x = (x / 16.0).reshape(-1, 8, 8, 1)
        >>> ds = kzoo.data.from_arrays("my-digits", x[:1500], y[:1500], x[1500:], y[1500:])
        >>> kzoo.data.long_tail(ds, 10)  # every bias transform takes it
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"name must be a non-empty string; got {name!r}.")
    x_train, x_test = (np.asarray(x, "float32") for x in (x_train, x_test))
    y_train, y_test = (np.asarray(y) for y in (y_train, y_test))
    num_classes = int(max(y_train.max(initial=0), y_test.max(initial=0))) + 1 \
        if class_names is None else len(class_names)
    for argument, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
        if len(x) != len(y) or not len(x):
            raise ValueError(f"x_{argument} and y_{argument} must hold the same number "
                             f"(>= 1) of rows; got {len(x)} and {len(y)}.")
        validate.check_inputs(x, x_train.shape[1:], argument=f"x_{argument}")
        validate.check_labels(y, num_classes, argument=f"y_{argument}")
    taken = {"name", "seed", "train_index", "val_index", "source", "sha256"}
    if read_from is not None and (not isinstance(read_from, dict) or taken & set(read_from)):
        raise ValueError(f"read_from must be a dict of what the arrays were read from, with "
                         f"no key of {sorted(taken)} (the provenance's own); got {read_from!r}.")
    names = [str(i) for i in range(num_classes)] if class_names is None else \
        [str(c) for c in class_names]
    digest = hashlib.sha256()
    for array in (x_train, y_train.astype("int64"), x_test, y_test.astype("int64")):
        digest.update(np.ascontiguousarray(array).tobytes())
    return carve_validation(name, x_train, y_train.astype("int64"), x_test,
                            y_test.astype("int64"), names, validate.seed("seed", seed),
                            {"source": "arrays", "sha256": digest.hexdigest(),
                             **(read_from or {})})
