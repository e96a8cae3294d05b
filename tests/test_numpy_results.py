"""NumPy in, NumPy out: every public attack and metric returns NumPy arrays (or Python
numbers) for NumPy inputs on every backend, and backend tensors for backend tensors, also
inside a compiled train step."""

import keras
import numpy as np
import pytest

import kzoo
from kzoo import attacks, data, metrics, nets
from kzoo.games import GAN, PGDAdversarialTraining
from kzoo.ops import numpy_if_host


@pytest.fixture
def linear(rng):
    inputs = keras.Input((6,))
    model = keras.Model(inputs, keras.layers.Dense(3)(inputs))
    x = rng.uniform(0.2, 0.8, size=(5, 6)).astype("float32")
    return model, x, rng.integers(0, 3, 5)


@pytest.fixture
def gan():
    return GAN(*nets.gan_pair("mlp", (2,), 2, hidden=(4,)), loss="wgan_gp")


def _is_number(value):
    return isinstance(value, (float, int, np.floating, np.integer)) and not isinstance(value, bool)


def test_the_helper_follows_the_input_type():
    tensor = keras.ops.ones((2,))
    for host in (np.zeros(2), [0.0, 1.0], 3, np.float32(1.0), (np.zeros(1), [2])):
        assert isinstance(numpy_if_host(host, tensor), np.ndarray)
    out = numpy_if_host(np.zeros(1), {"a": (tensor, tensor)})
    assert all(isinstance(v, np.ndarray) for v in out["a"])
    assert numpy_if_host(tensor, tensor) is tensor
    assert numpy_if_host(None, tensor) is tensor


def test_attacks_return_numpy_for_numpy(linear):
    model, x, y = linear
    kwargs = {"epsilon": 0.1, "step_size": 0.05, "steps": 2}
    x_adv = attacks.pgd(model, x, y, **kwargs)
    assert isinstance(x_adv, np.ndarray) and x_adv.dtype == np.float32
    assert np.min(x_adv) >= 0.0  # the call that failed on torch tensors
    assert isinstance(attacks.fgsm(model, x, y, epsilon=0.1), np.ndarray)
    x_adv, preds = attacks.pgd_with_predictions(model, x, y, **kwargs)
    assert isinstance(x_adv, np.ndarray) and isinstance(preds, np.ndarray)
    assert preds.shape == (2, 5) and preds.dtype == np.int32
    assert isinstance(attacks.pgd(model, x.tolist(), y, **kwargs), np.ndarray)


def test_attacks_return_tensors_for_tensors(linear):
    model, x, y = linear
    tensor = keras.ops.convert_to_tensor(x)
    x_adv = attacks.pgd(model, tensor, keras.ops.convert_to_tensor(y), epsilon=0.1,
                        step_size=0.05, steps=2)
    assert keras.ops.is_tensor(x_adv) and not isinstance(x_adv, np.ndarray)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(x_adv),
                               attacks.pgd(model, x, y, epsilon=0.1, step_size=0.05, steps=2))


class _Recording(PGDAdversarialTraining):
    """Records what the attack returned inside the (compiled) train step."""

    seen = []

    def attack(self, x, y):
        x_adv = super().attack(x, y)
        self.seen.append((isinstance(x_adv, np.ndarray), keras.ops.is_tensor(x_adv)))
        return x_adv


def test_attacks_inside_a_compiled_train_step_stay_tensors(rng):
    net = nets.small_cnn((8, 8, 1), 10, width=4)
    game = _Recording(net, epsilon=0.1, steps=2, seed=0)
    game.compile(keras.optimizers.Adam(1e-3))  # jit_compile "auto": traced on tf and jax
    x = rng.random((16, 8, 8, 1)).astype("float32")
    history = game.fit(x, rng.integers(0, 10, 16), batch_size=16, epochs=1, verbose=0).history
    assert np.isfinite(history["loss"][0])
    assert _Recording.seen and all(seen == (False, True) for seen in _Recording.seen)


def test_classification_metrics_return_numpy(linear):
    model, x, y = linear
    assert isinstance(metrics.predict_proba(model, x), np.ndarray)
    pred = np.array([0, 1, 2, 0, 1])
    y = np.array([0, 1, 1, 0, 2])
    for value in (metrics.accuracy(y, pred), metrics.balanced_accuracy(y, pred, 3),
                  metrics.worst_group_accuracy(y, pred, y % 2)):
        assert _is_number(value)
    for array in (metrics.per_class_accuracy(y, pred, 3), metrics.confusion_matrix(y, pred, 3),
                  metrics.shot_groups([10, 5, 1])):
        assert isinstance(array, np.ndarray)
    assert all(_is_number(v) for v in metrics.shot_accuracy(y, pred, [10, 5, 1]).values())
    ds = data.load("digits")
    report = metrics.classification_report(ds, ds.y_test)
    assert all(_is_number(v) for v in report.values())


def test_robust_accuracy_returns_floats(linear, capsys):
    model, x, y = linear
    curve = metrics.robust_accuracy(model, x, y, [0.0, 0.1], steps=2)
    assert all(_is_number(v) for v in curve.values()) and capsys.readouterr().out == ""
    # verbose=1: the same numbers, and a progress bar over the attacked batches
    assert metrics.robust_accuracy(model, x, y, [0.0, 0.1], steps=2, batch_size=2,
                                   verbose=1) == curve
    out = capsys.readouterr().out
    batches = -(-len(x) // 2)
    assert f"{batches}/{batches}" in out and "epsilon: 0.1000" in out


def test_generative_metrics_return_numbers(rng):
    a, b = rng.normal(size=(20, 3)), rng.normal(size=(20, 3)) + 1
    mu, sigma = metrics.feature_statistics(a)
    assert isinstance(mu, np.ndarray) and isinstance(sigma, np.ndarray)
    assert _is_number(metrics.frechet_distance(mu, sigma, mu, sigma))
    assert _is_number(metrics.frechet_distance_of(a, b))
    assert all(_is_number(v) for v in metrics.inception_score(np.full((20, 4), 0.25)))
    assert all(_is_number(v) for v in metrics.kernel_inception_distance(a, b, subsets=2))
    mixture = data.load("grid25").extras["mixture"]
    assert all(_is_number(v) for v in metrics.mixture_report(a[:, :2], mixture).values())


def test_feature_extractors_return_numpy():
    features = metrics.ClassifierFeatures(kzoo.load("digits-cnn-ce"))(
        data.load("digits").x_test[:4])
    assert all(isinstance(f, np.ndarray) for f in features)


def test_generator_functions_return_numpy(gan):
    z, labels = metrics.latent_batch(gan, 6)
    assert isinstance(z, np.ndarray) and labels is None
    assert isinstance(metrics.generate(gan, z), np.ndarray)
    assert isinstance(metrics.generate(gan, z, eps=0.1), np.ndarray)
    assert isinstance(gan.sample(4, seed=0), np.ndarray)
    report = metrics.generator_report(gan, data.load("grid25"), n=50)
    assert all(_is_number(v) for v in report.values())


def test_gan_generate_and_worst_latent_return_numpy_for_numpy(gan, rng):
    z = rng.normal(size=(3, 2)).astype("float32")
    assert isinstance(gan.generate(z, training=False), np.ndarray)
    assert isinstance(gan.worst_latent(z, 0.1, training=False), np.ndarray)
