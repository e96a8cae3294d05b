"""The ``Dataset`` record every loader and bias transform returns."""

import dataclasses
import hashlib
import json

import numpy as np


def index_hash(indices):
    """sha256 (first 16 hex digits) of an integer index array."""
    return hashlib.sha256(np.asarray(indices, dtype="int64").tobytes()).hexdigest()[:16]


@dataclasses.dataclass(frozen=True, repr=False)
class Dataset:
    """Train, validation and test splits with a record of how they were made.

    Inputs are float32 (images in [0, 1], NHWC); labels are int64 class indices.
    ``provenance`` is a list of steps (the loader, then each transform), each a
    dict carrying the hash of the indices it selected; ``provenance_hash``
    names the exact split. ``extras`` holds what a transform adds (e.g.
    ``noisy`` mask, meta set, groups). ``kzoo.data.from_arrays`` makes one of your own.

    Examples:
        >>> ds = kzoo.data.from_arrays("mine", x_train, y_train, x_test, y_test)
        >>> ds
        Dataset(mine: train 1437 (per class 142..146), val 160, ..., input 8x8x1)
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    class_names: tuple
    provenance: tuple
    extras: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        for split in ("train", "val", "test"):
            x, y = getattr(self, f"x_{split}"), getattr(self, f"y_{split}")
            if len(x) != len(y):
                raise ValueError(f"x_{split} has {len(x)} rows but y_{split} has {len(y)}.")

    @property
    def name(self):
        return self.provenance[0]["name"]

    @property
    def input_shape(self):
        return tuple(self.x_train.shape[1:])

    @property
    def provenance_hash(self):
        blob = json.dumps(list(self.provenance), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def class_counts(self, split="train"):
        """Examples per class in ``split`` ("train", "val" or "test"), as a list of ints."""
        y = getattr(self, f"y_{split}")
        return np.bincount(y, minlength=self.num_classes).tolist()

    def replace(self, step, **changes):
        """A new Dataset with ``changes`` applied and ``step`` appended to the provenance."""
        return dataclasses.replace(self, provenance=(*self.provenance, step), **changes)

    def __repr__(self):
        return f"Dataset({self.summary()}, input {'x'.join(map(str, self.input_shape))})"

    def summary(self):
        counts = self.class_counts()
        return (
            f"{self.name}: train {len(self.y_train)} (per class {min(counts)}..{max(counts)}), "
            f"val {len(self.y_val)}, test {len(self.y_test)}, {self.num_classes} classes, "
            f"provenance {self.provenance_hash}"
        )
