"""Data parallelism: every game trained on two replicas (TensorFlow: MirroredStrategy over
two logical CPU devices; torch: two gloo processes under torchrun; JAX: DataParallel over
two CPU devices) ends three steps with one device's weights, state and logs;
batch splitting; refusals before training."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import BACKEND, ROOT

from kzoo import distribute
from kzoo.resume import EpochBatches

sys.path.insert(0, str(ROOT / "tests"))
from data_parallel_games import GAMES  # noqa: E402

SCRIPT = ROOT / "tests" / "data_parallel_games.py"


def _run(out, devices):
    # TensorFlow's steps run eagerly here: tracing the 12 games' steps and test steps costs
    # 139 s against 70 s eagerly on this machine (the compiled data-parallel step is what
    # test_kzoo_train_on_two_devices_writes_a_card_naming_the_engine runs); torch is eager
    # anyway, and JAX faster compiled (81 s against 170 s).
    env = {**os.environ, "KERAS_BACKEND": BACKEND,
           "KZOO_EAGER": "1" if BACKEND == "tensorflow" else "0"}
    command = [sys.executable, str(SCRIPT), str(out), str(devices)]
    if BACKEND == "torch" and devices > 1:
        command[1:1] = ["-m", "torch.distributed.run", "--standalone",
                        f"--nproc_per_node={devices}"]
    done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    one, two = tmp_path_factory.mktemp("one"), tmp_path_factory.mktemp("two")
    _run(one, 1)
    _run(two, 2)
    return one, two


@pytest.mark.parametrize("game", GAMES)
def test_two_replicas_train_as_one_device(runs, game):
    if game.endswith("SyncBN") and BACKEND == "torch":
        pytest.skip("Keras' torch backend has no synchronized batch norm: each rank "
                    "normalises its own block (README, Training on several devices)")
    one, two = (np.load(d / f"{game}.npz") for d in runs)
    assert one.files == two.files
    assert any(key.startswith("log_") for key in one.files)  # the logs are compared too
    moved = False
    for key in one.files:
        a, b = one[key], two[key]
        # Meta-IADA's per-sample epsilon (variable 1) is the perturbation net's output on
        # characteristics standardised over the batch: a column of nearly equal values
        # divides the replicas' rounding differences by its small spread. Weights agree.
        rtol = 1e-3 if game == "MetaIADA" and key == "arr_1" else 1e-5
        np.testing.assert_allclose(b, a, rtol=rtol, atol=1e-5, err_msg=f"{game} {key}")
        moved = moved or a.dtype.kind == "f" and a.size > 1
    assert moved


def test_epoch_batches_split_each_batch_into_equal_blocks():
    x, y = np.arange(21.0)[:, None], np.arange(21)
    whole = EpochBatches(x, y, batch_size=4, seed=0)
    whole.shard(2)
    assert len(whole) == 5  # 5 full batches, the last (1 row) cut to 0 rows: dropped
    ranks = []
    for rank in (0, 1):
        part = EpochBatches(x, y, batch_size=4, seed=0)
        part.shard(2, rank)
        ranks.append([part[i][1] for i in range(len(part))])
    for i in range(len(whole)):
        np.testing.assert_array_equal(np.concatenate([ranks[0][i], ranks[1][i]]), whole[i][1])
        assert len(ranks[0][i]) == len(ranks[1][i]) == 2
    odd = EpochBatches(x[:7], y[:7], batch_size=4, seed=0)
    odd.shard(2)
    assert len(odd[1][1]) == 2  # 3 rows left: cut to 2
    with pytest.raises(ValueError, match="batch_size 4 does not split over 3 devices"):
        whole.shard(3)


def test_synchronized_batch_norm_refused_on_torch_ranks_and_restored_after():
    from kzoo import nets

    net = nets.small_cnn((8, 8, 1), 10, width=4)
    with distribute.synchronized_batch_norm(net):  # one device: nothing to synchronise
        pass
    assert not any(getattr(layer, "synchronized", False) for layer in net.layers)
    if BACKEND == "torch":
        distribute._ACTIVE.append({"engine": "torch", "devices": 2, "processes": 2, "rank": 0})
        try:
            with pytest.raises(ValueError, match="no synchronized batch norm"):
                with distribute.synchronized_batch_norm(net):
                    pass
        finally:
            distribute._ACTIVE.pop()


def test_refusals():
    with pytest.raises(ValueError, match="devices must be an int"):
        with distribute.data_parallel(0):
            pass
    with pytest.raises(ValueError, match="devices is 64"):
        with distribute.data_parallel(64):
            pass
    assert distribute.current() is None and distribute.is_chief()


def test_refusals_of_launchers_and_clusters(monkeypatch):
    """torchrun's ranks are torch's, as many as the devices; several machines are torch's."""
    monkeypatch.setenv("WORLD_SIZE", "2")
    expected = ("devices is 1, but this process is one of 2" if BACKEND == "torch"
                else f"but the backend is {BACKEND}")
    with pytest.raises(ValueError, match=expected):
        with distribute.data_parallel(1):
            pass
    monkeypatch.delenv("WORLD_SIZE")
    if BACKEND == "tensorflow":
        monkeypatch.setenv("TF_CONFIG", '{"cluster": {}}')
        match = "TF_CONFIG is set: kzoo trains on several machines with torch"
    elif BACKEND == "jax":
        monkeypatch.setenv("KERAS_DISTRIBUTION_JOB_ADDRESSES", "a:1,b:1")
        match = "several JAX processes: kzoo trains on several machines with torch"
    else:
        match = "devices is 2: torch trains on several devices as one process per device"
    with pytest.raises(ValueError, match=match):
        with distribute.data_parallel(2):
            pass


def test_recipe_refuses_a_batch_that_does_not_split(tmp_path):
    from kzoo.recipes import Recipe, RecipeError

    text = (ROOT / "recipes" / "classifier" / "digits-lt10-ce.toml").read_text()
    path = tmp_path / "three.toml"
    path.write_text(text + "\n[distribute]\ndevices = 3\n")
    with pytest.raises(RecipeError, match="batch_size 64 does not split over "
                                          r"\[distribute\] devices = 3"):
        Recipe.from_file(path)


def test_kzoo_train_on_two_devices_writes_a_card_naming_the_engine(tmp_path):
    """The README's command: a recipe trained data parallel (torch: kzoo's launcher starts
    two processes), its card naming the engine, its model loading under the next backend."""
    from conftest import next_backend, run_python

    out = tmp_path / "run"
    env = {**os.environ, "KERAS_BACKEND": BACKEND}
    done = subprocess.run([sys.executable, "-m", "kzoo.cli", "train",
                           "recipes/classifier/digits-lt10-ce.toml", "--devices", "2",
                           "--epochs", "1", "--out", str(out), "--quiet"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"[{BACKEND}]" in done.stdout
    card = json.loads((out / "card.json").read_text())
    engines = {"tensorflow": "MirroredStrategy", "torch": "torch.distributed (DDP)",
               "jax": "keras.distribution.DataParallel"}
    assert card["devices"] == {"count": 2, "engine": engines[BACKEND],
                               "processes": 2 if BACKEND == "torch" else 1}
    code = ("import keras, kzoo.zoo\n"
            f"m = kzoo.zoo.load_file({str(out / 'model.keras')!r})\n"
            "print(m.classifier.output_shape[-1])")
    assert run_python(code, next_backend()) == 10
