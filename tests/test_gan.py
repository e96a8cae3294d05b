"""GAN and RobustGAN: the harness for every base loss, a subclass extending the step, the
worst cases and the logs in closed form, spectral normalisation, and the refusals."""

import keras
import numpy as np
import pytest
from harness import check_game
from keras import ops
from toy_games import RealScoreGAN

from kzoo import backend, data, nets
from kzoo.games import GAN, RobustGAN
from kzoo.losses.gan import LOSSES

LATENT = 8


@pytest.fixture(scope="module")
def digits():
    ds = data.load("digits")
    return 2 * ds.x_train[:64] - 1, ds.y_train[:64]


def _pair(conditional=False, spectral_norm=False):
    classes = 10 if conditional else None
    return (nets.dcgan_generator((8, 8, 1), LATENT, width=8, num_classes=classes),
            nets.dcgan_critic((8, 8, 1), width=8, num_classes=classes,
                              spectral_norm=spectral_norm))


def _z(n=16):
    return np.random.default_rng(1).normal(size=(n, LATENT)).astype("float32")


@pytest.mark.parametrize("loss", list(LOSSES))
@pytest.mark.parametrize("cls", [GAN, RobustGAN])
def test_harness_every_base_loss(digits, tmp_path, loss, cls):
    game = cls(*_pair(spectral_norm=loss == "hinge"), loss=loss, n_critic=2, seed=0)
    game.compile()
    check_game(game, *digits, tmp_path, probe=_z(), updates_per_step={"critic": 2},
               cross_backend=loss == "wgan_gp" and cls is RobustGAN)


def test_harness_conditional_image_perturbation(digits, tmp_path):
    game = RobustGAN(*_pair(conditional=True), perturb="image", mix="additive", seed=0)
    game.compile()
    labels = np.arange(16) % 10
    check_game(game, *digits, tmp_path, probe=[_z(), labels])
    assert game.sample(5, labels=[0, 1, 2, 3, 4]).shape == (5, 8, 8, 1)


@pytest.mark.parametrize("jit_compile", [False, "auto"])
def test_conditional_gan_trains_compiled_or_not(digits, jit_compile):
    """Without jit, JAX hands the step NumPy batches: the critic's [images, labels] must
    still be one kind of input (it raised "cannot mix tensors and non-tensors")."""
    gan = GAN(*_pair(conditional=True), loss="wgan_gp", n_critic=2, seed=0)
    gan.compile(jit_compile=jit_compile)
    x, y = digits
    logs = gan.fit(x[:16], y[:16], batch_size=8, epochs=1, verbose=0).history
    assert np.isfinite(logs["d_loss"]).all()
    assert int(ops.convert_to_numpy(gan.optimizer["critic"].iterations)) == 4


def test_a_subclass_step_adds_its_own_log(digits, tmp_path):
    """``super().train_step(data)`` runs the GAN's step; the subclass's log comes with it."""
    game = RealScoreGAN(*_pair(), loss="wgan_gp", seed=0)
    game.compile()
    check_game(game, *digits, tmp_path, probe=_z(), cross_backend=False)
    x = digits[0][:16]
    logs = game.fit(x, batch_size=16, epochs=1, verbose=0).history
    assert set(logs) == {"d_loss", "g_loss", "d_penalty", "real_score"}
    expected = float(np.mean(ops.convert_to_numpy(game.critic(x, training=False))))
    assert logs["real_score"][0] == pytest.approx(expected, rel=1e-4, abs=1e-5)


def test_validation_reports_the_training_names_it_computes(digits):
    x, y = digits
    game = RobustGAN(*_pair(), loss="ns", seed=0)
    game.compile()
    logs = game.fit(x, y, validation_data=(x[:32], y[:32]), epochs=1, batch_size=32,
                    verbose=0).history
    paired = {"d_loss", "g_loss", "g_loss_z_adv", "d_loss_adv"}
    assert set(logs) == paired | {f"val_{k}" for k in paired} | {"g_objective", "d_objective"}
    assert all(np.isfinite(v[0]) for v in logs.values())
    game = GAN(*_pair(), loss="wgan_gp", seed=0)
    game.compile()
    logs = game.fit(x, validation_data=(x[:32],), epochs=1, batch_size=32, verbose=0).history
    paired = {"d_loss", "g_loss", "d_penalty"}
    assert set(logs) == paired | {f"val_{k}" for k in paired}


@pytest.mark.parametrize("pair", ["resnet", "mlp"])
def test_harness_resnet_and_mlp_pairs(digits, tmp_path, pair):
    if pair == "resnet":
        players, x = (nets.resnet_generator((8, 8, 1), LATENT, width=8),
                      nets.resnet_critic((8, 8, 1), width=8)), digits[0]
    else:
        grid = data.load("grid25")
        players, x = (nets.mlp_generator(2, LATENT, hidden=(16,)),
                      nets.mlp_critic(2, hidden=(16,))), grid.x_train
    game = RobustGAN(*players, loss="wgan_gp", seed=0)
    game.compile()
    check_game(game, x, np.zeros(len(x), int), tmp_path, probe=_z(), cross_backend=False)


def _linear_players(rng, d_latent=3, d_data=4):
    """G(z) = A z and D(x) = w . x, so every gradient has a closed form."""
    z_in = keras.Input((d_latent,))
    g_layer = keras.layers.Dense(d_data, use_bias=False)
    generator = keras.Model(z_in, g_layer(z_in))
    x_in = keras.Input((d_data,))
    d_layer = keras.layers.Dense(1, use_bias=False)
    critic = keras.Model(x_in, keras.layers.Reshape(())(d_layer(x_in)))
    a = rng.normal(size=(d_latent, d_data)).astype("float32")
    w = rng.normal(size=(d_data, 1)).astype("float32")
    g_layer.set_weights([a])
    d_layer.set_weights([w])
    return generator, critic, a, w[:, 0]


def test_worst_cases_in_closed_form(rng):
    """Wasserstein losses with linear players: the worst noise moves z against A w, the
    worst real against w and the worst fake along w, by eps1 and eps2."""
    generator, critic, a, w = _linear_players(rng)
    game = RobustGAN(generator, critic, loss="wgan_gp", eps1=0.5, eps2=2.0)
    z = rng.normal(size=(6, 3)).astype("float32")
    aw = a @ w
    np.testing.assert_allclose(ops.convert_to_numpy(game.worst_noise(z, None)),
                               z - 0.5 * aw / np.linalg.norm(aw), rtol=1e-5, atol=1e-6)
    real = rng.normal(size=(6, 4)).astype("float32")
    fake = rng.normal(size=(6, 4)).astype("float32")
    real_adv, fake_adv = (ops.convert_to_numpy(t) for t in game.worst_images(real, fake, None))
    unit = w / np.linalg.norm(w)
    np.testing.assert_allclose(real_adv, real - 2.0 * unit, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(fake_adv, fake + 2.0 * unit, rtol=1e-5, atol=1e-6)
    image = RobustGAN(generator, critic, loss="wgan_gp", eps1=0.5, perturb="image")
    offset = ops.convert_to_numpy(image.worst_noise(z, None))
    np.testing.assert_allclose(offset, np.tile(-0.5 * unit, (6, 1)), rtol=1e-5, atol=1e-6)


def test_losses_mix_as_documented(rng):
    """With linear players the Wasserstein generator loss is -mean(w . A z): the robust
    loss is (1 - lam) L(z) + lam L(z_adv) (convex) or L(z) + lam L(z_adv) (additive)."""
    generator, critic, a, w = _linear_players(rng)
    z = rng.normal(size=(6, 3)).astype("float32")
    aw = a @ w
    loss_z = -np.mean(z @ aw)
    loss_adv = -np.mean((z - 0.5 * aw / np.linalg.norm(aw)) @ aw)
    for mix, expected in (("convex", 0.8 * loss_z + 0.2 * loss_adv),
                          ("additive", loss_z + 0.2 * loss_adv)):
        game = RobustGAN(generator, critic, loss="wgan_gp", lam=0.2, eps1=0.5, mix=mix)
        loss, logs = game.generator_objective(ops.convert_to_tensor(z), None)
        assert float(ops.convert_to_numpy(loss)) == pytest.approx(expected, rel=1e-5)
        assert float(ops.convert_to_numpy(logs["g_loss_z_adv"])) == pytest.approx(loss_adv,
                                                                                  rel=1e-5)
        assert float(ops.convert_to_numpy(logs["g_loss"])) == pytest.approx(loss_z, rel=1e-5)
        assert float(ops.convert_to_numpy(logs["g_objective"])) == pytest.approx(expected,
                                                                                rel=1e-5)
    game = RobustGAN(generator, critic, loss="wgan_gp", lam=0.2, eps1=0.5, robust_g=False)
    loss, _ = game.generator_objective(ops.convert_to_tensor(z), None)
    assert float(ops.convert_to_numpy(loss)) == pytest.approx(loss_z, rel=1e-5)


def test_gan_logs_base_losses_apart_from_the_penalty(rng):
    """One WGAN-GP step with linear players: d_loss is the Wasserstein critic loss on the
    step's own fake batch, without the penalty 10 (||w|| - 1)^2 (logged as d_penalty), and
    g_loss the generator loss at the step's second z, against the updated critic."""
    generator, critic, a, w0 = _linear_players(rng)
    game = GAN(generator, critic, loss="wgan_gp", seed=3)
    game.compile()
    x = rng.normal(size=(6, 4)).astype("float32")
    logs = {k: v[0] for k, v in
            game.fit(x, batch_size=6, epochs=1, shuffle=False, verbose=0).history.items()}
    draws = keras.random.SeedGenerator(3)  # the step's draws: z, interpolates, z
    z1 = ops.convert_to_numpy(keras.random.normal((6, 3), seed=draws))
    keras.random.uniform((6, 1), seed=draws)
    z2 = ops.convert_to_numpy(keras.random.normal((6, 3), seed=draws))
    w1 = ops.convert_to_numpy(critic.trainable_variables[0])[:, 0]
    penalty = 10 * (np.linalg.norm(w0) - 1) ** 2
    assert penalty > 1  # the check below tells the base loss from the whole loss
    assert logs["d_penalty"] == pytest.approx(penalty, rel=1e-4)
    assert logs["d_loss"] == pytest.approx(np.mean(z1 @ a @ w0) - np.mean(x @ w0),
                                           rel=1e-4, abs=1e-5)
    assert logs["g_loss"] == pytest.approx(-np.mean(z2 @ a @ w1), rel=1e-4, abs=1e-5)


def test_robust_gan_logs_in_closed_form(rng):
    """With linear players and Wasserstein losses every log has a closed form: the worst
    images raise the critic loss by 2 eps2 ||w||, the worst noise the generator loss by
    eps1 ||A w||, in the training step and in validation alike."""
    generator, critic, a0, w0 = _linear_players(rng)
    game = RobustGAN(generator, critic, loss="wgan_gp", lam=0.2, eps1=0.5, eps2=2.0, seed=0)
    game.compile()
    x = rng.normal(size=(6, 4)).astype("float32")
    history = game.fit(x, batch_size=6, epochs=1, shuffle=False, validation_data=(x,),
                       verbose=0).history
    logs = {k: v[0] for k, v in history.items()}
    paired = {"d_loss", "g_loss", "d_penalty", "g_loss_z_adv", "d_loss_adv"}
    assert set(logs) == paired | {f"val_{k}" for k in paired} | {"d_objective", "g_objective"}
    a1 = ops.convert_to_numpy(generator.trainable_variables[0])
    w1 = ops.convert_to_numpy(critic.trainable_variables[0])[:, 0]
    # training: the critic step at (A0, w0), then the generator step at (A0, w1)
    penalty = 10 * (np.linalg.norm(w0) - 1) ** 2
    assert logs["d_penalty"] == pytest.approx(penalty, rel=1e-4)
    assert logs["d_loss_adv"] - logs["d_loss"] == pytest.approx(
        2 * 2.0 * np.linalg.norm(w0), rel=1e-4)
    assert logs["d_objective"] == pytest.approx(
        0.8 * logs["d_loss"] + 0.2 * logs["d_loss_adv"] + penalty, rel=1e-4)
    assert logs["g_loss_z_adv"] - logs["g_loss"] == pytest.approx(
        0.5 * np.linalg.norm(a0 @ w1), rel=1e-4)
    assert logs["g_objective"] == pytest.approx(
        0.8 * logs["g_loss"] + 0.2 * logs["g_loss_z_adv"], rel=1e-4)
    # validation: the same values at the trained (A1, w1)
    assert logs["val_d_penalty"] == pytest.approx(10 * (np.linalg.norm(w1) - 1) ** 2, rel=1e-4)
    assert logs["val_d_loss_adv"] - logs["val_d_loss"] == pytest.approx(
        2 * 2.0 * np.linalg.norm(w1), rel=1e-4)
    assert logs["val_g_loss_z_adv"] - logs["val_g_loss"] == pytest.approx(
        0.5 * np.linalg.norm(a1 @ w1), rel=1e-4)


def test_spectral_norm_matches_the_largest_singular_value(rng):
    layer = nets.SpectralNorm(keras.layers.Dense(7))
    x = rng.normal(size=(3, 5)).astype("float32")
    layer(x)
    for _ in range(50):
        layer(x, training=True)
    kernel, bias = (ops.convert_to_numpy(v) for v in (layer.layer.kernel, layer.layer.bias))
    top = np.linalg.svd(kernel, compute_uv=False)[0]
    assert float(ops.convert_to_numpy(layer.sigma())) == pytest.approx(top, rel=1e-4)
    np.testing.assert_allclose(ops.convert_to_numpy(layer(x)), x @ kernel / top + bias,
                               rtol=1e-4, atol=1e-5)
    conv = nets.SpectralNorm(keras.layers.Conv2D(4, 3, padding="same"), power_iterations=10)
    images = rng.normal(size=(2, 8, 8, 3)).astype("float32")
    conv(images)

    def twice():  # one gradient through two calls (as the gradient penalty needs)
        return ops.sum(conv(images, training=True) ** 2) + ops.sum(conv(-images, training=True))

    _, grads = backend.value_and_grad(twice, conv.trainable_variables)
    assert all(np.isfinite(ops.convert_to_numpy(g)).all() for g in grads)
    for _ in range(50):
        conv(images, training=True)
    matrix = ops.convert_to_numpy(conv.layer.kernel).reshape(-1, 4)
    assert float(ops.convert_to_numpy(conv.sigma())) == pytest.approx(
        np.linalg.svd(matrix, compute_uv=False)[0], rel=1e-4)


def test_refusals():
    g, d = _pair()
    with pytest.raises(ValueError, match="n_critic must be an int >= 1; got 0"):
        GAN(g, d, n_critic=0)
    with pytest.raises(ValueError, match=r"lam must be a finite number in \[0, 1\]; got 1.5"):
        RobustGAN(g, d, lam=1.5)
    with pytest.raises(ValueError, match="eps2 must be a finite number >= 0; got -1"):
        RobustGAN(g, d, eps2=-1)
    with pytest.raises(ValueError, match="perturb must be one of 'latent', 'image'; got 'label'"):
        RobustGAN(g, d, perturb="label")
    with pytest.raises(ValueError, match="mix must be one of 'convex', 'additive'; got 'max'"):
        RobustGAN(g, d, mix="max")
    with pytest.raises(ValueError, match="latent_dim must be an int >= 1; got 0"):
        nets.dcgan_generator((8, 8, 1), 0)
    with pytest.raises(ValueError, match=r"makes samples of shape \(8, 8, 1\); the critic takes "
                                         r"\(28, 28, 1\)"):
        GAN(g, nets.dcgan_critic((28, 28, 1), width=8))
    with pytest.raises(ValueError, match="both are conditional"):
        GAN(g, _pair(conditional=True)[1])
    with pytest.raises(ValueError, match="loss must be one of 'ns'.*; got 'lsgan'"):
        GAN(g, d, loss="lsgan")
    game = GAN(g, d)
    with pytest.raises(ValueError, match=r"maps z of shape \(batch, 8\) to samples of shape "
                                         r"\(8, 8, 1\); got an input of shape \(2, 5\)"):
        game(np.zeros((2, 5), "float32"))
    with pytest.raises(ValueError, match=r"is a generator.*\(3, 8, 8, 1\). To classify"):
        game.predict(np.zeros((3, 8, 8, 1), "float32"), verbose=0)
    with pytest.raises(ValueError, match=r"x has examples of shape \(8, 8, 3\)"):
        game.compile()
        game.fit(np.zeros((4, 8, 8, 3), "float32"), verbose=0)
    unit = np.full((4, 8, 8, 1), 0.5, "float32")  # [0, 1] images for a signed GAN
    with pytest.raises(ValueError, match=r"x is in \[0.5, 0.5\], and this GAN has signed=True: "
                                         r"it trains on \[-1, 1\] images"):
        game.fit(unit, verbose=0)
    unsigned = GAN(*_pair(), signed=False)
    unsigned.compile()
    unsigned.fit(unit, batch_size=4, epochs=1, verbose=0)  # in x's own units
    with pytest.raises(ValueError, match="SpectralNorm needs a layer without activation"):
        nets.SpectralNorm(keras.layers.Dense(3, activation="relu"))
