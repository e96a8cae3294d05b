"""Your images in a folder as a ``Dataset``: ``train/`` and ``test/``, one subfolder of images
per class in each, read by ``keras.utils.image_dataset_from_directory``; the sha256 of the
folder's files in the provenance.

Examples:
    >>> ds = kzoo.data.from_image_folder("my_images", image_size=(32, 32))
"""

import hashlib
from pathlib import Path

import numpy as np

from kzoo import files, validate
from kzoo.data.arrays import from_arrays

COLOR_MODES = ("rgb", "grayscale", "rgba")
SPLITS = ("train", "test")


def from_image_folder(path, image_size, color_mode="rgb", seed=0, name=None):
    """A Dataset of the images in the folder ``path`` (``from_arrays``): ``train/`` and
    ``test/``, each with the same subfolders, one per class (their names, sorted, are the
    classes), of images (.png, .jpg, .jpeg, .bmp, .gif). Read by
    ``keras.utils.image_dataset_from_directory`` (which needs TensorFlow), resized to
    ``image_size`` (bilinear; no change at their own size) and scaled to [0, 1]; a tenth of
    train is carved off as validation (``seed``). The provenance records the folder's name,
    its number of files and their sha256 (``folder_sha256``).

    Args:
        path: str or Path. The folder: ``path/train/<class>/*.png``,
            ``path/test/<class>/*.png``.
        image_size: (height, width), ints >= 1. The size every image is read at.
        color_mode: "rgb" (3 channels), "grayscale" (1) or "rgba" (4). Default "rgb".
        seed: int. Seeds the validation carve. Default 0.
        name: str or None. What the data is called; default: the folder's name.

    Examples:
        >>> ds = kzoo.data.from_image_folder("my_images", (16, 16), "grayscale")
        >>> ds.class_names, ds.provenance[0]["files_sha256"]
    """
    path = Path(path)
    image_size = validate.int_tuple("image_size", image_size)
    if len(image_size) != 2:
        raise ValueError(f"image_size must be (height, width); got {image_size}.")
    validate.choice("color_mode", color_mode, COLOR_MODES)
    if not path.is_dir():
        raise FileNotFoundError(f"no image folder at {path}.")
    folders = {split: sorted(p.name for p in (path / split).iterdir() if p.is_dir())
               if (path / split).is_dir() else None for split in SPLITS}
    if None in folders.values():
        raise ValueError(f"{path} needs train/ and test/ subfolders, each holding one folder "
                         f"of images per class (train/<class>/*.png, test/<class>/*.png); it "
                         f"holds {sorted(p.name for p in path.iterdir()) or 'nothing'}.")
    if folders["train"] != folders["test"] or not folders["train"]:
        raise ValueError(f"{path}/train and {path}/test must hold the same class folders, "
                         f"one or more; they hold {folders['train']} and {folders['test']}.")
    classes = folders["train"]
    (x_train, y_train), (x_test, y_test) = (
        _read(path / split, classes, image_size, color_mode) for split in SPLITS)
    sha256, count = folder_sha256(path)
    return from_arrays(path.name if name is None else name, x_train, y_train, x_test, y_test,
                       classes, seed, read_from={"folder": path.name, "files": count,
                                                 "files_sha256": sha256})


def folder_sha256(path):
    """``(sha256, files)``: the sha256 of the lines ``"<file's sha256>  ./<its path>\\n"``
    of every file under the folder ``path``, sorted by path (relative, with '/'), and
    their number: what ``cd FOLDER && find . -type f -print0 | LC_ALL=C sort -z | xargs -0
    sha256sum | sha256sum`` prints.

    Examples:
        >>> sha256, count = folder_sha256("my_images")
    """
    root = Path(path)
    found = sorted((p.relative_to(root).as_posix(), p) for p in root.rglob("*") if p.is_file())
    listing = "".join(f"{files.sha256(p)}  ./{relative}\n" for relative, p in found)
    return hashlib.sha256(listing.encode()).hexdigest(), len(found)


def _read(folder, classes, image_size, color_mode):
    """``(x, y)`` of the images under ``folder``/<class>/, in sorted order, in [0, 1]."""
    import keras

    try:
        images = keras.utils.image_dataset_from_directory(
            folder, class_names=classes, color_mode=color_mode, image_size=image_size,
            shuffle=False, batch_size=256, data_format="channels_last", verbose=False)
    except ImportError as err:
        raise ImportError(f"reading an image folder needs TensorFlow "
                          f"(keras.utils.image_dataset_from_directory reads through tf.data): "
                          f"pip install tensorflow, or save your images in an .npz file "
                          f"(kzoo.data.from_npz). ({err})") from err
    batches = list(images.as_numpy_iterator())
    x = np.concatenate([b[0] for b in batches]) / np.float32(255)
    return x, np.concatenate([b[1] for b in batches]).astype("int64")
