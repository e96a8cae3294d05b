"""The built wheel, installed into a fresh environment on torch without TensorFlow, carries the
zoo and the recipes: a classifier preset, a generator preset and its feature network load
there, and `kzoo train` trains a shipped recipe by its name.

The environment is a new virtual environment holding only the wheel; the packages it needs
(keras, torch, NumPy, ...) are this environment's, seen through links that leave out
TensorFlow, tensorflow-datasets, JAX and the checkout's own kzoo. Nothing is downloaded."""

import json
import shutil
import site
import subprocess
import sys
import venv
from pathlib import Path

import numpy as np
from conftest import ROOT, once

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
print(json.dumps({"kzoo": kzoo.__file__, "backend": kzoo.backend.name,
                  "presets": len(kzoo.presets()), "recipes": len(kzoo.recipes.shipped()),
                  "probs": kzoo.metrics.predict_proba(clf, x).tolist(),
                  "samples": list(samples.shape), "features": features.name}))
"""


def _visible_packages(target):
    """Links in ``target`` to every installed package but the hidden ones."""
    target.mkdir()
    for source in map(Path, site.getsitepackages()):
        for entry in source.iterdir():
            if not entry.name.lower().startswith(HIDDEN) and entry.suffix != ".pth":
                if not (target / entry.name).exists():
                    (target / entry.name).symlink_to(entry)


@once
def test_the_wheel_carries_the_zoo_to_a_torch_only_environment(tmp_path):
    src = tmp_path / "src"
    shutil.copytree(ROOT, src, symlinks=True, ignore=shutil.ignore_patterns(*NOT_COPIED))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-index",
                    "--no-build-isolation", "-w", str(tmp_path / "dist"), str(src)],
                   check=True, capture_output=True, timeout=300)
    wheel = next((tmp_path / "dist").glob("kzoo-*.whl"))
    env = tmp_path / "env"
    venv.create(env, with_pip=False)
    python = env / "bin" / "python"
    env_site = Path(subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True, capture_output=True, text=True).stdout.strip())
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q",
                    "--no-deps", "--no-index", str(wheel)],
                   check=True, capture_output=True, timeout=300)
    _visible_packages(tmp_path / "packages")
    (env_site / "visible-packages.pth").write_text(str(tmp_path / "packages") + "\n")
    done = subprocess.run([python, "-c", CHECK], capture_output=True, text=True, timeout=300,
                          cwd=tmp_path, env={"KERAS_BACKEND": "torch", "HOME": str(tmp_path),
                                             "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert Path(out["kzoo"]).is_relative_to(env_site)
    assert out["backend"] == "torch" and out["presets"] == len(list(
        p for p in (ROOT / "saved_models").iterdir() if (p / "card.json").is_file()))
    assert out["samples"] == [8, 8, 8, 1] and out["features"]
    assert out["recipes"] == len(list((ROOT / "recipes").rglob("*.toml")))
    run = subprocess.run([python, "-m", "kzoo.cli", "train", "digits-lt10-ldam-drw", "--epochs",
                          "1", "--quiet", "--out", "run"], capture_output=True, text=True,
                         timeout=300, cwd=tmp_path, env={"KERAS_BACKEND": "torch",
                                                         "HOME": str(tmp_path),
                                                         "PATH": "/usr/bin:/bin"})
    assert run.returncode == 0, run.stderr[-3000:]
    card = json.loads((tmp_path / "run" / "card.json").read_text())
    assert card["name"] == "digits-lt10-cnn-ldam-drw" and card["epochs"] == 1
    x = kzoo.data.load("digits").x_test[:100]  # the same predictions as the checkout's copy
    np.testing.assert_allclose(out["probs"], kzoo.metrics.predict_proba(
        kzoo.load("digits-lt10-cnn-ce"), x), atol=1e-5)
