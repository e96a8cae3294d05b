"""The Classifier game: the harness, Keras' built-in fit as oracle, the loss registry,
deferred re-weighting as a stage, mixup, input checks."""

import re

import keras
import numpy as np
import pytest
from conftest import BACKEND, ROOT
from harness import check_game

from kzoo import backend, data, losses, nets, resume, zoo
from kzoo.games import Classifier, PGDAdversarialTraining
from kzoo.games.classifier import hits
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


def test_the_progress_bar_names_the_stage(digits, capsys):
    game = _game(digits, "ldam", normed_head=True, reweight_epoch=1)
    game.fit(digits.x_train[:64], digits.y_train[:64], batch_size=32, epochs=2, verbose=2)
    out = capsys.readouterr().out
    assert re.findall(r"^(?:Epoch \d/2|Stage \w+)$", out, re.M) == [
        "Epoch 1/2", "Stage plain", "Epoch 2/2", "Stage reweighted"], out
    assert "stage" not in out and "loss:" in out  # the bar, without the stage's index


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


# ------------------------------------------------------------------------------- mixup
def _linear(mixup_alpha, **kwargs):
    """A Classifier of one dense layer (no batch norm) on standardised features (any values:
    ``input_range=None``): its step is computed by hand below."""
    inputs = keras.Input((4,))
    net = keras.Model(inputs, keras.layers.Dense(10)(inputs))
    return Classifier(net, mixup_alpha=mixup_alpha, input_range=None, **kwargs)


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_mix_is_one_lam_and_a_permutation_of_the_batch(rng):
    game = _linear(0.4, seed=1)
    x, y = rng.normal(size=(10, 4)).astype("float32"), np.arange(10)  # y[perm] names perm
    x_mix, y_a, y_b, lam = (keras.ops.convert_to_numpy(t) for t in game.mix(x, y))
    assert lam.shape == () and 0.0 <= lam <= 1.0
    assert sorted(y_b) == list(range(10))
    np.testing.assert_array_equal(y_a, y)
    np.testing.assert_allclose(x_mix, lam * x + (1 - lam) * x[y_b], rtol=1e-6, atol=1e-6)
    again = [keras.ops.convert_to_numpy(t) for t in game.mix(x, y)]
    assert again[3] != lam or not np.array_equal(again[2], y_b), "the generator did not move"
    same = [keras.ops.convert_to_numpy(t) for t in _linear(0.4, seed=1).mix(x, y)]
    np.testing.assert_array_equal(same[2], y_b)  # the seed fixes the draws
    assert same[3] == lam


def test_mixup_step_by_hand(rng, monkeypatch):
    """Loss, SGD update and accuracy of one step, in NumPy, for the lam and the permutation
    the step drew: L = lam * CE(y) + (1 - lam) * CE(y[perm]) at x_mix."""
    game = _linear(0.4, seed=2)
    game.compile(keras.optimizers.SGD(0.1), run_eagerly=True)
    w, b = game.net.get_weights()
    drawn, mix = [], game.mix

    def spy(x, y):
        out = mix(x, y)
        drawn.append([keras.ops.convert_to_numpy(t) for t in out])
        return out

    monkeypatch.setattr(game, "mix", spy)
    x, y = rng.normal(size=(10, 4)).astype("float32"), np.arange(10)
    logs = game.fit(x, y, batch_size=10, epochs=1, shuffle=False, verbose=0).history
    [(x_mix, y_a, y_b, lam)] = drawn
    np.testing.assert_allclose(x_mix, lam * x + (1 - lam) * x[y_b], rtol=1e-6, atol=1e-6)
    logits = x_mix @ w + b
    p, rows = _softmax(logits), np.arange(10)
    loss = -(lam * np.log(p[rows, y_a]) + (1 - lam) * np.log(p[rows, y_b])).mean()
    np.testing.assert_allclose(logs["loss"][0], loss, rtol=1e-5)
    grad = (p - lam * np.eye(10)[y_a] - (1 - lam) * np.eye(10)[y_b]) / 10  # d loss / d logits
    new_w, new_b = game.net.get_weights()
    np.testing.assert_allclose(new_w, w - 0.1 * x_mix.T @ grad, atol=1e-6)
    np.testing.assert_allclose(new_b, b - 0.1 * grad.sum(axis=0), atol=1e-6)
    pred = logits.argmax(axis=1)
    accuracy = (lam * (pred == y_a) + (1 - lam) * (pred == y_b)).mean()
    np.testing.assert_allclose(logs["accuracy"][0], accuracy, rtol=1e-5)
    # validation is the plain loss on clean inputs
    clean = _softmax(x @ new_w + new_b)
    np.testing.assert_allclose(game.evaluate(x, y, verbose=0, return_dict=True)["loss"],
                               -np.log(clean[rows, y]).mean(), rtol=1e-5)


class _PlainClassifier(Classifier):
    """Classifier's training step as it was before mixup (not registered: "_")."""

    def train_step(self, data):
        x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
        variables = self.net.trainable_variables

        def loss_fn():
            logits = self.net(x, training=True)
            return self.criterion(y, logits), logits

        (loss, logits), grads = backend.value_and_grad(loss_fn, variables)
        backend.apply(self.optimizer, grads, variables)
        return self.record({"loss": loss, "accuracy": hits(y, logits)})


def test_mixup_off_is_the_plain_step_bit_for_bit(digits):
    net = nets.small_cnn(digits.input_shape, digits.num_classes, width=8)
    twin = keras.models.clone_model(net)
    twin.set_weights(net.get_weights())
    games = [cls(n, loss="ldam", class_counts=digits.class_counts(), mixup_alpha=0.0)
             for cls, n in ((Classifier, net), (_PlainClassifier, twin))]
    for game in games:
        game.compile(keras.optimizers.SGD(0.05, momentum=0.9))
        game.fit(digits.x_train[:32], digits.y_train[:32], batch_size=16, epochs=1,
                 shuffle=False, verbose=0)
    assert not hasattr(games[0], "seed_generator")  # no new state: old files load as they were
    assert len(games[0].variables) == len(games[1].variables)
    for a, b in zip(games[0].variables, games[1].variables):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a),
                                      keras.ops.convert_to_numpy(b))


def test_harness_with_mixup(digits, tmp_path):
    """Mixup with LDAM and the re-weighting stage. The file is reloaded here only: loading
    under the other backends is the ``ldam`` harness's (a .keras file holds no seed-generator
    state; mixup adds two config values), and two fresh processes cost ~11 s."""
    game = _game(digits, "ldam", normed_head=True, reweight_epoch=0, mixup_alpha=0.2, seed=0)
    check_game(game, digits.x_train, digits.y_train, tmp_path, cross_backend=False)
    loaded = zoo.load_file(tmp_path / "game.keras")
    assert (loaded.mixup_alpha, loaded.seed) == (0.2, 0)
    np.testing.assert_allclose(loaded.predict(digits.x_train[:16], verbose=0),
                               game.predict(digits.x_train[:16], verbose=0), atol=1e-6)


def test_mixup_draws_resume(rng, tmp_path):
    """The mixup seed generator is among the variables a checkpoint keeps: an interrupted
    run resumes to the uninterrupted run's weights."""
    x, y = rng.random((48, 4)).astype("float32"), rng.integers(0, 10, 48)

    def run(directory, stop_after=None):
        keras.utils.set_random_seed(3)
        game = _linear(0.4, seed=4)
        # eager: six tiny steps cost less than compiling three times
        game.compile(keras.optimizers.SGD(0.1, momentum=0.9), jit_compile=False)
        batches = resume.EpochBatches(x, y, 16, 3)
        checkpoint = resume.Checkpoint(directory, batches, {"run": "mixup"})

        class Stop(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                if epoch == stop_after:
                    raise KeyboardInterrupt

        game.fit(batches, epochs=2, initial_epoch=checkpoint.epoch, shuffle=False,
                 verbose=0, callbacks=[checkpoint, Stop()])
        return [keras.ops.convert_to_numpy(v)
                for v in [*game.variables, *game.optimizer.variables]]

    full = run(tmp_path / "full")
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "stopped", stop_after=0)
    resumed = run(tmp_path / "stopped")
    for a, b in zip(full, resumed, strict=True):
        np.testing.assert_array_equal(a, b)


def test_presets_saved_before_mixup_load_without_it():
    game = zoo.load_file(ROOT / "saved_models" / "digits-lt10-cnn-ce" / zoo.MODEL_FILE)
    assert (game.mixup_alpha, game.seed) == (0.0, None)
    config = {k: v for k, v in game.get_config().items() if k not in ("mixup_alpha", "seed")}
    assert Classifier.from_config(config).mixup_alpha == 0.0


@pytest.mark.skipif(BACKEND != "tensorflow", reason="XLA and keras.random.beta: TensorFlow")
def test_mixup_falls_back_from_xla_on_tensorflow(rng):
    """tf.random.stateless_gamma (keras.random.beta) has no XLA kernel."""
    game = _linear(0.2, seed=0)
    with pytest.warns(UserWarning, match="doesn't support `jit_compile=True`"):
        game.compile(keras.optimizers.SGD(0.1), jit_compile=True)
    assert game.jit_compile is False
    game.fit(rng.random((8, 4)).astype("float32"), np.arange(8), epochs=1, verbose=0)
    assert _linear(0.0).supports_jit


@pytest.mark.parametrize("alpha, match", [
    (-1, "mixup_alpha must be a finite number >= 0; got -1"),
    (float("nan"), "mixup_alpha must be a finite number >= 0; got nan"),
    (float("inf"), "mixup_alpha must be a finite number >= 0; got inf"),
    ("x", "mixup_alpha must be a finite number >= 0; got 'x'"),
    (True, "mixup_alpha must be a finite number >= 0; got True"),
])
def test_mixup_alpha_refusals(alpha, match):
    with pytest.raises(ValueError, match=match):
        _linear(alpha)


def test_mixup_refusals_of_seed_and_subclasses():
    with pytest.raises(ValueError, match="seed must be an int in"):
        _linear(0.2, seed=-1)
    with pytest.raises(ValueError, match="PGDAdversarialTraining has its own"):
        PGDAdversarialTraining(_linear(0.0).net, mixup_alpha=0.2)
    with pytest.raises(ValueError, match="mix needs mixup_alpha > 0"):
        _linear(0.0).mix(np.zeros((2, 4), "float32"), np.zeros(2, "int32"))
