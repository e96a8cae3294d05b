"""Data parallelism: every game trained on two replicas (TensorFlow: MirroredStrategy over
two logical CPU devices; torch: two gloo processes under torchrun; JAX: DataParallel over
two CPU devices), and as two processes of one CPU device each (JAX's, TensorFlow's
MultiWorkerMirroredStrategy workers), ends three steps with one device's weights, state
and logs; batch splitting; refusals before training."""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import BACKEND, ROOT

from kzoo import distribute
from kzoo.resume import EpochBatches, read_progress

sys.path.insert(0, str(ROOT / "tests"))
from data_parallel_games import GAMES  # noqa: E402

SCRIPT = ROOT / "tests" / "data_parallel_games.py"


def _env(**extra):
    """This process's environment for a run under ``BACKEND``; under JAX, with XLA's backend
    optimisations off: these runs compile tiny nets for a few steps, and level 0 took
    tests/data_parallel_games.py on one and two devices from 93 s to 66 s on this machine."""
    env = {**os.environ, "KERAS_BACKEND": BACKEND, **extra}
    if BACKEND == "jax":
        env["XLA_FLAGS"] = f"{env.get('XLA_FLAGS', '')} --xla_backend_optimization_level=0"
    return env


def _start(out, devices):
    # TensorFlow's steps run eagerly here: tracing the 12 games' steps and test steps costs
    # 139 s against 70 s eagerly on this machine (the compiled data-parallel step is what
    # test_kzoo_train_on_two_devices_writes_a_card_naming_the_engine runs); torch is eager
    # anyway, and JAX faster compiled (81 s against 170 s).
    env = _env(KZOO_EAGER="1" if BACKEND == "tensorflow" else "0")
    command = [sys.executable, str(SCRIPT), str(out), str(devices)]
    if BACKEND == "torch" and devices > 1:
        command[1:1] = ["-m", "torch.distributed.run", "--standalone",
                        f"--nproc_per_node={devices}"]
    return subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def _finish(process, out, devices):
    _, err = process.communicate(timeout=600)
    assert process.returncode == 0, err[-3000:]
    # every process (torch: both ranks) has rank 0's value
    shared = [f.read_text() for f in sorted(out.glob("shared-*.txt"))]
    assert shared == ["100"] * (devices if BACKEND == "torch" else 1)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The runs on one device and on two, side by side: each compiles or runs eagerly on
    about one core."""
    outs = tmp_path_factory.mktemp("one"), tmp_path_factory.mktemp("two")
    started = []
    try:
        for out, devices in zip(outs, (1, 2)):
            started.append(_start(out, devices))
        for process, out, devices in zip(started, outs, (1, 2)):
            _finish(process, out, devices)
    finally:
        for process in started:  # the other, when one failed
            if process.poll() is None:  # SIGTERM first: torchrun stops its ranks (own sessions)
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.communicate(timeout=60)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
    return outs


@pytest.mark.parametrize("game", GAMES)
def test_two_replicas_train_as_one_device(runs, game):
    if game.endswith("SyncBN") and BACKEND == "torch":
        pytest.skip("Keras' torch backend has no synchronized batch norm: each rank "
                    "normalises its own block (docs/devices.md)")
    _assert_same_training(*runs, game)


ENGINES = {"jax": "keras.distribution.DataParallel", "tensorflow": "MultiWorkerMirroredStrategy"}
# The processes' own part (joining, each feeding its block, broadcasts) is the same for
# every game: a classifier, an attack, Meta-IADA's per-sample state and a GAN's noise.
PROCESS_GAMES = ("Classifier", "PGDAdversarialTraining", "MetaIADA", "GAN")


def _free_port():
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def _two_processes(command, **env):
    """``command`` run as two processes of one engine on this machine: JAX's (joined
    through ``KERAS_DISTRIBUTION_*``, its coordinator on a free port) or TensorFlow's
    ``MultiWorkerMirroredStrategy`` (two workers in ``TF_CONFIG``, on free ports);
    ``[(returncode, stdout, stderr)]`` of each."""
    env = _env(**env)
    if BACKEND == "jax":
        env.update(KERAS_DISTRIBUTION_JOB_ADDRESSES=f"localhost:{_free_port()}",
                   KERAS_DISTRIBUTION_NUM_PROCESSES="2")
        each = [{"KERAS_DISTRIBUTION_PROCESS_ID": str(i)} for i in range(2)]
    else:  # one CPU replica a worker, GPUs or not
        env["CUDA_VISIBLE_DEVICES"] = ""
        workers = [f"localhost:{_free_port()}" for _ in range(2)]
        each = [{"TF_CONFIG": json.dumps({"cluster": {"worker": workers},
                                          "task": {"type": "worker", "index": i}})}
                for i in range(2)]
    processes = [subprocess.Popen(command, env={**env, **own}, cwd=ROOT,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for own in each]
    outputs = [p.communicate(timeout=600) for p in processes]  # both run, then both end
    return [(p.returncode, out, err) for p, (out, err) in zip(processes, outputs)]


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory):
    out = tmp_path_factory.mktemp("processes")
    done = _two_processes([sys.executable, str(SCRIPT), str(out), "2", *PROCESS_GAMES],
                          KZOO_EAGER="1" if BACKEND == "tensorflow" else "0")
    for code, _, err in done:
        assert code == 0, err[-3000:]
    assert f"engine: {ENGINES[BACKEND]} processes: 2" in done[0][1]  # not two runs alone
    # rank 0's value on both
    assert [f.read_text() for f in sorted(out.glob("shared-*.txt"))] == ["100", "100"]
    return out


@pytest.mark.skipif(BACKEND == "torch", reason=(
    "torch's ranks are processes already: the test above runs them (torchrun)"))
@pytest.mark.parametrize("game", PROCESS_GAMES)
def test_two_processes_train_as_one_device(runs, two_processes, game):
    _assert_same_training(runs[0], two_processes, game)


def _assert_same_training(one, other, game):
    one, two = (np.load(d / f"{game}.npz") for d in (one, other))
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
    hosts = []  # 4 devices on 2 processes: each process the half of each batch for its 2
    for rank in (0, 1):
        part = EpochBatches(x, y, batch_size=8, seed=0)
        part.shard(4, rank, processes=2)
        hosts.append([part[i][1] for i in range(len(part))])
    assert [len(b) for b in hosts[0]] == [4, 4, 2]  # 21 rows: 8, 8, then 5 cut to 4
    batches = EpochBatches(x, y, batch_size=8, seed=0)
    batches.shard(4)
    for i, blocks in enumerate(zip(*hosts)):
        np.testing.assert_array_equal(np.concatenate(blocks), batches[i][1])
    with pytest.raises(ValueError, match="4 devices do not split over 3 processes"):
        part.shard(4, 0, processes=3)
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
        distribute._ACTIVE.append({"engine": "torch", "devices": 2, "processes": 2, "rank": 0,
                                   "feeds_block": True, "resumes": True})
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
    """torchrun's ranks are torch's, as many as the devices; TensorFlow's workers and JAX's
    processes join before the framework starts, with devices = their replicas."""
    monkeypatch.setenv("WORLD_SIZE", "2")
    expected = ("devices is 1, but this process is one of 2" if BACKEND == "torch"
                else f"but the backend is {BACKEND}")
    with pytest.raises(ValueError, match=expected):
        with distribute.data_parallel(1):
            pass
    monkeypatch.delenv("WORLD_SIZE")
    devices = 2
    if BACKEND != "torch":
        import keras

        keras.ops.convert_to_numpy(keras.ops.ones(1))  # the framework has run here
    if BACKEND == "tensorflow":
        two = json.dumps({"cluster": {"worker": ["localhost:1", "localhost:2"]},
                          "task": {"type": "worker", "index": 0}})
        monkeypatch.setenv("TF_CONFIG", two)
        import tensorflow as tf

        replicas = 2 * max(1, len(tf.config.list_physical_devices("GPU")))
        for n, refusal in ((replicas + 1, f"devices is {replicas + 1}, but the 2 workers of "
                                          f"TF_CONFIG hold {replicas} replicas"),
                           (1, "devices is 1, but TF_CONFIG names several workers")):
            with pytest.raises(ValueError, match=refusal):
                with distribute.data_parallel(n):
                    pass
        monkeypatch.setenv("TF_CONFIG", json.dumps({  # one task: one device, no strategy
            "cluster": {"worker": ["localhost:1"]}, "task": {"type": "worker", "index": 0}}))
        with distribute.data_parallel(1) as engine:
            assert engine["engine"] is None
        monkeypatch.setenv("TF_CONFIG", two)
        match = "TF_CONFIG is set, but TensorFlow started before"
        devices = replicas
    elif BACKEND == "jax":
        monkeypatch.setenv("KERAS_DISTRIBUTION_JOB_ADDRESSES", "a:1,b:1")
        match = "KERAS_DISTRIBUTION_JOB_ADDRESSES is set, but JAX started before"
    else:
        match = "devices is 2: torch trains on several devices as one process per device"
    with pytest.raises(ValueError, match=match):
        with distribute.data_parallel(devices):
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
    """The command of docs/devices.md: a recipe trained data parallel (torch: kzoo's launcher
    starts
    two processes), its card naming the engine, its model loading under the next backend."""
    from conftest import next_backend, run_python

    out = tmp_path / "run"
    env = _env()
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


@pytest.mark.skipif(BACKEND == "torch", reason=(
    "torch's ranks are processes already: the test above starts them (kzoo's launcher)"))
def test_kzoo_train_as_two_processes_writes_one_card(tmp_path):
    """The several-machine line of docs/devices.md, both on this machine: one card, by
    process 0."""
    out = tmp_path / "run"
    command = [sys.executable, "-m", "kzoo.cli", "train", "recipes/classifier/digits-lt10-ce.toml",
               "--devices", "2", "--epochs", "1", "--out", str(out), "--quiet"]
    done = _two_processes(command)
    for code, _, err in done:
        assert code == 0, err[-3000:]
    tag = f"[{BACKEND}]"
    assert tag in done[0][1] and tag not in done[1][1]  # process 0 reports
    card = json.loads((out / "card.json").read_text())
    assert card["devices"] == {"count": 2, "engine": ENGINES[BACKEND], "processes": 2}
    # an interrupted run (one process, killed after its first epoch): refused, not hung
    killed, three = tmp_path / "killed", ["--epochs", "3"]
    one = subprocess.Popen([*command[:5], *three, "--out", str(killed), "--quiet"],
                           env=_env(), cwd=ROOT,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while (read_progress(killed / "checkpoint") or {"epoch": 0})["epoch"] < 1:
        assert one.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    one.kill()
    one.wait()
    again = [*command[:7], *three, "--out", str(killed), "--quiet"]  # --devices 2
    for code, _, err in _two_processes(again):
        assert code == 2 and f"resuming under 2 {ENGINES[BACKEND]} processes is not " \
            "supported yet" in err, err[-2000:]


def test_jax_devices_must_split_over_its_processes(monkeypatch):
    from kzoo import startup

    monkeypatch.setattr(startup, "backend_name", lambda: "jax")  # what the CLI would start
    monkeypatch.setenv("KERAS_DISTRIBUTION_NUM_PROCESSES", "3")
    monkeypatch.setenv("XLA_FLAGS", "")
    with pytest.raises(ValueError, match="devices is 4; it must split evenly over "
                                         "KERAS_DISTRIBUTION_NUM_PROCESSES=3 JAX processes"):
        startup.prepare_devices(4)
    monkeypatch.setenv("KERAS_DISTRIBUTION_NUM_PROCESSES", "2")
    startup.prepare_devices(4)
    assert os.environ["XLA_FLAGS"] == "--xla_force_host_platform_device_count=2"
