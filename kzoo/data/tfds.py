"""Loaders through tensorflow-datasets (install the ``data`` extra).

A data set is read from its prepared files, ``<data_dir>/<name>/<version>/``
(``dataset_info.json``, ``features.json`` and the tfrecord shards), with no
network access. When they are missing it is downloaded and prepared there once,
after a quick check that the download host answers, so that an offline machine
fails within seconds, with the ways to provide the files, instead of retrying
for minutes.

Examples:
    >>> ds = kzoo.data.load("mnist")  # ~/tensorflow_datasets or $TFDS_DATA_DIR
    >>> ds = kzoo.data.load("mnist", data_dir="/data/tfds", download=False)
"""

import importlib
import socket
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np

from kzoo.data.splits import carve_validation

CONNECT_TIMEOUT = 3.0  # seconds to wait for the download host to answer


def load_tfds(name, seed=0, data_dir=None, download=True):
    """Loads ``name`` (a tensorflow-datasets name) as a Dataset; images scaled to [0, 1].

    Args:
        name: str. A tensorflow-datasets name (``kzoo.data.registry`` lists kzoo's).
        seed: int. Seed of the validation split. Default 0.
        data_dir: str, path or None. Folder of prepared data sets, read as
            ``<data_dir>/<name>/<version>/``. Default None: tensorflow-datasets'
            own, ``$TFDS_DATA_DIR`` or ``~/tensorflow_datasets``.
        download: bool. Whether to download and prepare a data set that
            ``data_dir`` lacks. Default True.

    Raises:
        FileNotFoundError: the data set is not prepared in ``data_dir`` and
            ``download`` is False, its download host cannot be reached, or
            downloading it failed. The message says how to provide it.
        ImportError: tensorflow-datasets or a module it needs is missing.

    Examples:
        >>> ds = load_tfds("mnist", data_dir="/data/tfds")  # /data/tfds/mnist/3.0.1/
        >>> ds.x_train.shape[1:]
        (28, 28, 1)
    """
    try:
        tfds = importlib.import_module("tensorflow_datasets")
        builder = tfds.builder(name, data_dir=data_dir)
        if not builder.is_prepared():
            _download_and_prepare(builder, download)
        train, test = builder.as_dataset(split=["train", "test"], as_supervised=True)
        x_tr, y_tr = _to_numpy(tfds, train)
        x_te, y_te = _to_numpy(tfds, test)
    except ModuleNotFoundError as err:
        raise ImportError(
            f"Loading {name!r} needs tensorflow-datasets and the modules it uses; "
            f"{err.name!r} is missing: pip install 'kzoo[data]'."
        ) from err
    info = builder.info
    return carve_validation(
        name, _scale(x_tr), y_tr.astype("int64"), _scale(x_te), y_te.astype("int64"),
        info.features["label"].names, seed, {"source": f"tensorflow-datasets {info.version}"},
    )


def _download_and_prepare(builder, download):
    urls = sorted(builder.url_infos or ()) or [builder.info.homepage]
    folders = ", ".join(sorted({url.rpartition("/")[0] + "/" for url in urls}))
    source = urls[0] if len(urls) == 1 else f"{folders} ({len(urls)} files)"
    if not download:
        raise _unavailable(builder, f"download=False forbids downloading it from {source}")
    for host, port in sorted({_address(url) for url in urls}):
        try:
            socket.create_connection((host, port), timeout=CONNECT_TIMEOUT).close()
        except OSError as err:
            raise _unavailable(builder, f"{host}:{port}, through which it downloads from "
                                        f"{source}, cannot be reached ({err})") from err
    try:
        builder.download_and_prepare()
    except ModuleNotFoundError:
        raise
    except Exception as err:  # tfds raises many kinds; all mean "not available here"
        detail = " ".join(str(err).split())  # one paragraph, even if tfds' error has lines
        raise _unavailable(builder, f"downloading it from {source} failed "
                                    f"({type(err).__name__}: {detail})") from err


def _address(url):
    """``(host, port)`` that a download of ``url`` connects to: its proxy's if it has one."""
    parts = urlsplit(url)
    proxy = urllib.request.getproxies().get(parts.scheme)
    if proxy and not urllib.request.proxy_bypass(parts.hostname):
        parts = urlsplit(proxy)
    return parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)


def _unavailable(builder, reason):
    name, root = builder.name, Path(builder.data_dir).parent.parent
    return FileNotFoundError(
        f"Data set {name!r} is not prepared in {builder.data_dir}/ (dataset_info.json, "
        f"features.json and the tfrecord shards), and {reason}. To provide it, run `tfds "
        f"build {name} --data_dir DIR` on a machine with internet access and copy DIR/{name}/ "
        f"to {root}/{name}/ here, or to any folder DIR2 and pass data_dir=DIR2 to "
        f"kzoo.data.load (for recipes and `kzoo train`, set the environment variable "
        f"TFDS_DATA_DIR=DIR2)."
    )


def _to_numpy(tfds, split):
    # Batched iteration: `batch_size=-1` aborts on tfds' generator-backed datasets.
    batches = list(tfds.as_numpy(split.batch(4096)))
    return (np.concatenate([b[0] for b in batches]), np.concatenate([b[1] for b in batches]))


def _scale(x):
    return (np.asarray(x, dtype="float32") / 255.0).astype("float32")
