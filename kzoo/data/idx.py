"""MNIST and Fashion-MNIST from their published IDX files, with no network.

A folder holds the four files as published (gzipped or not): ``train-images-idx3-ubyte``,
``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``. The
folder is, in order: ``data_dir`` when given; else ``$KZOO_DATA/<name>/`` when that holds the
files; else Debian's package folder (``apt install dataset-fashion-mnist`` puts
Fashion-MNIST in ``/usr/share/datasets/fashion-mnist/``). ``kzoo.data.load`` falls back to
tensorflow-datasets when none of them has the files.

Each file's contents are checked (magic number, shape, size) and hashed after
decompression (``gunzip -c FILE | sha256sum``), so a recompressed copy hashes as the
published one; Fashion-MNIST's hashes are known and checked, MNIST's are recorded. The
hashes go into the data set's provenance, and so onto every card trained on it.

Examples:
    >>> ds = kzoo.data.load("fashion_mnist")            # Debian's files, or $KZOO_DATA
    >>> ds = kzoo.data.load("mnist", data_dir="~/data/mnist")
"""

import functools
import gzip
import hashlib
import os
import zlib
from pathlib import Path

import numpy as np

from kzoo.data import tfds
from kzoo.data.splits import carve_validation

FILES = {"train_images": "train-images-idx3-ubyte", "train_labels": "train-labels-idx1-ubyte",
         "test_images": "t10k-images-idx3-ubyte", "test_labels": "t10k-labels-idx1-ubyte"}
DEBIAN_DIRS = {"fashion_mnist": "/usr/share/datasets/fashion-mnist"}
DEBIAN_PACKAGES = {"fashion_mnist": "dataset-fashion-mnist"}
PUBLISHERS = {"fashion_mnist": "https://github.com/zalandoresearch/fashion-mnist",
              "mnist": "https://yann.lecun.com/exdb/mnist/"}
CLASS_NAMES = {
    "fashion_mnist": ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                      "Sneaker", "Bag", "Ankle boot"),
    "mnist": tuple("0123456789"),
}
COUNTS = {"train": 60000, "test": 10000}
# sha256 of each decompressed file, as published (Zalando's release).
SHA256 = {"fashion_mnist": {
    "train_images": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train_labels": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "test_images": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "test_labels": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}}
MAGIC = {1: 0x00000801, 3: 0x00000803}  # unsigned bytes, 1 or 3 dimensions
IMAGE_SIDE = 28


def candidates(name, data_dir=None):
    """The folders searched for ``name``'s files, in order: ``data_dir`` alone when given."""
    if data_dir is not None:
        return [Path(data_dir).expanduser()]
    folders = []
    if os.environ.get("KZOO_DATA"):
        folders.append(Path(os.environ["KZOO_DATA"]).expanduser() / name)
    if name in DEBIAN_DIRS:
        folders.append(Path(DEBIAN_DIRS[name]))
    return folders


def find(name, data_dir=None):
    """The first of ``candidates`` holding ``name``'s four IDX files, or None. A folder
    holding some of them but not all is an error naming the missing ones."""
    for folder in candidates(name, data_dir):
        present = [f for f in FILES.values() if _file(folder, f) is not None]
        if len(present) == len(FILES):
            return folder
        if present:
            raise FileNotFoundError(_missing_message(
                name, folder, [f for f in FILES.values() if f not in present]))
    return None


def searched(name, kwargs):
    """Where ``find`` looked, for a message."""
    folders = candidates(name, kwargs.get("data_dir"))
    unset = "" if os.environ.get("KZOO_DATA") or "data_dir" in kwargs else "; KZOO_DATA unset"
    return "searched " + (", ".join(f"{f}/" for f in folders) or "nowhere") + unset


def where_to_put(name):
    """One sentence: how to provide ``name``'s files."""
    files = ", ".join(f + ".gz" for f in FILES.values())
    how = [f"the four files from {PUBLISHERS[name]} ({files}) into a folder passed as "
           f"data_dir= or into $KZOO_DATA/{name}/"]
    if name in DEBIAN_PACKAGES:
        how.insert(0, f"on Debian or Ubuntu, `apt install {DEBIAN_PACKAGES[name]}` (puts them in "
                      f"{DEBIAN_DIRS[name]}/)")
    return "; or ".join(how)


def _missing_message(name, folder, missing):
    return (f"{folder} lacks {', '.join(f + '[.gz]' for f in missing)} of {name!r}; "
            f"provide {where_to_put(name)}.")


def _file(folder, stem):
    for path in (folder / f"{stem}.gz", folder / stem):
        if path.is_file():
            return path
    return None


def read(path, dims, count):
    """``(array, sha256)``: the uint8 array of the IDX file ``path`` (gzipped or not), of
    ``dims`` dimensions and ``count`` rows (images IMAGE_SIDE x IMAGE_SIDE), and the sha256 of
    its decompressed bytes; ``ValueError`` naming the file and what is wrong with it. The
    files last read are kept, read-only, while their size and time stamp hold (a process
    loading the data again, one preset after another, skips decompressing 30 MB)."""
    path = Path(path)
    try:
        stamp = path.stat().st_mtime_ns, path.stat().st_size
    except OSError:
        stamp = None  # _read says what is wrong
    return _read(path.absolute(), dims, count, stamp)


@functools.lru_cache(maxsize=8)
def _read(path, dims, count, stamp):
    try:
        blob = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, zlib.error) as err:  # gzip.BadGzipFile is an OSError
        raise ValueError(f"{path}: not a readable gzip file (truncated or corrupt: {err}).") \
            from err
    shape = (count, IMAGE_SIDE, IMAGE_SIDE)[:dims]
    header = 4 + 4 * dims
    if len(blob) < header or int.from_bytes(blob[:4], "big") != MAGIC[dims]:
        raise ValueError(f"{path}: not an IDX file of {dims}-dimensional unsigned bytes (magic "
                         f"{MAGIC[dims]:#010x} expected, got {blob[:4].hex() or 'nothing'}).")
    got = tuple(int.from_bytes(blob[4 + 4 * i:8 + 4 * i], "big") for i in range(dims))
    if got != shape:
        raise ValueError(f"{path}: holds shape {got}; expected {shape}.")
    if len(blob) != header + int(np.prod(shape)):
        raise ValueError(f"{path}: {len(blob) - header} bytes of data where {shape} needs "
                         f"{int(np.prod(shape))} (truncated?).")
    array = np.frombuffer(blob, np.uint8, offset=header).reshape(shape)
    return array, hashlib.sha256(blob).hexdigest()


def load_or_tfds(name, seed=0, **kwargs):
    """``name`` from its IDX files where ``find`` finds them, else through
    tensorflow-datasets (``kzoo.data.tfds.load_tfds``, which takes ``kwargs``); without
    either, the error names the folders searched and how to provide the files."""
    folder = find(name, kwargs.get("data_dir"))
    if folder is not None:
        return load_idx(name, folder, seed=seed)
    try:
        return tfds.load_tfds(name, seed=seed, **kwargs)
    except (ImportError, FileNotFoundError) as err:
        raise type(err)(f"No IDX files of {name!r} found ({searched(name, kwargs)}); provide "
                        f"{where_to_put(name)}. Through tensorflow-datasets: {err}") from err


def load_idx(name, folder, seed=0):
    """``name`` ("mnist" or "fashion_mnist") from the IDX files in ``folder`` as a Dataset: images
    28x28x1 in [0, 1], 10% of train carved off as validation (seeded)."""
    arrays, hashes = {}, {}
    for key, stem in FILES.items():
        split, kind = key.split("_")
        path = _file(Path(folder), stem)
        if path is None:
            raise FileNotFoundError(_missing_message(name, Path(folder), [stem]))
        arrays[key], hashes[key] = read(path, 3 if kind == "images" else 1, COUNTS[split])
        expected = SHA256.get(name, {}).get(key)
        if expected is not None and hashes[key] != expected:
            raise ValueError(f"{path}: decompressed sha256 {hashes[key][:16]}... is not the "
                             f"published {name} file's ({expected[:16]}...); provide "
                             f"{where_to_put(name)}.")
        if kind == "labels" and arrays[key].max() >= len(CLASS_NAMES[name]):
            raise ValueError(f"{path}: label {arrays[key].max()} is not a class of {name} "
                             f"(0..{len(CLASS_NAMES[name]) - 1}).")
    return carve_validation(
        name, _images(arrays["train_images"]), arrays["train_labels"].astype("int64"),
        _images(arrays["test_images"]), arrays["test_labels"].astype("int64"),
        CLASS_NAMES[name], seed, {"source": "IDX files", "sha256": hashes})


def _images(x):
    return (x[..., None].astype("float32") / 255.0).astype("float32")
