"""The zoo: presets, sha256 checks, bad files, and the same predictions on every backend."""

import hashlib
import shutil
import tomllib

import keras
import numpy as np
import pytest
from conftest import BACKENDS, ROOT, data_here, once, preset_cases, run_python

import kzoo
from kzoo import cli, runs, zoo

# The zoo's presets, by what they serve (a preset serving both is in both lists).
PRESETS = [c.name for c in zoo.presets() if "classifier" in c.serves]
GENERATORS = [c.name for c in zoo.presets() if "generator" in c.serves]
# Those whose data is here (a Fashion-MNIST preset's needs `make data`).
HERE = [c.name for c in zoo.presets() if data_here(c.recipe_spec["data"]["name"])]


def test_every_preset_is_its_recipe_trained():
    cards = kzoo.presets()
    assert [c.name for c in cards] == sorted(d.name for d in zoo.ZOO_DIR.iterdir())
    assert len(PRESETS) >= 10 and len(GENERATORS) >= 5
    for card in cards:
        for key in ("served", "game", "recipe", "recipe_sha256", "data", "seed", "backend",
                    "versions", "wall_time_s", "metrics", "metrics_command", "sha256"):
            assert key in card.to_dict(), key
        recipe = ROOT / card.recipe
        assert hashlib.sha256(recipe.read_bytes()).hexdigest() == card.recipe_sha256, \
            f"{card.name}: {card.recipe} changed since it was trained (make presets)"
        assert tomllib.loads(recipe.read_text())["name"] == card.name


def test_presets_retrain_after_the_presets_they_start_from(capsys):
    order = [r.name for r in runs.training_order(
        [kzoo.recipes.Recipe(c.recipe_spec, c.recipe) for c in kzoo.presets()])]
    assert sorted(order) == sorted(c.name for c in kzoo.presets())
    for card in kzoo.presets():  # from each recipe's text, not the typed recipe
        source = tomllib.loads((ROOT / card.recipe).read_text())
        net = source["net"]
        starts = [t["preset"] for t in [net, *net.values()] if isinstance(t, dict)
                  and "preset" in t]
        for other in starts:
            assert order.index(other) < order.index(card.name), (other, card.name)
    assert order.index("digits-cnn-ce") < order.index("digits-dcgan")  # its features
    assert cli.main(["list", "--recipes"]) == 0
    lines = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert [name for _, _, name in lines] == order
    assert all(backend in BACKENDS and (ROOT / recipe).is_file()
               for recipe, backend, _ in lines)


@pytest.mark.parametrize("name", preset_cases(
    c for c in zoo.presets() if c.name in PRESETS and c.evaluation["test_examples"] <= 1000))
def test_load_and_predict(name):
    """A classifier preset's predictions give its card's accuracy, on every backend. A preset
    of a larger test set (Fashion-MNIST's 10,000) is loaded and predicted on every backend by
    test_presets_agree_across_backends (256 images) and its card's accuracy recomputed on
    the whole set by tests/test_cli.py::test_eval_presets_reproduce_cards."""
    card = zoo.ModelCard.read(zoo.resolve(name))
    ds = kzoo.recipes.Recipe(card.recipe_spec).dataset()
    probs = kzoo.metrics.predict_proba(kzoo.load(name).classifier, ds.x_test)
    acc = float(np.mean(probs.argmax(-1) == ds.y_test))
    assert acc == pytest.approx(card.metrics["accuracy"], abs=1e-6)


@pytest.mark.parametrize("name", preset_cases(c for c in zoo.presets() if c.name in GENERATORS))
def test_load_and_sample(name):
    gan = kzoo.load(name)
    spec = zoo.ModelCard.read(zoo.resolve(name)).recipe_spec
    samples = kzoo.metrics.generate(gan, *kzoo.metrics.latent_batch(gan, 32))
    assert samples.shape == (32, *kzoo.recipes.Recipe(spec).dataset().input_shape)
    if samples.ndim == 4:  # images, in the data's range
        assert 0.0 <= samples.min() and samples.max() <= 1.0


@once
def test_presets_agree_across_backends():
    code = (
        "import json, keras, numpy as np, kzoo\n"
        "from kzoo import zoo\n"
        "from kzoo.metrics.classification import logits_of\n"
        f"names = {[n for n in PRESETS if n in HERE]!r}\n"
        "def x_test(n):  # each preset's first 256 test images (grey or coloured)\n"
        "    spec = zoo.ModelCard.read(zoo.resolve(n)).recipe_spec\n"
        "    return kzoo.recipes.Recipe(spec).dataset().x_test[:256]\n"
        "out = {n + '/logits': keras.ops.convert_to_numpy(logits_of(\n"
        "    kzoo.load(n).classifier(x_test(n), training=False))).tolist() for n in names}\n"
        f"for n in {[n for n in GENERATORS if n in HERE]!r}:  # samples from the same z\n"
        "    gan = kzoo.load(n)\n"
        "    out[n + '/samples'] = kzoo.metrics.generate(\n"
        "        gan, *kzoo.metrics.latent_batch(gan, 64)).tolist()\n"
        "print(json.dumps(out))"
    )
    outs = {b: run_python(code, b) for b in BACKENDS}
    assert len(outs["tensorflow"]) == len([n for n in PRESETS + GENERATORS if n in HERE])
    for name in outs["tensorflow"]:
        ref = np.array(outs["tensorflow"][name])
        # float32 rounds each sum to its magnitude: 1e-5 of the largest value, at least 1e-5
        # (a classifier of logits up to 19 differs by 8e-5 between torch and TensorFlow, and
        # by 4e-5 on torch alone between batch sizes of 1,000 and 7)
        tolerance = 1e-5 * max(1.0, np.abs(ref).max())
        for b in BACKENDS[1:]:
            diff = np.abs(np.array(outs[b][name]) - ref).max()
            print(f"\n{name}: max |{b} - tensorflow| = {diff:.2e} (tolerance {tolerance:.1e})")
            assert diff <= tolerance, f"{name}: {b} vs tensorflow max |d| = {diff}"


def test_unknown_preset_lists_names():
    with pytest.raises(ValueError, match="presets: digits-acgan, digits-cnn-ce, digits-cnn-m"):
        kzoo.load("resnet-imagenet")


@pytest.fixture
def copied(tmp_path):
    target = tmp_path / "run"
    shutil.copytree(zoo.resolve("digits-lt10-cnn-ce"), target)
    return target


def test_sha_mismatch_refused(copied):
    with open(copied / "model.keras", "ab") as f:
        f.write(b"\0")
    with pytest.raises(ValueError, match="does not match its card"):
        kzoo.load(copied)


def test_truncated_file_refused(copied):
    path = copied / "model.keras"
    path.write_bytes(path.read_bytes()[:2000])
    with pytest.raises(ValueError, match="not a readable .keras archive"):
        zoo.load_file(path)
    with pytest.raises(ValueError, match="does not match its card"):
        kzoo.load(copied)


def test_failed_save_leaves_nothing(tmp_path, monkeypatch):
    model = kzoo.load(PRESETS[0])

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(keras.Model, "save", boom)
    with pytest.raises(RuntimeError):
        model.save(tmp_path / "m.keras")
    assert list(tmp_path.iterdir()) == []
