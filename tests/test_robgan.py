"""ACGAN, RobGAN and RobGANFineTune: the harness for each, the co-training attack against
kzoo.attacks.pgd and against NumPy with a linear critic, batch-norm statistics under
attack, every loss and log in closed form with linear players, the fine-tune's attacked
batches and frozen score head, the AC-GAN critic and the conditional-batch-norm
generator, the refusals, and the recipes (staged learning rates included)."""

import json
import math
import re

import keras
import numpy as np
import pytest
from conftest import ROOT
from harness import check_game
from keras import ops

from kzoo import attacks, data, games, nets, recipes, runs, zoo
from kzoo.games import ACGAN, RobGAN, RobGANFineTune
from kzoo.games.gan import label_classes
from kzoo.nets.gan import conditional_affine

LATENT = 8
ROBGAN_RECIPE = ROOT / "recipes" / "robgan" / "digits.toml"
FINETUNE_RECIPE = ROOT / "recipes" / "robgan" / "digits-finetune.toml"


@pytest.fixture(scope="module")
def digits():
    return data.load("digits")


def _numpy(t):
    return ops.convert_to_numpy(t)


def _players(classes=10, batch_norm=False):
    return (nets.dcgan_generator((8, 8, 1), LATENT, width=8, num_classes=classes),
            nets.acgan_critic((8, 8, 1), classes, width=8, batch_norm=batch_norm))


def _z(n=16):
    return np.random.default_rng(1).normal(size=(n, LATENT)).astype("float32")


def _variables(variables):
    return [_numpy(v).copy() for v in variables]


def _served(game, digits):
    """The classifier a GAN game serves is the critic's class head; its samples lie in
    [0, 1]."""
    x = digits.x_test[:6]
    logits = _numpy(game.classifier(x))
    assert logits.shape == (6, 10)
    np.testing.assert_allclose(logits, _numpy(game.critic(x, training=False)[1]), atol=1e-6)
    samples = game.sample(5, labels=[0, 1, 2, 3, 4])
    assert samples.shape == (5, 8, 8, 1) and samples.min() >= 0 and samples.max() <= 1


# ------------------------------------------------------------------------------- harness
def test_harness_acgan(digits, tmp_path):
    game = ACGAN(*_players(), loss="acgan", seed=0)
    assert game.class_loss == "acgan" and game.n_dis == 1 and game.conditional
    assert game.serves == ("classifier", "generator")
    game.compile()
    # Loading under the next backend: RobGAN's harness below (its subclass) and the
    # digits-acgan preset in test_zoo cover it; each such check costs a fresh process.
    check_game(game, digits.x_train, digits.y_train, tmp_path,
               probe=[_z(), np.arange(16) % 10], cross_backend=False)
    _served(game, digits)


def test_harness_robgan(digits, tmp_path):
    game = RobGAN(*_players(), loss="split", epsilon=0.1, steps=2, seed=0)
    assert (game.epsilon, game.step_size, game.steps) == (0.1, pytest.approx(0.025), 2)
    game.compile()
    check_game(game, digits.x_train, digits.y_train, tmp_path,
               probe=[_z(), np.arange(16) % 10])
    _served(game, digits)


def test_harness_robgan_two_critic_steps(digits, tmp_path):
    game = RobGAN(*_players(), epsilon=0.1, steps=2, n_dis=2, seed=0)
    assert game.class_loss == "split" and game.n_dis == 2
    game.compile()
    check_game(game, digits.x_train, digits.y_train, tmp_path,
               probe=[_z(), np.arange(16) % 10], updates_per_step={"critic": 2},
               cross_backend=False)


def test_harness_fine_tune(digits, tmp_path):
    """The critic (its class head and body; the score head is frozen by the game) moves,
    the generator keeps every weight."""
    source = RobGAN(*_players(), epsilon=0.1, steps=2, seed=0)
    game = RobGANFineTune(source.critic, source.generator, epsilon=0.1, steps=2, seed=0)
    assert game.players == ("critic", "generator") and game.serves == ("classifier",)
    assert game.lam_fake == pytest.approx(0.3) and game.step_size == pytest.approx(0.02)
    game.compile(keras.optimizers.Adam(1e-3))
    # Loading under the next backend: the digits-robgan-finetune preset in test_zoo.
    check_game(game, digits.x_train, digits.y_train, tmp_path, frozen=("generator",),
               cross_backend=False)
    x = digits.x_test[:6]
    np.testing.assert_allclose(_numpy(game.classifier(x)),
                               _numpy(game.critic(x, training=False)[1]), atol=1e-6)
    assert game.classifier.output_shape == (None, 10)


# ------------------------------------------------- linear players and their NumPy oracles
K, Z_DIM, D = 3, 2, 4
SHAPE = (2, 2, 1)  # D pixels


def _linear(rng):
    """A linear AC-GAN critic, score(x) = flat(x) . w_s + b_s and logits(x) = flat(x) W + b,
    and a generator whose samples are known, G(z, y) = tanh(E[y]) (z ignored)."""
    image = keras.Input(SHAPE)
    flat = keras.layers.Flatten(name="features")(image)
    score_dense, logits_dense = keras.layers.Dense(1), keras.layers.Dense(K, name="logits")
    score = keras.layers.Reshape((), name="score")(score_dense(flat))
    critic = keras.Model(image, [score, logits_dense(flat)], name="linear_critic")
    z_in, label = keras.Input((Z_DIM,)), keras.Input((), dtype="int32")
    zero = keras.layers.Dense(D, kernel_initializer="zeros", use_bias=False)
    embed = keras.layers.Embedding(K, D)
    out = keras.layers.Activation("tanh")(keras.layers.Add()([zero(z_in), embed(label)]))
    generator = keras.Model([z_in, label], keras.layers.Reshape(SHAPE)(out))
    p = {"ws": rng.normal(size=(D, 1)), "bs": rng.normal(size=1),
         "W": rng.normal(size=(D, K)), "b": rng.normal(size=K), "E": rng.normal(size=(K, D))}
    p = {k: v.astype("float32") for k, v in p.items()}
    score_dense.set_weights([p["ws"], p["bs"]])
    logits_dense.set_weights([p["W"], p["b"]])
    embed.set_weights([p["E"]])
    assert nets.check_acgan_critic(critic) == K
    return generator, critic, {k: v.astype("float64") for k, v in p.items()}


def _critic_np(p, x):
    flat = x.reshape(len(x), -1).astype("float64")
    return flat @ p["ws"][:, 0] + p["bs"][0], flat @ p["W"] + p["b"]


def _softplus(t):
    return np.logaddexp(0.0, t)


def _sigmoid(t):
    return 1.0 / (1.0 + np.exp(-t))


def _softmax(logits):
    e = np.exp(logits - logits.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def _ce(logits, y):
    """Per-example softmax cross-entropy."""
    top = logits.max(1)
    lse = top + np.log(np.exp(logits - top[:, None]).sum(1))
    return lse - logits[np.arange(len(y)), y]


def _real_and_class(p, x, y):
    s, logits = _critic_np(p, x)
    return 0.5 * _softplus(-s) + 0.5 * _ce(logits, y)


def _pgd_np(p, x, y, eps, step, steps, score_weight):
    """l_inf PGD with no random start on ``score_weight * softplus(-s) + class_weight * CE``
    (class weight 0.5 beside a score term, else 1), its input gradient in closed form:
    ``-score_weight * sigmoid(-s) w_s + class_weight * W (softmax - onehot)``."""
    class_weight = 0.5 if score_weight else 1.0
    x = x.reshape(len(x), -1).astype("float64")
    x_adv, onehot = x.copy(), np.eye(K)[y]
    for _ in range(steps):
        s, logits = _critic_np(p, x_adv)
        grad = (-score_weight * _sigmoid(-s)[:, None] * p["ws"][:, 0][None]
                + class_weight * (_softmax(logits) - onehot) @ p["W"].T)
        assert np.abs(grad).min() > 1e-4  # no sign ambiguous in float32
        x_adv = np.clip(x + np.clip(x_adv - x + step * np.sign(grad), -eps, eps), 0.0, 1.0)
    return x_adv.reshape(len(x), *SHAPE)


def _batch(rng, n=6):
    x = rng.uniform(size=(n, *SHAPE)).astype("float32")
    x[0, 0, 0, 0], x[1, 1, 1, 0] = 0.01, 0.98  # clipping to [0, 1] shows
    return x, (np.arange(n) % K).astype("int32")


# -------------------------------------------------------------- the co-training attack
def _real_and_class_ops(y, outputs):
    """0.5 * softplus(-score) + 0.5 * per-example cross-entropy, from keras.ops."""
    score, logits = outputs
    onehot = ops.one_hot(ops.cast(y, "int32"), ops.shape(logits)[-1], dtype=logits.dtype)
    ce = ops.logsumexp(logits, axis=-1) - ops.sum(onehot * logits, axis=-1)
    return 0.5 * ops.softplus(-score) + 0.5 * ce


def test_attack_is_pgd_on_the_critics_real_loss(digits):
    game = RobGAN(*_players(), epsilon=0.1, steps=5, seed=0)  # 5 steps reach 1.25 eps
    x, y = digits.x_test[:8], digits.y_test[:8]
    x_adv = game.attack(x, y)
    assert isinstance(x_adv, np.ndarray) and x_adv.shape == x.shape
    expected = attacks.pgd(game.critic, x, y, epsilon=0.1, step_size=0.025, steps=5,
                           loss=_real_and_class_ops, random_start=False)
    np.testing.assert_allclose(x_adv, expected, atol=1e-5)
    assert 0.1 - 1e-6 <= np.abs(x_adv - x).max() <= 0.1 + 1e-6
    assert x_adv.min() >= 0 and x_adv.max() <= 1
    tensor = game.attack(ops.convert_to_tensor(x), ops.convert_to_tensor(y))
    np.testing.assert_allclose(_numpy(tensor), expected, atol=1e-5)


def test_string_losses_read_the_last_output(digits, rng):
    """pgd's "ce" and "margin" on a critic with two outputs attack its class logits: the
    same as on its class head alone."""
    critic = _players()[1]
    x, y = digits.x_test[:8], digits.y_test[:8]
    for loss in ("ce", "margin"):
        kwargs = {"epsilon": 0.1, "step_size": 0.025, "steps": 3, "loss": loss}
        np.testing.assert_allclose(attacks.pgd(critic, x, y, **kwargs),
                                   attacks.pgd(nets.class_head(critic), x, y, **kwargs),
                                   atol=1e-6)


def test_attack_by_hand(rng):
    """Five sign steps of epsilon / 4 on a linear critic: the projection onto the ball (5
    steps reach 1.25 epsilon) and the clip to [0, 1] both act."""
    generator, critic, p = _linear(rng)
    game = RobGAN(generator, critic, epsilon=0.1, steps=5, seed=0)
    x, y = _batch(rng)
    expected = _pgd_np(p, x, y, 0.1, 0.025, 5, score_weight=0.5)
    np.testing.assert_allclose(game.attack(x, y), expected, atol=1e-5)
    assert np.isclose(expected, 0.0).any() and np.isclose(expected, 1.0).any()
    plain = _pgd_np(p, x, y, 0.1, 0.025, 5, score_weight=0.0)
    assert np.abs(plain - expected).max() > 0.01  # the score term changes the attack


def test_attacks_leave_batch_norm_statistics(digits):
    """Attack passes run the critic in inference mode: no moving statistic moves (a
    training-mode pass would move them)."""
    generator, critic = _players(batch_norm=True)
    assert any(isinstance(layer, keras.layers.BatchNormalization) for layer in critic.layers)
    game = RobGAN(generator, critic, epsilon=0.1, steps=2, seed=0)
    x, y = digits.x_train[:8], digits.y_train[:8]
    before = _variables(critic.non_trainable_variables)

    def unchanged():
        for a, b in zip(before, _variables(critic.non_trainable_variables)):
            np.testing.assert_array_equal(a, b)

    game.attack(x, y)
    unchanged()
    game.attack(ops.convert_to_tensor(x), ops.convert_to_tensor(y))
    unchanged()
    tune = RobGANFineTune(critic, generator, epsilon=0.1, steps=2, seed=0)
    before = _variables(critic.non_trainable_variables)  # the score head now among them
    tune.attack(x, y)
    tune.attack(ops.convert_to_tensor(x), ops.convert_to_tensor(y))
    unchanged()
    critic(ops.convert_to_tensor(x), training=True)  # a training-mode pass moves them
    after = _variables(critic.non_trainable_variables)
    assert max(float(np.abs(a - b).max()) for a, b in zip(before, after)) > 0


def test_generator_sees_the_critic_its_steps_train():
    """The generator's terms score its samples with the batch-norm critic in training mode
    (each batch by its own statistics, as in the critic's steps), leaving the moving
    statistics as they are; validation scores them in inference mode."""
    generator, critic = _players(batch_norm=True)
    game = ACGAN(generator, critic, seed=0)
    fake = ops.convert_to_tensor(np.random.default_rng(0).uniform(size=(8, 8, 8, 1)),
                                 "float32")
    labels = ops.convert_to_tensor(np.arange(8) % 10, "int32")
    before = _variables(critic.non_trainable_variables)
    loss, _ = game.generator_terms(fake, labels)
    for a, b in zip(before, _variables(critic.non_trainable_variables)):
        np.testing.assert_array_equal(a, b)
    modes = {training: float(_numpy(ops.mean(_real_and_class_ops(
        labels, critic(fake, training=training))))) for training in (True, False)}
    assert abs(modes[True] - modes[False]) > 1e-3  # the two modes differ on this critic
    assert float(_numpy(loss)) == pytest.approx(modes[True], rel=1e-5)
    loss, _ = game.generator_terms(fake, labels, training=False)
    assert float(_numpy(loss)) == pytest.approx(modes[False], rel=1e-5)


# --------------------------------------------------------------- losses in closed form
@pytest.mark.parametrize("loss", ["acgan", "split"])
def test_losses_by_hand(rng, loss):
    generator, critic, p = _linear(rng)
    game = ACGAN(generator, critic, loss=loss, seed=0)
    real, labels = _batch(rng)
    fake = rng.uniform(size=real.shape).astype("float32")
    fake_labels = np.array([2, 0, 1, 1, 2, 0], "int32")
    value, logs = game.critic_objective(*map(ops.convert_to_tensor,
                                             (real, labels, fake, fake_labels)))
    s_f, logits_f = _critic_np(p, fake)
    expected = _real_and_class(p, real, labels).mean()
    if loss == "split":
        expected += _softplus(s_f).mean()
    else:
        expected += (0.5 * _softplus(s_f) + 0.5 * _ce(logits_f, fake_labels)).mean()
    assert float(_numpy(value)) == pytest.approx(expected, rel=1e-5)
    assert float(_numpy(logs["d_loss"])) == pytest.approx(expected, rel=1e-5)
    np.testing.assert_array_equal(_numpy(logs["accuracy"]),
                                  _critic_np(p, real)[1].argmax(1) == labels)
    value, logs = game.generator_terms(ops.convert_to_tensor(fake),
                                       ops.convert_to_tensor(labels))
    expected = _real_and_class(p, fake, labels).mean()
    assert float(_numpy(value)) == pytest.approx(expected, rel=1e-5)
    assert float(_numpy(logs["g_loss"])) == pytest.approx(expected, rel=1e-5)
    np.testing.assert_array_equal(_numpy(logs["fake_accuracy"]), logits_f.argmax(1) == labels)


def test_robgan_step_by_hand(rng):
    """One co-training step with SGD: the critic descends the split loss on the PGD-attacked
    real batch (NumPy PGD) and the generated one (tanh(E[y]) mapped to [0, 1], the real
    batch's labels); then the generator descends its loss against the stepped critic."""
    generator, critic, p = _linear(rng)
    game = RobGAN(generator, critic, epsilon=0.1, steps=5, seed=0)
    lr = 0.5
    game.compile({"generator": keras.optimizers.SGD(lr), "critic": keras.optimizers.SGD(lr)})
    x, y = _batch(rng)
    history = game.fit(x, y, batch_size=len(y), epochs=1, shuffle=False, verbose=0).history
    logs = {k: v[0] for k, v in history.items()}
    n, onehot = len(y), np.eye(K)[y]
    x_adv = _pgd_np(p, x, y, 0.1, 0.025, 5, score_weight=0.5).reshape(n, D)
    assert np.abs(x_adv - x.reshape(n, D)).max() > 0.09
    fake = (np.tanh(p["E"][y]) + 1) / 2
    s_r, logits_r = _critic_np(p, x_adv)
    s_f, _ = _critic_np(p, fake)
    delta_r = _softmax(logits_r) - onehot
    d_score_r, d_score_f = -0.5 * _sigmoid(-s_r) / n, _sigmoid(s_f) / n
    p1 = {**p, "ws": p["ws"] - lr * (x_adv.T @ d_score_r + fake.T @ d_score_f)[:, None],
          "bs": p["bs"] - lr * (d_score_r.sum() + d_score_f.sum()),
          "W": p["W"] - lr * 0.5 * x_adv.T @ delta_r / n,
          "b": p["b"] - lr * 0.5 * delta_r.sum(0) / n}
    s_g, logits_g = _critic_np(p1, fake)
    d_fake = (-0.5 * _sigmoid(-s_g)[:, None] * p1["ws"][:, 0][None]
              + 0.5 * (_softmax(logits_g) - onehot) @ p1["W"].T) / n
    grad_e = np.zeros_like(p["E"])
    np.add.at(grad_e, y, d_fake * 0.5 * (1 - np.tanh(p["E"][y]) ** 2))
    expected = {"d_loss": (0.5 * _softplus(-s_r) + 0.5 * _ce(logits_r, y)).mean()
                + _softplus(s_f).mean(),
                "accuracy": np.mean(logits_r.argmax(1) == y),
                "g_loss": (0.5 * _softplus(-s_g) + 0.5 * _ce(logits_g, y)).mean(),
                "fake_accuracy": np.mean(logits_g.argmax(1) == y)}
    for key, value in expected.items():
        assert logs[key] == pytest.approx(value, rel=1e-4, abs=1e-6), key
    score_dense, = [la for la in critic.layers
                    if isinstance(la, keras.layers.Dense) and la.units == 1]
    np.testing.assert_allclose(_numpy(score_dense.kernel)[:, 0], p1["ws"][:, 0], atol=1e-5)
    np.testing.assert_allclose(_numpy(score_dense.bias), p1["bs"], atol=1e-5)
    np.testing.assert_allclose(_numpy(critic.get_layer("logits").kernel), p1["W"], atol=1e-5)
    np.testing.assert_allclose(_numpy(critic.get_layer("logits").bias), p1["b"], atol=1e-5)
    embedding = [la for la in generator.layers if isinstance(la, keras.layers.Embedding)][0]
    np.testing.assert_allclose(_numpy(embedding.embeddings), p["E"] - lr * grad_e, atol=1e-5)


# ------------------------------------------------------------------------- fine-tuning
def test_fine_tune_batches_are_attacked(rng):
    """The real batch is PGD on the class head's cross-entropy (steps of epsilon / 5);
    the generated one is G's [0, 1] samples attacked the same way."""
    generator, critic, p = _linear(rng)
    game = RobGANFineTune(critic, generator, epsilon=0.1, steps=6, seed=0)
    x, y = _batch(rng)
    expected = attacks.pgd(game.net, x, y, epsilon=0.1, step_size=0.02, steps=6,
                           random_start=False)
    np.testing.assert_allclose(expected, _pgd_np(p, x, y, 0.1, 0.02, 6, 0.0), atol=1e-5)
    x_adv, y_out, fake_adv, fake_y = map(_numpy, game.batches(ops.convert_to_tensor(x),
                                                              ops.convert_to_tensor(y)))
    np.testing.assert_allclose(x_adv, expected, atol=1e-5)
    np.testing.assert_array_equal(y_out, y)
    clean = ((np.tanh(p["E"][fake_y]) + 1) / 2).reshape(len(y), *SHAPE)
    assert fake_adv.shape == clean.shape and fake_adv.min() >= 0 and fake_adv.max() <= 1
    assert 0.1 - 1e-6 <= np.abs(fake_adv - clean).max() <= 0.1 + 1e-6
    np.testing.assert_allclose(fake_adv, _pgd_np(p, clean, fake_y, 0.1, 0.02, 6, 0.0),
                               atol=1e-5)


def test_fine_tune_keeps_the_score_head(digits):
    """Two fine-tune steps: the real/fake head keeps its weights, the class head's move,
    and so do the body's batch-norm statistics (the update runs in training mode)."""
    generator, critic = _players(batch_norm=True)
    score = [layer for layer in critic.layers
             if isinstance(layer, keras.layers.Dense) and layer.units == 1]
    assert len(score) == 1
    score, logits = score[0], critic.get_layer("logits")
    norms = [v for la in critic.layers if isinstance(la, keras.layers.BatchNormalization)
             for v in la.non_trainable_variables]
    kept, moved, statistics = map(_variables, (score.weights, logits.weights, norms))
    game = RobGANFineTune(critic, generator, epsilon=0.1, steps=2, seed=0)
    game.compile(keras.optimizers.Adam(1e-2))
    game.fit(digits.x_train[:16], digits.y_train[:16], batch_size=8, epochs=1, verbose=0)
    for a, b in zip(kept, _variables(score.weights)):
        np.testing.assert_array_equal(a, b)
    for before, variables in ((moved, logits.weights), (statistics, norms)):
        assert max(float(np.abs(a - b).max()) for a, b in zip(before, _variables(variables))) > 0


# ---------------------------------------------------------------------------------- nets
@pytest.mark.parametrize("shape,body", [((8, 8, 1), "dcgan"), ((28, 28, 1), "dcgan"),
                                        ((32, 32, 3), "dcgan"), ((8, 8, 1), "resnet"),
                                        ((32, 32, 3), "resnet")])
def test_acgan_critic(rng, shape, body):
    """Outputs [score (batch,), logits (batch, k)]; batch norm and spectral norm where
    asked; the class head is the critic's own layers and weights."""
    x = rng.uniform(size=(2, *shape)).astype("float32")
    for batch_norm, spectral_norm in [(False, False), (True, True)]:
        critic = nets.acgan_critic(shape, 5, body=body, width=8, batch_norm=batch_norm,
                                   spectral_norm=spectral_norm)
        assert [tuple(o.shape) for o in critic.outputs] == [(None,), (None, 5)]
        assert nets.check_acgan_critic(critic) == 5
        kinds = {type(layer).__name__ for layer in critic.layers}
        assert ("BatchNormalization" in kinds) == batch_norm
        assert ("SpectralNorm" in kinds) == spectral_norm
        head = nets.class_head(critic)
        assert head.output_shape == (None, 5)
        shared = {id(v) for v in critic.weights}
        assert head.weights and all(id(v) in shared for v in head.weights)
        assert len(head.weights) < len(critic.weights)  # the score head left out
        if shape[0] == 8 and body == "resnet" and not batch_norm:  # the same numbers (the
            # harness compares the DCGAN critic's; on jax every pass at a new shape compiles)
            score, logits = critic(x, training=False)
            assert tuple(score.shape) == (2,)
            np.testing.assert_allclose(_numpy(head(x, training=False)), _numpy(logits),
                                       atol=1e-6)


def test_acgan_classifier_is_a_fresh_critics_class_head(rng):
    """The net of ``arch = "acgan_classifier"``: given a critic's weights, it computes that
    critic's class logits; a recipe's classifier game takes it."""
    x = rng.uniform(size=(3, 8, 8, 1)).astype("float32")
    net = nets.acgan_classifier((8, 8, 1), 5, width=8, batch_norm=True)
    critic = nets.acgan_critic((8, 8, 1), 5, width=8, batch_norm=True)
    head = nets.class_head(critic)
    assert net.output_shape == (None, 5)
    assert [tuple(w.shape) for w in net.weights] == [tuple(w.shape) for w in head.weights]
    net.set_weights(head.get_weights())
    np.testing.assert_allclose(_numpy(net(x, training=False)),
                               _numpy(critic(x, training=False)[1]), atol=1e-6)
    spec = {"name": "madry-on-the-class-head", "data": {"name": "digits"},
            "net": {"arch": "acgan_classifier", "width": 8, "batch_norm": True},
            "game": {"name": "PGDAdversarialTraining", "epsilon": 0.1, "steps": 2},
            "optimizer": {"name": "adam"}, "fit": {"epochs": 1}}
    recipe = recipes.Recipe(spec)
    game = recipe.build(recipe.dataset())
    assert game.classifier.output_shape == (None, 10)


def test_conditional_bn_generator(rng):
    g = nets.resnet_generator((8, 8, 1), LATENT, width=8, num_classes=4, conditional_bn=True)
    assert g.output_shape == (None, 8, 8, 1) and len(g.inputs) == 2
    assert label_classes(g) == 4
    norms = [la for la in g.layers if isinstance(la, keras.layers.BatchNormalization)]
    embeddings = [la for la in g.layers if isinstance(la, keras.layers.Embedding)]
    assert len(embeddings) == 2 * len(norms) and not any(n.center or n.scale for n in norms)
    z = np.repeat(_z(1), 2, axis=0)
    labels = np.array([0, 1], "int32")
    out = _numpy(g([z, labels], training=False))
    np.testing.assert_allclose(out[0], out[1], atol=1e-6)  # gamma 1, beta 0 at first
    for layer in embeddings:
        layer.set_weights([rng.normal(size=layer.get_weights()[0].shape).astype("float32")])
    out = _numpy(g([z, labels], training=False))
    assert np.abs(out[0] - out[1]).max() > 1e-3
    assert ACGAN(g, nets.acgan_critic((8, 8, 1), 4, width=8)).num_classes == 4


@pytest.mark.parametrize("shape", [(3, 3, 2), (2,)])
def test_conditional_affine(rng, shape):
    x_in, label = keras.Input(shape), keras.Input((), dtype="int32")
    model = keras.Model([x_in, label], conditional_affine(x_in, label, 3))
    embeddings = [la for la in model.layers if isinstance(la, keras.layers.Embedding)]
    assert len(embeddings) == 2
    initial = [la.get_weights()[0] for la in embeddings]
    gamma_layer = embeddings[[np.all(w == 1) for w in initial].index(True)]
    beta_layer = embeddings[[np.all(w == 0) for w in initial].index(True)]
    gamma = rng.normal(size=(3, shape[-1])).astype("float32")
    beta = rng.normal(size=(3, shape[-1])).astype("float32")
    gamma_layer.set_weights([gamma])
    beta_layer.set_weights([beta])
    x = rng.normal(size=(5, *shape)).astype("float32")
    y = np.array([0, 2, 1, 2, 0], "int32")
    middle = (slice(None),) + (None,) * (len(shape) - 1)
    expected = x * gamma[y][middle] + beta[y][middle]
    np.testing.assert_allclose(_numpy(model([x, y])), expected, atol=1e-5)


# ------------------------------------------------------------------------------ refusals
def test_refusals(digits):
    g, d = _players()
    headless = [nets.dcgan_critic((8, 8, 1), width=8), nets.small_cnn((8, 8, 1), 10),
                nets.dcgan_critic((8, 8, 1), width=8, num_classes=10)]
    for critic in headless:
        for make in (ACGAN, RobGAN, lambda g_, d_: RobGANFineTune(d_, g_)):
            with pytest.raises(ValueError, match=r"critic must be an AC-GAN critic: images "
                                                 r"-> \[score \(batch,\), class logits"):
                make(g, critic)
    five = nets.acgan_critic((8, 8, 1), 5, width=8)
    for cls in (ACGAN, RobGAN):
        with pytest.raises(ValueError, match="the generator takes labels of 10 classes and "
                                             "the critic's class head has 5 logits"):
            cls(g, five)
    with pytest.raises(ValueError, match="the generator takes labels of 10 classes; the net "
                                         "classifies 5"):
        RobGANFineTune(five, g)
    unconditional = nets.dcgan_generator((8, 8, 1), LATENT, width=8)
    for cls in (ACGAN, RobGAN):
        with pytest.raises(ValueError, match=r"needs a conditional generator \(inputs \[z, "
                                             r"label\]\); this one takes 1 input"):
            cls(unconditional, d)
    with pytest.raises(ValueError, match="generator must be a conditional functional"):
        RobGANFineTune(d, unconditional)
    with pytest.raises(ValueError, match=r"makes samples of shape \(2, 2, 1\); the critic "
                                         r"takes \(8, 8, 1\)"):
        RobGAN(_linear(np.random.default_rng(0))[0], d)
    attack = [
        ({"epsilon": -0.1}, r"epsilon must be a finite number >= 0; got -0\.1"),
        ({"epsilon": float("nan")}, r"epsilon must be a finite number >= 0; got nan"),
        ({"steps": 0}, r"steps must be an int >= 1; got 0"),
        ({"step_size": 0.0}, r"step_size must be a finite number > 0; got 0\.0"),
    ]
    for kwargs, message in attack:
        with pytest.raises(ValueError, match=message):
            RobGAN(g, d, **kwargs)
        with pytest.raises(ValueError, match=message):
            RobGANFineTune(d, g, **kwargs)
    with pytest.raises(ValueError, match=r"lam_fake must be a finite number >= 0; got -1"):
        RobGANFineTune(d, g, lam_fake=-1)
    for cls in (ACGAN, RobGAN):
        with pytest.raises(ValueError, match=r"loss must be one of 'acgan', 'split'; "
                                             r"got 'foo'"):
            cls(g, d, loss="foo")
        with pytest.raises(ValueError, match=r"n_dis must be an int >= 1; got 0"):
            cls(g, d, n_dis=0)
    with pytest.raises(ValueError, match="conditional_bn=True needs num_classes"):
        nets.resnet_generator((8, 8, 1), LATENT, width=8, conditional_bn=True)
    with pytest.raises(ValueError, match=r"body must be one of 'dcgan', 'resnet'; got 'mlp'"):
        nets.acgan_critic((8, 8, 1), 10, body="mlp")
    tune = RobGANFineTune(d, g)
    with pytest.raises(ValueError, match=r"trains one player, critic .*got \['net'\]"):
        tune.compile({"net": "adam"})
    game = RobGAN(g, d, epsilon=0.1, steps=1)
    game.compile()
    x, y = digits.x_train[:8], digits.y_train[:8]
    with pytest.raises(ValueError, match=r"x holds values in \[-1, [0-9.]+\]; the model takes "
                                         r"inputs in \[0, 1\] \(\(x \+ 1\) / 2 if these"):
        game.fit(2 * x - 1, y, verbose=0)
    with pytest.raises(ValueError, match=r"is in \[-1, 1\] \(drop \[data\] scale"):
        RobGAN.from_dataset(data.signed(digits), generator=g, critic=d)


# ------------------------------------------------------------------------------- recipes
def _rates(optimizer, steps):
    """The learning rate an update takes after ``steps`` updates."""
    rates = []
    for step in steps:
        optimizer.iterations.assign(step)
        rates.append(float(_numpy(optimizer.learning_rate)))
    optimizer.iterations.assign(0)
    return rates


def _tiny_recipe(tmp_path, optimizer=""):
    """The co-training recipe with the nets of the tests above (width 8, latent 8: on jax,
    every new weight shape costs a compilation) and ``optimizer`` lines added."""
    text = ROBGAN_RECIPE.read_text()
    assert text.count("beta_2 = 0.9\n") == 1 and text.count("width = 32\n") == 2
    text = (text.replace("width = 32\n", "width = 8\n").replace("latent_dim = 32\n",
                                                               "latent_dim = 8\n")
            .replace("beta_2 = 0.9\n", f"beta_2 = 0.9\n{optimizer}"))
    path = tmp_path / "tiny.toml"
    path.write_text(text)
    return recipes.Recipe.from_file(path)


STEPS = 'schedule = "steps"\ndecay_epochs = [1, 2]\n'


def test_robgan_recipe(tmp_path):
    recipe = recipes.Recipe.from_file(ROBGAN_RECIPE)
    assert recipe.serves == ("classifier", "generator")
    spec, lr = recipe.spec.game.arguments, recipe.spec.optimizers[0].learning_rate
    ds = recipe.dataset()
    game = _tiny_recipe(tmp_path).build(ds)
    assert isinstance(game, RobGAN) and game.class_loss == spec["loss"]
    assert (game.epsilon, game.steps, game.n_dis) == (spec["epsilon"], spec["steps"],
                                                      spec["n_dis"])
    assert game.step_size == pytest.approx(spec["epsilon"] / 4)
    assert game.conditional and game.num_classes == 10
    assert any(isinstance(la, keras.layers.BatchNormalization) for la in game.critic.layers)
    assert game.classifier.output_shape == (None, 10)
    for player in ("generator", "critic"):
        assert float(_numpy(game.optimizer[player].learning_rate)) == pytest.approx(lr)
    game = _tiny_recipe(tmp_path, STEPS).build(ds)
    per_epoch = math.ceil(len(ds.y_train) / recipe.spec.fit.batch_size)
    for player in ("generator", "critic"):  # the first update of epoch 2 (0-based 1) decays
        rates = _rates(game.optimizer[player], [0, per_epoch - 1, per_epoch,
                                                2 * per_epoch - 1, 2 * per_epoch, 10**6])
        assert rates == pytest.approx([lr, lr, lr / 10, lr / 10, lr / 100, lr / 100])


def test_staged_rate():
    rate = recipes.staged_rate(1e-3, [10, 20], steps_per_epoch=17, factor=0.5)
    got = [float(_numpy(rate(step))) for step in (0, 169, 170, 339, 340, 10**5)]
    assert got == pytest.approx([1e-3, 1e-3, 5e-4, 5e-4, 2.5e-4, 2.5e-4])


@pytest.mark.parametrize("optimizer, needle", [
    ('schedule = "steps"', r'schedule = "steps" goes with decay_epochs'),
    ('schedule = "cosine"\ndecay_epochs = [1, 2]', r'schedule = "steps" goes with '
                                                   r"decay_epochs.*got schedule 'cosine'"),
    ("decay_factor = 0.5", r'schedule = "steps" goes with decay_epochs'),
    ('schedule = "steps"\ndecay_epochs = [2, 1]',
     r"decay_epochs must be increasing epochs >= 1; got \[2, 1\]"),
    ('schedule = "steps"\ndecay_epochs = [1, 1]',
     r"decay_epochs must be increasing epochs >= 1; got \[1, 1\]"),
    ('schedule = "steps"\ndecay_epochs = [0, 1]', r"decay_epochs\[0\] must be an int >= 1"),
])
def test_steps_schedule_refusals(tmp_path, optimizer, needle):
    with pytest.raises(recipes.RecipeError, match=needle):
        _tiny_recipe(tmp_path, optimizer + "\n")


@pytest.fixture(scope="module")
def robgan_run(tmp_path_factory, digits):
    """A run directory of a (tiny, untrained) RobGAN, as the fine-tune recipe takes it."""
    out = tmp_path_factory.mktemp("robgan") / "run"
    out.mkdir()
    game = RobGAN(*_players(batch_norm=True), epsilon=0.1, steps=2, seed=0)
    game.compile()
    game.save(out / zoo.MODEL_FILE)
    card = {"name": "tiny-robgan", "game": "RobGAN", "backend": keras.config.backend(),
            "metrics": {}, "sha256": zoo.sha256(out / zoo.MODEL_FILE), "recipe_spec": {},
            "data": {"name": "digits"}}
    (out / zoo.CARD_FILE).write_text(json.dumps(card))
    return out


def _fine_tune_recipe(tmp_path, critic, generator):
    """The fine-tune recipe with its players taken from ``critic`` and ``generator`` (preset
    names or run directories) and stages of one epoch."""
    text = FINETUNE_RECIPE.read_text()
    for player, source in (("critic", critic), ("generator", generator)):
        text, found = re.subn(rf'(\[net\.{player}\]\npreset = )"[^"\n]*"',
                              lambda m, s=source: m.group(1) + json.dumps(str(s)), text)
        assert found == 1, player
    text, found = re.subn(r"decay_epochs = \[[0-9, ]*\]", "decay_epochs = [1, 2]", text)
    assert found == 1
    path = tmp_path / "finetune.toml"
    path.write_text(text)
    return path


def test_fine_tune_recipe_from_a_run(tmp_path, robgan_run):
    recipe = recipes.Recipe.from_file(_fine_tune_recipe(tmp_path, robgan_run, robgan_run))
    ds = recipe.dataset()
    game = recipe.build(ds)
    assert isinstance(game, RobGANFineTune) and recipe.serves == ("classifier",)
    spec = recipe.spec.game.arguments
    assert (game.epsilon, game.steps) == (spec["epsilon"], spec["steps"])
    assert game.lam_fake == spec["lam_fake"] and game.label_prior == spec["labels"]
    assert not game.generator.trainable
    trained = zoo.load(robgan_run)
    for mine, theirs in ((game.critic, trained.critic), (game.generator, trained.generator)):
        assert len(mine.weights) == len(theirs.weights)
        for a, b in zip(mine.weights, theirs.weights):
            np.testing.assert_array_equal(_numpy(a), _numpy(b))
    per_epoch = math.ceil(len(ds.y_train) / recipe.spec.fit.batch_size)
    lr, factor = recipe.spec.optimizers[0].learning_rate, recipe.spec.optimizers[0].decay_factor
    rates = _rates(game.optimizer, [0, per_epoch - 1, per_epoch, 2 * per_epoch])
    assert rates == pytest.approx([lr, lr, lr * factor, lr * factor**2])


def test_fine_tune_recipe_refuses_a_classifier_preset(tmp_path, robgan_run, monkeypatch):
    def must_not_train(*args, **kwargs):
        raise AssertionError("trained before refusing")

    monkeypatch.setattr(games.Game, "fit", must_not_train)
    path = _fine_tune_recipe(tmp_path, "digits-cnn-ce", robgan_run)
    out = tmp_path / "run"
    with pytest.raises(recipes.RecipeError, match=r"\[game\]: critic must be an AC-GAN "
                                                  r"critic"):
        runs.train(path, out, verbose=0)
    assert not out.exists()
