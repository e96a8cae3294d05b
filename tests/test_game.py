"""The Game base: two players with an OptimizerGroup, through the shared harness."""

import json

import keras
import numpy as np
import pytest
import toy_games
from harness import check_game

from kzoo.games import OptimizerGroup


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
