"""Every generator returns its samples in the data's range, [0, 1] for images: ``sample``,
``generate``, the served ``game(z)`` and ``kzoo.metrics.generate``, for each generator game
kzoo ships and each generator preset; the one map from a tanh generator's [-1, 1]
(``kzoo.data.from_signed``, applied by ``GAN.in_data_range``) against NumPy."""

import keras
import numpy as np
import pytest
from keras import ops

import kzoo
from kzoo import data, games, metrics, nets, roles, zoo

LATENT = 8
CLASSES = 10


def _conditional_pair():
    return (nets.dcgan_generator((8, 8, 1), LATENT, width=8, num_classes=CLASSES),
            nets.acgan_critic((8, 8, 1), CLASSES, width=8))


BUILDERS = {
    "GAN": lambda: games.GAN(*nets.gan_pair("dcgan", (8, 8, 1), LATENT, width=8)),
    "RobustGAN": lambda: games.RobustGAN(*nets.gan_pair("dcgan", (8, 8, 1), LATENT, width=8)),
    "ACGAN": lambda: games.ACGAN(*_conditional_pair()),
    "RobGAN": lambda: games.RobGAN(*_conditional_pair(), epsilon=0.1, steps=1),
    "BadDataGAN": lambda: games.BadDataGAN(
        nets.dcgan_generator((8, 8, 1), LATENT, width=8, num_classes=CLASSES),
        nets.dcgan_critic((8, 8, 1), width=8, num_classes=CLASSES),
        nets.small_cnn((8, 8, 1), CLASSES, width=8)),
}
# each generator preset, and the worst-noise radii its card measures (none for AC-GAN critics)
PRESETS = {c.name: c.recipe_spec.get("eval", {}).get("worst_noise_eps", [])
           for c in zoo.presets() if "generator" in c.serves}


def _raw(game, z, labels):
    """The generator network's own output (tanh, [-1, 1]) in inference mode, as NumPy."""
    z = ops.convert_to_tensor(z)
    inputs = z if labels is None else [z, ops.convert_to_tensor(labels)]
    return ops.convert_to_numpy(game.generator(inputs, training=False)).astype("float64")


def _in_unit_range(x):
    return x.min() >= 0.0 and x.max() <= 1.0


def test_every_generator_game_kzoo_ships_is_checked_here():
    shipped = {name for name, cls in games.GAMES.items()
               if cls.__module__.startswith("kzoo.") and "generator" in cls.serves}
    assert shipped == set(BUILDERS)


@pytest.mark.parametrize("name", list(BUILDERS))
def test_a_game_returns_images_in_0_1_the_generator_s_mapped_once(name):
    game = BUILDERS[name]()
    assert game.signed
    labels = np.arange(16) % CLASSES if game.conditional else None
    z = np.random.default_rng(0).standard_normal((16, LATENT)).astype("float32")
    raw = _raw(game, z, labels)
    assert raw.min() < 0  # the unmapped samples leave [0, 1]: the checks below can fail
    expected = (raw + 1.0) / 2.0
    tensors = ops.convert_to_tensor(z) if labels is None else [
        ops.convert_to_tensor(z), ops.convert_to_tensor(labels)]
    for got in (game.generate(z, labels, training=False), metrics.generate(game, z, labels),
                ops.convert_to_numpy(game(tensors))):
        assert _in_unit_range(got)
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-7)
    sampled = game.sample(16, seed=3)
    drawn = keras.random.normal((16, LATENT), seed=3)  # the draw sample(16, seed=3) makes
    assert _in_unit_range(sampled)
    np.testing.assert_allclose(sampled, (_raw(game, drawn, labels) + 1.0) / 2.0,
                               rtol=0, atol=1e-7)


@pytest.mark.parametrize("name", PRESETS)
def test_a_generator_preset_samples_in_0_1(name):
    game = kzoo.load(name)
    assert game.signed
    assert _in_unit_range(game.sample(64, seed=0))
    z, labels = metrics.latent_batch(game, 64)
    got = metrics.generate(game, z, labels)
    assert _in_unit_range(got)
    for eps in PRESETS[name]:
        assert _in_unit_range(metrics.generate(game, z, labels, eps=eps))
    np.testing.assert_allclose(got, (_raw(game, z, labels) + 1.0) / 2.0, rtol=0, atol=1e-7)


def test_the_map_converts_a_known_array_exactly():
    signed = np.array([[-1.0, -0.5, 0.0], [0.25, 0.5, 1.0]], "float32")
    unit = np.array([[0.0, 0.25, 0.5], [0.625, 0.75, 1.0]], "float32")
    np.testing.assert_array_equal(data.from_signed(signed), unit)
    np.testing.assert_array_equal(
        ops.convert_to_numpy(data.from_signed(ops.convert_to_tensor(signed))), unit)
    image_gan = BUILDERS["GAN"]()
    np.testing.assert_array_equal(image_gan.in_data_range(signed), unit)
    flat = games.GAN(*nets.gan_pair("mlp", (2,), LATENT, hidden=(8,)))
    assert not flat.signed
    np.testing.assert_array_equal(flat.in_data_range(signed), signed)
    np.testing.assert_array_equal(data.from_signed(data.to_signed(unit)), unit)


def test_signed_follows_the_data_and_is_saved():
    digits = data.load("digits")
    pair = nets.gan_pair("dcgan", (8, 8, 1), LATENT, width=8)
    assert games.GAN.from_dataset(data.signed(digits), generator=pair[0], critic=pair[1]).signed
    unsigned = games.GAN.from_dataset(digits, generator=pair[0], critic=pair[1])
    assert not unsigned.signed and unsigned.get_config()["signed"] is False
    z = np.random.default_rng(0).standard_normal((4, LATENT)).astype("float32")
    np.testing.assert_array_equal(unsigned.generate(z, training=False), _raw(unsigned, z, None)
                                  .astype("float32"))  # the data's own units: as made
    assert not games.GAN.from_config(unsigned.get_config()).signed
    assert "8x8x1, [0, 1]" in roles.ROLES["generator"].served(BUILDERS["GAN"](), digits)
    assert "data units" in roles.ROLES["generator"].served(unsigned, digits)
    with pytest.raises(ValueError, match=r"ACGAN maps its generator's \[-1, 1\] samples to the "
                                         r"\[0, 1\] images it trains on: signed must be True; "
                                         r"got False"):
        games.ACGAN(*_conditional_pair(), signed=False)
    with pytest.raises(ValueError, match="signed must be true or false; got 'yes'"):
        games.GAN(*pair, signed="yes")
