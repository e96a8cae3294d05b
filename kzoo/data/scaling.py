"""Images from kzoo's [0, 1] to the [-1, 1] that tanh generators produce, and back."""

import numpy as np

from kzoo.data.bias import check_dataset


def signed(ds):
    """``2 x - 1`` on every image split (and a meta set); ``extras["signed"]`` is True.

    For GANs whose generators end in tanh. Refuses data that is not images in [0, 1].

    Examples:
        >>> ds = kzoo.data.signed(kzoo.data.load("digits"))
        >>> float(ds.x_train.min()), float(ds.x_train.max())
        (-1.0, 1.0)
    """
    if len(check_dataset(ds).input_shape) != 3:
        raise ValueError(f"signed takes images (h, w, c); {ds.name} has inputs of shape "
                         f"{ds.input_shape}.")
    if ds.extras.get("signed"):
        raise ValueError(f"{ds.name} is already in [-1, 1].")
    if ds.x_train.min() < 0 or ds.x_train.max() > 1:
        raise ValueError(f"signed takes images in [0, 1]; {ds.name} spans "
                         f"[{ds.x_train.min():g}, {ds.x_train.max():g}].")
    changes = {f"x_{s}": to_signed(getattr(ds, f"x_{s}")) for s in ("train", "val", "test")}
    extras = {**ds.extras, "signed": True}
    if "x_meta" in extras:
        extras["x_meta"] = to_signed(extras["x_meta"])
    return ds.replace({"name": "signed"}, extras=extras, **changes)


def to_signed(x):
    return (2.0 * np.asarray(x, "float32") - 1.0).astype("float32")


def from_signed(x):
    """``(x + 1) / 2``: a tanh generator's [-1, 1] samples in [0, 1], for NumPy arrays and
    backend tensors alike (inside a training step too), without clipping. The map every
    generator game applies to its samples (``GAN.in_data_range``).

    Examples:
        >>> kzoo.data.from_signed(np.array([-1.0, 0.0, 0.5, 1.0], "float32"))
        array([0.  , 0.5 , 0.75, 1.  ], dtype=float32)
    """
    return (x + 1.0) / 2.0


def to_unit(x):
    """[-1, 1] back to [0, 1] as NumPy, clipped (for display and for [0, 1] classifiers)."""
    return np.clip(from_signed(np.asarray(x, "float32")), 0.0, 1.0)
