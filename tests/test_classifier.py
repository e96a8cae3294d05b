"""The Classifier game: the harness, Keras' built-in fit as oracle, DRW, input checks."""

import keras
import numpy as np
import pytest
from harness import check_game

from kzoo import data, nets
from kzoo.games import DRW, Classifier
from kzoo.games.classifier import LOSSES


@pytest.fixture(scope="module")
def digits():
    return data.long_tail(data.load("digits"), imbalance=10)


def _game(ds, loss, normed_head=False):
    net = nets.small_cnn(ds.input_shape, ds.num_classes, width=8, normed_head=normed_head)
    game = Classifier(net, loss=loss, class_counts=ds.class_counts())
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


def test_drw_switches_to_class_balanced_weights(digits):
    game = _game(digits, "ldam", normed_head=True)
    seen = []
    probe = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda e, logs: seen.append(keras.ops.convert_to_numpy(game.class_weights)))
    x, y = digits.x_train[:64], digits.y_train[:64]
    game.fit(x, y, batch_size=32, epochs=3, verbose=0, callbacks=[DRW(start_epoch=2), probe])
    np.testing.assert_allclose(seen[0], np.ones(10))
    np.testing.assert_allclose(seen[1], np.ones(10))
    np.testing.assert_allclose(seen[2], game.balanced_weights(), rtol=1e-6)


def test_class_balanced_starts_weighted(digits):
    game = _game(digits, "class_balanced")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(game.class_weights),
                               game.balanced_weights(), rtol=1e-6)


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
    with pytest.raises(ValueError, match="start_epoch"):
        DRW(-1)
