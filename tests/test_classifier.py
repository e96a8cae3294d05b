"""The Classifier game: the harness, Keras' built-in fit as oracle, the loss registry,
deferred re-weighting as a stage, input checks."""

import keras
import numpy as np
import pytest
from harness import check_game

from kzoo import data, losses, nets
from kzoo.games import Classifier
from kzoo.losses import LOSSES


@pytest.fixture(scope="module")
def digits():
    return data.long_tail(data.load("digits"), imbalance=10)


def _game(ds, loss, normed_head=False, **kwargs):
    net = nets.small_cnn(ds.input_shape, ds.num_classes, width=8, normed_head=normed_head)
    game = Classifier(net, loss=loss, class_counts=ds.class_counts(), **kwargs)
    game.compile(keras.optimizers.SGD(0.05, momentum=0.9))
    return game


@pytest.mark.parametrize("loss", LOSSES)
def test_harness(digits, tmp_path, loss):
    game = _game(digits, loss, normed_head=loss == "ldam")
    check_game(game, digits.x_train, digits.y_train, tmp_path, cross_backend=loss == "ldam")


def test_matches_keras_builtin_fit(digits):
    """From the same weights, one epoch of Classifier(CE) equals Keras' own fit."""
    net = nets.small_cnn(digits.input_shape, digits.num_classes, width=8)
    reference = keras.models.clone_model(net)
    reference.set_weights(net.get_weights())
    reference.compile(keras.optimizers.SGD(0.05, momentum=0.9),
                      keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    game = Classifier(net, loss="ce")
    game.compile(keras.optimizers.SGD(0.05, momentum=0.9))
    x, y = digits.x_train[:128], digits.y_train[:128]
    game.fit(x, y, batch_size=32, epochs=1, shuffle=False, verbose=0)
    reference.fit(x, y, batch_size=32, epochs=1, shuffle=False, verbose=0)
    for a, b in zip(net.get_weights(), reference.get_weights()):
        np.testing.assert_allclose(a, b, atol=2e-5)


def _np_balanced(counts, beta=0.9999):
    raw = (1 - beta) / (1 - beta ** np.array(counts, float))
    return raw / raw.sum() * len(counts)


def test_harness_with_loss_args_and_reweighting(digits, tmp_path):
    game = _game(digits, "ldam", normed_head=True, loss_args={"scale": 16.0},
                 reweight_epoch=0, reweight_beta=0.999)
    check_game(game, digits.x_train, digits.y_train, tmp_path, cross_backend=False)
    config = game.get_config()
    assert config["loss_args"] == {"max_margin": 0.5, "scale": 16.0}
    assert (config["reweight_epoch"], config["reweight_beta"]) == (0, 0.999)


def test_loss_is_the_registry_object_with_the_class_weights(digits, rng):
    game = _game(digits, "focal", loss_args={"gamma": 1.5})
    y, logits = rng.integers(0, 10, 16), rng.normal(size=(16, 10)).astype("float32")
    w = np.linspace(0.5, 2.0, 10).astype("float32")
    game.class_weights.assign(w)
    expected = losses.focal(y, logits, gamma=1.5, class_weight=w)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(game.criterion(y, logits)),
                               keras.ops.convert_to_numpy(expected), rtol=1e-6)


def test_reweighting_is_a_stage(digits):
    """DRW: all-ones class weights in the "plain" stage, class-balanced from epoch 1."""
    game = _game(digits, "ldam", normed_head=True, reweight_epoch=1)
    assert [(s.name, s.until_epoch) for s in game.stages()] == [("plain", 1),
                                                                ("reweighted", None)]
    seen = []
    probe = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda e, logs: seen.append(keras.ops.convert_to_numpy(game.class_weights)))
    x, y = digits.x_train[:64], digits.y_train[:64]
    history = game.fit(x, y, batch_size=32, epochs=2, verbose=0, callbacks=[probe])
    np.testing.assert_allclose(seen[0], np.ones(10))
    np.testing.assert_allclose(seen[1], _np_balanced(digits.class_counts()), rtol=1e-5)
    assert history.history["stage"] == [0.0, 1.0]
    # A new fit from epoch 0 plays "plain" again, with all-ones weights.
    game.fit(x, y, batch_size=32, epochs=1, verbose=0)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(game.class_weights), np.ones(10))


def test_one_stage_without_reweighting(digits):
    game = _game(digits, "ce")
    assert len(game.stages()) == 1
    history = game.fit(digits.x_train[:32], digits.y_train[:32], epochs=1, verbose=0)
    assert "stage" not in history.history


def test_class_balanced_starts_weighted(digits):
    game = _game(digits, "class_balanced")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(game.class_weights),
                               _np_balanced(digits.class_counts()), rtol=1e-5)
    beta = _game(digits, "class_balanced", loss_args={"beta": 0.99})
    np.testing.assert_allclose(keras.ops.convert_to_numpy(beta.class_weights),
                               _np_balanced(digits.class_counts(), 0.99), rtol=1e-5)


@pytest.mark.parametrize("bad, match", [
    (lambda x, y: (np.where(np.arange(x.size).reshape(x.shape) == 5, np.nan, x), y), "NaN or inf"),
    (lambda x, y: (x, y + 10), "labels in"),
    (lambda x, y: (x, y - 1), "labels in"),
    (lambda x, y: (x, y + 0.5), "non-integers"),
    (lambda x, y: (x[:, :4, :4], y), "shape"),
    (lambda x, y: (x, y.astype(str)), "integer class indices"),
])
def test_fit_rejects_bad_input(digits, bad, match):
    game = _game(digits, "ce")
    x, y = bad(digits.x_train[:16], digits.y_train[:16])
    with pytest.raises(ValueError, match=match):
        game.fit(x, y, epochs=1, verbose=0)
    assert int(keras.ops.convert_to_numpy(game.optimizer.iterations)) == 0


def test_constructor_errors(digits):
    net = nets.small_cnn(digits.input_shape, 10, width=8)
    with pytest.raises(ValueError, match="loss must be one of 'ce', 'class_balanced'"):
        Classifier(net, loss="hinge")
    with pytest.raises(ValueError, match="needs class_counts"):
        Classifier(net, loss="ldam")
    with pytest.raises(ValueError, match="10 positive counts"):
        Classifier(net, loss="ldam", class_counts=[5, 5])
    with pytest.raises(ValueError, match="takes no argument 'gamma' .*; allowed: tau"):
        Classifier(net, loss="logit_adjusted", loss_args={"gamma": 2.0}, class_counts=[5] * 10)
    with pytest.raises(ValueError, match="loss_args must be a dict .*; got 2.0"):
        Classifier(net, loss="focal", loss_args=2.0)
    with pytest.raises(ValueError, match="reweight_epoch must be an int >= 0; got -1"):
        Classifier(net, class_counts=[5] * 10, reweight_epoch=-1)
    with pytest.raises(ValueError, match="reweight_epoch needs class_counts"):
        Classifier(net, reweight_epoch=3)
    with pytest.raises(ValueError, match=r"reweight_beta must be .* \[0, 1\); got 1"):
        Classifier(net, class_counts=[5] * 10, reweight_epoch=3, reweight_beta=1)
