"""PGDAdversarialTraining and AEGL: the harness, their signals, and their refusals."""

import keras
import numpy as np
import pytest
from harness import check_game

from kzoo import data, nets
from kzoo.games import AEGL, PGDAdversarialTraining


@pytest.fixture(scope="module")
def lt():
    return data.long_tail(data.load("digits"), imbalance=10)


def _net(ds, **kw):
    return nets.small_cnn(ds.input_shape, ds.num_classes, width=8, **kw)


@pytest.mark.parametrize("clean_weight", [0.0, 0.5])
def test_madry_harness(lt, tmp_path, clean_weight):
    game = PGDAdversarialTraining(_net(lt), epsilon=0.1, steps=2, clean_weight=clean_weight,
                                  seed=0)
    game.compile(keras.optimizers.Adam(1e-3))
    check_game(game, lt.x_train, lt.y_train, tmp_path, cross_backend=clean_weight == 0.0)


def test_madry_logs_clean_and_adversarial_accuracy(lt):
    game = PGDAdversarialTraining(_net(lt), epsilon=0.3, steps=3, seed=0)
    game.compile(keras.optimizers.Adam(1e-3))
    logs = game.fit(lt.x_train[:128], lt.y_train[:128], epochs=2, verbose=0).history
    assert {"loss", "clean_accuracy", "adv_accuracy"} <= set(logs)
    assert all(0 <= a <= 1 for a in logs["adv_accuracy"] + logs["clean_accuracy"])


@pytest.mark.parametrize("crossing", ["head", "any"])
def test_aegl_harness(lt, tmp_path, crossing):
    game = AEGL(_net(lt), class_counts=lt.class_counts(), tail_threshold=31, epsilon=0.1,
                crossing=crossing, seed=0)
    game.compile(keras.optimizers.SGD(0.01, momentum=0.9))
    check_game(game, lt.x_train, lt.y_train, tmp_path, cross_backend=crossing == "head")


def _stub_classifier(ds, head_bias):
    """A net whose logits ignore the image: class 0 (head) wins unless the input is dark."""
    inputs = keras.Input(ds.input_shape)
    flat = keras.layers.Flatten()(inputs)
    dense = keras.layers.Dense(ds.num_classes, name="logits")
    net = keras.Model(inputs, dense(flat))
    w = np.zeros((int(np.prod(ds.input_shape)), ds.num_classes), "float32")
    w[:, 9] = 1.0  # class 9 (tail) grows with brightness
    dense.set_weights([w, np.eye(ds.num_classes, dtype="float32")[0] * head_bias])
    return net


def test_guiding_examples_follow_the_definition(lt):
    """Tail examples pushed across to a head class are GAEs; head examples never are."""
    net = _stub_classifier(lt, head_bias=0.0)
    x = np.full((4, *lt.input_shape), 0.5, "float32")
    brightness = 0.5 * np.prod(lt.input_shape)  # class-9 logit of x, class 0 logit = bias
    net.get_layer("logits").set_weights([
        net.get_layer("logits").get_weights()[0],
        np.eye(10, dtype="float32")[0] * (brightness - 1.0)])  # 9 wins by 1 logit
    y = np.array([9, 9, 0, 0])
    game = AEGL(net, class_counts=lt.class_counts(), tail_threshold=31, steps=1,
                epsilon=0.05, step_size=0.05, random_start=False)
    x_adv, gae = game.guiding_examples(x, y)
    x_adv, gae = keras.ops.convert_to_numpy(x_adv), keras.ops.convert_to_numpy(gae)
    # One step of -0.05 on 64 pixels lowers the class-9 logit by 3.2 > 1: it crosses to 0.
    np.testing.assert_allclose(x_adv[:2], 0.45, atol=1e-6)
    np.testing.assert_array_equal(x_adv[2:], x[2:])  # head examples are not attacked
    np.testing.assert_array_equal(gae, [1, 1, 0, 0])
    small = AEGL(net, class_counts=lt.class_counts(), tail_threshold=31, steps=1,
                 epsilon=0.01, step_size=0.01, random_start=False)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(small.guiding_examples(x, y)[1]),
                                  [0, 0, 0, 0])  # 0.64 < 1: no crossing


def test_aegl_logs_guiding_examples_and_survives_tail_free_batches(lt):
    game = AEGL(_net(lt), class_counts=lt.class_counts(), tail_threshold=31, epsilon=0.2,
                crossing="any", seed=0)
    game.compile(keras.optimizers.SGD(0.01))
    head = lt.y_train < 5
    logs = game.fit(lt.x_train[head][:64], lt.y_train[head][:64], epochs=1, batch_size=32,
                    verbose=0).history
    assert logs["gae_per_batch"] == [0.0] and np.isfinite(logs["loss"][0])
    logs = game.fit(lt.x_train, lt.y_train, epochs=1, batch_size=64, verbose=0).history
    assert logs["gae_per_batch"][0] > 0


def test_aegl_errors(lt):
    counts = lt.class_counts()
    with pytest.raises(ValueError, match="leaves no tail class"):
        AEGL(_net(lt), class_counts=counts, tail_threshold=5)
    with pytest.raises(ValueError, match="leaves no head class"):
        AEGL(_net(lt), class_counts=counts, tail_threshold=500)
    with pytest.raises(ValueError, match="crossing must be one of 'head', 'any'; got 'tail'"):
        AEGL(_net(lt), class_counts=counts, tail_threshold=31, crossing="tail")
    with pytest.raises(ValueError, match="epsilon must be"):
        AEGL(_net(lt), class_counts=counts, tail_threshold=31, epsilon=-1.0)
    with pytest.raises(ValueError, match="steps must be"):
        PGDAdversarialTraining(_net(lt), steps=0)
    game = AEGL(_net(lt), class_counts=counts, tail_threshold=31)
    game.compile("sgd")
    with pytest.raises(ValueError, match="allowed: 0 to 9"):
        game.fit(lt.x_train[:8], np.full(8, 12), verbose=0)
