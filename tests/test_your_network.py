"""Your own network as a classifier game's classifier (docs/your-network.md): a Keras model on
every backend, a torch module (``keras.layers.TorchModuleWrapper``) on torch, a JAX function
(``keras.layers.JaxLayer``) on JAX; each trains, saves and loads back to the same predictions,
which a NumPy forward pass of its weights gives too; and the refusals that name the fix."""

import keras
import numpy as np
import pytest
from conftest import BACKEND

from kzoo import data, games, zoo

SHAPE, CLASSES, HIDDEN = (8, 8, 1), 10, 16
TORCH_FIX = r"keras\.layers\.TorchModuleWrapper\(module, output_shape=\(None, num_classes\)\)"


@pytest.fixture(scope="module")
def digits():
    return data.long_tail(data.load("digits"), imbalance=10)


def _game(name, net, ds):
    """A classifier game ``name`` on ``net``, compiled."""
    if name == "Classifier":
        game = games.Classifier(net)
    elif name == "PGDAdversarialTraining":
        game = games.PGDAdversarialTraining(net, epsilon=0.1, steps=2, seed=0)
    else:
        game = games.AEGL(net, class_counts=ds.class_counts(), tail_threshold=41, seed=0)
    game.compile(keras.optimizers.Adam(1e-2))
    return game


def _np_mlp(x, w1, b1, w2, b2):
    """The two-layer perceptron's logits, in NumPy (``w``: (inputs, outputs))."""
    return np.maximum(x.reshape(len(x), -1) @ w1 + b1, 0.0) @ w2 + b2


def _trains_saves_and_reloads(game, ds, tmp_path, weights, safe_mode=True):
    """Fits one epoch on a slice; the weights move, the logits are the NumPy forward pass of
    ``weights()`` ``(w1, b1, w2, b2)``, and the saved game loads back to the same logits."""
    x, y, x_test = ds.x_train[:128], ds.y_train[:128], ds.x_test[:32]
    before = [np.array(w) for w in weights()]
    history = game.fit(x, y, epochs=1, batch_size=64, verbose=0)
    assert all(np.isfinite(v[-1]) for v in history.history.values()), history.history
    assert any(not np.allclose(a, b) for a, b in zip(before, weights())), "nothing trained"
    logits = game.classifier.predict(x_test, verbose=0)
    np.testing.assert_allclose(logits, _np_mlp(x_test, *weights()), rtol=1e-4, atol=1e-4)
    game.save(tmp_path / "game.keras")
    loaded = zoo.load_file(tmp_path / "game.keras", safe_mode=safe_mode)
    assert type(loaded) is type(game)
    np.testing.assert_array_equal(loaded.classifier.predict(x_test, verbose=0), logits)
    return loaded


GAMES = ["Classifier", "PGDAdversarialTraining", "AEGL"]


@pytest.mark.parametrize("name", GAMES)
def test_keras_sequential(name, digits, tmp_path):
    net = keras.Sequential([keras.Input(SHAPE), keras.layers.Flatten(),
                            keras.layers.Dense(HIDDEN, activation="relu"),
                            keras.layers.Dense(CLASSES)])
    game = _game(name, net, digits)
    _trains_saves_and_reloads(game, digits, tmp_path,
                              lambda: [keras.ops.convert_to_numpy(w) for w in net.weights])


def _torch_mlp():
    from torch import nn

    return nn.Sequential(nn.Flatten(), nn.Linear(64, HIDDEN), nn.ReLU(),
                         nn.Linear(HIDDEN, CLASSES))


@pytest.mark.skipif(BACKEND != "torch", reason="keras.layers.TorchModuleWrapper takes a torch "
                    "module on the torch backend only")
@pytest.mark.parametrize("name", GAMES)
def test_torch_module(name, digits, tmp_path):
    module = _torch_mlp()
    net = keras.Sequential([keras.Input(SHAPE), keras.layers.TorchModuleWrapper(
        module, output_shape=(None, CLASSES))])
    game = _game(name, net, digits)

    def weights():  # torch's Linear keeps (outputs, inputs)
        state = {k: v.detach().cpu().numpy() for k, v in module.state_dict().items()}
        return state["1.weight"].T, state["1.bias"], state["3.weight"].T, state["3.bias"]

    with pytest.raises(ValueError, match=r"holds a torch module .* stores as a pickle: "
                       r"loading it runs code, so safe mode refuses it\. A file you saved "
                       r"yourself loads with kzoo\.zoo\.load_file\(path, safe_mode=False\)"):
        game.save(tmp_path / "first.keras")
        zoo.load_file(tmp_path / "first.keras")
    _trains_saves_and_reloads(game, digits, tmp_path, weights, safe_mode=False)


@pytest.mark.skipif(BACKEND != "torch", reason="keras.layers.TorchModuleWrapper takes a torch "
                    "module on the torch backend only")
def test_torch_module_without_output_shape_is_refused_naming_the_fix(digits):
    wrapper = keras.layers.TorchModuleWrapper(_torch_mlp())
    net = keras.Sequential([keras.Input(SHAPE), wrapper])
    for name in GAMES:
        with pytest.raises(ValueError, match=rf"^net \(Sequential .*\) has no known outputs: "
                           rf"Keras cannot infer a torch module's output shape, and its "
                           rf"keras.layers.TorchModuleWrapper '{wrapper.name}' was made "
                           rf"without output_shape\. Give it one: {TORCH_FIX}"):
            _game(name, net, digits)
    with pytest.raises(ValueError, match=rf"^classifier \(Sequential .*\) .* {TORCH_FIX}"):
        games.BadDataGAN(*_conditional_pair(), classifier=net)
    with pytest.raises(ValueError, match=rf"net must be a keras.Model mapping inputs to logits; "
                       rf"got a torch module \(Sequential\): wrap it, .*{TORCH_FIX}"):
        games.Classifier(_torch_mlp())
    with pytest.raises(ValueError, match=rf"got the layer '{wrapper.name}' "
                       rf"\(TorchModuleWrapper\): wrap it, keras.Sequential\(\[keras.Input"):
        games.Classifier(wrapper)


def _conditional_pair():
    from kzoo import nets

    return (nets.dcgan_generator(SHAPE, 8, num_classes=CLASSES),
            nets.dcgan_critic(SHAPE, num_classes=CLASSES))


class _Opaque(keras.layers.Layer):
    """A layer whose output shape Keras cannot compute, as a foreign module's."""

    def call(self, x):
        return x

    def compute_output_spec(self, *args, **kwargs):
        raise NotImplementedError


def test_net_without_known_outputs_is_refused_naming_the_fix():
    opaque = keras.Sequential([keras.Input(SHAPE), _Opaque()])
    no_input = keras.Sequential([keras.layers.Flatten(), keras.layers.Dense(CLASSES)])
    for net in (opaque, no_input):
        with pytest.raises(ValueError, match=r"^net \(Sequential .*\) has no known outputs: "
                           r"Keras builds them from a keras.Input.*Start a keras.Sequential "
                           r"with keras.Input\(input_shape\)"):
            games.PGDAdversarialTraining(net)
    with pytest.raises(ValueError, match=r"got the layer 'dense_\w*' \(Dense\): wrap it, "
                       r"keras.Sequential\(\[keras.Input\(input_shape\), layer\]\)"):
        games.Classifier(keras.layers.Dense(CLASSES))


# JaxLayer's functions, registered so that a saved game loads in safe mode (Keras stores
# a registered function by name).
@keras.saving.register_keras_serializable(package="test_your_network")
def mlp_init(rng, inputs):
    import jax

    k1, k2 = jax.random.split(rng)
    d = int(np.prod(inputs.shape[1:]))
    return {"w1": jax.random.normal(k1, (d, HIDDEN)) / np.sqrt(d),
            "b1": jax.numpy.zeros(HIDDEN),
            "w2": jax.random.normal(k2, (HIDDEN, CLASSES)) / np.sqrt(HIDDEN),
            "b2": jax.numpy.zeros(CLASSES)}


@keras.saving.register_keras_serializable(package="test_your_network")
def mlp_call(params, inputs):
    import jax

    h = jax.nn.relu(inputs.reshape(inputs.shape[0], -1) @ params["w1"] + params["b1"])
    return h @ params["w2"] + params["b2"]


@pytest.mark.skipif(BACKEND != "jax", reason="keras.layers.JaxLayer runs on JAX and TensorFlow "
                    "only, and on TensorFlow (through jax2tf) its outputs have no known rank, "
                    "which kzoo's training steps need")
@pytest.mark.parametrize("name", ["PGDAdversarialTraining"])
def test_jax_function(name, digits, tmp_path):
    layer = keras.layers.JaxLayer(mlp_call, init_fn=mlp_init, seed=0)
    net = keras.Sequential([keras.Input(SHAPE), layer])
    game = _game(name, net, digits)

    def weights():
        return [keras.ops.convert_to_numpy(layer.params[k]) for k in ("w1", "b1", "w2", "b2")]

    _trains_saves_and_reloads(game, digits, tmp_path, weights)
