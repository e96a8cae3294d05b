"""The Game base: two players with an OptimizerGroup, through the shared harness."""

import json

import keras
import numpy as np
import pytest
import toy_games
from harness import check_game
from keras import ops

from kzoo import backend
from kzoo.games import Game, OptimizerGroup, Stage


def _compiled():
    game = toy_games.make()
    game.compile({"a": keras.optimizers.Adam(1e-2), "b": keras.optimizers.SGD(1e-2)})
    return game


def test_two_players_harness(tmp_path, rng):
    x = rng.normal(size=(32, 4)).astype("float32")
    y = rng.integers(0, 3, 32)
    check_game(_compiled(), x, y, tmp_path, imports=("toy_games",))


def test_group_carries_every_members_state(rng):
    game = _compiled()
    x = rng.normal(size=(64, 4)).astype("float32")
    game.fit(x, rng.integers(0, 3, 64), batch_size=16, epochs=2, verbose=0)
    group = game.optimizer
    assert isinstance(group, OptimizerGroup)
    assert [int(keras.ops.convert_to_numpy(o.iterations)) for o in group.optimizers.values()] \
        == [8, 8]
    # Adam's moments live in the group's variables (what JAX's state carries).
    assert len(group.variables) == sum(len(o.variables) for o in group.optimizers.values())
    config = json.loads(json.dumps(game.get_compile_config()))
    assert config["optimizer"]["class_name"] == "kzoo>OptimizerGroup"
    assert {v["class_name"] for v in config["optimizer"]["config"]["optimizers"].values()} \
        == {"Adam", "SGD"}


def _optimizer_arrays(path):
    """{dataset path: array} of the optimizer entries in the ``.keras`` file at ``path``."""
    import io
    import zipfile

    import h5py

    found = {}
    with zipfile.ZipFile(path) as archive, \
            h5py.File(io.BytesIO(archive.read("model.weights.h5"))) as weights:
        weights.visititems(lambda name, obj: found.__setitem__(name, obj[()])
                           if isinstance(obj, h5py.Dataset) and name.startswith("optimizer/")
                           else None)
    return found


def _trained(rng):
    game = _compiled()
    x = rng.normal(size=(64, 4)).astype("float32")
    game.fit(x, rng.integers(0, 3, 64), batch_size=16, epochs=2, verbose=0)
    return game, x


def test_group_state_is_saved_once_and_loads_back(rng, tmp_path):
    from kzoo.zoo import load_file

    game, _ = _trained(rng)
    game.save(tmp_path / "game.keras")
    saved = _optimizer_arrays(tmp_path / "game.keras")
    # each member's variables once, under its own entry; none under the group's
    members = [o for o in game.optimizer.optimizers.values()]
    assert len(saved) == sum(len(o.variables) for o in members)
    assert not any(name.startswith("optimizer/vars/") for name in saved)
    loaded = load_file(tmp_path / "game.keras")
    for want, got in zip(game.optimizer.variables, loaded.optimizer.variables):
        np.testing.assert_array_equal(ops.convert_to_numpy(got), ops.convert_to_numpy(want))


def test_saved_without_optimizer_state_loads_its_weights_and_trains_afresh(rng, tmp_path):
    import warnings

    from kzoo.zoo import load_file

    game, x = _trained(rng)
    full, slim = tmp_path / "full.keras", tmp_path / "slim.keras"
    game.save(full)
    game.save(slim, include_optimizer=False)
    assert game.optimizer.built  # the trained game keeps its state
    saved = _optimizer_arrays(slim)  # each member's step count and rate, no moments
    assert sorted(int(v) for name, v in saved.items() if v.ndim == 0 and v.dtype.kind == "i") \
        == [0, 0]
    assert all(v.size == 1 for v in saved.values())
    assert slim.stat().st_size < full.stat().st_size
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Keras warns when it skips an optimizer's state
        loaded = load_file(slim)
    for want, got in zip(game.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(got, want)
    assert loaded.get_compile_config()["optimizer"] == game.get_compile_config()["optimizer"]
    assert not loaded.optimizer.built
    loaded.fit(x, rng.integers(0, 3, 64), batch_size=16, epochs=1, verbose=0)
    assert [int(ops.convert_to_numpy(o.iterations))
            for o in loaded.optimizer.optimizers.values()] == [4, 4]
    with pytest.raises(ValueError, match="include_optimizer"):
        game.save(slim, include_optimizer="no")


def test_group_errors():
    with pytest.raises(ValueError, match="non-empty dict"):
        OptimizerGroup({})
    game = toy_games.make()
    with pytest.raises(ValueError, match="players are"):
        game.compile({"a": "adam", "generator": "adam"})
    with pytest.raises(TypeError, match="group\\[player\\]"):
        OptimizerGroup({"a": "sgd"}).apply([], [])


def test_same_numbers_as_two_separate_keras_optimizers(rng):
    """The group is bookkeeping only: player a's weights match a plain Adam run."""
    game = _compiled()
    reference = keras.models.clone_model(game.a)
    reference.set_weights(game.a.get_weights())
    reference.compile(keras.optimizers.Adam(1e-2), "mse")
    x = rng.normal(size=(32, 4)).astype("float32")
    y = rng.integers(0, 3, 32)
    game.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    reference.fit(x, y.astype("float32"), batch_size=8, epochs=1, shuffle=False, verbose=0)
    for got, want in zip(game.a.get_weights(), reference.get_weights()):
        np.testing.assert_allclose(got, want, atol=1e-6)


class _Staged(Game):
    """Three stages, each logging its own mark (not registered: underscore)."""

    players = ("net",)
    log_names = ("loss",)

    def __init__(self, net, **kwargs):
        super().__init__(**kwargs)
        self.net = net
        self.entered = []
        self.built = True

    def call(self, x, training=False):
        return self.net(x, training=training)

    def stages(self):
        return [Stage("first", until_step=3), Stage("second", until_epoch=2), Stage("third")]

    def enter_stage(self, name):
        self.entered.append(name)

    def train_step(self, data):
        x, _ = data
        mark = {"first": 1.0, "second": 2.0, "third": 3.0}[self.stage]
        variables = self.net.trainable_variables
        (loss, _), grads = backend.value_and_grad(
            lambda: ops.mean(self.net(x, training=True) ** 2), variables)
        backend.apply(self.optimizer, grads, variables)
        return {**self.record({"loss": loss}), "mark": ops.convert_to_tensor(mark)}


@pytest.mark.parametrize("jit_compile", [False, "auto"])
def test_stages_switch_between_steps_and_show_in_the_logs(rng, jit_compile):
    net = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    game = _Staged(net)
    game.compile("sgd", jit_compile=jit_compile)
    seen = []
    record = keras.callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: seen.append(
        (float(logs["mark"]), float(logs["stage"]))))
    x = rng.normal(size=(16, 4)).astype("float32")
    history = game.fit(x, x[:, 0], batch_size=4, epochs=3, verbose=0, callbacks=[record])
    marks = [1.0] * 3 + [2.0] * 5 + [3.0] * 4
    assert seen == [(m, m - 1.0) for m in marks]
    assert game.entered == ["second", "third"] and history.history["stage"] == [1.0, 1.0, 2.0]
    # A resumed fit finds its stage from its first epoch and the optimizer's step count.
    game.fit(x, x[:, 0], batch_size=4, epochs=4, initial_epoch=3, verbose=0)
    assert game.stage == "third" and game.entered == ["second", "third"]
