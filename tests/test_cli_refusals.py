"""Bad input at the command line and in recipes: refused before any training, on one line,
naming the argument or key, the value and what is allowed."""

import copy
import json
import os
import re
import shutil
import subprocess
import sys

import pytest
from conftest import ROOT, once
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kzoo import cli, games, runs, zoo
from kzoo.recipes import Recipe, RecipeError

RECIPE = ROOT / "recipes" / "classifier" / "digits-lt10-ce.toml"


def refused(argv, capsys, *needles):
    """``kzoo argv`` exits 2 with one stderr line holding every needle."""
    code = cli.main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1, err
    for needle in needles:
        assert needle in err, err
    return err


@once  # refused before any backend work
@pytest.mark.parametrize("argv, needles", [
    (["train", "r.toml", "--epochs", "0"], ["--epochs", "int >= 1", "got 0"]),
    (["train", "r.toml", "--epochs", "-3"], ["--epochs", "got -3"]),
    (["train", "r.toml", "--epochs", "true"], ["--epochs", "'true'"]),
    (["compare-backends", "r.toml", "--epochs", "0"], ["--epochs", "got 0"]),
    (["compare-backends", "r.toml", "--backends", "tf"], ["--backends", "tf"]),
    (["demo", "--epochs", "-1"], ["--epochs", "got -1"]),
    (["eval", "x", "--tol", "nan"], ["--tol", "nan"]),
    (["sample", "x", "--n", "0"], ["--n", "got 0"]),
    (["sample", "x", "--seed", "-1"], ["--seed", "got -1"]),
    (["sample", "x", "--worst-eps", "-0.5"], ["--worst-eps", "-0.5"]),
    (["sample", "digits-wgan-gp", "--out", "grid.jpg"], ["--out", ".png", "grid.jpg"]),
    (["sample", "digits-wgan-gp", "--out", "f/x.png"], ["cannot write f/x.png", "--out"]),
    (["sample", "digits-lt10-cnn-ce", "--out", "f/x.png"], ["serves no generator"]),
    (["--backend", "torch", "list"], ["--backend goes after the command"]),
    (["--backend=jax", "eval", "x"], ["--backend goes after the command"]),
    (["sample", "digits-lt10-cnn-ce", "--out", "x.png"], ["serves no generator"]),
    (["train", "no/such.toml"], ["No recipe file at no/such.toml"]),
    (["eval", "no-such-preset"], ["Unknown preset 'no-such-preset'", "presets:"]),
    (["list", "--backend", "theano"], ["--backend", "theano"]),
    (["list", "--backend", "pytorch"], ["--backend", "'pytorch'", "Did you mean 'torch'?"]),
    (["compare-backends", "r.toml", "--backends", "torch,jaxx"], ["Did you mean 'jax'?"]),
])
def test_bad_flags_are_one_line(argv, needles, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "f").write_text("a file where --out wants a folder")
    refused(argv, capsys, *needles)


def spec():
    return Recipe.from_file(RECIPE).source


def edited(**changes):
    """The LT10 CE recipe with ``section.key`` changes (``None`` deletes the key)."""
    out = copy.deepcopy(spec())
    for path, value in changes.items():
        table, _, key = path.rpartition("__")
        target = out if not table else out.setdefault(table, {})
        if value is None:
            target.pop(key, None)
        else:
            target[key] = value
    return out


@once  # refused before any backend work
@pytest.mark.parametrize("changes, needles", [
    ({"optimizer__learning_rate": -0.1}, ["[optimizer] learning_rate", "> 0", "-0.1"]),
    ({"optimizer__learning_rate": "0.1"}, ["[optimizer] learning_rate", "'0.1'"]),
    ({"optimizer__momentum": 1.5}, ["[optimizer] momentum", "[0, 1)", "1.5"]),
    ({"fit__epochs": True}, ["[fit] epochs", "int >= 1", "True"]),
    ({"fit__batch_size": 0}, ["[fit] batch_size", "got 0"]),
    ({"fit__batch_size": -64}, ["[fit] batch_size", "got -64"]),
    ({"fit__batch_size": "64"}, ["[fit] batch_size", "'64'"]),
    ({"game__reweight_epoch": -1}, ["reweight_epoch", "-1"]),
    ({"fit__jit_compile": "yes"}, ["[fit] jit_compile", "'yes'"]),
    ({"seed": 1.5}, ["seed must be an int", "1.5"]),
    ({"seed": -1}, ["seed must be an int in [0, 4294967295]", "-1"]),
    ({"seed": "a"}, ["seed", "'a'"]),
    ({"name": "../outside"}, ["name must be a plain name", "'../outside'"]),
    ({"name": "/abs/path"}, ["name must be a plain name", "'/abs/path'"]),
    ({"name": 5}, ["name must be a plain name", "5"]),
    ({"eval__robust_epsilons": ["a"]}, ["[eval] robust_epsilons[0]", "'a'"]),
    ({"eval__robust_epsilons": 0.1}, ["[eval] robust_epsilons", "list of numbers"]),
    ({"eval__robust_steps": 0}, ["[eval] robust_steps", "got 0"]),
    ({"data__bias": "long_tail"}, ["[data] bias must be a list", "'long_tail'"]),
    ({"game__name": ["Classifier"]},
     ["[game] name: a game name must be a string", "['Classifier']"]),
    ({"optimizer__name": "rmsprop"}, ["[optimizer] name must be one of", "'rmsprop'"]),
    ({"net__width": "32"}, ["[net]", "width", "'32'"]),
    ({"game__loss": "hinge"}, ["[game]", "loss", "'hinge'"]),
    ({"eval__samples": 100}, ["['samples'] do not apply to Classifier"]),
    ({"data__scale": "signed"}, ["scale = \"signed\" is for games that serve no classifier"]),
])
def test_bad_recipe_values_are_refused_before_training(changes, needles, tmp_path, capsys,
                                                       monkeypatch):
    path = tmp_path / "bad.toml"
    path.write_text(_toml(edited(**changes)))
    monkeypatch.setattr(games.Game, "fit", _must_not_train)
    out = tmp_path / "run"
    refused(["train", str(path), "--out", str(out), "--quiet"], capsys, str(path), *needles)
    assert not out.exists()


def _must_not_train(*args, **kwargs):
    raise AssertionError("trained before refusing")


def _toml(spec):
    """A minimal TOML writer for recipe specs (tables of scalars and lists)."""
    def value(v):
        if isinstance(v, dict):
            return "{" + ", ".join(f"{k} = {value(x)}" for k, x in v.items()) + "}"
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return json.dumps(v)
    top = [f"{k} = {value(v)}" for k, v in spec.items() if not isinstance(v, dict)]
    tables = [f"[{k}]\n" + "\n".join(f"{kk} = {value(vv)}" for kk, vv in v.items())
              for k, v in spec.items() if isinstance(v, dict)]
    return "\n".join(top + tables) + "\n"


@once  # refused before any backend starts
def test_a_backend_keras_does_not_have_is_named_with_kzoo_s(tmp_path):
    env = {**os.environ, "KERAS_BACKEND": "pytorch"}
    message = ("KERAS_BACKEND names the Keras backend 'pytorch', which Keras does not have; "
               "kzoo runs on tensorflow, torch, jax. Did you mean 'torch'?")
    done = subprocess.run([sys.executable, "-m", "kzoo.cli", "train", "digits-lt10-ldam-drw",
                           "--out", str(tmp_path / "run")], capture_output=True, text=True,
                          env=env)
    assert done.returncode == 2 and done.stderr == f"kzoo train: error: {message}\n"
    done = subprocess.run([sys.executable, "-c", "import kzoo, keras"], capture_output=True,
                          text=True, env=env)
    assert done.returncode == 1 and done.stderr.strip().endswith(f"ImportError: {message}")


@once  # refused before any backend work
def test_recipe_not_utf8_names_the_file(tmp_path, capsys):
    path = tmp_path / "latin1.toml"
    path.write_bytes(RECIPE.read_text().replace("#", "# caf\xe9").encode("latin-1") + b"\xff")
    refused(["train", str(path)], capsys, str(path), "not UTF-8")


@once  # refused before any backend work
def test_out_that_cannot_be_written_fails_before_training(tmp_path, capsys, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setattr(games.Game, "fit", _must_not_train)
    refused(["train", str(RECIPE), "--out", str(blocker / "run"), "--quiet"], capsys,
            "cannot write the run directory", str(blocker / "run"))


@once  # file modes, the same on every backend
def test_run_files_get_the_usual_permissions(tmp_path):
    text = RECIPE.read_text().replace("epochs = 60", "epochs = 1").replace("width = 32",
                                                                         "width = 8")
    (tmp_path / "r.toml").write_text(text)
    old = os.umask(0o022)
    try:
        runs.train(tmp_path / "r.toml", tmp_path / "run", verbose=0)
    finally:
        os.umask(old)
    modes = {p.name: p.stat().st_mode & 0o777 for p in (tmp_path / "run").iterdir()}
    assert modes and set(modes.values()) == {0o644}, modes


@pytest.fixture
def zoo_copy(tmp_path, monkeypatch):
    for name in ("digits-lt10-cnn-ce", "digits-cnn-ce"):
        shutil.copytree(zoo.ZOO_DIR / name, tmp_path / name)
    monkeypatch.setattr(zoo, "ZOO_DIR", tmp_path)
    return tmp_path


def _edited(**changes):
    """A card's text with ``changes`` to its fields."""
    return lambda text: json.dumps({**json.loads(text), **changes})


@once  # reading cards, the same on every backend
@pytest.mark.parametrize("make, why", [
    (lambda _: "{not json", "not a valid JSON card"),
    (lambda _: '{"name": "x"}', "the card lacks game"),
    (lambda _: "[1, 2]", "a card is a JSON object"),
    (lambda _: '{"a": ' * 50_000 + "1" + "}" * 50_000, "nested more than 16 levels deep"),
    (lambda _: '{"pad": "' + "x" * (1 << 20) + '"}', "a card is at most 1048576 bytes"),
    (_edited(metrics=[0.9]), "metrics must be an object; got [0.9]"),
    (_edited(evaluation={"split": "test", "robust_attack": {"steps": "10"}}),
     "evaluation.robust_attack.steps must be an integer; got '10'"),
    (_edited(sha256="../../x"), "sha256 must be 64 hex digits"),
], ids=["json", "lacks", "array", "deep", "large", "type", "nested type", "sha256"])
def test_a_broken_card_is_named_and_hides_no_other(zoo_copy, make, why, capsys):
    card = zoo_copy / "digits-cnn-ce" / zoo.CARD_FILE
    card.write_text(make(card.read_text()))
    assert cli.main(["list"]) == 0
    out, err = capsys.readouterr()
    assert "digits-lt10-cnn-ce" in out and "digits-cnn-ce " not in out
    assert str(card) in err and why in err
    with pytest.raises(ValueError, match=re.escape(why)):
        zoo.load(zoo_copy / "digits-cnn-ce")
    with pytest.warns(UserWarning, match=re.escape(why)):
        assert [c.name for c in zoo.presets()] == ["digits-lt10-cnn-ce"]


@once  # backend-independent validation; one pass is enough for its minute
@pytest.mark.filterwarnings("ignore")
def test_any_recipe_trains_or_is_refused_with_a_recipe_error(tmp_path):
    """Mutations of valid recipes (values of the wrong type or range, deleted or unknown
    keys) either train for an epoch or raise RecipeError; nothing else escapes."""
    outcomes = []

    @given(st.data())
    @settings(max_examples=30, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow])
    def check(data):
        base = copy.deepcopy(data.draw(st.sampled_from(BASES)))
        paths = [(t, k) for t, v in base.items() if isinstance(v, dict) for k in v] + \
            [(None, k) for k, v in base.items() if not isinstance(v, dict)]
        for _ in range(data.draw(st.integers(1, 2))):
            table, key = data.draw(st.sampled_from(paths + [("fit", "unknown_key")]))
            target = base if table is None else base[table]
            value = data.draw(st.one_of(VALUES, st.just(target.get(key))))
            if value is None:
                target.pop(key, None)
            else:
                target[key] = value
        try:
            runs.train(Recipe(base), tmp_path / f"run{len(outcomes)}", verbose=0)
            outcomes.append("trained")
        except RecipeError:
            outcomes.append("refused")

    check()
    assert "trained" in outcomes and "refused" in outcomes, outcomes


def _tiny(path):
    spec = Recipe.from_file(path).source
    spec["fit"]["epochs"] = 1
    spec["net"]["width"] = 8
    spec["data"]["bias"] = [*spec["data"].get("bias", []), {"kind": "reduce", "fraction": 0.2}]
    return spec


BASES = [_tiny(RECIPE), _tiny(ROOT / "recipes" / "gan" / "digits-wgan-gp.toml")]
VALUES = st.one_of(st.none(), st.booleans(), st.integers(-3, 70), st.sampled_from(
    [0.0, -0.5, 0.5, 1.5, 0.001, float("nan"), float("inf"), "", "x", "../x", "64", "ce",
     "adam", "cosine", [], [1], ["a"], [0.0, 0.1], {}]))


@once
def test_torch_only_install_picks_an_installed_backend_and_says_so(tmp_path):
    """No KERAS_BACKEND, no keras.json, TensorFlow absent (blocked here): kzoo picks torch."""
    code = ("import sys\n"
            "sys.modules['tensorflow'] = None  # find_spec: None; import: ModuleNotFoundError\n"
            "import kzoo, keras\n"
            "kzoo.load('digits-lt10-cnn-ce')\n"
            "print(keras.config.backend())\n")
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**env, "KERAS_HOME": str(tmp_path), "PYTHONPATH": str(ROOT)},
                          cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["torch"]
    assert "TensorFlow is not installed; using the torch backend" in done.stderr


@once
def test_tensorflow_is_quiet_on_a_machine_without_a_gpu(tmp_path):
    code = ("import kzoo, numpy as np\n"
            "m = kzoo.load('digits-lt10-cnn-ce')\n"
            "print(kzoo.metrics.predict_proba(m, np.zeros((2, 8, 8, 1), 'float32')).shape)\n")
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**env, "KERAS_BACKEND": "tensorflow", "PYTHONPATH": str(ROOT)},
                          cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    if not os.path.exists("/proc/driver/nvidia"):
        assert done.stderr == "", done.stderr


def test_fit_refuses_no_examples_and_bad_counts():
    import numpy as np

    from kzoo.nets import small_cnn

    model = games.Classifier(small_cnn(width=8), loss="ce")
    model.compile("sgd")
    with pytest.raises(ValueError, match="x holds no examples"):
        model.fit(np.zeros((0, 8, 8, 1), "float32"), np.zeros(0, "int64"), verbose=0)
    x, y = np.zeros((4, 8, 8, 1), "float32"), np.zeros(4, "int64")
    for key, value, allowed in (("epochs", True, "int >= 1"), ("batch_size", 0, "int >= 1"),
                                ("epochs", -2, "int >= 1")):
        with pytest.raises(ValueError, match=f"{key} must be an {allowed}; got {value}"):
            model.fit(x, y, verbose=0, **{key: value})
