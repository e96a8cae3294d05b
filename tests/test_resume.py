"""Interrupted runs: the same command resumes them, and the weights end as an uninterrupted
run's (kzoo.resume)."""

import dataclasses
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
from conftest import BACKEND, ROOT, once

from kzoo import cli, resume, run_dir, runs, zoo
from kzoo.callbacks import StepTimer
from kzoo.recipes import Recipe

# Bit-identical on every backend here (CPU); the tolerance only documents the claim.
TOLERANCE = 0.0


def tiny(game, **net):
    """A two-epoch recipe of ``game`` on digits with a small net."""
    spec = {"name": f"tiny-{game['name']}", "seed": 3,
            "data": {"name": "digits", "bias": [{"kind": "long_tail", "imbalance": 10}]},
            "net": {"arch": "small_cnn", "width": 8, **net}, "game": game,
            "optimizer": {"name": "sgd", "learning_rate": 0.05, "momentum": 0.9,
                          "schedule": "cosine"},
            # compiling three times per game is most of the cost: XLA is slower to compile on
            # TensorFlow, and faster overall on JAX; the kill test resumes a default run
            "fit": {"epochs": 3, "batch_size": 64,
                    "jit_compile": "auto" if BACKEND == "jax" else False}}
    if game["name"] in ("GAN", "RobustGAN"):
        spec["data"] = {"name": "digits", "scale": "signed"}
        spec["net"] = {"arch": "dcgan", "latent_dim": 8, "width": 8}
        spec["optimizer"] = {"name": "adam", "learning_rate": 2e-4, "beta_1": 0.0}
    if game["name"] == "MetaIADA":
        spec["data"]["bias"].insert(0, {"kind": "meta_split", "per_class": 5})
    return spec


GAMES = {
    "classifier-drw": tiny({"name": "Classifier", "loss": "ldam", "reweight_epoch": 1},
                           normed_head=True),
    "madry": tiny({"name": "PGDAdversarialTraining", "epsilon": 0.1, "steps": 2,
                   "random_start": True, "seed": 1}),
    "aegl": tiny({"name": "AEGL", "tail_threshold": 31, "steps": 2, "epsilon": 0.125,
                  "seed": 1}),
    "meta-iada": tiny({"name": "MetaIADA", "warmup_steps": 10, "meta_batch_size": 20,
                       "seed": 1}),
    "gan": tiny({"name": "GAN", "loss": "wgan_gp", "n_critic": 2, "seed": 1}),
    "robust-gan": tiny({"name": "RobustGAN", "loss": "ns", "eps2": 0.5, "seed": 1}),
}


def weights(run):
    return [np.asarray(w) for w in zoo.load_file(run / zoo.MODEL_FILE).weights]


def assert_same_weights(a, b):
    wa, wb = weights(a), weights(b)
    assert len(wa) == len(wb)
    worst = max(float(np.max(np.abs(x - y), initial=0.0)) for x, y in zip(wa, wb))
    assert worst <= TOLERANCE, f"resumed weights differ by {worst:g} on {BACKEND}"


def fit_with_checkpoint(recipe, ds, directory, stop_after=None):
    """``runs.train``'s fit on a small data set (EpochBatches, a record, Checkpoint last as
    there), two epochs; returns every variable's value and the record."""
    keras.utils.set_random_seed(recipe.seed)
    game = recipe.build(ds)
    batches = resume.EpochBatches(game.training_inputs(ds.x_train), ds.y_train, 32, 3)
    timer = StepTimer()
    checkpoint = resume.Checkpoint(directory, batches, {"run": "test"},
                                   records={"step_timer": timer})

    class Stop(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == stop_after:
                raise KeyboardInterrupt  # as Ctrl-C, after that epoch's checkpoint

    game.fit(batches, epochs=2, initial_epoch=checkpoint.epoch, shuffle=False, verbose=0,
             callbacks=[timer, checkpoint, Stop()])
    return [keras.ops.convert_to_numpy(v) for v in [*game.variables,
                                                    *game.optimizer.variables]], timer.history


# Every game on torch (cheapest here); on the compiled backends one game per kind of state:
# class weights and the re-weighting stage; an optimizer group, per-sample history and
# covariances; an optimizer group and a seed generator (Madry's and AEGL's random starts are
# seed generators too).
EACH_STATE = ("classifier-drw", "meta-iada", "robust-gan")


@pytest.mark.parametrize("name", GAMES if BACKEND == "torch" else EACH_STATE)
def test_interrupted_game_resumes_to_the_same_state(name, tmp_path):
    """Every variable (players, optimizers, seed generators, game state) ends as in an
    uninterrupted run."""
    recipe = Recipe(GAMES[name])
    ds = recipe.dataset()
    ds = dataclasses.replace(ds, x_train=ds.x_train[:160], y_train=ds.y_train[:160])
    full, _ = fit_with_checkpoint(recipe, ds, tmp_path / "full")
    with pytest.raises(KeyboardInterrupt):
        fit_with_checkpoint(recipe, ds, tmp_path / "stopped", stop_after=0)
    assert resume.read_progress(tmp_path / "stopped")["epoch"] == 1
    resumed, record = fit_with_checkpoint(recipe, ds, tmp_path / "stopped")
    assert len(record) == 2, "a record lost the epoch before the interruption"
    assert len(full) == len(resumed)
    worst = max(float(np.max(np.abs(a - b), initial=0.0)) for a, b in zip(full, resumed))
    assert worst <= TOLERANCE, f"resumed state differs by {worst:g} on {BACKEND}"
    assert resume.read_progress(tmp_path / "stopped")["epoch"] == 2


KILL_RECIPE = "\n".join(['name = "kill-me"', "seed = 3",
                         "[data]", 'name = "digits"',
                         'bias = [{kind = "long_tail", imbalance = 10}]',
                         "[net]", 'arch = "small_cnn"', "width = 8",
                         "[game]", 'name = "PGDAdversarialTraining"', "epsilon = 0.1",
                         "steps = 1", "random_start = true", "seed = 1",
                         "[optimizer]", 'name = "sgd"', "learning_rate = 0.05",
                         "momentum = 0.9", "[fit]", "epochs = 4", "batch_size = 32"])


def _child_of_a_terminal():
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    os.nice(5)


@pytest.mark.parametrize("stop", ["SIGKILL", "SIGTERM", "SIGINT"])
def test_kill_9_then_the_same_command_resumes(tmp_path, stop):
    """A real process, killed with SIGKILL (or stopped by SIGTERM, or interrupted by
    SIGINT, Ctrl-C) after its first checkpoint, then the same command (a compiled run; the
    test above covers every game's state)."""
    if stop != "SIGKILL" and BACKEND != "torch":
        pytest.skip("how a signal ends kzoo train is the same on every backend: the torch "
                    "pass tests SIGTERM and SIGINT, every pass SIGKILL")
    recipe = tmp_path / "kill.toml"
    recipe.write_text(KILL_RECIPE)
    command = ["train", str(recipe), "--quiet", "--out"]
    killed = tmp_path / "killed"
    env = {**os.environ, "KERAS_BACKEND": BACKEND, "PYTHONPATH": str(ROOT)}
    # SIGINT as a terminal sends it (a test worker may ignore it, and a child inherits that);
    # niced, so that a busy machine gives this process the CPU to watch it
    proc = subprocess.Popen([sys.executable, "-m", "kzoo.cli", *command, str(killed)],
                            env=env, cwd=tmp_path, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, preexec_fn=_child_of_a_terminal)
    progress = killed / run_dir.CHECKPOINT_DIR / resume.PROGRESS_FILE
    deadline = time.monotonic() + 240
    try:
        while True:  # stopped while its checkpoint is read, the child cannot move past it
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "no checkpoint within 240 s"
            if progress.exists():
                proc.send_signal(signal.SIGSTOP)
                if resume.read_progress(progress.parent)["epoch"] >= 1:
                    break
                proc.send_signal(signal.SIGCONT)
            time.sleep(0.05)
        epochs = resume.read_progress(progress.parent)["identity"]["epochs"]
        assert resume.read_progress(progress.parent)["epoch"] < epochs, \
            "the run trained its last epoch before its first checkpoint was seen"
    except BaseException:
        proc.kill()  # ends a stopped child too
        proc.wait()
        proc.stderr.close()
        raise
    proc.send_signal(getattr(signal, stop))
    proc.send_signal(signal.SIGCONT)
    code = proc.wait(timeout=120)
    err = proc.stderr.read().decode()
    proc.stderr.close()
    if stop == "SIGINT":  # KeyboardInterrupt: one line saying how to resume
        assert code == 130 and "interrupted; run the same command to resume" in err, err
    else:
        assert code == -getattr(signal, stop), (code, err[-2000:])
    assert not (killed / zoo.CARD_FILE).exists()
    assert cli.main([*command, str(killed)]) == 0  # no --overwrite
    full = tmp_path / "full"
    assert cli.main([*command, str(full)]) == 0
    assert_same_weights(full, killed)


@once  # directory handling, the same on every backend
def test_leftovers_of_a_kill_do_not_block_the_same_command(tmp_path):
    """A model.keras without its card, and temporary files, as a kill leaves them."""
    recipe = Recipe(GAMES["classifier-drw"])
    out = tmp_path / "run"
    runs.train(recipe, out, epochs=1, verbose=0)
    (out / zoo.CARD_FILE).unlink()
    (out / ".tmp-abc.keras").write_bytes(b"half")
    (out / run_dir.CHECKPOINT_DIR).mkdir()
    resume.Checkpoint(out / run_dir.CHECKPOINT_DIR, resume.EpochBatches(np.zeros((1, 1)),
                      np.zeros(1), 1, 0), {"recipe_sha256": "x"})  # a checkpoint of epoch 0
    with pytest.raises(FileExistsError, match="interrupted run of another recipe"):
        runs.train(recipe, out, epochs=1, verbose=0)
    runs.train(recipe, out, epochs=1, verbose=0, overwrite=True)
    (out / zoo.CARD_FILE).unlink()
    (out / ".tmp-abc.keras").write_bytes(b"half")
    with pytest.raises(FileExistsError, match="different run"):
        runs.train(recipe, out, epochs=1, verbose=0)  # no checkpoint: not known as this run
    # the same command, interrupted in its first epoch, a model.keras of another run there:
    ident = {"recipe_sha256": runs._spec_sha256(recipe.source), "epochs": 1,
             "backend": BACKEND}
    resume.Checkpoint(out / run_dir.CHECKPOINT_DIR, resume.EpochBatches(np.zeros((1, 1)),
                      np.zeros(1), 1, 0), ident)
    card = runs.train(recipe, out, epochs=1, verbose=0)
    assert not any(p.name.startswith(".tmp-") for p in out.iterdir())
    assert card.sha256 == zoo.sha256(out / zoo.MODEL_FILE)


# A checkpoint is data: a hand-edited, truncated or corrupt one is refused, and nothing outside
# its directory is read or deleted. The checkpoints below are written by Checkpoint during a
# real fit of a small model, with the identity runs.train gives the classifier-drw recipe.
SMALL = Recipe(GAMES["classifier-drw"])  # three epochs
IDENTITY = {"recipe_sha256": runs._spec_sha256(SMALL.source), "epochs": 3, "backend": BACKEND}


def small_fit(directory, epochs):
    """A small model fit up to ``epochs`` with a Checkpoint in ``directory``."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9), loss="mse")
    batches = resume.EpochBatches(np.arange(8.0).reshape(4, 2), np.ones(4), 2, 0)
    checkpoint = resume.Checkpoint(directory, batches, IDENTITY)
    model.fit(batches, epochs=epochs, initial_epoch=checkpoint.epoch, shuffle=False,
              verbose=0, callbacks=[checkpoint])


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    directory = tmp_path_factory.mktemp("saved") / run_dir.CHECKPOINT_DIR
    small_fit(directory, epochs=2)
    return directory


@pytest.fixture
def checkpoint(saved, tmp_path):
    """A copy of two of the three epochs, in ``tmp_path/run/checkpoint``."""
    return shutil.copytree(saved, tmp_path / "run" / run_dir.CHECKPOINT_DIR)


def edit(directory, change):
    path = directory / resume.PROGRESS_FILE
    progress = json.loads(path.read_text())
    change(progress)
    path.write_text(json.dumps(progress))


def contents(root):
    return {p.relative_to(root): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def refusal(name):
    """The one-line refusal naming the file ``name``."""
    return (rf"^interrupted run, checkpoint unreadable: \S*{re.escape(name)}: [^\n]+; "
            rf"rerun with --overwrite to start again\.$")


def test_a_checkpoint_reads_back_and_resumes(checkpoint):
    progress = resume.read_progress(checkpoint)
    assert progress["epoch"] == 2 and progress["weights"] == "epoch-2.npz"
    assert progress["sha256"] == zoo.sha256(checkpoint / "epoch-2.npz")
    small_fit(checkpoint, epochs=3)
    progress = resume.read_progress(checkpoint, epochs=3)
    assert progress["epoch"] == 3 and len(progress["logs"]) == 3
    assert sorted(p.name for p in checkpoint.iterdir()) == ["epoch-3.npz", "progress.json"]


def test_a_hand_edited_epoch_is_refused_nothing_trained_nor_deleted(checkpoint):
    edit(checkpoint, lambda p: p.update(epoch=99))
    before = contents(checkpoint.parent)
    with pytest.raises(resume.CheckpointError, match=refusal("progress.json")) as refused:
        runs.train(SMALL, checkpoint.parent, verbose=0)
    assert "epoch 99 is out of range (0 to 3)" in str(refused.value)
    assert contents(checkpoint.parent) == before  # no model.keras, the state file kept


def drop_sha256(progress):
    del progress["sha256"]


@pytest.mark.parametrize("change", [
    lambda p: p.update(epoch=-1), lambda p: p.update(epoch=True),
    lambda p: p.update(epoch=1, weights="epoch-1.npz"), lambda p: p.update(epoch="2"),
    lambda p: p.update(weights=None), lambda p: p.update(sha256=None),
    lambda p: p.update(logs=[{"loss": "low"}, {}]), lambda p: p.update(records=[]),
    lambda p: p.update(wall_time_s=-1.0), lambda p: p.update(extra=1), drop_sha256,
    lambda p: p.update(weights="/epoch-2.npz"), lambda p: p.update(identity=None)],
    ids=["negative-epoch", "bool-epoch", "logs-of-two-epochs", "string-epoch",
         "no-weights", "no-sha256", "text-in-logs", "records-list", "negative-time",
         "extra-key", "missing-key", "absolute-weights", "no-identity"])
def test_malformed_progress_is_refused(checkpoint, change):
    edit(checkpoint, change)
    with pytest.raises(resume.CheckpointError, match=refusal("progress.json")):
        resume.read_progress(checkpoint)


@pytest.mark.parametrize("where", ["absolute", "parent", "link"])
def test_a_state_file_outside_the_directory_is_neither_read_nor_deleted(checkpoint, where):
    """A loadable copy of the state file outside the directory, with its sha256: the
    previous code restored it, then deleted it after the next epoch."""
    outside = checkpoint.parent.parent / "sentinel.npz"
    shutil.copy(checkpoint / "epoch-2.npz", outside)
    if where == "link":
        (checkpoint / "epoch-2.npz").unlink()
        (checkpoint / "epoch-2.npz").symlink_to(outside)
    else:
        name = str(outside) if where == "absolute" else "../../sentinel.npz"
        edit(checkpoint, lambda p: p.update(weights=name))
    before, kept = contents(checkpoint), outside.read_bytes()
    name = "epoch-2.npz" if where == "link" else "progress.json"
    with pytest.raises(resume.CheckpointError, match=refusal(name)):
        small_fit(checkpoint, epochs=3)
    assert outside.read_bytes() == kept
    assert contents(checkpoint) == before


@pytest.mark.parametrize("sha256", ["as written", "of the truncated file"])
def test_a_truncated_state_file_is_refused_naming_it(checkpoint, sha256):
    """Caught by its sha256, or (a hand-edited sha256 too) when it is loaded."""
    state = checkpoint / "epoch-2.npz"
    state.write_bytes(state.read_bytes()[:state.stat().st_size // 2])
    if sha256 != "as written":
        edit(checkpoint, lambda p: p.update(sha256=zoo.sha256(state)))
    with pytest.raises(resume.CheckpointError, match=refusal("epoch-2.npz")) as refused:
        small_fit(checkpoint, epochs=3)
    assert ("sha256" if sha256 == "as written" else "BadZipFile") in str(refused.value)


def test_a_state_file_that_does_not_match_its_sha256_is_refused(checkpoint):
    state = checkpoint / "epoch-2.npz"
    with np.load(state) as arrays:
        changed = {k: arrays[k] + 1 for k in arrays.files}
    np.savez(state, **changed)
    with pytest.raises(resume.CheckpointError, match=refusal("epoch-2.npz")) as refused:
        small_fit(checkpoint, epochs=3)
    assert "sha256" in str(refused.value)


@pytest.mark.parametrize("text", [b"{", b"\xff\xfe{}", b"[]"],
                         ids=["invalid-json", "not-utf8", "not-an-object"])
def test_unreadable_progress_is_refused_not_taken_for_another_run(checkpoint, text, capsys):
    """``kzoo train`` prints the refusal on one line, and changes nothing."""
    recipe = checkpoint.parent.parent / "kill.toml"
    recipe.write_text(KILL_RECIPE)
    (checkpoint / resume.PROGRESS_FILE).write_bytes(text)
    before = contents(checkpoint.parent)
    assert cli.main(["train", str(recipe), "--quiet", "--out", str(checkpoint.parent)]) == 2
    err = capsys.readouterr().err
    assert re.match(refusal("progress.json"), err.removeprefix("kzoo train: error: ").strip())
    assert err.startswith("kzoo train: error: ") and err.count("\n") == 1
    assert contents(checkpoint.parent) == before


def test_epoch_order_depends_on_seed_and_epoch_only():
    x, y = np.arange(10)[:, None], np.arange(10)
    a = resume.EpochBatches(x, y, batch_size=4, seed=0)
    first = np.concatenate([a[i][1] for i in range(len(a))])
    assert len(a) == 3 and sorted(first) == list(range(10))
    a.epoch = 1
    second = np.concatenate([a[i][1] for i in range(len(a))])
    assert not np.array_equal(first, second)
    b = resume.EpochBatches((x, x + 1), y, batch_size=4, seed=0, epoch=1)
    (bx, bx1), by = b[0]
    assert np.array_equal(by, second[:4]) and np.array_equal(bx1[:, 0], by + 1)
