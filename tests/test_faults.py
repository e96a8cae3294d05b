"""A run is good or says why not: training stops at the first non-finite value and writes no
card, one ``kzoo train`` at a time writes a run directory, and a completed run's model and
card are replaced as a pair (``kzoo.callbacks.StopOnNonFinite``, ``kzoo.run_dir``); Ctrl-C
stops a run even where Python drops it (``kzoo.callbacks.KeepInterrupts``)."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
from conftest import BACKEND, ROOT, in_turn
from data_parallel_games import GAMES, build

from kzoo import cli, data, run_dir, zoo
from kzoo.callbacks import KeepInterrupts, NonFiniteError, StopOnNonFinite

RECIPE = ROOT / "recipes" / "classifier" / "digits-lt10-ce.toml"
# What a run directory holds, and when, does not depend on the backend: the tests of it run
# in one pass each, in turn (the divergence tests run on every backend).
ONE_PASS = "a run directory's files and refusals are the same on every backend"


def tiny_recipe(tmp_path, epochs=2, rate="0.05", name="tiny.toml"):
    text = (RECIPE.read_text().replace("epochs = 60", f"epochs = {epochs}")
            .replace("width = 32", "width = 8").replace("learning_rate = 0.05",
                                                        f"learning_rate = {rate}"))
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("name", [g for g in GAMES if not g.endswith("SyncBN")])
def test_every_game_stops_at_its_first_non_finite_value(name):
    ds = data.load("digits")
    counts = [100, 60, 40, 30, 20, 15, 10, 8, 6, 5]
    game, kind = build(name, ds, counts)
    game.compile(game.optimizer, run_eagerly=True)  # the guard, not the step, is tested
    first = getattr(game, game.players[0]).trainable_variables[0]
    first.assign(np.full(first.shape, np.nan, "float32"))
    x = np.random.default_rng(0).normal(size=(16, 2)).astype("float32") if kind == "2d" \
        else ds.x_train[:16]
    y = None if kind == "2d" else ds.y_train[:16]
    with pytest.raises(NonFiniteError, match=r"training diverged: \w+ is nan at epoch 1, "
                                             r"step 1; lower it\.$"):
        game.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[StopOnNonFinite(
            "lower it")])


def test_a_non_finite_weight_is_caught_at_the_end_of_its_epoch():
    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(2, name="head")(inputs))
    guard = StopOnNonFinite()
    guard.set_model(model)
    guard.on_epoch_end(0)  # finite: nothing
    model.layers[-1].bias.assign([0.0, np.inf])
    with pytest.raises(NonFiniteError, match=r"1 weight\(s\) hold NaN or infinity after "
                                             r"epoch 4 \(first: head/bias\)\.$"):
        guard.on_epoch_end(3)


class _InterruptedInDel:
    """Sends this process SIGINT from its ``__del__``, as Ctrl-C lands in a garbage collector's
    callback: the handler runs there, and Python prints and drops its KeyboardInterrupt."""

    def __del__(self):
        signal.raise_signal(signal.SIGINT)


class _CtrlCAtStep(keras.callbacks.Callback):
    def __init__(self, step):
        super().__init__()
        self.step, self.steps = step, 0

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1
        if self.steps == self.step:
            _InterruptedInDel()  # made and collected at once


def test_ctrl_c_dropped_inside_a_del_still_stops_fit(monkeypatch):
    x = np.zeros((64, 3), "float32")
    y = np.zeros((64,), "int64")
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile("sgd", "sparse_categorical_crossentropy")
    dropped_errors = []
    monkeypatch.setattr(sys, "unraisablehook", dropped_errors.append)  # where Python drops it
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # a worker's may differ
    try:
        dropped = _CtrlCAtStep(2)  # without KeepInterrupts the run goes on to its end
        model.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[dropped])
        assert dropped.steps == 16
        assert [e.exc_type for e in dropped_errors] == [KeyboardInterrupt]
        ctrl_c = _CtrlCAtStep(2)
        with pytest.raises(KeyboardInterrupt), KeepInterrupts() as keep:
            model.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[ctrl_c, keep])
        assert keep.interrupted and ctrl_c.steps == 2  # stopped at the end of that step
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # given back
        uninterrupted = _CtrlCAtStep(0)  # the same callback in another fit: no Ctrl-C
        with keep:
            model.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[uninterrupted, keep])
        assert not keep.interrupted and uninterrupted.steps == 16
    finally:
        signal.signal(signal.SIGINT, previous)


def test_a_diverging_recipe_fails_in_one_line_and_writes_no_card(tmp_path, capsys):
    out = tmp_path / "run"
    code = cli.main(["train", str(tiny_recipe(tmp_path, rate="1e6")), "--out", str(out),
                     "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert re.search(r"kzoo train: error: training diverged: \w+ is (nan|inf|-inf) at epoch "
                     r"\d+, step \d+; \[optimizer\] learning_rate 1000000.0 may be too high; no "
                     r"card written", err), err
    assert not (out / zoo.CARD_FILE).exists() and not (out / zoo.MODEL_FILE).exists()


def test_a_failed_retrain_leaves_the_completed_run_intact(tmp_path, capsys):
    in_turn(0, ONE_PASS)
    out = tmp_path / "run"
    assert cli.main(["train", str(tiny_recipe(tmp_path)), "--out", str(out), "--quiet"]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    bad = tiny_recipe(tmp_path, rate="1e6", name="bad.toml")
    assert cli.main(["train", str(bad), "--out", str(out), "--quiet", "--overwrite"]) == 2
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert cli.main(["eval", str(out)]) == 0


def test_overwrite_refuses_a_directory_in_the_cards_place_before_training(tmp_path, capsys):
    out = tmp_path / "run"
    (out / zoo.CARD_FILE).mkdir(parents=True)
    code = cli.main(["train", str(tiny_recipe(tmp_path)), "--out", str(out), "--quiet",
                     "--overwrite"])
    err = capsys.readouterr().err
    assert code == 2 and err == (f"kzoo train: error: {out / zoo.CARD_FILE} is a directory, "
                                 f"where the run writes its card; remove it or choose "
                                 f"another --out.\n"), err
    assert sorted(p.name for p in out.iterdir()) == [zoo.CARD_FILE]  # nothing trained


def test_a_second_writer_is_refused_at_once(tmp_path):
    out = tmp_path / "run"
    with run_dir.lock(out):
        start = time.monotonic()
        with pytest.raises(run_dir.RunLocked, match=re.escape(
                f"{out} is being written by another kzoo train (pid {os.getpid()}); wait for "
                f"it to finish, or choose another --out.")):
            with run_dir.lock(out):
                pass
        assert time.monotonic() - start < 1
    assert not out.exists()  # created for the lock, left empty: removed
    with run_dir.lock(out):  # free again
        (out / "x").write_text("kept")
    assert [p.name for p in out.iterdir()] == ["x"]


@pytest.mark.skipif(BACKEND != "torch", reason="processes of one backend race for a directory "
                                               "the same way on every backend; torch starts "
                                               "fastest")
def test_two_concurrent_trains_into_one_out(tmp_path, capsys):
    out = tmp_path / "run"
    recipe = tiny_recipe(tmp_path, epochs=40)
    env = {**os.environ, "KERAS_BACKEND": BACKEND}
    first = subprocess.Popen([sys.executable, "-m", "kzoo.cli", "train", str(recipe), "--out",
                              str(out), "--quiet"], env=env, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (out / run_dir.LOCK_FILE).exists():
            assert first.poll() is None and time.monotonic() < deadline, first.stderr.read()
            time.sleep(0.05)
        start = time.monotonic()
        assert cli.main(["train", str(recipe), "--out", str(out), "--quiet"]) == 2
        assert time.monotonic() - start < 15  # refused before any training (imports aside)
        err = capsys.readouterr().err
        assert f"is being written by another kzoo train (pid {first.pid})" in err
    finally:
        assert first.wait(timeout=600) == 0, first.stderr.read()
    card = zoo.ModelCard.read(out)
    assert card.epochs == 40 and not (out / run_dir.LOCK_FILE).exists()


def test_an_interrupted_replacement_is_named_and_finished_by_the_same_command(tmp_path, capsys,
                                                                             monkeypatch):
    in_turn(1, ONE_PASS)
    out = tmp_path / "run"
    recipe = tiny_recipe(tmp_path)
    assert cli.main(["train", str(recipe), "--out", str(out), "--quiet"]) == 0
    old = zoo.ModelCard.read(out)

    # Killed while training again: the old pair stays, and loads.
    def killed_fit(*args, **kwargs):
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(keras.Model, "fit", killed_fit)
        assert cli.main(["train", str(recipe), "--out", str(out), "--quiet",
                         "--overwrite"]) == 130
    assert zoo.ModelCard.read(out) == old and zoo.load(out) is not None

    # Killed while moving the new files in: no card, the run named as interrupted.
    moved, replace = [], os.replace

    def killed_replace(src, dst):
        if moved and str(src).endswith(zoo.CARD_FILE):
            raise KeyboardInterrupt
        moved.append(dst)
        replace(src, dst)

    with monkeypatch.context() as m:
        m.setattr(os, "replace", killed_replace)
        assert cli.main(["train", str(recipe), "--out", str(out), "--quiet",
                         "--overwrite"]) == 130
    assert moved and not (out / zoo.CARD_FILE).exists()
    capsys.readouterr()
    assert cli.main(["eval", str(out)]) == 2
    assert "holds an interrupted kzoo train (no card.json yet): run the same kzoo train" in \
        capsys.readouterr().err
    assert cli.main(["train", str(recipe), "--out", str(out)]) == 0  # resumes at its end
    assert "Resuming" in capsys.readouterr().out
    card = zoo.ModelCard.read(out)
    assert card.sha256 == zoo.sha256(out / zoo.MODEL_FILE)
    assert card.model_bytes == (out / zoo.MODEL_FILE).stat().st_size
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "card.json", "confusion.png",
                                                     "curves.png", "model.keras"]
    assert cli.main(["eval", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["reproduced"]


def test_a_refused_config_names_its_class_in_one_short_line(tmp_path, capsys):
    """A .keras file whose config names a class that is neither Keras' nor kzoo's (here
    os.system): refused with the class named, not 2,000 characters of config."""
    in_turn(2, ONE_PASS)
    import zipfile

    source = zoo.resolve("digits-cnn-ce")
    run = tmp_path / "run"
    run.mkdir()
    with zipfile.ZipFile(source / zoo.MODEL_FILE) as z:
        files = {n: z.read(n) for n in z.namelist()}
    config = json.loads(files["config.json"])
    layer = config["config"]["net"]["config"]["layers"][0]
    layer["module"], layer["class_name"] = "os", "system"
    files["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(run / zoo.MODEL_FILE, "w") as z:
        for name, blob in files.items():
            z.writestr(name, blob)
    card = json.loads((source / zoo.CARD_FILE).read_text())
    card["sha256"] = zoo.sha256(run / zoo.MODEL_FILE)
    (run / zoo.CARD_FILE).write_text(json.dumps(card))
    assert cli.main(["eval", str(run)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and len(err) < 200, err
    assert "model.keras names the class 'os.system'" in err and "KZOO_DEBUG=1" in err
