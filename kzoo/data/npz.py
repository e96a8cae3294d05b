"""Your data in one ``.npz`` file (``numpy.savez``) as a ``Dataset``, its sha256 in the
provenance.

Examples:
    >>> np.savez("my.npz", x_train=x_tr, y_train=y_tr, x_test=x_te, y_test=y_te)
    >>> ds = kzoo.data.from_npz("my.npz")
"""

import zipfile
from pathlib import Path

import numpy as np

from kzoo import files, validate
from kzoo.data.arrays import from_arrays

KEYS = ("x_train", "y_train", "x_test", "y_test")
OPTIONAL = ("class_names",)
_WANTED = ("An .npz of your data holds x_train, y_train, x_test, y_test and optionally "
           "class_names: np.savez(path, x_train=..., y_train=..., x_test=..., y_test=...).")


def from_npz(path, seed=0, name=None):
    """A Dataset of the arrays in the ``.npz`` file ``path`` (``from_arrays``): a tenth of
    train carved off as validation (``seed``), the test split as given. Its provenance
    records the file's name and sha256 (``file``, ``file_sha256``: ``sha256sum FILE``).

    The file holds ``x_train``, ``y_train``, ``x_test``, ``y_test`` and optionally
    ``class_names`` (strings, one per class), and nothing else. Inputs are float images in
    [0, 1] (n, h, w, c), or 8-bit pixels (uint8, divided by 255 here); images of shape
    (n, h, w) get a channel axis; flat inputs (n, d) are taken as they are. Labels are
    class indices.

    Args:
        path: str or Path. The ``.npz`` file (``numpy.savez`` or ``savez_compressed``).
        seed: int. Seeds the validation carve. Default 0.
        name: str or None. What the data is called; default: the file's name less
            ``.npz``.

    Examples:
        >>> np.savez("my.npz", x_train=x_tr, y_train=y_tr, x_test=x_te, y_test=y_te)
        >>> ds = kzoo.data.from_npz("my.npz")
        >>> ds.provenance[0]["file_sha256"]  # the file's: sha256sum my.npz
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no .npz file at {path}.")
    try:
        held = np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile) as err:
        raise ValueError(f"{path} is not an .npz file (a zip archive of arrays, as np.savez "
                         f"writes). {_WANTED}") from err
    if not isinstance(held, np.lib.npyio.NpzFile):
        raise ValueError(f"{path} holds one array (a .npy file), not an .npz. {_WANTED}")
    with held:
        arrays = {}
        for k in held.files:
            try:
                arrays[k] = held[k]
            except ValueError as err:  # an array of Python objects, which unpickling loads
                raise ValueError(f"{k} in {path} is an array of Python objects, which kzoo "
                                 f"does not load (unpickling can run code); save numbers, "
                                 f"and class_names as strings.") from err
    missing = [k for k in KEYS if k not in arrays]
    if missing:
        raise ValueError(f"{path} holds no {', '.join(missing)}; it holds "
                         f"{', '.join(sorted(arrays)) or 'no arrays'}. {_WANTED}")
    validate.known_keys(str(path), arrays, (*KEYS, *OPTIONAL))
    x_train, x_test = (_images(arrays[k]) for k in ("x_train", "x_test"))
    class_names = arrays.get("class_names")
    if class_names is not None:
        if class_names.ndim != 1:
            raise ValueError(f"class_names in {path} must be a list of names, one per class; "
                             f"got an array of shape {class_names.shape}.")
        class_names = [str(c) for c in class_names]
    return from_arrays(path.name.removesuffix(".npz") if name is None else name,
                       x_train, arrays["y_train"], x_test, arrays["y_test"], class_names, seed,
                       read_from={"file": path.name, "file_sha256": files.sha256(path)})


def _images(x):
    """8-bit pixels scaled to [0, 1], and a channel axis on (n, h, w) images."""
    x = x / np.float32(255) if x.dtype == np.uint8 else x
    return x[..., None] if x.ndim == 3 else x
