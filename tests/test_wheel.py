"""The built wheels, installed into a fresh environment on torch without TensorFlow: kzoo's
carries the recipes and no preset, kzoo-presets' (packaging/presets/) the zoo. With both, a
classifier preset, a generator preset and its feature network load there, and `kzoo train`
trains a shipped recipe by its name, a recipe trains on an .npz file of one's own, and Madry
trains on a torch module, saved and loaded back; with kzoo's alone, loading a preset says how
to install them.

The environment is a new virtual environment holding only the wheels; the packages it needs
(keras, torch, NumPy, ...) are this environment's, seen through links that leave out
TensorFlow, tensorflow-datasets, JAX and the checkout's own kzoo. Nothing is downloaded."""

import email
import json
import runpy
import shutil
import site
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, once
from packaging.requirements import Requirement

import kzoo

HIDDEN = ("tensorflow", "tensorboard", "tf_keras", "jax", "kzoo", "__editable__")
NOT_COPIED = (".git", ".venv", "runs", "build", "dist", "kzoo-demo", "*.egg-info",
              "__pycache__", ".pytest_cache", ".ruff_cache")

CHECK = """
import importlib.util, json
import numpy as np
import kzoo
from kzoo.metrics.generator import feature_preset
assert importlib.util.find_spec("tensorflow") is None
clf = kzoo.load("digits-lt10-cnn-ce")
x = kzoo.data.load("digits").x_test[:100]
gan = kzoo.load("digits-wgan-gp")
samples = kzoo.metrics.generate(gan, *kzoo.metrics.latent_batch(gan, 8))
features = kzoo.load(feature_preset("digits"))
print(json.dumps({"kzoo": kzoo.__file__, "zoo": str(kzoo.zoo.ZOO_DIR),
                  "backend": kzoo.backend.name, "presets": len(kzoo.presets()),
                  "recipes": len(kzoo.recipes.shipped()),
                  "probs": kzoo.metrics.predict_proba(clf, x).tolist(),
                  "samples": list(samples.shape), "features": features.name}))
"""

# Your data through a recipe, and Madry on your torch module, saved and loaded back.
OWN = """
import json
import keras, numpy as np, torch
import kzoo
from kzoo.runs import train

rng = np.random.default_rng(0)
y_train, y_test = np.arange(120) % 3, np.arange(30) % 3
x_train, x_test = (rng.random((len(y), 16, 16, 1), dtype=np.float32) for y in (y_train, y_test))
np.savez("own.npz", x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
with open("own.toml", "w") as f:
    f.write('name = "own"\\n[data]\\npath = "own.npz"\\n[net]\\narch = "small_cnn"\\n'
            '[game]\\nname = "Classifier"\\n[fit]\\nepochs = 1\\n')
card = train("own.toml", "runs/own", verbose=0)
ds = kzoo.data.load("digits")
module = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, ds.num_classes))
net = keras.Sequential([keras.Input(ds.input_shape), keras.layers.TorchModuleWrapper(
    module, output_shape=(None, ds.num_classes))])
game = kzoo.games.PGDAdversarialTraining(net, epsilon=0.1, steps=3, seed=0)
game.compile(keras.optimizers.Adam(1e-3))
game.fit(ds.x_train[:256], ds.y_train[:256], epochs=1, batch_size=64, verbose=0)
game.save("madry-torch.keras")
loaded = kzoo.zoo.load_file("madry-torch.keras", safe_mode=False)
same = np.array_equal(loaded.classifier.predict(ds.x_test, verbose=0),
                      game.classifier.predict(ds.x_test, verbose=0))
print(json.dumps({"own": card.data["provenance"][0]["file"], "test_n":
                  card.evaluation["test_examples"], "same": same}))
"""

NO_PRESETS = """
import json, warnings
import kzoo
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    presets = kzoo.presets()
error = None
try:
    kzoo.load("digits-lt10-cnn-ce")
except ValueError as err:
    error = str(err)
print(json.dumps({"presets": len(presets), "warnings": [str(w.message) for w in caught],
                  "error": error}))
"""
INSTALL = "pip install 'kzoo[presets]'"
CHECK_WHEELS = runpy.run_path(str(ROOT / "packaging" / "check_wheels.py"))  # make release's


def _visible_packages(target, hidden):
    """Links in ``target`` to every installed package but the ``hidden`` ones."""
    target.mkdir()
    for source in map(Path, site.getsitepackages()):
        for entry in source.iterdir():
            if not entry.name.lower().startswith(hidden) and entry.suffix != ".pth":
                if not (target / entry.name).exists():
                    (target / entry.name).symlink_to(entry)


def _torch_only_env(tmp_path, wheels, hidden=HIDDEN):
    """``(python, site-packages)`` of a new environment holding ``wheels`` and, through
    links, this environment's packages but the ``hidden`` ones."""
    env = tmp_path / "env"
    venv.create(env, with_pip=False)
    python = env / "bin" / "python"
    env_site = Path(subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True, capture_output=True, text=True).stdout.strip())
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q",
                    "--no-deps", "--no-index", *map(str, wheels)],
                   check=True, capture_output=True, timeout=300)
    _visible_packages(tmp_path / "packages", hidden)
    (env_site / "visible-packages.pth").write_text(str(tmp_path / "packages") + "\n")
    return python, env_site


def _run(python, args, cwd, backend="torch"):
    return subprocess.run([python, *args], capture_output=True, text=True, timeout=300,
                          cwd=cwd, env={"PATH": "/usr/bin:/bin", "HOME": str(cwd),
                                        **({"KERAS_BACKEND": backend} if backend else {})})


@pytest.fixture(scope="module")
def wheels(tmp_path_factory):
    """``{"kzoo": wheel, "kzoo_presets": wheel}``, built from a copy of the checkout as
    `make release` builds them (kzoo's wheel from its sdist), and passing `twine check`."""
    tmp = tmp_path_factory.mktemp("wheels")
    src = tmp / "src"
    shutil.copytree(ROOT, src, symlinks=True, ignore=shutil.ignore_patterns(*NOT_COPIED))
    for args in ([str(src)], ["--wheel", str(src / "packaging" / "presets")]):
        subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir",
                        str(tmp / "dist"), *args], check=True, capture_output=True, timeout=300)
    subprocess.run([sys.executable, "-m", "twine", "check", "--strict",
                    *map(str, (tmp / "dist").iterdir())], check=True, capture_output=True)
    return {w.name.split("-")[0]: w for w in (tmp / "dist").glob("*.whl")}


@once
def test_the_wheels_carry_the_zoo_to_a_torch_only_environment(wheels, tmp_path):
    python, env_site = _torch_only_env(tmp_path, wheels.values())
    done = _run(python, ["-c", CHECK], tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert Path(out["kzoo"]).is_relative_to(env_site)
    assert Path(out["zoo"]).is_relative_to(env_site / "kzoo_presets")
    assert out["backend"] == "torch" and out["presets"] == len(list(
        p for p in (ROOT / "saved_models").iterdir() if (p / "card.json").is_file()))
    assert out["samples"] == [8, 8, 8, 1] and out["features"]
    assert out["recipes"] == len(list((ROOT / "recipes").rglob("*.toml")))
    run = _run(python, ["-m", "kzoo.cli", "train", "digits-lt10-ldam-drw", "--epochs", "1",
                        "--quiet", "--out", "run"], tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    card = json.loads((tmp_path / "run" / "card.json").read_text())
    assert card["name"] == "digits-lt10-cnn-ldam-drw" and card["epochs"] == 1
    own = _run(python, ["-c", OWN], tmp_path)
    assert own.returncode == 0, own.stderr[-3000:]
    assert json.loads(own.stdout.strip().splitlines()[-1]) == {"own": "own.npz", "test_n": 30,
                                                               "same": True}
    x = kzoo.data.load("digits").x_test[:100]  # the same predictions as the checkout's copy
    np.testing.assert_allclose(out["probs"], kzoo.metrics.predict_proba(
        kzoo.load("digits-lt10-cnn-ce"), x), atol=1e-5)


@once
def test_kzoos_wheel_holds_no_preset_and_says_how_to_install_them(wheels, tmp_path):
    assert sorted(wheels) == ["kzoo", "kzoo_presets"]
    assert {w.name.split("-")[1] for w in wheels.values()} == {kzoo.__version__}
    names = zipfile.ZipFile(wheels["kzoo"]).namelist()
    assert not [n for n in names if "saved_models" in n or n.endswith(".keras")]
    assert len([n for n in names if n.startswith("kzoo/recipe_files/")
                and n.endswith(".toml")]) == len(list((ROOT / "recipes").rglob("*.toml")))
    assert wheels["kzoo"].stat().st_size < CHECK_WHEELS["LIMITS"]["kzoo"]
    metadata = email.message_from_bytes(zipfile.ZipFile(wheels["kzoo"]).read(
        f"kzoo-{kzoo.__version__}.dist-info/METADATA"))
    presets = [r for r in map(Requirement, metadata.get_all("Requires-Dist"))
               if r.name == "kzoo-presets"]
    assert [r.marker.evaluate({"extra": "presets"}) for r in presets] == [True]
    assert presets[0].specifier.contains(kzoo.__version__)  # the presets of this release
    cards = {n.split("/")[2] for n in zipfile.ZipFile(wheels["kzoo_presets"]).namelist()
             if n.startswith("kzoo_presets/saved_models/") and n.endswith("/card.json")}
    assert cards == {p.name for p in (ROOT / "saved_models").iterdir()
                     if (p / "card.json").is_file()}
    assert CHECK_WHEELS["main"](list(wheels.values())) == 0
    python, _ = _torch_only_env(tmp_path, [wheels["kzoo"]])
    done = _run(python, ["-c", NO_PRESETS], tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["presets"] == 0 and any(INSTALL in w for w in out["warnings"]), out
    assert out["error"] and INSTALL in out["error"] and "digits-lt10-cnn-ce" in out["error"]


@once
def test_every_process_of_the_environment_starts_as_if_kzoo_came_first(wheels, tmp_path):
    """kzoo-startup.pth: with TensorFlow installed, `import keras, kzoo` (Keras first) is as
    silent as `import kzoo, keras` on a machine without an NVIDIA device; without TensorFlow,
    a bare `import keras` takes torch (Keras alone would fail for want of TensorFlow)."""
    if kzoo.startup.has_nvidia_device():
        pytest.skip("TensorFlow's start-up lines are its own on a machine with a GPU")
    python, env_site = _torch_only_env(tmp_path, [wheels["kzoo"]],
                                       hidden=("tf_keras", "jax", "kzoo", "__editable__"))
    code = "import keras, kzoo; keras.ops.ones(3); print(keras.config.backend())"
    done = _run(python, ["-c", code], tmp_path, backend="tensorflow")
    assert (done.returncode, done.stdout, done.stderr) == (0, "tensorflow\n", "")
    done = _run(python, ["-c", "import sys; print(sorted(m for m in sys.modules if "
                               "m.startswith('kzoo')))"], tmp_path)
    assert done.stdout == "['kzoo_startup']\n"  # the hook, and not kzoo itself
    (env_site / "kzoo-startup.pth").unlink()  # the oracle: Keras first, without it, is not
    done = _run(python, ["-c", code], tmp_path, backend="tensorflow")
    assert done.returncode == 0 and "cuda" in done.stderr.lower(), done.stderr[-2000:]
    python, env_site = _torch_only_env(tmp_path / "torch", [wheels["kzoo"]])
    done = _run(python, ["-c", "import keras; print(keras.config.backend())"], tmp_path,
                backend=None)
    assert (done.returncode, done.stdout) == (0, "torch\n"), done.stderr[-2000:]
    assert "TensorFlow is not installed; using the torch backend" in done.stderr
