"""Your own data: an .npz file or a folder of class-named image folders named by a recipe's
``[data] path`` (relative to the recipe's folder), its sha256 in the provenance and on the
card; the refusals, each naming the file, the table and the key; and the built-in nets at
image sizes other than the registered data sets'."""

import copy
import hashlib
import importlib.util
import json
import re
import shutil
import subprocess

import keras
import numpy as np
import pytest
from conftest import ROOT, once
from PIL import Image

import kzoo
from kzoo import cli, nets
from kzoo.recipe_parse import parse
from kzoo.recipes import Recipe, RecipeError
from kzoo.runs import train

RECIPE = """name = "mine"
[data]
path = "{path}"
{extra}
[net]
arch = "small_cnn"
width = 4
[game]
name = "Classifier"
[fit]
epochs = 1
batch_size = 16
"""
needs_tensorflow = pytest.mark.skipif(
    importlib.util.find_spec("tensorflow") is None,
    reason="keras.utils.image_dataset_from_directory reads through tf.data")


def write_npz(path, side=16, classes=3, n=48, **arrays):
    """A tiny data set of ``side`` x ``side`` 8-bit images: each class a bright row."""
    rng = np.random.default_rng(0)

    def images(labels):
        x = rng.integers(0, 60, (len(labels), side, side), dtype="uint8")
        x[np.arange(len(labels)), 2 + 3 * labels] = 255
        return x

    y_train, y_test = np.arange(n) % classes, np.arange(n // 4) % classes
    content = {"x_train": images(y_train), "y_train": y_train, "x_test": images(y_test),
               "y_test": y_test, **arrays}
    np.savez(path, **{k: v for k, v in content.items() if v is not None})
    return content


def test_an_npz_recipe_trains_and_its_card_holds_the_files_sha256(tmp_path, monkeypatch):
    (tmp_path / "recipe").mkdir()
    content = write_npz(tmp_path / "recipe" / "my_data.npz", class_names=["a", "b", "c"])
    recipe = tmp_path / "recipe" / "my.toml"
    recipe.write_text(RECIPE.format(path="my_data.npz",
                                    extra='bias = [{kind = "long_tail", imbalance = 2}]'))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the path is read from the recipe's folder, not from here
    card = train(str(recipe), "runs/mine", verbose=0)
    step = card.data["provenance"][0]
    blob = (tmp_path / "recipe" / "my_data.npz").read_bytes()
    assert step["file"] == "my_data.npz"
    assert step["file_sha256"] == hashlib.sha256(blob).hexdigest()
    assert [s.get("transform") for s in card.data["provenance"]] == [None, "long_tail"]
    written = json.loads((elsewhere / "runs" / "mine" / "card.json").read_text())
    assert written["data"]["provenance"][0]["file_sha256"] == step["file_sha256"]
    assert "your own data 'my_data' (my_data.npz" in card.limitations[0]
    assert "my_data.npz" in card.licence["data"]
    # the data as trained: 8-bit pixels scaled to [0, 1], a channel axis added, 16x16 images
    ds = Recipe.from_file(recipe).dataset()
    assert ds.input_shape == (16, 16, 1) and ds.class_names == ("a", "b", "c")
    np.testing.assert_allclose(ds.x_test[..., 0], content["x_test"] / 255.0, atol=1e-7)
    np.testing.assert_array_equal(ds.y_test, content["y_test"])
    assert len(ds.y_train) + len(ds.y_val) < 48  # the long tail thinned the training split
    assert card.metrics["accuracy"] >= 0


def test_a_finished_run_on_your_data_is_done_until_the_data_changes(tmp_path, capsys,
                                                                    monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_npz(tmp_path / "my_data.npz")
    (tmp_path / "my.toml").write_text(RECIPE.format(path="my_data.npz", extra=""))
    command = ["train", "my.toml", "--out", "run", "--quiet"]
    assert cli.main(command) == 0
    capsys.readouterr()
    assert cli.main(command) == 0
    assert "run already holds this run" in capsys.readouterr().out
    write_npz(tmp_path / "my_data.npz", n=60)  # the same recipe, other data
    assert cli.main(command) == 2
    assert re.search(r"run already holds a different run: a finished run of this recipe "
                     r"\(data_sha256: '[0-9a-f]{64}' there, '[0-9a-f]{64}' here\)",
                     capsys.readouterr().err)


def write_images(folder, split, classes, per_class, shape, seed):
    """PNG files ``folder/split/<class>/<i>.png`` of random 8-bit pixels; returns them."""
    rng = np.random.default_rng(seed)
    written = {}
    for c in classes:
        (folder / split / c).mkdir(parents=True)
        for i in range(per_class):
            pixels = rng.integers(0, 256, shape, dtype="uint8")
            Image.fromarray(pixels).save(folder / split / c / f"{i}.png")
            written[c, i] = pixels
    return written


@needs_tensorflow
@pytest.mark.parametrize("color_mode, shape", [("grayscale", (6, 10)), ("rgb", (6, 10, 3))])
def test_an_image_folder_is_read_as_written(tmp_path, color_mode, shape):
    folder = tmp_path / "shapes"
    classes = ("circle", "square")  # sorted: class 0 is circle
    train_images = write_images(folder, "train", classes, 5, shape, 0)
    test_images = write_images(folder, "test", classes, 2, shape, 1)
    (tmp_path / "r.toml").write_text(RECIPE.format(
        path="shapes", extra=f'image_size = [6, 10]\ncolor_mode = "{color_mode}"'))
    ds = Recipe.from_file(tmp_path / "r.toml").dataset()
    channels = 1 if color_mode == "grayscale" else 3
    assert ds.input_shape == (6, 10, channels) and ds.class_names == classes
    expected = np.stack([test_images[c, i] for c in classes for i in range(2)])
    np.testing.assert_allclose(ds.x_test, expected.reshape(ds.x_test.shape) / 255.0,
                               atol=1e-6)
    np.testing.assert_array_equal(ds.y_test, [0, 0, 1, 1])
    assert 0 <= ds.x_train.min() and ds.x_train.max() <= 1
    # train and validation together: each written image once, with its class's label
    got = np.concatenate([ds.x_train, ds.x_val]).reshape(10, -1)
    labels = np.concatenate([ds.y_train, ds.y_val])
    for (c, _), pixels in train_images.items():
        row = np.flatnonzero(np.abs(got - pixels.reshape(-1) / 255.0).max(axis=1) < 1e-6)
        assert len(row) == 1 and labels[row[0]] == classes.index(c)
    step = ds.provenance[0]
    assert (step["folder"], step["files"]) == ("shapes", 14)
    if shutil.which("sha256sum"):  # the documented command, coreutils as the oracle
        listed = subprocess.run(
            "find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum",
            shell=True, cwd=folder, capture_output=True, text=True, check=True).stdout
        assert step["files_sha256"] == listed.split()[0]
    (folder / "test" / "square" / "0.png").write_bytes(b"changed")
    assert kzoo.data.image_folder.folder_sha256(folder)[0] != step["files_sha256"]


SMALL = {"name": "r", "net": {"arch": "small_cnn"}, "game": {"name": "Classifier"},
         "fit": {"epochs": 1}}
SCHEMA = json.loads((ROOT / "recipes" / "recipe.schema.json").read_text())


@once
@pytest.mark.parametrize("data, message", [
    ({"name": "digits", "path": "my.npz"}, r"\[data\] takes name .* or path .*; got both\."),
    ({}, r"\[data\] takes name .* or path .*; got neither\."),
    ({"path": ""}, r"\[data\] path must name your \.npz file or image folder"),
    ({"name": "digits", "image_size": [8, 8]}, r"\[data\] image_size: only for an image "
                                               r"folder .* not for the data set 'digits'"),
    ({"path": "my.npz", "image_size": [8]}, r"\[data\] image_size must be \[height, width\]"),
    ({"path": "imgs", "color_mode": "greyscale"},
     r"\[data\] color_mode must be one of 'rgb', 'grayscale', 'rgba'; got 'greyscale'\. "
     r"Did you mean 'grayscale'\?"),
])
def test_the_parser_and_the_schema_refuse_a_data_table(data, message):
    import jsonschema

    source = {**copy.deepcopy(SMALL), "data": data}
    assert list(jsonschema.Draft202012Validator(SCHEMA).iter_errors(source))
    with pytest.raises(RecipeError, match=r"^recipes/mine\.toml: " + message):
        parse(source, "recipes/mine.toml")
    assert not list(jsonschema.Draft202012Validator(SCHEMA).iter_errors(
        {**SMALL, "data": {"path": "imgs", "image_size": [8, 8], "color_mode": "rgb"}}))


def same_classes_wanted(p):
    for split, c in (("train", "cat"), ("train", "dog"), ("test", "cat")):
        (p / "imgs" / split / c).mkdir(parents=True)


NPZ = {"path": "my.npz"}
FOLDER = {"path": "imgs", "image_size": [8, 8]}
REFUSALS = {  # what the test folder holds, [data], what the message says after the file
    "no file": (None, {"path": "none.npz"},
                r"\[data\] path 'none\.npz': no file or folder at .*none\.npz \(a relative "
                r"path is read from the recipe"),
    "keys missing": (lambda p: write_npz(p / "my.npz", x_test=None, y_test=None), NPZ,
                     r"\[data\] path 'my\.npz': .*my\.npz holds no x_test, y_test; it holds "
                     r"x_train, y_train\. An \.npz of your data holds x_train, y_train, "
                     r"x_test, y_test and optionally class_names"),
    "a key more": (lambda p: write_npz(p / "my.npz", x_val=np.zeros(3)), NPZ,
                   r"\[data\] path 'my\.npz': unknown key\(s\) \['x_val'\] in .*my\.npz; "
                   r"allowed: x_train, y_train, x_test, y_test, class_names\."),
    "text": (lambda p: (p / "my.npz").write_text("x,y\n1,2\n"), NPZ,
             r"\[data\] path 'my\.npz': .*my\.npz is not an \.npz file"),
    "npy": (lambda p: (np.save(p / "my.npy", np.zeros(3)), (p / "my.npy").rename(p / "my.npz")),
            NPZ,
            r"\[data\] path 'my\.npz': .*my\.npz holds one array \(a \.npy file\), not "
            r"an \.npz"),
    "pickled names": (lambda p: write_npz(p / "my.npz", class_names=np.array([{"a": 1}],
                                                                              dtype=object)),
                      NPZ, r"\[data\] path 'my\.npz': class_names in .*my\.npz is an array "
                           r"of Python objects"),
    "names too few": (lambda p: write_npz(p / "my.npz", class_names=["a", "b"]), NPZ,
                      r"\[data\] path 'my\.npz': y_train holds labels in \[0, 2\]; allowed: "
                      r"0 to 1"),
    "image_size for a file": (lambda p: write_npz(p / "my.npz"),
                              {**NPZ, "image_size": [16, 16]},
                              r"\[data\] image_size: only for an image folder, and \[data\] "
                              r"path 'my\.npz' is a file"),
    "no image_size": (lambda p: (p / "imgs").mkdir(), {"path": "imgs"},
                      r"\[data\] path 'imgs' is an image folder: give \[data\] image_size"),
    "no train/test": (lambda p: (p / "imgs" / "cats").mkdir(parents=True), FOLDER,
                      r"\[data\] path 'imgs': .*imgs needs train/ and test/ subfolders, .* it "
                      r"holds \['cats'\]"),
    "other classes": (same_classes_wanted, FOLDER,
                      r"\[data\] path 'imgs': .*imgs/train and .*imgs/test must hold the same "
                      r"class folders, one or more; they hold \['cat', 'dog'\] and \['cat'\]"),
}


@once
@pytest.mark.parametrize("case", REFUSALS)
def test_your_data_is_refused_naming_the_file_the_table_and_the_key(tmp_path, case):
    make, data, message = REFUSALS[case]
    if make is not None:
        make(tmp_path)
    recipe = Recipe({**SMALL, "data": data}, tmp_path / "mine.toml")
    with pytest.raises(RecipeError, match=f"^{re.escape(str(tmp_path / 'mine.toml'))}: "
                                          + message):
        recipe.dataset()


@pytest.mark.parametrize("shape, pools", [((16, 16, 1), 3), ((20, 20, 3), 3), ((12, 16, 1), 2),
                                          ((4, 4, 1), 1), ((8, 8, 1), 2), ((28, 28, 1), 3),
                                          ((32, 32, 3), 3)])
def test_small_cnn_takes_any_image_of_at_least_4x4(shape, pools):
    net = nets.small_cnn(shape, 5, width=4)
    assert sum(isinstance(layer, keras.layers.MaxPooling2D) for layer in net.layers) == pools
    x = np.random.default_rng(0).random((3, *shape)).astype("float32")
    logits = keras.ops.convert_to_numpy(net(x))
    assert logits.shape == (3, 5) and np.all(np.isfinite(logits))
    feats = nets.features_model(net).predict(x, verbose=0)
    side = [s for s in shape[:2]]
    for _ in range(pools):
        side = [s // 2 for s in side]
    assert min(side) >= 2 and feats.shape == (3, 4 * 2 ** (pools - 1))


@pytest.mark.parametrize("arch", ["dcgan", "resnet"])
@pytest.mark.parametrize("shape", [(20, 20, 3), (16, 24, 3), (4, 4, 1)])
def test_the_gan_pairs_take_even_sides_of_at_least_4(arch, shape):
    g, d = nets.gan_pair(arch, shape, 4, num_classes=3, width=4)
    z = np.random.default_rng(0).normal(size=(2, 4)).astype("float32")
    labels = np.array([0, 2], "int32")
    fake = keras.ops.convert_to_numpy(g([z, labels]))
    assert fake.shape == (2, *shape) and np.all(np.abs(fake) <= 1)
    score = keras.ops.convert_to_numpy(d([fake, labels]))
    assert score.shape == (2,) and np.all(np.isfinite(score))
    with pytest.raises(ValueError, match=r"even sides of at least 4.*got image_shape "
                                         r"\(15, 15, 1\)"):
        nets.gan_pair(arch, (15, 15, 1), 4)
