"""MNIST and Fashion-MNIST from their published IDX files (``kzoo.data.idx``): tiny files the
tests write, and the real Fashion-MNIST files where Debian's package is installed.

The loader hands back NumPy arrays, so these tests run under every Keras backend; no test
here reaches the network (``offline`` refuses every connection).
"""

import gzip
import hashlib
import re
import struct
from pathlib import Path

import numpy as np
import pytest

from kzoo import data
from kzoo.data import idx

REAL = Path(idx.DEBIAN_DIRS["fashion_mnist"])
HAS_REAL = all((REAL / f"{stem}.gz").is_file() for stem in idx.FILES.values())
TRAIN, TEST = 40, 20


def write_idx(path, array, compress=True):
    """Writes ``array`` (uint8) as an IDX file, gzipped when ``compress``; returns the
    sha256 of its uncompressed bytes."""
    blob = struct.pack(">I", 0x0800 + array.ndim) + b"".join(
        struct.pack(">I", n) for n in array.shape) + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(blob) if compress else blob)
    return hashlib.sha256(blob).hexdigest()


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    """A folder of four tiny MNIST-format files (40 train, 20 test images, gzipped except
    the test labels, as a user may unpack one); ``idx.COUNTS`` patched to their sizes.
    Returns ``(folder, arrays, hashes)``."""
    monkeypatch.setattr(idx, "COUNTS", {"train": TRAIN, "test": TEST})
    rng = np.random.default_rng(0)
    arrays = {"train_images": rng.integers(0, 256, (TRAIN, 28, 28), dtype=np.uint8),
              "train_labels": np.arange(TRAIN, dtype=np.uint8) % 10,
              "test_images": rng.integers(0, 256, (TEST, 28, 28), dtype=np.uint8),
              "test_labels": np.arange(TEST, dtype=np.uint8) % 10}
    hashes = {}
    for key, stem in idx.FILES.items():
        compress = key != "test_labels"
        path = tmp_path / (stem + ".gz" if compress else stem)
        hashes[key] = write_idx(path, arrays[key], compress)
    return tmp_path, arrays, hashes


@pytest.fixture
def nowhere(monkeypatch, tmp_path):
    """No IDX folder but the ones a test names: KZOO_DATA unset, Debian's folder empty."""
    monkeypatch.delenv("KZOO_DATA", raising=False)
    monkeypatch.setattr(idx, "DEBIAN_DIRS", {"fashion_mnist": str(tmp_path / "debian")})


def test_tiny_files_load_from_data_dir(tiny, offline):
    folder, arrays, hashes = tiny
    ds = data.load("mnist", data_dir=folder, seed=3)
    assert not offline
    assert ds.x_train.shape[1:] == (28, 28, 1) and ds.x_train.dtype == np.float32
    assert len(ds.y_train) + len(ds.y_val) == TRAIN and len(ds.y_test) == TEST
    np.testing.assert_array_equal(ds.x_test[..., 0], arrays["test_images"] / np.float32(255))
    np.testing.assert_array_equal(ds.y_test, arrays["test_labels"])
    assert ds.y_test.dtype == np.int64 and ds.class_names == tuple("0123456789")
    # every training row is one of the file's, with its label
    rows = {r.tobytes(): int(y) for r, y in zip(arrays["train_images"], arrays["train_labels"])}
    for x, y in zip(np.concatenate([ds.x_train, ds.x_val]), np.concatenate([ds.y_train, ds.y_val])):
        assert rows[np.round(x[..., 0] * 255).astype(np.uint8).tobytes()] == y
    step = ds.provenance[0]
    assert step["source"] == "IDX files" and step["sha256"] == hashes and step["seed"] == 3


def test_a_file_changed_since_it_was_read_is_read_again(tiny):
    """The files read are kept while unchanged: one rewritten since loads its new images."""
    folder, arrays, _ = tiny
    data.load("mnist", data_dir=folder)
    changed = 255 - arrays["test_images"]
    write_idx(folder / "t10k-images-idx3-ubyte.gz", changed)
    np.testing.assert_array_equal(data.load("mnist", data_dir=folder).x_test[..., 0],
                                  changed / np.float32(255))


def test_kzoo_data_folder_is_searched(tiny, monkeypatch, tmp_path_factory, nowhere):
    folder, _, hashes = tiny
    root = tmp_path_factory.mktemp("kzoo_data")
    (root / "mnist").symlink_to(folder)
    monkeypatch.setenv("KZOO_DATA", str(root))
    assert data.load("mnist").provenance[0]["sha256"] == hashes


def test_a_known_data_set_is_checked_against_its_published_hashes(tiny):
    folder, _, _ = tiny
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte.gz: decompressed sha256 "
                                         r"[0-9a-f]{16}\.\.\. is not the published fashion_mnist "
                                         r"file's \(c59f468a2f672dc8\.\.\.\); provide .*apt "
                                         r"install dataset-fashion-mnist"):
        data.load("fashion_mnist", data_dir=folder)


@pytest.mark.parametrize("damage, message", [
    (lambda p: p.write_bytes(p.read_bytes()[:-40]), r"not a readable gzip file \(truncated"),
    (lambda p: p.write_bytes(gzip.compress(gzip.decompress(p.read_bytes())[:-5])),
     r"31355 bytes of data where \(40, 28, 28\) needs 31360 \(truncated\?\)"),
    (lambda p: p.write_bytes(gzip.compress(b"\x00\x00\x08\x01" + b"\x00" * 20)),
     r"not an IDX file of 3-dimensional unsigned bytes \(magic 0x00000803 expected, got "
     r"00000801\)"),
    (lambda p: p.unlink(), r"lacks train-images-idx3-ubyte\[\.gz\] of 'mnist'; provide the four "
                           r"files from https://yann\.lecun\.com/exdb/mnist/"),
], ids=["truncated gzip", "truncated data", "wrong magic", "missing"])
def test_a_damaged_file_is_named_with_what_was_expected(tiny, damage, message):
    folder, _, _ = tiny
    path = folder / "train-images-idx3-ubyte.gz"
    damage(path)
    with pytest.raises((ValueError, FileNotFoundError)) as caught:
        data.load("mnist", data_dir=folder)
    text = str(caught.value)
    assert "train-images-idx3-ubyte" in text and "\n" not in text
    if "lacks" not in message:
        assert str(path) in text
    assert re.search(message, text), text


def test_wrong_shape_and_labels_are_refused(tiny):
    folder, arrays, _ = tiny
    write_idx(folder / "t10k-images-idx3-ubyte.gz", arrays["test_images"][:, :27])
    with pytest.raises(ValueError, match=r"t10k-images-idx3-ubyte.gz: holds shape "
                                         r"\(20, 27, 28\); expected \(20, 28, 28\)"):
        data.load("mnist", data_dir=folder)
    write_idx(folder / "t10k-images-idx3-ubyte.gz", arrays["test_images"])
    write_idx(folder / "train-labels-idx1-ubyte.gz", arrays["train_labels"] + 5)
    with pytest.raises(ValueError, match=r"label 14 is not a class of mnist \(0\.\.9\)"):
        data.load("mnist", data_dir=folder)


def test_without_files_the_message_names_the_package_and_the_folder(nowhere, offline,
                                                                    monkeypatch, tmp_path):
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "tfds"))
    with pytest.raises((FileNotFoundError, ImportError)) as caught:
        data.load("fashion_mnist")
    text = str(caught.value)
    for part in ("No IDX files of 'fashion_mnist' found", f"searched {tmp_path / 'debian'}/",
                 "KZOO_DATA unset", "apt install dataset-fashion-mnist",
                 f"(puts them in {tmp_path / 'debian'}/)", "$KZOO_DATA/fashion_mnist/",
                 "https://github.com/zalandoresearch/fashion-mnist", "tensorflow-datasets"):
        assert part in text, f"{part!r} not in {text!r}"


@pytest.mark.skipif(not HAS_REAL, reason=f"Fashion-MNIST's files are not in {REAL}/ (`make "
                                         f"data`: apt install dataset-fashion-mnist)")
def test_the_real_fashion_mnist_files(offline, monkeypatch):
    monkeypatch.delenv("KZOO_DATA", raising=False)
    ds = data.load("fashion_mnist")
    assert not offline, "loading the IDX files tried to connect"
    assert ds.x_train.shape == (54000, 28, 28, 1) and ds.x_val.shape == (6000, 28, 28, 1)
    assert ds.x_test.shape == (10000, 28, 28, 1) and ds.x_train.dtype == np.float32
    assert 0 <= ds.x_train.min() and ds.x_train.max() == 1
    counts = np.bincount(np.concatenate([ds.y_train, ds.y_val]), minlength=10)
    assert counts.tolist() == [6000] * 10 and ds.class_counts("test") == [1000] * 10
    # the published statistic: mean training pixel 72.94 of 255
    whole = np.concatenate([ds.x_train, ds.x_val])
    assert abs(whole.mean() * 255 - 72.94) < 0.01
    assert ds.provenance[0]["sha256"] == idx.SHA256["fashion_mnist"]
    assert ds.class_names[0] == "T-shirt/top" and ds.class_names[9] == "Ankle boot"
    # each file's hash, recomputed here from the gzip (hashlib, not the loader)
    for key, stem in idx.FILES.items():
        blob = gzip.decompress((REAL / f"{stem}.gz").read_bytes())
        assert hashlib.sha256(blob).hexdigest() == idx.SHA256["fashion_mnist"][key]
