"""GeneratorAugmented (DAGAN-style): the harness, one step against NumPy with a linear net
and a generator whose samples are known, the samples' units and labels, the recipe that
takes its generator from a run directory, and the refusals."""

import shutil

import keras
import numpy as np
import pytest
from conftest import ROOT
from harness import check_game
from keras import ops

from kzoo import data, nets, recipes, zoo
from kzoo.games import GeneratorAugmented

K, LATENT, D = 3, 2, 4
SHAPE = (2, 2, 1)  # D pixels
RECIPE = ROOT / "recipes" / "generator_augmented" / "digits-lt10.toml"


def _numpy(t):
    return ops.convert_to_numpy(t)


def _linear(rng):
    """G(z, y) = tanh(E[y]) as a 2x2x1 image (z ignored: its samples are known),
    net(x) = flat(x) W + b."""
    z_in, label = keras.Input((LATENT,)), keras.Input((), dtype="int32")
    zero = keras.layers.Dense(D, kernel_initializer="zeros", use_bias=False)
    embed = keras.layers.Embedding(K, D)
    out = keras.layers.Activation("tanh")(keras.layers.Add()([zero(z_in), embed(label)]))
    generator = keras.Model([z_in, label], keras.layers.Reshape(SHAPE)(out))
    x_in = keras.Input(SHAPE)
    dense = keras.layers.Dense(K)
    net = keras.Model(x_in, dense(keras.layers.Flatten()(x_in)))
    e = rng.normal(size=(K, D)).astype("float32")
    w, b = rng.normal(size=(D, K)).astype("float32"), rng.normal(size=K).astype("float32")
    embed.set_weights([e])
    dense.set_weights([w, b])
    return generator, net, e, w, b


def _ce_and_grads(x, y, w, b):
    """Mean cross-entropy of x W + b and its gradients in W and b (softmax - one-hot)."""
    logits = x @ w + b
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    loss = float(np.mean(-np.log(p[np.arange(len(y)), y])))
    delta = (p - np.eye(K)[y]) / len(y)
    return loss, x.T @ delta, delta.sum(0)


@pytest.fixture(scope="module")
def lt():
    return data.long_tail(data.load("digits"), imbalance=10)


def test_harness(lt, tmp_path):
    generator = nets.dcgan_generator((8, 8, 1), 8, width=8, num_classes=10)
    game = GeneratorAugmented.from_dataset(lt, net=nets.small_cnn((8, 8, 1), 10, width=8),
                                           generator=generator, seed=0)
    assert game.class_counts == lt.class_counts() and game.players == ("net", "generator")
    game.compile(keras.optimizers.SGD(0.05, momentum=0.9))
    check_game(game, lt.x_train, lt.y_train, tmp_path, frozen=("generator",))
    assert game.classifier is game.net and game.serves == ("classifier",)


@pytest.mark.parametrize("real_weight,fake_weight", [(1.0, 1.0), (0.5, 2.0), (0.0, 1.0)])
def test_one_step_by_hand(rng, real_weight, fake_weight):
    """With the empirical prior and no class counts the generated batch carries the real
    batch's labels, and this generator's samples are (tanh(E[y]) + 1) / 2: one SGD step
    of the net is the gradient of the weighted cross-entropies, computed in NumPy."""
    generator, net, e, w, b = _linear(rng)
    game = GeneratorAugmented(net, generator, real_weight=real_weight,
                              fake_weight=fake_weight, seed=0)
    game.compile(keras.optimizers.SGD(0.1))
    x = rng.uniform(size=(6, *SHAPE)).astype("float32")
    y = (np.arange(6) % K).astype("int32")
    fake = (np.tanh(e[y]) + 1) / 2
    history = game.fit(x, y, batch_size=6, epochs=1, shuffle=False, verbose=0).history
    x = x.reshape(6, D)
    loss, gw, gb = _ce_and_grads(x, y, w, b)
    fake_loss, fw, fb = _ce_and_grads(fake, y, w, b)
    assert history["loss"][0] == pytest.approx(loss, rel=1e-5)
    assert history["fake_loss"][0] == pytest.approx(fake_loss, rel=1e-5)
    assert history["accuracy"][0] == pytest.approx(np.mean((x @ w + b).argmax(1) == y))
    assert history["fake_accuracy"][0] == pytest.approx(
        np.mean((fake @ w + b).argmax(1) == y))
    new_w, new_b = (_numpy(v) for v in net.trainable_variables)
    np.testing.assert_allclose(new_w, w - 0.1 * (real_weight * gw + fake_weight * fw),
                               atol=1e-6)
    np.testing.assert_allclose(new_b, b - 0.1 * (real_weight * gb + fake_weight * fb),
                               atol=1e-6)
    np.testing.assert_array_equal(_numpy(generator.weights[1]), e)  # frozen


def test_samples_and_label_priors(rng):
    generator, net, e, _, _ = _linear(rng)
    real = ops.convert_to_tensor(np.zeros(3000, "int32"))
    game = GeneratorAugmented(net, generator, class_counts=[600, 300, 100], seed=0)
    fake, labels = (_numpy(t) for t in game.fakes(real))
    np.testing.assert_allclose(np.bincount(labels, minlength=K) / 3000, [0.6, 0.3, 0.1],
                               atol=0.03)
    np.testing.assert_allclose(fake.reshape(-1, D), (np.tanh(e[labels]) + 1) / 2, atol=1e-6)
    game = GeneratorAugmented(net, generator, labels="uniform", seed=0)
    labels = _numpy(game.fakes(real)[1])
    np.testing.assert_allclose(np.bincount(labels, minlength=K) / 3000, [1 / 3] * 3, atol=0.03)


def test_recipe_takes_its_generator_from_a_run(tmp_path):
    """The DAGAN-style recipe, pointed at a copy of the GAN-without-C preset's directory
    (a run directory as kzoo train writes it), carries that run's generator weights."""
    source = tmp_path / "gan-without-c"
    shutil.copytree(zoo.resolve("digits-lt10-gan-without-c"), source)
    spec = recipes.Recipe.from_file(RECIPE).source
    assert spec["net"]["generator"] == {"preset": "digits-lt10-gan-without-c"}
    spec["net"]["generator"]["preset"] = str(source)
    recipe = recipes.Recipe(spec)
    ds = recipe.dataset()
    game = recipe.build(ds)
    assert isinstance(game, GeneratorAugmented) and game.net.output_shape == (None, 10)
    trained = keras.saving.load_model(source / "model.keras").generator
    for a, b in zip(trained.weights, game.generator.weights):
        np.testing.assert_array_equal(_numpy(a), _numpy(b))
    assert type(game.optimizer).__name__ == "SGD"
    game.fit(ds.x_train[:64], ds.y_train[:64], batch_size=32, epochs=1, verbose=0)
    spec["net"]["net"] = {"arch": "small_cnn"}
    with pytest.raises(recipes.RecipeError, match=r"\[net\] keys and a \[net.net\] table "
                                                  r"both configure 'net'"):
        recipes.Recipe(spec)
    del spec["net"]["net"], spec["net"]["generator"]
    with pytest.raises(recipes.RecipeError, match=r"GeneratorAugmented needs a net for each "
                                                  r"of its players net, generator; no "
                                                  r"\[net.generator\] table"):
        recipes.Recipe(spec)
    spec["net"]["generator"] = {"preset": str(source)}
    spec["optimizer"] = {"net": {"name": "sgd", "learning_rate": 0.1}}
    assert type(recipes.Recipe(spec).build(ds).optimizer).__name__ == "SGD"


def test_refusals(rng):
    generator, net, _, _, _ = _linear(rng)
    bad = [
        ({"real_weight": -1}, r"real_weight must be a finite number >= 0; got -1"),
        ({"fake_weight": float("nan")}, r"fake_weight must be a finite number >= 0; got nan"),
        ({"real_weight": 0, "fake_weight": 0}, "real_weight and fake_weight are both 0"),
        ({"labels": "balanced"}, r"labels must be one of 'empirical', 'uniform'; "
                                 r"got 'balanced'"),
        ({"mixup_alpha": 0.2}, "GeneratorAugmented has its own and would ignore it"),
    ]
    for kwargs, message in bad:
        with pytest.raises(ValueError, match=message):
            GeneratorAugmented(net, generator, **kwargs)
    with pytest.raises(ValueError, match="generator must be a conditional functional keras.Model"):
        GeneratorAugmented(net, nets.dcgan_generator((8, 8, 1), 8, width=8))
    with pytest.raises(ValueError, match="the generator takes labels of 10 classes; the net "
                                         "classifies 3"):
        GeneratorAugmented(net, nets.dcgan_generator((8, 8, 1), 8, width=8, num_classes=10))
    with pytest.raises(ValueError, match=r"takes image generators .* makes samples of shape "
                                         r"\(4,\)"):
        GeneratorAugmented(net, nets.mlp_generator(4, LATENT, num_classes=K))
    game = GeneratorAugmented(net, generator)
    with pytest.raises(ValueError, match=r"trains one player, net .*got \['critic'\]"):
        game.compile({"critic": "sgd"})
    game.compile({"net": keras.optimizers.SGD(0.1), "generator": "adam"})
    assert type(game.optimizer).__name__ == "SGD"
    cnn = nets.small_cnn((8, 8, 1), 10, width=4)
    with pytest.raises(ValueError, match=r"makes samples of shape \(28, 28, 1\); the net "
                                         r"takes \(8, 8, 1\)"):
        GeneratorAugmented(cnn, nets.dcgan_generator((28, 28, 1), 8, width=8, num_classes=10))
