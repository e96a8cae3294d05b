"""tensorflow-datasets loaders: prepared files, mock data, offline failures, and the
paper-scale recipes for two steps on mock data.

The loaders hand back NumPy arrays, so these tests run under every Keras backend (under
`make test`, each paper-scale recipe in torch's or TensorFlow's pass: ``conftest.in_turn``).
"""

import copy
import socket
import time

import keras
import numpy as np
import pytest
import tensorflow_datasets as tfds  # the `data` extra, installed by make test
from conftest import ROOT, in_turn
from harness import optimizers_of

from kzoo import data, paper_scale
from kzoo.data import idx, registry
from kzoo.data import tfds as data_tfds
from kzoo.recipes import Recipe

PAPER_SCALE = paper_scale.recipe_paths(ROOT / "recipes")
BATCH = 2


class _Connection:
    def close(self):
        pass


@pytest.fixture(autouse=True)
def no_idx_files(monkeypatch):
    """No published IDX files are found (``kzoo.data.idx``): MNIST and Fashion-MNIST load
    through tensorflow-datasets, as on a machine without Debian's package."""
    monkeypatch.delenv("KZOO_DATA", raising=False)
    monkeypatch.setattr(idx, "DEBIAN_DIRS", {})


@pytest.fixture
def reachable(monkeypatch):
    """Every download host answers, without a connection being made."""
    monkeypatch.setattr(socket, "create_connection", lambda *args, **kwargs: _Connection())


_MOCK_LOADS = {}


@pytest.fixture
def mock_loads(monkeypatch):
    """``kzoo.data.load`` of a tensorflow-datasets name gives its mock data (enough examples
    for every paper-scale recipe), made once per name and seed in a test process (5-9 s
    each here) and copied for each test."""
    load = data_tfds.load_tfds

    def mock(name, seed=0, **kwargs):
        key = (name, seed, tuple(sorted(kwargs.items())))
        if key not in _MOCK_LOADS:
            with tfds.testing.mock_data(num_examples=paper_scale.MOCK_EXAMPLES):
                _MOCK_LOADS[key] = load(name, seed=seed, **kwargs)
        return copy.deepcopy(_MOCK_LOADS[key])

    monkeypatch.setattr(data_tfds, "load_tfds", mock)


@pytest.fixture
def prepared_mnist(tmp_path):
    """A tiny MNIST (30 train, 12 test) prepared in ``tmp_path`` as tfds writes it."""
    builder = tfds.builder("mnist", data_dir=tmp_path)
    rng = np.random.default_rng(0)

    def examples(n):
        return [(i, {"image": rng.integers(0, 256, (28, 28, 1), dtype=np.uint8), "label": i % 10})
                for i in range(n)]

    tfds.dataset_builders.store_as_tfds_dataset(
        name="mnist", version=str(builder.version), features=builder.info.features,
        split_datasets={"train": examples(30), "test": examples(12)}, data_dir=tmp_path,
    )
    return tmp_path


@pytest.mark.parametrize("name, shape, classes", [
    (e.name, e.input_shape, e.classes) for e in registry.REGISTRY.values() if e.splits])
def test_tfds_loaders_with_mock_data(reachable, name, shape, classes):
    """Each registry entry with a published split against tensorflow-datasets' own
    features (shape, classes), through its mock data."""
    # The mock makes download_and_prepare a no-op; `reachable` passes the host check before it.
    with tfds.testing.mock_data(num_examples=40):
        ds = data.load(name)
    assert ds.x_train.shape[1:] == shape and ds.x_train.dtype == np.float32
    assert 0 <= ds.x_train.min() and ds.x_train.max() <= 1
    assert ds.num_classes == classes and len(ds.class_names) == classes
    assert len(ds.y_train) + len(ds.y_val) == 40 and len(ds.y_test) == 40
    assert ds.y_train.max() < classes


def test_prepared_data_dir_loads_without_network(prepared_mnist, offline):
    ds = data.load("mnist", data_dir=prepared_mnist)
    assert not offline, "loading a prepared data set tried to connect"
    assert ds.x_train.shape[1:] == (28, 28, 1) and ds.x_train.dtype == np.float32
    assert len(ds.y_train) + len(ds.y_val) == 30 and ds.x_test.shape == (12, 28, 28, 1)
    assert 0 <= ds.x_train.min() and ds.x_train.max() <= 1 and ds.x_train.max() > 0.9
    assert sorted(ds.y_test) == sorted(i % 10 for i in range(12)) and ds.y_test.dtype == np.int64
    assert ds.num_classes == 10 and ds.class_names == tuple("0123456789")


@pytest.mark.parametrize("download, reason", [
    (True, "storage.googleapis.com:443, through which it downloads from https://storage.goo"),
    (False, "download=False forbids downloading it"),
])
def test_offline_load_fails_fast_and_says_how_to_provide(tmp_path, offline, download, reason):
    start = time.monotonic()
    with pytest.raises(OSError) as caught:
        data.load("mnist", data_dir=tmp_path, download=download)
    elapsed = time.monotonic() - start
    assert elapsed < 10, f"an offline load took {elapsed:.1f} s to fail"
    assert len(offline) == int(download)
    message = str(caught.value)
    for part in ("'mnist'", f"{tmp_path / 'mnist' / '3.0.1'}/", reason, "tfds build mnist",
                 "data_dir=", "TFDS_DATA_DIR"):
        assert part in message, f"{part!r} not in {message!r}"
    assert "\n" not in message


def test_offline_check_goes_through_the_proxy(tmp_path, offline, monkeypatch):
    monkeypatch.setenv("https_proxy", "http://proxy.example:3128")
    with pytest.raises(OSError, match="proxy.example:3128, through which it downloads from "
                                      "https://storage.googleapis.com/cvdf-datasets/mnist/"):
        data.load("mnist", data_dir=tmp_path)
    assert offline == [(("proxy.example", 3128),)]


def test_download_failure_is_explained(tmp_path, reachable, monkeypatch):
    def fail(*args, **kwargs):
        raise ConnectionError("no route\n  to host")

    monkeypatch.setattr(tfds.core.DatasetBuilder, "download_and_prepare", fail)
    with pytest.raises(OSError, match=r"'cifar10' is not prepared in .*downloading it from "
                                      r"https://www.cs.toronto.edu/\S+ failed \(ConnectionError: "
                                      r"no route to host\).*tfds build cifar10"):
        data.load("cifar10", data_dir=tmp_path)


def test_missing_dependency_is_named(monkeypatch):
    def builder(*args, **kwargs):
        raise ModuleNotFoundError("No module named 'importlib_resources'",
                                  name="importlib_resources")

    monkeypatch.setattr(tfds, "builder", builder)
    with pytest.raises(ImportError, match=r"'importlib_resources' is missing: "
                                          r"pip install 'kzoo\[data\]'"):
        data.load("mnist")


def test_paper_scale_recipes_are_found():
    names = {f"{p.parent.name}/{p.name}" for p in PAPER_SCALE}
    assert {"bad_data_gan/mnist-lt100.toml", "bad_data_gan/fashion_mnist-lt20.toml",
            "bad_data_gan/cifar10-lt10.toml"} <= names


@pytest.mark.parametrize("path", PAPER_SCALE, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_paper_scale_recipe_runs_two_steps_on_mock_data(reachable, mock_loads, path):
    """The recipe as a user with the download runs it (its data, bias, augmentation,
    precision, nets, game and optimizers; a start from another recipe's run is that
    recipe's fresh net), for two steps of batch 2 (one critic step each) on
    tensorflow-datasets' mock data.

    Eagerly: compiling ResNet-32 and the 32x32 GAN pairs costs 20-50 s a recipe under XLA
    on this CPU; each game's compiled step is tested on small nets in its own tests. Under
    `make test` each recipe runs in one backend's pass, in turn, torch's or TensorFlow's:
    23 of them took 230 s on eager JAX here, 49 s on torch, 62 s on TensorFlow."""
    in_turn(PAPER_SCALE.index(path), "a recipe's data, bias, nets, precision and optimizers "
            "are the same on every backend, and every game's step runs on every backend in "
            "its own tests", slow=("jax",))
    source = paper_scale.with_fresh_nets(Recipe.from_file(path), ROOT / "recipes").source
    source["fit"]["batch_size"] = BATCH
    if "n_critic" in source["game"]:  # five critic steps are the same code five times
        source["game"]["n_critic"] = 1
    recipe = Recipe(source, path)
    with recipe.precision():
        ds = recipe.dataset()
        game = recipe.build(ds)
        game.compile(game.optimizer, run_eagerly=True)
        rows = ds.replace({"step": "two batches"}, x_train=ds.x_train[:2 * BATCH],
                          y_train=ds.y_train[:2 * BATCH])
        history = game.fit(recipe.batches(game, rows), epochs=1, verbose=0, shuffle=False)
    for key, value in history.history.items():
        assert np.isfinite(value).all(), key
    first = next(iter(optimizers_of(game).values()))  # a later player may wait for a stage
    assert int(keras.ops.convert_to_numpy(first.iterations)) >= 2
